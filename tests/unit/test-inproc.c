/* SPDX-License-Identifier: MIT */
/*
 * test-inproc.c — the accounting of in-process connections on a minimal Daemon and Service
 * (no sockets, no logging): the counts in s->running, s->n_inproc and d->inproc_running,
 * ending one, ending all through the callbacks, and the reload re-check (a lowered
 * `instances` keeps the oldest; only_from ends the clients it refuses).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

#define N 4

typedef struct Fixture {
        Daemon d;
        Service s;
        ConfService cs;
        InprocConn conn[N];
        int ended[N];
} Fixture;

static Fixture *F;

static void on_end(InprocConn *c, InprocEndReason why)
{
        size_t i = (size_t)(c - F->conn);

        F->ended[i]++;
        inproc_end(c);
}

static struct sockaddr_in client(const char *ip)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(40000) };

        assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
        return a;
}

static int setup(void **state)
{
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(ev_loop_new(&f->d.loop), 0);
        f->cs.id = f->cs.name = "echo-stream";
        f->cs.kind = CONF_KIND_INTERNAL;
        f->cs.socket_type = SOCK_STREAM;
        f->cs.instances = CONF_UNLIMITED;
        f->cs.per_source = CONF_UNLIMITED;
        f->s.d = &f->d;
        f->s.conf = &f->cs;
        f->s.fd = -1;
        f->s.state = SERVICE_LISTENING;
        F = f;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        Fixture *f = *state;

        ev_loop_free(f->d.loop);
        free(f);
        return 0;
}

static void begin_all(Fixture *f)
{
        static const char *const ips[N] = { "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4" };

        for (int i = 0; i < N; i++) {
                struct sockaddr_in a = client(ips[i]);

                assert_true(inproc_begin(&f->conn[i], &f->s, -1, (struct sockaddr *)&a,
                                         ips[i], on_end));
        }
}

static void test_counts(void **state)
{
        Fixture *f = *state;

        begin_all(f);
        assert_int_equal(f->s.running, N);
        assert_int_equal(f->s.n_inproc, N);
        assert_int_equal(inproc_count(&f->s), N);
        assert_int_equal(f->d.inproc_running, N);
        assert_int_equal(f->d.running, 0);             /* -limit counts processes only */
        assert_int_equal(f->s.counters.started, N);
        inproc_end(&f->conn[1]);
        inproc_end(&f->conn[1]);                        /* a second end is ignored */
        assert_int_equal(f->s.running, N - 1);
        assert_int_equal(f->d.inproc_running, N - 1);
        assert_int_equal(f->s.counters.exited, 1);
        inproc_end_service(&f->s, INPROC_END_STOP);
        assert_int_equal(f->s.running, 0);
        assert_int_equal(f->d.inproc_running, 0);
        assert_null(f->s.inproc);
        assert_int_equal(f->ended[0] + f->ended[2] + f->ended[3], 3);
        assert_int_equal(f->ended[1], 0);               /* it had ended on its own */
}

static void test_recheck_instances_keeps_the_oldest(void **state)
{
        Fixture *f = *state;

        begin_all(f);
        f->cs.instances = 2;
        inproc_recheck(&f->s);
        assert_int_equal(f->s.running, 2);
        assert_int_equal(f->ended[0] + f->ended[1], 0);
        assert_int_equal(f->ended[2] + f->ended[3], 2);
        /* with a server holding a slot, one fewer connection is kept */
        f->s.running++;                                 /* a pretend server */
        f->cs.instances = 2;
        inproc_recheck(&f->s);
        assert_int_equal(f->ended[0], 0);
        assert_int_equal(f->ended[1], 1);
        f->s.running--;
        inproc_end_service(&f->s, INPROC_END_STOP);
}

static void test_recheck_address_rules(void **state)
{
        Fixture *f = *state;
        ConfAddr allow = { .kind = CONF_ADDR_NET, .family = AF_INET, .prefix = 32 };

        inet_pton(AF_INET, "10.0.0.3", allow.addr);
        begin_all(f);
        f->cs.only_from = (ConfAddrList){ .addrs = &allow, .n_addrs = 1, .set = true };
        inproc_recheck(&f->s);
        assert_int_equal(f->s.running, 1);
        assert_int_equal(f->ended[2], 0);
        assert_int_equal(f->ended[0] + f->ended[1] + f->ended[3], 3);
        inproc_end_service(&f->s, INPROC_END_STOP);
        assert_int_equal(f->ended[2], 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recheck_instances_keeps_the_oldest, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_recheck_address_rules, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
