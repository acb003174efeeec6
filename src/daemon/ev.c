/* SPDX-License-Identifier: MIT */
/*
 * ev.c — the event loop: epoll (level-triggered), a timer min-heap, a before-sleep hook.
 *
 * Ownership: the loop owns the epoll descriptor and the heap array, never the EvFile or
 * EvTimer objects, which are embedded in their owners (get the owner back with
 * container_of). Removing or disarming from inside any callback is safe, including the
 * callback's own object and objects whose events are still pending in the current batch:
 * a removed EvFile is detected through a generation check before its callback runs.
 */

#include "daemon/ev.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define EV_BATCH 64

struct EvLoop {
        int epfd;
        EvTimer **heap;
        size_t n_heap, allocated;
        uint64_t now;
        EvHookFn before_sleep;
        void *before_sleep_data;
        /* Descriptors removed while a batch is being dispatched: their pending events must
         * not reach the (maybe freed) owners. */
        EvFile *dispatching[EV_BATCH];
        size_t n_dispatching;
};

uint64_t ev_clock_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * EV_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/**
 * ev_loop_new() - create a loop
 * @ret: the loop
 *
 * Return: 0 or -errno.
 */
int ev_loop_new(EvLoop **ret)
{
        EvLoop *l = calloc(1, sizeof(*l));

        if (!l)
                return -ENOMEM;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) {
                int r = -errno;

                free(l);
                return r;
        }
        l->now = ev_clock_now();
        *ret = l;
        return 0;
}

/**
 * ev_loop_free() - free a loop; its files and timers must have been removed or be dead
 * @l: the loop, or NULL
 *
 * Return: NULL.
 */
EvLoop *ev_loop_free(EvLoop *l)
{
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n_heap; i++)
                l->heap[i]->index = SIZE_MAX;
        (void)safe_close(l->epfd);
        free(l->heap);
        free(l);
        return NULL;
}

/**
 * ev_now() - the loop's time, read once per iteration (CLOCK_MONOTONIC, microseconds)
 * @l: the loop
 *
 * Return: the time.
 */
uint64_t ev_now(EvLoop *l)
{
        return l->now;
}

/**
 * ev_loop_set_before_sleep() - a hook run before each wait (flush buffered output, ...)
 * @l: the loop
 * @fn: the hook, or NULL
 * @userdata: passed to it
 */
void ev_loop_set_before_sleep(EvLoop *l, EvHookFn fn, void *userdata)
{
        l->before_sleep = fn;
        l->before_sleep_data = userdata;
}

/**
 * ev_file_add() - watch a descriptor
 * @l: the loop
 * @f: the embedded watch (its owner outlives the watch)
 * @fd: the descriptor (non-blocking)
 * @events: EPOLLIN, EPOLLOUT, ...; 0 registers it without events
 * @fn: called with the ready events
 *
 * Return: 0 or -errno.
 */
int ev_file_add(EvLoop *l, EvFile *f, int fd, uint32_t events, EvFileFn fn)
{
        struct epoll_event ev = { .events = events, .data.ptr = f };

        if (f->added)
                return -EBUSY;
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -errno;
        f->loop = l;
        f->fd = fd;
        f->events = events;
        f->fn = fn;
        f->added = true;
        f->first = false;
        return 0;
}

/**
 * ev_file_set_events() - change what a watched descriptor waits for (0: nothing, for now)
 * @f: the watch
 * @events: the new events
 *
 * Return: 0 or -errno.
 */
int ev_file_set_events(EvFile *f, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = f };

        if (!f->added)
                return -ENOENT;
        if (f->events == events)
                return 0;
        if (epoll_ctl(f->loop->epfd, EPOLL_CTL_MOD, f->fd, &ev) < 0)
                return -errno;
        f->events = events;
        return 0;
}

/**
 * ev_file_remove() - stop watching (the descriptor itself is not closed)
 * @f: the watch; removing one that is not added does nothing
 */
void ev_file_remove(EvFile *f)
{
        EvLoop *l = f->loop;

        if (!f->added)
                return;
        (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, f->fd, NULL);
        for (size_t i = 0; i < l->n_dispatching; i++)
                if (l->dispatching[i] == f)
                        l->dispatching[i] = NULL;
        f->added = false;
}

/* --- timers: a binary min-heap on 'when' ------------------------------------------------ */

static void heap_set(EvLoop *l, size_t i, EvTimer *t)
{
        l->heap[i] = t;
        t->index = i;
}

static void heap_up(EvLoop *l, size_t i)
{
        EvTimer *t = l->heap[i];

        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (l->heap[parent]->when <= t->when)
                        break;
                heap_set(l, i, l->heap[parent]);
                i = parent;
        }
        heap_set(l, i, t);
}

static void heap_down(EvLoop *l, size_t i)
{
        EvTimer *t = l->heap[i];

        for (;;) {
                size_t c = 2 * i + 1;

                if (c >= l->n_heap)
                        break;
                if (c + 1 < l->n_heap && l->heap[c + 1]->when < l->heap[c]->when)
                        c++;
                if (t->when <= l->heap[c]->when)
                        break;
                heap_set(l, i, l->heap[c]);
                i = c;
        }
        heap_set(l, i, t);
}

/**
 * ev_timer_disarm() - cancel a timer (no effect when it is not armed)
 * @t: the timer
 */
void ev_timer_disarm(EvTimer *t)
{
        EvLoop *l = t->loop;
        size_t i = t->index;

        if (i == SIZE_MAX || !l)
                return;
        t->index = SIZE_MAX;
        if (--l->n_heap == i)
                return;
        EvTimer *moved = l->heap[l->n_heap];

        heap_set(l, i, moved);
        heap_down(l, i);
        heap_up(l, moved->index);
}

/**
 * ev_timer_arm() - run @fn once at @when (re-arming an armed timer moves it)
 * @l: the loop
 * @t: the embedded timer
 * @when: CLOCK_MONOTONIC microseconds
 * @fn: the callback
 *
 * Arming cannot fail: the heap grows by doubling and, should that allocation fail, the
 * program aborts (a timer that silently never fires would be worse).
 */
void ev_timer_arm(EvLoop *l, EvTimer *t, uint64_t when, EvTimerFn fn)
{
        ev_timer_disarm(t);
        if (l->n_heap == l->allocated) {
                size_t n = l->allocated ? l->allocated * 2 : 64;
                EvTimer **h = realloc(l->heap, n * sizeof(*h));

                if (!h)
                        abort();
                l->heap = h;
                l->allocated = n;
        }
        t->loop = l;
        t->when = when;
        t->fn = fn;
        heap_set(l, l->n_heap++, t);
        heap_up(l, t->index);
}

/**
 * ev_timer_arm_in() - run @fn once, @usec microseconds from the loop's current time
 * @l: the loop
 * @t: the timer
 * @usec: the delay
 * @fn: the callback
 */
void ev_timer_arm_in(EvLoop *l, EvTimer *t, uint64_t usec, EvTimerFn fn)
{
        ev_timer_arm(l, t, ev_clock_now() + usec, fn);
}

/**
 * ev_timer_armed() - is the timer pending?
 * @t: the timer
 *
 * Return: true when armed.
 */
bool ev_timer_armed(const EvTimer *t)
{
        return t->index != SIZE_MAX;
}

static int run_timers(EvLoop *l)
{
        while (l->n_heap > 0 && l->heap[0]->when <= l->now) {
                EvTimer *t = l->heap[0];
                int r;

                ev_timer_disarm(t);
                r = t->fn(t);
                if (r != 0)
                        return r;
        }
        return 0;
}

static int next_timeout_ms(EvLoop *l)
{
        uint64_t when, now;

        if (l->n_heap == 0)
                return -1;
        when = l->heap[0]->when;
        now = ev_clock_now();
        if (when <= now)
                return 0;
        /* Round up, so that a timer never fires early and the loop never spins. */
        uint64_t ms = (when - now + EV_USEC_PER_MSEC - 1) / EV_USEC_PER_MSEC;

        return ms > 24ULL * 3600 * 1000 ? 24 * 3600 * 1000 : (int)ms;
}

/**
 * ev_loop_run() - dispatch until a callback returns non-zero
 * @l: the loop
 *
 * Return: the positive value a callback returned (EV_EXIT), or a negative errno.
 */
int ev_loop_run(EvLoop *l)
{
        struct epoll_event ev[EV_BATCH];

        for (;;) {
                int n, r;

                if (l->before_sleep)
                        l->before_sleep(l->before_sleep_data);
                n = epoll_wait(l->epfd, ev, EV_BATCH, next_timeout_ms(l));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                l->now = ev_clock_now();

                /* (the files marked first go to the front of the batch) */
                for (int i = 0, k = 0; i < n; i++) {
                        EvFile *f = ev[i].data.ptr;

                        if (f->first) {
                                struct epoll_event e = ev[k];

                                ev[k] = ev[i];
                                ev[i] = e;
                                k++;
                        }
                }
                l->n_dispatching = (size_t)n;
                for (int i = 0; i < n; i++)
                        l->dispatching[i] = ev[i].data.ptr;
                for (int i = 0; i < n; i++) {
                        EvFile *f = l->dispatching[i];

                        if (!f)         /* removed by an earlier callback of this batch */
                                continue;
                        r = f->fn(f, ev[i].events);
                        if (r != 0) {
                                l->n_dispatching = 0;
                                return r;
                        }
                }
                l->n_dispatching = 0;

                r = run_timers(l);
                if (r != 0)
                        return r;
        }
}

/**
 * ev_file_move() - watch a descriptor in another loop instead (same events and callback)
 * @to: the loop that watches it from now on
 * @f: the watch; one that is not added stays unadded
 *
 * For re-exec's drainer (reexec.c), which serves its connections from a loop of its own.
 *
 * Return: 0 or -errno (then @f is watched by no loop).
 */
int ev_file_move(EvLoop *to, EvFile *f)
{
        int fd = f->fd;
        uint32_t events = f->events;
        EvFileFn fn = f->fn;

        if (!f->added)
                return 0;
        ev_file_remove(f);
        return ev_file_add(to, f, fd, events, fn);
}

/**
 * ev_timer_move() - arm a timer in another loop instead, for the same time
 * @to: the loop
 * @t: the timer; one that is not armed stays unarmed
 */
void ev_timer_move(EvLoop *to, EvTimer *t)
{
        uint64_t when = t->when;
        EvTimerFn fn = t->fn;

        if (!ev_timer_armed(t))
                return;
        ev_timer_disarm(t);
        ev_timer_arm(to, t, when, fn);
}
