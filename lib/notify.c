/* SPDX-License-Identifier: MIT */
/*
 * notify.c — the sd_notify(3) protocol without libsystemd.
 *
 * One datagram of newline-separated VAR=VALUE lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET: a path, or "@name" for the abstract namespace (the '@' becomes a NUL byte
 * and no trailing NUL is counted). The kernel attaches our credentials for a receiver that
 * asks for them (SO_PASSCRED), which is all a manager needs from the main process. The send
 * never blocks: a manager that does not read loses the message, not the daemon.
 */

#include <portier/notify.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "util.h"

/**
 * portier_notify() - send a state string to the service manager
 * @unset_environment: unset $NOTIFY_SOCKET afterwards (so that children do not inherit it)
 * @state: newline-separated assignments, e.g. "READY=1\nSTATUS=serving"
 *
 * Return: 1 when sent, 0 when $NOTIFY_SOCKET is not set, -EAFNOSUPPORT for an address form
 * we do not speak (vsock:), -ENAMETOOLONG, or another -errno.
 */
int portier_notify(bool unset_environment, const char *state)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        const char *e = getenv("NOTIFY_SOCKET");
        socklen_t salen;
        size_t len;
        int r = 1;

        if (!state)
                return -EINVAL;
        if (!e || !*e)
                return 0;
        len = strlen(e);
        if (e[0] != '/' && e[0] != '@') {
                r = -EAFNOSUPPORT;
                goto out;
        }
        if (len >= sizeof(sa.sun_path) || len < 2) {
                r = -ENAMETOOLONG;
                goto out;
        }
        memcpy(sa.sun_path, e, len);
        if (e[0] == '@')
                sa.sun_path[0] = '\0';
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (e[0] == '/'));

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        if (sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
                   (struct sockaddr *)&sa, salen) < 0)
                r = -errno;
out:
        if (unset_environment)
                (void)unsetenv("NOTIFY_SOCKET");
        return r;
}

/**
 * portier_notifyf() - portier_notify() with a printf format
 * @unset_environment: as for portier_notify()
 * @fmt: the state, as a format
 *
 * Return: as portier_notify(); -ENOMEM if the string cannot be built.
 */
int portier_notifyf(bool unset_environment, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0) {
                s = NULL;
                return -ENOMEM;
        }
        return portier_notify(unset_environment, s);
}

/**
 * portier_notify_reloading() - tell the manager a reload has begun
 *
 * Sends RELOADING=1 with MONOTONIC_USEC (required by Type=notify-reload); send READY=1
 * (portier_daemon_ready() or portier_notify()) once the reload is done.
 *
 * Return: as portier_notify().
 */
int portier_notify_reloading(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return portier_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu",
                               (unsigned long long)ts.tv_sec * 1000000ULL +
                               (unsigned long long)ts.tv_nsec / 1000ULL);
}
