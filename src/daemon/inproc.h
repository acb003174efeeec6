/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_INPROC_H
#define PORTIERD_INPROC_H

/*
 * inproc — the accounting of a connection served inside portierd, without a process: the
 * built-ins (builtin.c, tcpmux.c) and redirect (redirect.c). It is to an in-process connection
 * what server.c and service_server_exited() are to a spawned server:
 *
 *   - it counts against the service's `instances` (s->running, the count admission checks)
 *     and takes the client's `per_source` slot; the global in-process count is
 *     d->inproc_running (shown in the state dump). It does not count against -limit, which
 *     caps processes (xinetd's process_limit);
 *   - START is logged when it begins and EXIT when it ends, both with pid=0 (DESIGN.md
 *     decision 5), honouring log_on_success (PID, HOST, EXIT, DURATION; USERID starts the
 *     ident lookup as for a server); banner_success is sent before the handler writes;
 *   - the counters (started, exited) move as for servers;
 *   - the daemon can end it: SIGTERM/SIGINT stop (every in-process connection is closed at
 *     once, there is nothing to wait for), a reload that removes the service, and a reload
 *     whose new access rules (only_from/no_access, access_times) or lowered `instances`
 *     refuse it — the same rules as recheck_running() applies to servers.
 *
 * Use, by a handler embedding an InprocConn in its own connection object:
 *
 *      if (!admit_connection(s, fd, peer, from)) return;       (done by the dispatcher)
 *      Echo *e = calloc(...);
 *      if (!inproc_begin(&e->conn, s, fd, peer, from, echo_end)) { free(e); return; }
 *          (false: refused — per_source — or out of memory; fd was closed, FAIL logged)
 *      ... serve on the loop ...
 *      when done (peer closed, error, idle timeout), or when asked through ->end:
 *          ev_file_remove(&e->ev); close(fd); inproc_end(&e->conn); free(e);
 *
 * The `end` callback is how the daemon ends a connection: it must close what the handler
 * owns, call inproc_end() and free the object before it returns (synchronously: the caller
 * may free the service right after). inproc_end() must not be called twice.
 *
 * Single-threaded: everything here runs on the loop. Nothing allocates.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon/access.h"

typedef struct Service Service;
typedef struct Daemon Daemon;
typedef struct InprocConn InprocConn;

/* Why the daemon ends a connection (for the handler's own log or TRAFFIC line). */
typedef enum InprocEndReason {
        INPROC_END_STOP,        /* the daemon stops */
        INPROC_END_RELOAD,      /* a reload removed the service or now refuses the client */
} InprocEndReason;

typedef void (*InprocEndFn)(InprocConn *c, InprocEndReason why);

/* Re-exec's drainer (reexec.c) serves the connection on from a loop of its own: the handler
 * moves its watches and timers there (ev_file_move(), ev_timer_move()). */
typedef struct EvLoop EvLoop;
typedef void (*InprocMoveFn)(InprocConn *c, EvLoop *to);

struct InprocConn {
        Service *svc;
        InprocEndFn end;
        InprocMoveFn move;              /* NULL: ended (EXIT) when the drainer takes over */
        time_t started;                 /* wall clock, for duration= */
        bool src_held;                  /* holds a per_source slot for src */
        AccessAddr src;
        bool has_client;                /* client: for re-checking address rules at reload */
        AccessAddr client;
        bool ended;
        InprocConn *next, *prev;        /* in the service's list, newest first */
};

/**
 * inproc_begin() - account for an admitted connection served in-process; log START
 * @c: the connection's record, embedded in the handler's object (any content; it is set)
 * @s: the service (admission already passed: admit_connection())
 * @fd: the client connection, or -1 for a datagram exchange without one
 * @peer: the client, or NULL
 * @from: the client as text (spawn_format_addr()), or NULL
 * @end: how the daemon ends this connection (see above); never NULL
 *
 * Takes the per_source slot (a refusal there logs FAIL per_source_limit and closes @fd),
 * sends banner_success, counts the connection in s->running and d->inproc_running, logs
 * START with pid=0 and starts the USERID lookup when log_on_success asks for it.
 *
 * Return: true when the connection is the handler's to serve; false when it was refused
 * (@fd is closed then, and @c is not linked).
 */
bool inproc_begin(InprocConn *c, Service *s, int fd, const struct sockaddr *peer,
                  const char *from, InprocEndFn end);

/**
 * inproc_end() - the connection is over: log EXIT (pid=0, status=0), release its slots
 * @c: the record given to inproc_begin() (the handler has closed its descriptors)
 *
 * Frees a retired service whose last connection or server this was, and lets a service
 * paused at its `instances` (at_limit = defer) accept again.
 */
void inproc_end(InprocConn *c);

/**
 * inproc_end_service() - end every in-process connection of a service (its ->end callbacks)
 * @s: the service
 * @why: passed to the callbacks
 */
void inproc_end_service(Service *s, InprocEndReason why);

/**
 * inproc_end_all() - end every in-process connection of every service (stop)
 * @d: the daemon
 */
void inproc_end_all(Daemon *d);

/**
 * inproc_recheck() - a reload changed the service's rules: end the connections they refuse
 * @s: the service, already holding its new definition
 *
 * As xinetd does with its servers at reload: outside access_times, refused by only_from /
 * no_access, or beyond a lowered `instances` (servers keep their slots first; among the
 * in-process connections the newest are ended).
 */
void inproc_recheck(Service *s);

/**
 * inproc_move_all() - in re-exec's drainer: every in-process connection is served from @to
 * @d: the daemon (the drainer's copy)
 * @to: the drainer's loop
 *
 * A connection whose handler has no ->move is ended (its EXIT line is written).
 */
void inproc_move_all(Daemon *d, EvLoop *to);

/** inproc_count() - the in-process connections of a service now. */
uint32_t inproc_count(const Service *s);

#endif
