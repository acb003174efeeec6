/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_PRIVSEP_H
#define PORTIERD_PRIVSEP_H

/*
 * privsep — privilege separation (DESIGN.md decision 10; portierd(8) PRIVILEGE SEPARATION).
 *
 * Started as root with --privsep-user NAME, portierd loads its first configuration, binds
 * every socket and creates the control socket as root, then forks:
 *   - the parent stays the main pid as the monitor (monitor.c): pid file, sd_notify, signals
 *     from outside; it binds sockets for reloads, spawns servers, signals and reaps them,
 *     opens log files, loads every configuration (recording it into a bundle), and answers
 *     only requests its own copy of the configuration allows;
 *   - the child drops to the privsep user (no supplementary groups, no capabilities,
 *     no_new_privs, "/") and runs the event loop as before: admission, built-ins, redirect,
 *     the control socket, the log lines. Its privileged calls go through the functions
 *     below, one request and one reply each on a socket pair (privmsg.h), except spawns,
 *     which are pipelined: their results arrive, with server exits and new configurations,
 *     as events on a second one.
 *
 * Live re-exec: the network process writes the inventory and asks (REEXEC); the monitor
 * takes the descriptors it names, checks it and executes the new image, which forks a new
 * network process; the old one drains (monitor_reexec.c has the details).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "daemon/ev.h"
#include "daemon/spawn.h"

typedef struct Daemon Daemon;
typedef struct Service Service;
struct ConfBundle;
struct PortierPidfile;

typedef struct Privsep {
        Daemon *d;
        int req_fd;                     /* requests and their replies (blocking) */
        int ev_fd;                      /* events from the monitor (non-blocking) */
        EvFile ev;
        struct ConfBundle *bundle;      /* the configuration the next load reads */
        bool reload_granted;            /* reload_start() comes from the monitor's NEWCONF */
        bool streaming;                 /* the load under way reads a stream (CONFSTREAM), */
        bool conf_done;                 /* ... the monitor's CONFDONE for it came, */
        bool conf_held;                 /* ... saying that it holds the generation */
        unsigned refused;               /* requests the monitor refused (a bug or an attack) */
        /* Spawns in flight: a slot per request, its index the request's id (grown, never
         * shrunk, like the server records: the spawn path allocates only past the peak). */
        struct SpawnJob *jobs;
        uint32_t n_jobs;                /* slots allocated */
        uint32_t free_job;              /* first free slot + 1; 0: none */
} Privsep;

/* privsep.c: start, and the network process's side */
int privsep_start(Daemon *d, const char *user, struct PortierPidfile *pf,
                  PortierDaemon *startup, char *err, size_t errsize);
const struct ConfBundle *privsep_bundle(const Daemon *d);
struct ListenerFile;
int privsep_bind(Daemon *d, const Service *s, struct ListenerFile *ret_file, char *err,
                 size_t errsize);
void privsep_remove_file(Daemon *d, const Service *s, struct ListenerFile *f);
void privsep_spawn_send(Daemon *d, const struct SpawnJob *j, int fd, bool first_try);
int privsep_signal(Daemon *d, pid_t pid, int sig);
int privsep_open_log(void *userdata, const char *path);
int privsep_reopen_daemon_log(Daemon *d);
int privsep_open_dump(Daemon *d);
int privsep_notify_status(Daemon *d, const char *line);
bool privsep_take_reload_grant(Daemon *d);
int privsep_ask_reload(Daemon *d);
void privsep_reloaded(Daemon *d);
int privsep_stream_finish(Daemon *d);
bool privsep_conf_pending(const Daemon *d);
bool privsep_conf_refused(const Daemon *d);
Privsep *privsep_free(Privsep *p);
void privsep_take_events(Daemon *d);
int privsep_settle(Daemon *d);
int privsep_reexec(Daemon *d, int memfd, uint64_t size, char *err, size_t errsize);

/* monitor.c: the privileged parent; never returns (exits with the daemon's status) */
_Noreturn void monitor_run(Daemon *d, pid_t net_pid, int req_fd, int ev_fd,
                           struct PortierPidfile *pf, PortierDaemon *startup);

#endif
