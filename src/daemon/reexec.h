/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_REEXEC_H
#define PORTIERD_REEXEC_H

/*
 * reexec — the live upgrade's private parts, shared by its three files (the public calls are
 * in control.h):
 *
 *   reexec.c      the re-exec itself: the old image's checks and execve(), the new image's
 *                 loading and adoption, the fallback (its header says the whole design)
 *   inventory.c   the inventory's text format: written by the old image, parsed by the new
 *   drainer.c     the drainer, the fork that serves the in-process connections on
 *   monitor_reexec.c  under privilege separation: the monitor's part (its header)
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "daemon/daemon.h"

#define REEXEC_ENV "PORTIER_REEXEC"
#define REEXEC_ERROR_ENV "PORTIER_REEXEC_ERROR"
#define REEXEC_VERSION 2        /* 1 (read too): no drainer/cpsoff lines, servers without
                                   their per_source slot and client */
#define REEXEC_STATE_MAX (64u << 20)


typedef struct ReexecService {
        int fd;
        ServiceCounters counters;
        char *key;
        bool taken;
} ReexecService;

typedef struct ReexecServer {
        pid_t pid;
        time_t started;
        bool has_src, has_client;       /* its per_source slot, and its client */
        AccessAddr src, client;
        char *key;
} ReexecServer;

/* How a service writes its EXIT lines, for servers the new image has no service for. */
typedef struct ReexecExitLog {
        char *key;
        char *id;
        unsigned log_on_success;
        ConfLogType log_type;           /* .path owned */
} ReexecExitLog;

/* A server adopted without a service: reaped, its EXIT line written, ended at stop. */
typedef struct ReexecOrphan {
        pid_t pid;
        time_t started;
        char *id;                       /* NULL: no EXIT line (an inventory of version 1) */
        unsigned log_on_success;
        ConfLogType log_type;           /* .path owned */
        LogTarget log;
} ReexecOrphan;

/* A connection in admission, handed over: waiting for a fork retry, an ident answer
 * (IDONLY) or its host name (name-based address rules). */
typedef enum HeldStage {
        HELD_RETRY,
        HELD_IDENT,
        HELD_NAME,
        _HELD_MAX,
} HeldStage;

extern const char *const held_stage_names[_HELD_MAX];

typedef struct ReexecHeld {
        HeldStage stage;
        unsigned tries;
        int fd;
        struct sockaddr_storage peer;
        char from[46];
        char *key;
} ReexecHeld;

/* A service closed for its cps: reopened when it was due (CLOCK_MONOTONIC survives exec). */
typedef struct ReexecCpsOff {
        uint64_t until;
        char *key;
} ReexecCpsOff;

struct Reexec {
        char *exe;                      /* /proc/self/exe at start */
        int exe_fd;                     /* the binary we run, for the fallback */
        char *cwd;                      /* the directory we started in: relative paths on
                                           the command line are read from there again */
        /* what a re-executed image inherited (reexec_load) */
        bool active;
        int state_fd;
        int pidfile_fd, control_fd, client_fd;
        unsigned generation;
        uint64_t started_usec;
        time_t started_wall;
        ReexecService *services;
        size_t n_services;
        ReexecServer *servers;
        size_t n_servers;
        char *error;                    /* $PORTIER_REEXEC_ERROR: we are the fallback */
        char **argv;                    /* the old image's command line, for the fallback */
        size_t argc;
        ReexecCpsOff *cps_off;
        size_t n_cps_off;
        /* the drainers (forks of earlier images serving their in-process connections on):
         * our children, not servers; signalled at stop, which waits for them */
        pid_t *drainers;
        size_t n_drainers;
        ReexecExitLog *exitlogs;
        size_t n_exitlogs;
        ReexecOrphan *orphans;
        size_t n_orphans;
        ReexecHeld *held;
        size_t n_held;
};

/* inventory.c */
typedef void (*InventoryHeldFn)(void *userdata, Service *s, HeldStage stage, unsigned tries,
                                int fd, const struct sockaddr *peer, const char *from);
void inventory_each_held(Daemon *d, InventoryHeldFn fn, void *userdata);
int inventory_write(Daemon *d, int pidfile_fd, int client_fd, pid_t drainer);
void inventory_write_end(FILE *f, char *const argv[]);
int inventory_read(int fd, char **ret);
int inventory_parse(Reexec *x, char *text);
int inventory_cmp_service(const void *a, const void *b);

/* drainer.c */
pid_t drainer_fork(Daemon *d, int *ret_go);
void drainer_abort(int go_fd);
_Noreturn void drainer_serve(Daemon *d);

/* reexec.c */
void reexec_state_free(Reexec *x, bool close_fds);
int reexec_set_cloexec(int fd, bool on);
int reexec_execve(const Reexec *x, PortierLog *log, int state_fd, char *const argv[]);

/* monitor_reexec.c: what the monitor knows, for checking the network process's inventory */
typedef struct MonitorReexecChecks {
        void *userdata;
        PortierLog *log;
        bool (*is_server)(void *userdata, pid_t pid);   /* a running server of the monitor */
        bool (*is_drainer)(void *userdata, pid_t pid);  /* a drainer the monitor knows */
        bool (*is_log_path)(void *userdata, const char *path);  /* a configured log file */
} MonitorReexecChecks;

int monitor_reexec(Daemon *d, pid_t net_pid, int memfd, const MonitorReexecChecks *c,
                   char *err, size_t errsize);

#endif
