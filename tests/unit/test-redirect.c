/* SPDX-License-Identifier: MIT */
/*
 * test-redirect.c — one direction of a redirect pair, on real loopback TCP sockets: bytes
 * relayed intact and counted through splice and through the read/write fallback, EOF passed
 * on as shutdown(SHUT_WR), the window (64 KiB, growing while the destination drains, never
 * while it does not read), pipes back in the pool once empty.
 *
 * The direction's functions are static: the module is included here (the archive's
 * redirect.o is then not linked).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../src/daemon/redirect.c"

#include <arpa/inet.h>
#include <poll.h>

/* A connected loopback TCP pair: ends[0] connected to ends[1]. */
static void tcp_pair(int ends[2])
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(l >= 0);
        assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(listen(l, 1), 0);
        assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
        ends[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(ends[0], (struct sockaddr *)&a, sizeof(a)), 0);
        ends[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        assert_true(ends[1] >= 0);
        close(l);
}

/* writer -> [src ... dir ... dst] -> reader */
typedef struct Rig {
        int in[2], out[2];
        RelayDir dir;
        Redirect rd;
} Rig;

static void rig_init(Rig *r, bool fallback)
{
        memset(r, 0, sizeof(*r));
        tcp_pair(r->in);
        tcp_pair(r->out);
        r->dir = (RelayDir){ .src = r->in[1], .dst = r->out[0], .pipe_r = -1, .pipe_w = -1,
                             .window = WINDOW_MIN };
        assert_int_equal(fcntl(r->out[0], F_SETFL, O_NONBLOCK), 0);
        if (fallback)
                r->dir.buf = malloc(RELAY_BUF);
}

static void rig_deinit(Rig *r)
{
        dir_release(&r->rd, &r->dir, true);
        assert_int_equal(r->rd.reserved, 0);
        pipe_put(&r->rd, &r->dir);
        free(r->dir.buf);
        for (int i = 0; i < 2; i++) {
                close(r->in[i]);
                close(r->out[i]);
        }
        for (size_t i = 0; i < r->rd.n_pool; i++) {
                close(r->rd.pool[i].r);
                close(r->rd.pool[i].w);
        }
}

static void pump(Rig *r)
{
        bool progress = false;

        assert_int_equal(dir_pump(&r->rd, &r->dir, true, false, &progress), 0);
}

static uint8_t pattern(size_t i)
{
        return (uint8_t)(i * 7 + (i >> 9));
}

/* Send n patterned bytes while pumping and reading; check every byte and the EOF. With
 * no_budget, the windows' budget is used up by others: the window never grows. */
static void relay_and_check(bool fallback, size_t n, bool no_budget)
{
        Rig r;
        uint8_t buf[65536];
        size_t sent = 0, got = 0;
        bool eof = false;

        rig_init(&r, fallback);
        if (no_budget)
                r.rd.reserved = WINDOW_BUDGET;
        assert_int_equal(fcntl(r.in[0], F_SETFL, O_NONBLOCK), 0);
        for (int rounds = 0; !eof && rounds < 1000000; rounds++) {
                if (sent < n) {
                        size_t k = n - sent < sizeof(buf) ? n - sent : sizeof(buf);

                        for (size_t i = 0; i < k; i++)
                                buf[i] = pattern(sent + i);
                        ssize_t w = send(r.in[0], buf, k, MSG_DONTWAIT);

                        if (w > 0)
                                sent += (size_t)w;
                        if (sent == n)
                                assert_int_equal(shutdown(r.in[0], SHUT_WR), 0);
                }
                pump(&r);
                for (;;) {
                        ssize_t m = recv(r.out[1], buf, sizeof(buf), MSG_DONTWAIT);

                        if (m == 0) {
                                eof = true;
                                break;
                        }
                        if (m < 0)
                                break;
                        for (ssize_t i = 0; i < m; i++)
                                assert_int_equal(buf[i], pattern(got + (size_t)i));
                        got += (size_t)m;
                }
        }
        assert_true(eof);
        assert_int_equal(got, n);
        assert_int_equal(r.dir.moved, n);
        assert_true(r.dir.eof && r.dir.shut);
        assert_int_equal(r.dir.queued, 0);
        if (no_budget) {
                assert_int_equal(r.dir.window, WINDOW_MIN);
                r.rd.reserved = 0;
        } else if (!fallback) {
                /* the destination kept up: the window grew; the empty pipe is pooled */
                assert_true(r.dir.window > WINDOW_MIN);
                assert_int_equal(r.dir.pipe_r, -1);
                assert_int_equal(r.rd.n_pool, 1);
        }
        rig_deinit(&r);
}

static void test_splice_relays_and_ends(void **state)
{
        relay_and_check(false, 8u << 20, false);
}

static void test_window_budget_respected(void **state)
{
        relay_and_check(false, 4u << 20, true);
}

static void test_fallback_relays_and_ends(void **state)
{
        relay_and_check(true, 3u << 20, false);
}

/* A destination that never reads: the direction stops at its window and stays there. */
static void test_stuck_destination_bounded(void **state)
{
        static char junk[1 << 20];
        Rig r;
        size_t sent = 0;

        rig_init(&r, false);
        assert_int_equal(fcntl(r.in[0], F_SETFL, O_NONBLOCK), 0);
        for (int i = 0; i < 2000; i++) {
                ssize_t w = send(r.in[0], junk, sizeof(junk), MSG_DONTWAIT);

                if (w > 0)
                        sent += (size_t)w;
                pump(&r);
        }
        /* the window may have grown while the destination's socket buffer filled; once
         * the destination stalled it is back at WINDOW_MIN and nothing more is read */
        assert_true(r.dir.queued > 0);
        assert_true(r.dir.queued <= WINDOW_MAX);
        assert_int_equal(r.dir.window, WINDOW_MIN);
        assert_true(r.dir.full);
        assert_int_equal(r.rd.reserved, r.dir.reserved);
        size_t held = r.dir.queued;

        for (int i = 0; i < 100; i++) {
                ssize_t w = send(r.in[0], junk, sizeof(junk), MSG_DONTWAIT);

                if (w > 0)
                        sent += (size_t)w;
                pump(&r);
        }
        assert_int_equal(r.dir.queued, held);
        assert_false(dir_wants_read(&r.dir));
        /* what the writer got rid of is bounded by the buffers along the way, not by us */
        assert_true(sent < (size_t)64 << 20);
        assert_true(r.dir.moved + r.dir.queued <= sent);

        /* The destination reads again; the writer has stopped. Everything comes through,
         * and with the queue back under WINDOW_MIN the budget share is given back. */
        size_t got = 0;
        int quiet = 0;

        for (int i = 0; i < 200000 && quiet < 50; i++) {
                ssize_t m = recv(r.out[1], junk, sizeof(junk), MSG_DONTWAIT);

                if (m > 0)
                        got += (size_t)m;
                pump(&r);
                quiet = m > 0 ? 0 : quiet + 1;
        }
        assert_int_equal(got, sent);
        assert_int_equal(r.dir.queued, 0);
        assert_int_equal(r.rd.reserved, r.dir.reserved);
        assert_true(r.dir.reserved == 0 || r.dir.window > WINDOW_MIN);
        rig_deinit(&r);
}

/* A reset from the source ends the direction with an error. */
static void test_source_reset_is_an_error(void **state)
{
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        Rig r;
        bool progress = false;
        int ret = 0;

        rig_init(&r, false);
        assert_int_equal(send(r.in[0], "abc", 3, 0), 3);
        assert_int_equal(setsockopt(r.in[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
        close(r.in[0]);
        r.in[0] = -1;
        for (int i = 0; i < 100 && ret == 0; i++) {
                struct pollfd p = { .fd = r.in[1], .events = POLLIN };

                (void)poll(&p, 1, 100);
                ret = dir_pump(&r.rd, &r.dir, true, false, &progress);
        }
        assert_int_equal(ret, -ECONNRESET);
        rig_deinit(&r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_splice_relays_and_ends),
                cmocka_unit_test(test_window_budget_respected),
                cmocka_unit_test(test_fallback_relays_and_ends),
                cmocka_unit_test(test_stuck_destination_bounded),
                cmocka_unit_test(test_source_reset_is_an_error),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
