/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_DAEMON_H
#define PORTIER_DAEMON_H

/*
 * Detaching from the terminal the right way, and telling the invoking shell whether start-up
 * worked.
 *
 * A program takes its pid file lock first (pidfile.h), then calls portier_daemon_start(). In
 * the detached mode the calling process forks twice; the original process waits on a pipe and
 * never returns: it exits 0 once the daemon calls portier_daemon_ready(), or with the daemon's
 * exit code and message (printed on its stderr) once the daemon calls portier_daemon_fail().
 * The daemon process returns from portier_daemon_start() with a handle for that report.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exit status of the invoking process when the daemon vanished or timed out without a report. */
#define PORTIER_DAEMON_EXIT_NOREPORT 1

typedef struct PortierPidfile PortierPidfile;
typedef struct PortierLog PortierLog;

typedef struct PortierDaemonOptions {
        bool foreground;        /* do not fork, setsid or touch 0/1/2; the rest still applies */
        mode_t umask;           /* umask of the daemon (default 022 when umask_set is false) */
        bool umask_set;
        const char *directory;  /* working directory (default "/"; kept as is in foreground) */
        int timeout_ms;         /* invoking process waits at most this long (0: 60 s; <0: ever) */
        const int *keep_fds;    /* descriptors kept open in the daemon, besides 0, 1, 2 */
        size_t n_keep_fds;
        bool keep_listen_fds;   /* keep sockets passed with LISTEN_FDS (and follow LISTEN_PID) */
        PortierPidfile *pidfile; /* locked pid file: kept open, the daemon's pid written to it */
        PortierLog *log;        /* a log sink whose file and socket stay open */
} PortierDaemonOptions;

typedef struct PortierDaemon PortierDaemon;

int portier_daemon_start(const PortierDaemonOptions *opts, PortierDaemon **ret);
int portier_daemon_ready(PortierDaemon *d);
int portier_daemon_fail(PortierDaemon *d, int exit_code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
bool portier_daemon_detached(const PortierDaemon *d);
PortierDaemon *portier_daemon_free(PortierDaemon *d);

int portier_close_fds(const int *keep, size_t n_keep);
int portier_reset_signals(void);

#ifdef __cplusplus
}
#endif
#endif
