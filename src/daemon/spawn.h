/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_SPAWN_H
#define PORTIERD_SPAWN_H

/*
 * spawn — starting a server, the one place where portierd forks.
 *
 * What does not change between connections is prepared once per service, when a
 * configuration is applied: a SpawnTemplate holds the program, argv, the fixed part of the
 * environment (env, then passenv), the credentials with the supplementary groups resolved,
 * nice, umask and rlimits. Per connection, the parent fills in the peer variables and calls
 * spawn_run(), which uses vfork(): the child shares the parent's memory until it executes
 * the server, so nothing is copied and the parent learns of a failure in the child (which
 * step, which errno) without a pipe.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "conf/conf.h"

typedef struct SpawnRlimit {
        int resource;
        struct rlimit lim;
} SpawnRlimit;

/* One allocation per service: with 10,000 services every byte here is 10 kB of portierd. */
typedef struct SpawnTemplate {
        const char *path;               /* the ConfService's: the Config outlives templates */
        char *const *argv;              /* NULL-terminated; the ConfService's */
        char *const *inherit;           /* without passenv: portierd's environment, shared by
                                           every template of a generation (not owned) */
        size_t n_inherit;
        char **env;                     /* passenv values, then env entries; NULL when none */
        size_t n_env;
        bool set_creds;                 /* only when portierd runs as root */
        uid_t uid;
        gid_t gid;
        gid_t *groups;                  /* supplementary groups (groups = yes), resolved */
        int n_groups;                   /* 0 with groups = no: setgroups(0) */
        bool set_nice;
        int nice;                       /* relative to portierd's own, as nice(2) */
        int umask;                      /* -1: the daemon's */
        bool no_new_privs;              /* PR_SET_NO_NEW_PRIVS before exec */
        const char *chroot;             /* the ConfService's; NULL: none */
        bool mount_ns;                  /* a private mount namespace (private_tmp or
                                           read_only_root) */
        bool read_only_root;
        char *private_tmp;              /* where the fresh tmpfs goes (the chroot's /tmp with
                                           a chroot); NULL: no private /tmp */
        bool set_caps;                  /* capabilities = ...: keep only @caps */
        bool caps_ambient;              /* a server not run as root: raise them as ambient */
        int cap_last;                   /* the kernel's highest capability number */
        uint64_t caps;                  /* bit 1 << CAP_* */
        bool listen_fds;                /* pass the socket as fd 3 too, with LISTEN_* */
        const char *listen_fds_name;    /* the ConfService's */
        const char *libwrap;            /* hosts_access() daemon name, the ConfService's;
                                           NULL: no libwrap check */
        char **envp;                    /* scratch for spawn_run(), shared by the templates of
                                           a generation (spawns never overlap; not owned) */
        size_t n_rlimits;
        SpawnRlimit rlimits[];          /* allocated with the template */
} SpawnTemplate;

/* Who is on the other end, for REMOTE_HOST and the systemd / ucspi-tcp variables. */
typedef struct SpawnPeer {
        const struct sockaddr *remote;  /* NULL: unknown (wait = yes stream) */
        const struct sockaddr *local;   /* NULL: unknown */
        bool tcp;
        const void *banner_fail;        /* sent by the child when libwrap refuses the client */
        size_t banner_fail_len;
        const void *banner_success;     /* sent by the child when libwrap admits it */
        size_t banner_success_len;
} SpawnPeer;

/* What the child of a libwrap spawn reports on its pipe (nothing at all: it executed). */
enum {
        SPAWN_REPORT_LIBWRAP = 'W',     /* hosts_access() refused the client */
        SPAWN_REPORT_ERROR = 'E',       /* a step failed: a SpawnError follows */
};

/* The step of the child that failed, for the daemon's message. */
typedef enum SpawnStep {
        SPAWN_STEP_NONE,
        SPAWN_STEP_FDS,
        SPAWN_STEP_SESSION,
        SPAWN_STEP_RLIMIT,
        SPAWN_STEP_NICE,
        SPAWN_STEP_MOUNT_NS,
        SPAWN_STEP_CHROOT,
        SPAWN_STEP_CAPS_BOUND,
        SPAWN_STEP_GROUPS,
        SPAWN_STEP_GID,
        SPAWN_STEP_UID,
        SPAWN_STEP_CAPS,
        SPAWN_STEP_NO_NEW_PRIVS,
        SPAWN_STEP_EXEC,
} SpawnStep;

typedef struct SpawnError {
        SpawnStep step;
        int error;                      /* errno */
} SpawnError;

int spawn_template_new(const ConfService *cs, bool as_root, char *const *inherit,
                       const struct rlimit *nofile, SpawnTemplate **ret);
char **spawn_inherited_env(void);
size_t spawn_template_envp_size(const SpawnTemplate *t);
SpawnTemplate *spawn_template_free(SpawnTemplate *t);

int spawn_run(const SpawnTemplate *t, int fd, const SpawnPeer *peer, pid_t *ret_pid,
              SpawnError *ret_err, int *ret_report_fd);
int spawn_libwrap_active(void);
bool spawn_libwrap_has_rules(void);
const char *spawn_step_name(SpawnStep step);

int spawn_format_addr(const struct sockaddr *sa, char *host, size_t hostsize, unsigned *ret_port);

#endif
