/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_SIGNALS_H
#define PORTIER_SIGNALS_H

/*
 * Signals as events: the signals are blocked and delivered through a non-blocking,
 * close-on-exec signalfd that an event loop watches. Never do work in a signal handler.
 */

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct PortierSignal {
        int signo;
        pid_t pid;              /* sender */
        int code;               /* si_code */
        int status;             /* SIGCHLD: exit status or signal */
} PortierSignal;

int portier_signalfd_open(const int *signals, size_t n, int *ret_fd);
int portier_signalfd_read(int fd, PortierSignal *ret);

#ifdef __cplusplus
}
#endif
#endif
