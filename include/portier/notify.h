/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_NOTIFY_H
#define PORTIER_NOTIFY_H

/*
 * The sd_notify(3) protocol, spoken without libsystemd: one datagram of newline-separated
 * VAR=VALUE lines to the AF_UNIX socket named by $NOTIFY_SOCKET ("@name" is abstract).
 *
 * Return: > 0 sent, 0 when $NOTIFY_SOCKET is not set, -errno on failure.
 */

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

int portier_notify(bool unset_environment, const char *state);
int portier_notifyf(bool unset_environment, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
int portier_notify_reloading(void);

#ifdef __cplusplus
}
#endif
#endif
