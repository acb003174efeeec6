/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_EV_H
#define PORTIERD_EV_H

/*
 * ev — portierd's event loop: epoll for descriptors, a binary min-heap for timers, and a
 * before-sleep hook. One thread; callbacks are short and never block.
 *
 * Descriptors are level-triggered: a callback handles a bounded batch (accept, say, at most
 * a few dozen connections) and returns; if more is pending, the next epoll_wait() reports the
 * descriptor again, after every other ready descriptor had its turn. That is the fairness
 * rule across services, with no ready list to maintain.
 *
 * Callbacks return 0 to go on, EV_EXIT (positive) to end ev_loop_run() with that value, or a
 * negative errno for a fatal error, which also ends it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#define EV_EXIT 1

typedef struct EvLoop EvLoop;
typedef struct EvFile EvFile;
typedef struct EvTimer EvTimer;

typedef int (*EvFileFn)(EvFile *f, uint32_t events);
typedef int (*EvTimerFn)(EvTimer *t);
typedef void (*EvHookFn)(void *userdata);

struct EvFile {
        EvLoop *loop;
        int fd;
        uint32_t events;        /* EPOLLIN, EPOLLOUT, ... as registered */
        EvFileFn fn;
        bool added;
        bool first;             /* dispatched before the others ready in the same turn
                                   (false from ev_file_add(); set after it) */
};

#define EV_FILE_NULL ((EvFile){ .fd = -1 })

struct EvTimer {
        EvLoop *loop;
        uint64_t when;          /* CLOCK_MONOTONIC, microseconds */
        EvTimerFn fn;
        size_t index;           /* position in the heap; SIZE_MAX when not armed */
};

#define EV_TIMER_NULL ((EvTimer){ .index = SIZE_MAX })

int ev_loop_new(EvLoop **ret);
EvLoop *ev_loop_free(EvLoop *l);
int ev_loop_run(EvLoop *l);
void ev_loop_set_before_sleep(EvLoop *l, EvHookFn fn, void *userdata);
uint64_t ev_now(EvLoop *l);
uint64_t ev_clock_now(void);

int ev_file_add(EvLoop *l, EvFile *f, int fd, uint32_t events, EvFileFn fn);
int ev_file_set_events(EvFile *f, uint32_t events);
void ev_file_remove(EvFile *f);

void ev_timer_arm(EvLoop *l, EvTimer *t, uint64_t when, EvTimerFn fn);
void ev_timer_arm_in(EvLoop *l, EvTimer *t, uint64_t usec, EvTimerFn fn);
void ev_timer_disarm(EvTimer *t);
bool ev_timer_armed(const EvTimer *t);

int ev_file_move(EvLoop *to, EvFile *f);
void ev_timer_move(EvLoop *to, EvTimer *t);

#define EV_USEC_PER_SEC 1000000ULL
#define EV_USEC_PER_MSEC 1000ULL

#endif
