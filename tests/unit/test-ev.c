/* SPDX-License-Identifier: MIT */
/*
 * test-ev.c — the event loop: timers fire in order and not early, disarming and re-arming,
 * descriptors dispatched, and a descriptor removed by an earlier callback of the same batch
 * never reaches its (freed) owner; one marked first goes before the others of its batch.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon/ev.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

typedef struct Tick {
        EvTimer t;
        int id;
        uint64_t due;
} Tick;

static int order[64], n_order;
static uint64_t early;

static int on_tick(EvTimer *t)
{
        Tick *k = container_of(t, Tick, t);

        if (ev_clock_now() < k->due)
                early++;
        order[n_order++] = k->id;
        return n_order == 5 ? EV_EXIT : 0;
}

static void test_timers_in_order(void **state)
{
        static const int delays_ms[] = { 30, 10, 50, 20, 40, 25 };
        Tick ticks[6];
        EvLoop *l = NULL;

        assert_int_equal(ev_loop_new(&l), 0);
        n_order = 0;
        early = 0;
        for (int i = 0; i < 6; i++) {
                ticks[i] = (Tick){ .t = EV_TIMER_NULL, .id = delays_ms[i] };
                ticks[i].due = ev_clock_now() + (uint64_t)delays_ms[i] * 1000;
                ev_timer_arm(l, &ticks[i].t, ticks[i].due, on_tick);
        }
        ev_timer_disarm(&ticks[5].t);           /* 25 ms: never fires */
        assert_false(ev_timer_armed(&ticks[5].t));
        ev_timer_arm(l, &ticks[1].t, ticks[1].due + 50000, on_tick);    /* 10 ms moved to 60 */
        ticks[1].due += 50000;
        assert_int_equal(ev_loop_run(l), EV_EXIT);
        assert_int_equal(n_order, 5);
        assert_int_equal(order[0], 20);
        assert_int_equal(order[1], 30);
        assert_int_equal(order[2], 40);
        assert_int_equal(order[3], 50);
        assert_int_equal(order[4], 10);
        assert_int_equal(early, 0);
        ev_loop_free(l);
}

typedef struct Pipe {
        EvFile f;
        int fds[2];
        int hits;
        struct Pipe *victim;
} Pipe;

static int on_pipe(EvFile *f, uint32_t events)
{
        Pipe *p = container_of(f, Pipe, f);
        char c;

        p->hits++;
        if (read(p->fds[0], &c, 1) != 1)
                return -1;
        if (p->victim) {
                ev_file_remove(&p->victim->f);  /* its event is pending in this batch */
                p->victim = NULL;
                return 0;
        }
        return EV_EXIT;
}

static void test_removed_file_not_dispatched(void **state)
{
        Pipe a = { .f = EV_FILE_NULL }, b = { .f = EV_FILE_NULL };
        EvLoop *l = NULL;

        assert_int_equal(ev_loop_new(&l), 0);
        assert_int_equal(pipe(a.fds), 0);
        assert_int_equal(pipe(b.fds), 0);
        a.victim = &b;
        b.victim = &a;
        assert_int_equal(ev_file_add(l, &a.f, a.fds[0], EPOLLIN, on_pipe), 0);
        assert_int_equal(ev_file_add(l, &b.f, b.fds[0], EPOLLIN, on_pipe), 0);
        assert_int_equal(write(a.fds[1], "x", 1), 1);
        assert_int_equal(write(b.fds[1], "x", 1), 1);

        /* Whichever runs first removes the other: exactly one callback runs. A timer ends
         * the loop afterwards. */
        Tick stop = { .t = EV_TIMER_NULL, .id = 0 };

        n_order = 4;
        ev_timer_arm_in(l, &stop.t, 20000, on_tick);
        assert_int_equal(ev_loop_run(l), EV_EXIT);
        assert_int_equal(a.hits + b.hits, 1);
        ev_file_remove(&a.f);
        ev_file_remove(&b.f);
        close(a.fds[0]);
        close(a.fds[1]);
        close(b.fds[0]);
        close(b.fds[1]);
        ev_loop_free(l);
}

static void test_set_events(void **state)
{
        Pipe a = { .f = EV_FILE_NULL };
        EvLoop *l = NULL;
        Tick stop = { .t = EV_TIMER_NULL, .id = 0 };

        assert_int_equal(ev_loop_new(&l), 0);
        assert_int_equal(pipe(a.fds), 0);
        assert_int_equal(ev_file_add(l, &a.f, a.fds[0], 0, on_pipe), 0);
        assert_int_equal(ev_file_add(l, &a.f, a.fds[0], 0, on_pipe), -EBUSY);
        assert_int_equal(write(a.fds[1], "x", 1), 1);
        n_order = 4;
        ev_timer_arm_in(l, &stop.t, 20000, on_tick);
        assert_int_equal(ev_loop_run(l), EV_EXIT);
        assert_int_equal(a.hits, 0);            /* registered without events: not woken */
        assert_int_equal(ev_file_set_events(&a.f, EPOLLIN), 0);
        assert_int_equal(ev_loop_run(l), EV_EXIT);
        assert_int_equal(a.hits, 1);
        ev_file_remove(&a.f);
        assert_int_equal(ev_file_set_events(&a.f, EPOLLIN), -ENOENT);
        close(a.fds[0]);
        close(a.fds[1]);
        ev_loop_free(l);
}

static int seen[8], n_seen;

static int on_ready(EvFile *f, uint32_t events)
{
        Pipe *p = container_of(f, Pipe, f);
        char c;

        if (read(p->fds[0], &c, 1) != 1)
                return -1;
        seen[n_seen++] = p->hits;       /* (its number) */
        return 0;
}

/* Ready in one turn, a file marked first is dispatched before the others, whatever order
 * epoll gives (its ready list is in the order the files became ready: the marked one is
 * made ready fourth). */
static void test_first_dispatched_first(void **state)
{
        Pipe p[6];
        EvLoop *l = NULL;
        Tick stop = { .t = EV_TIMER_NULL, .id = 0 };

        assert_int_equal(ev_loop_new(&l), 0);
        for (int i = 0; i < 6; i++) {
                p[i] = (Pipe){ .f = EV_FILE_NULL, .hits = i };
                assert_int_equal(pipe(p[i].fds), 0);
                assert_int_equal(ev_file_add(l, &p[i].f, p[i].fds[0], EPOLLIN, on_ready), 0);
        }
        p[3].f.first = true;
        for (int i = 0; i < 6; i++)
                assert_int_equal(write(p[i].fds[1], "x", 1), 1);
        n_seen = 0;
        n_order = 4;
        ev_timer_arm_in(l, &stop.t, 20000, on_tick);
        assert_int_equal(ev_loop_run(l), EV_EXIT);
        assert_int_equal(n_seen, 6);
        assert_int_equal(seen[0], 3);
        for (int i = 0; i < 6; i++) {
                ev_file_remove(&p[i].f);
                close(p[i].fds[0]);
                close(p[i].fds[1]);
        }
        ev_loop_free(l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timers_in_order),
                cmocka_unit_test(test_removed_file_not_dispatched),
                cmocka_unit_test(test_set_events),
                cmocka_unit_test(test_first_dispatched_first),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
