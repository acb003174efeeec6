/* SPDX-License-Identifier: MIT */
/*
 * spawn.c — start a server with a connection on 0, 1 and 2 (DESIGN.md decision 7).
 *
 * The child is created with vfork(): the parent is suspended until the child executes the
 * server or exits, and the child runs on the parent's memory. So the child path may only use
 * async-signal-safe calls on data prepared beforehand — no allocation, no NSS, no stdio — and
 * reports a failure by writing into a SpawnError of the parent's frame before _exit(). Signal
 * dispositions are not shared with a vfork() child, so resetting them there is safe.
 *
 * In the child, in this order: a new session; the connection on 0/1/2 (and on 3 for
 * listen_fds), every other descriptor closed; rlimits (RLIMIT_NOFILE back to the value
 * portierd started with); nice; umask; the private mount namespace (private_tmp,
 * read_only_root); chroot; the capability bounding set; when root, setgroups() then
 * setresgid() then setresuid(); the other capability sets (ambient ones for a server that is
 * not root); no_new_privs; SIGPIPE back to default and an empty signal mask; execve() with an
 * environment that holds only REMOTE_HOST, the env and passenv entries, and the peer
 * variables that systemd (REMOTE_ADDR, REMOTE_PORT) and ucspi-tcp (PROTO, TCPREMOTEIP, ...)
 * servers read.
 */

#include "daemon/spawn.h"
#include "daemon/access.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/harden.h"
#include "util.h"

#ifdef HAVE_LIBWRAP
#include <syslog.h>
#include <tcpd.h>

/* libwrap's own logging of refusals (tcpd.h wants the program to define these). */
int allow_severity = LOG_INFO;
int deny_severity = LOG_INFO;           /* as xinetd sets it */
#endif

/* Per-connection variables: REMOTE_HOST, REMOTE_ADDR, REMOTE_PORT, PROTO, TCPREMOTEIP,
 * TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT, LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES. */
#define SPAWN_PEER_VARS 11
#define SPAWN_VAR_MAX 320

static const int conf_rlimit_resource[_CONF_RLIMIT_MAX] = {
        [CONF_RLIMIT_AS] = RLIMIT_AS,           [CONF_RLIMIT_CPU] = RLIMIT_CPU,
        [CONF_RLIMIT_DATA] = RLIMIT_DATA,       [CONF_RLIMIT_RSS] = RLIMIT_RSS,
        [CONF_RLIMIT_STACK] = RLIMIT_STACK,     [CONF_RLIMIT_FILES] = RLIMIT_NOFILE,
        [CONF_RLIMIT_NPROC] = RLIMIT_NPROC,
};

static void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

/* Supplementary groups of the server's user, looked up once, at apply time. */
static int resolve_groups(const ConfService *cs, SpawnTemplate *t)
{
        struct passwd pw, *p = NULL;
        char buf[4096];
        int n = 64;

        if (!cs->groups)
                return 0;       /* groups = no: setgroups(0) */
        if (getpwuid_r(cs->uid, &pw, buf, sizeof(buf), &p) != 0 || !p) {
                /* A numeric uid with no passwd entry: only its own group. */
                t->groups = malloc(sizeof(gid_t));
                if (!t->groups)
                        return -ENOMEM;
                t->groups[0] = cs->gid;
                t->n_groups = 1;
                return 0;
        }
        for (int tries = 0; tries < 8; tries++) {
                gid_t *g = realloc(t->groups, (size_t)n * sizeof(gid_t));
                int want = n;

                if (!g)
                        return -ENOMEM;
                t->groups = g;
                if (getgrouplist(p->pw_name, cs->gid, g, &want) >= 0) {
                        t->n_groups = want;
                        /* Kept for the configuration's life: no slack. */
                        if ((g = realloc(t->groups, (size_t)(want ? want : 1) * sizeof(gid_t))))
                                t->groups = g;
                        return 0;
                }
                n = want > n ? want : n * 2;
        }
        return -E2BIG;
}

/* Variables that describe portierd itself, never a server's business. */
static bool daemon_own_var(const char *entry)
{
        static const char *const own[] = { "NOTIFY_SOCKET=", "LISTEN_PID=", "LISTEN_FDS=",
                                           "LISTEN_FDNAMES=", "JOURNAL_STREAM=",
                                           "WATCHDOG_PID=", "WATCHDOG_USEC=" };

        for (size_t i = 0; i < ELEMENTSOF(own); i++)
                if (strncmp(entry, own[i], strlen(own[i])) == 0)
                        return true;
        return false;
}

/**
 * spawn_inherited_env() - portierd's environment as servers inherit it without passenv
 *
 * A copy, made once per configuration and shared by its templates, less the variables that
 * describe portierd itself (NOTIFY_SOCKET, LISTEN_*, JOURNAL_STREAM, WATCHDOG_*).
 *
 * Return: a NULL-terminated vector to free with strv_free(), or NULL when out of memory.
 */
char **spawn_inherited_env(void)
{
        extern char **environ;
        size_t n = 0, k = 0;
        char **v;

        while (environ[n])
                n++;
        v = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; v && i < n; i++)
                if (!daemon_own_var(environ[i]) && !(v[k++] = strdup(environ[i]))) {
                        strv_free(v);
                        return NULL;
                }
        return v;
}

/*
 * The fixed part of the environment, in xinetd's order (observed): the passenv variables
 * portierd has (or, without passenv anywhere, all of its environment, as xinetd.conf(5)
 * says: the shared @inherit vector), then the env entries.
 */
static int build_env(const ConfService *cs, SpawnTemplate *t)
{
        size_t n = 0;

        if (cs->n_env + cs->n_passenv == 0)
                return 0;
        t->env = calloc(cs->n_env + cs->n_passenv + 1, sizeof(char *));
        if (!t->env)
                return -ENOMEM;
        for (size_t i = 0; i < cs->n_passenv; i++) {
                const char *v = getenv(cs->passenv[i]);

                if (!v)
                        continue;
                if (asprintf(&t->env[n++], "%s=%s", cs->passenv[i], v) < 0) {
                        t->env[--n] = NULL;
                        return -ENOMEM;
                }
        }
        for (size_t i = 0; i < cs->n_env; i++)
                if (!(t->env[n++] = strdup(cs->env[i])))
                        return -ENOMEM;
        t->n_env = n;
        return 0;
}

/**
 * spawn_template_new() - prepare what every spawn of a service shares
 * @cs: the service (an exec'd one)
 * @as_root: portierd runs as root: switch to the service's user and group
 * @inherit: without passenv, the environment to pass (spawn_inherited_env(); it must
 *           outlive the template); NULL with passenv
 * @nofile: RLIMIT_NOFILE as portierd found it at start (servers get it back)
 * @ret: the template
 *
 * Resolves the supplementary groups (getgrouplist(), which may ask NSS) and reads the
 * passenv variables from portierd's environment.
 *
 * Return: 0 or -errno.
 */
int spawn_template_new(const ConfService *cs, bool as_root, char *const *inherit,
                       const struct rlimit *nofile, SpawnTemplate **ret)
{
        size_t n_rlimits = 0;
        SpawnTemplate *t;
        int r = -ENOMEM;

        n_rlimits = (size_t)__builtin_popcount(cs->rare->rlimit_set);
        if (nofile && !(cs->rare->rlimit_set & 1u << CONF_RLIMIT_FILES))
                n_rlimits++;
        t = calloc(1, sizeof(*t) + n_rlimits * sizeof(t->rlimits[0]));
        if (!t)
                return -ENOMEM;
        t->umask = cs->umask;
        t->set_nice = cs->has_nice;
        t->nice = cs->nice;
        t->listen_fds = cs->listen_fds;
        t->no_new_privs = cs->no_new_privs;
        t->chroot = cs->rare->chroot;
        /* The configuration outlives its templates (both belong to one generation). */
        t->path = cs->server;
        t->argv = cs->argv;
        if (cs->listen_fds)
                t->listen_fds_name = cs->rare->listen_fds_name ? cs->rare->listen_fds_name : cs->id;
        t->inherit = inherit;
        while (inherit && inherit[t->n_inherit])
                t->n_inherit++;
        if ((r = build_env(cs, t)) < 0)
                goto fail;
        if (as_root && cs->has_user) {
                t->set_creds = true;
                t->uid = cs->uid;
                t->gid = cs->gid;
                if ((r = resolve_groups(cs, t)) < 0)
                        goto fail;
        }
        if (cs->rare->private_tmp || cs->rare->read_only_root) {
                /* Without the namespace the service is refused at load (harden.c). */
                t->mount_ns = true;
                t->read_only_root = cs->rare->read_only_root;
                if (cs->rare->private_tmp &&
                    asprintf(&t->private_tmp, "%s/tmp", t->chroot ? t->chroot : "") < 0) {
                        t->private_tmp = NULL;
                        r = -ENOMEM;
                        goto fail;
                }
        }
        if (as_root && cs->rare->has_caps) {
                /* Without root the service is refused at load (harden.c). */
                t->set_caps = true;
                t->caps = cs->rare->caps;
                t->caps_ambient = t->set_creds && t->uid != 0;
                t->cap_last = harden_cap_last();
        }
        for (int i = 0; i < _CONF_RLIMIT_MAX; i++) {
                if (!(cs->rare->rlimit_set & 1u << i))
                        continue;
                t->rlimits[t->n_rlimits].resource = conf_rlimit_resource[i];
                t->rlimits[t->n_rlimits].lim.rlim_cur = cs->rare->rlimits[i];
                t->rlimits[t->n_rlimits].lim.rlim_max = cs->rare->rlimits[i];
                t->n_rlimits++;
        }
        if (nofile && !(cs->rare->rlimit_set & 1u << CONF_RLIMIT_FILES)) {
                t->rlimits[t->n_rlimits].resource = RLIMIT_NOFILE;
                t->rlimits[t->n_rlimits].lim = *nofile;
                t->n_rlimits++;
        }
        *ret = t;
        return 0;
fail:
        spawn_template_free(t);
        return r;
}

/**
 * spawn_template_envp_size() - the entries spawn_run() needs in t->envp
 * @t: the template
 *
 * The caller gives every template a scratch vector at least this long (one vector can serve
 * many templates: spawn_run() is not re-entered).
 *
 * Return: the number of entries, the terminating NULL included.
 */
size_t spawn_template_envp_size(const SpawnTemplate *t)
{
        return t->n_inherit + t->n_env + SPAWN_PEER_VARS + 1;
}

/**
 * spawn_template_free() - free a template
 * @t: the template, or NULL
 *
 * Return: NULL.
 */
SpawnTemplate *spawn_template_free(SpawnTemplate *t)
{
        if (!t)
                return NULL;
        strv_free(t->env);
        free(t->groups);
        free(t->private_tmp);
        free(t);
        return NULL;
}

/**
 * spawn_format_addr() - a socket address as text, v4-mapped IPv6 shown as plain IPv4
 * @sa: the address (AF_INET or AF_INET6), or a unix client (AccessUnixPeer)
 * @host: receives the numeric address (a unix client: access_unix_peer_format())
 * @hostsize: its size (INET6_ADDRSTRLEN is enough)
 * @ret_port: if not NULL, the port
 *
 * Return: 0, or -EAFNOSUPPORT for other families.
 */
int spawn_format_addr(const struct sockaddr *sa, char *host, size_t hostsize, unsigned *ret_port)
{
        if (sa->sa_family == AF_UNIX) {
                access_unix_peer_format((const AccessUnixPeer *)sa, host, hostsize);
                if (ret_port)
                        *ret_port = 0;
                return 0;
        }
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

                inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)hostsize);
                if (ret_port)
                        *ret_port = ntohs(in->sin_port);
                return 0;
        }
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

                if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
                        inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, (socklen_t)hostsize);
                else
                        inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)hostsize);
                if (ret_port)
                        *ret_port = ntohs(in6->sin6_port);
                return 0;
        }
        return -EAFNOSUPPORT;
}

/* A unix client: its credentials, as portier names them and as ucspi-unix's unixserver does. */
static size_t unix_peer_vars(const AccessUnixPeer *p, char (*vars)[SPAWN_VAR_MAX])
{
        size_t n = 0;

        snprintf(vars[n++], SPAWN_VAR_MAX, "PROTO=UNIX");
        if (!p->has_cred)
                return n;
        snprintf(vars[n++], SPAWN_VAR_MAX, "REMOTE_UID=%" PRIu32, p->uid);
        snprintf(vars[n++], SPAWN_VAR_MAX, "REMOTE_GID=%" PRIu32, p->gid);
        snprintf(vars[n++], SPAWN_VAR_MAX, "REMOTE_PID=%" PRId32, p->pid);
        snprintf(vars[n++], SPAWN_VAR_MAX, "UNIXREMOTEEUID=%" PRIu32, p->uid);
        snprintf(vars[n++], SPAWN_VAR_MAX, "UNIXREMOTEEGID=%" PRIu32, p->gid);
        snprintf(vars[n++], SPAWN_VAR_MAX, "UNIXREMOTEPID=%" PRId32, p->pid);
        return n;
}

/* Format the per-connection variables into vars (REMOTE_HOST first); return their count. */
static size_t peer_vars(const SpawnPeer *peer, char (*vars)[SPAWN_VAR_MAX])
{
        char host[INET6_ADDRSTRLEN];
        unsigned port;
        size_t n = 0;

        if (peer && peer->remote && peer->remote->sa_family == AF_UNIX)
                return unix_peer_vars((const AccessUnixPeer *)peer->remote, vars);
        if (peer && peer->remote && spawn_format_addr(peer->remote, host, sizeof(host), &port) == 0) {
                snprintf(vars[n++], SPAWN_VAR_MAX, "REMOTE_HOST=%s", host);
                snprintf(vars[n++], SPAWN_VAR_MAX, "REMOTE_ADDR=%s", host);
                snprintf(vars[n++], SPAWN_VAR_MAX, "REMOTE_PORT=%u", port);
                if (peer->tcp) {
                        snprintf(vars[n++], SPAWN_VAR_MAX, "PROTO=TCP");
                        snprintf(vars[n++], SPAWN_VAR_MAX, "TCPREMOTEIP=%s", host);
                        snprintf(vars[n++], SPAWN_VAR_MAX, "TCPREMOTEPORT=%u", port);
                }
        }
        if (peer && peer->tcp && peer->local &&
            spawn_format_addr(peer->local, host, sizeof(host), &port) == 0) {
                snprintf(vars[n++], SPAWN_VAR_MAX, "TCPLOCALIP=%s", host);
                snprintf(vars[n++], SPAWN_VAR_MAX, "TCPLOCALPORT=%u", port);
        }
        return n;
}

/* The child: only async-signal-safe calls on prepared data. Never returns. */
static void format_listen_pid(char *slot)
{
        char digits[16];
        int k = 0;
        pid_t self = getpid();

        memcpy(slot, "LISTEN_PID=", 11);
        slot += 11;
        do
                digits[k++] = (char)('0' + self % 10);
        while ((self /= 10) > 0);
        while (k > 0)
                *slot++ = digits[--k];
        *slot = '\0';
}

/* The child, as root: nothing outside t->caps stays in the bounding set, so no later exec
 * (a set-user-ID root program included) can have more. Needs CAP_SETPCAP: before the user
 * switch. A server that will not run as root keeps its permitted set across the switch. */
static int caps_bound(const SpawnTemplate *t)
{
        for (int cap = 0; cap <= t->cap_last; cap++)
                if (!(cap < 64 && t->caps & UINT64_C(1) << cap) &&
                    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                        return -1;
        if (t->caps_ambient && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return -1;
        return 0;
}

/* The child, after the user switch: permitted, effective and inheritable become t->caps (a
 * root server keeps exactly these across exec, as the bounding set allows no more); a server
 * of another user gets them as ambient capabilities, the only ones that survive its exec. */
static int caps_set(const SpawnTemplate *t)
{
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2];

        for (int i = 0; i < 2; i++) {
                uint32_t v = (uint32_t)(t->caps >> (32 * i));

                data[i].effective = data[i].permitted = data[i].inheritable = v;
        }
        if (syscall(SYS_capset, &hdr, data) < 0)
                return -1;
        for (int cap = 0; t->caps_ambient && cap <= t->cap_last && cap < 64; cap++)
                if ((t->caps & UINT64_C(1) << cap) &&
                    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
                        return -1;
        return 0;
}

static _Noreturn __attribute__((noinline)) void child(const SpawnTemplate *t, int fd,
                                                      char *const *envp, char *listen_pid_slot,
                                                      volatile SpawnError *err, int report_fd)
{
        SpawnStep step = SPAWN_STEP_SESSION;
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigset_t none;
        int top = t->listen_fds ? 3 : 2;

        /* The parent waits and the slot is ours to fill: no stdio, format by hand. */
        if (listen_pid_slot)
                format_listen_pid(listen_pid_slot);
        if (setsid() < 0)
                goto fail;

        step = SPAWN_STEP_FDS;
        if (t->listen_fds) {
                /* Socket activation: the socket on 3 only, 0/1/2 on /dev/null. */
                int null = open("/dev/null", O_RDWR | O_NOCTTY);

                if (null < 0 || dup2(fd, 3) < 0)
                        goto fail;
                for (int i = 0; i < 3; i++)
                        if (null != i && dup2(null, i) < 0)
                                goto fail;
                if (null > 3)
                        (void)close(null);
        } else {
                for (int i = 0; i < 3; i++)
                        if (fd != i && dup2(fd, i) < 0)
                                goto fail;
        }
        if (fd > top)
                (void)close(fd);
        /* Everything portierd opens is close-on-exec; this also catches what a library
         * (NSS, libwrap) may have left without the flag. */
        if (syscall(SYS_close_range, top + 1, ~0U, 0) < 0) {
                for (int i = top + 1; i < 1024; i++)
                        (void)close(i);
        }

        step = SPAWN_STEP_RLIMIT;
        for (size_t i = 0; i < t->n_rlimits; i++)
                if (setrlimit(t->rlimits[i].resource, &t->rlimits[i].lim) < 0)
                        goto fail;
        step = SPAWN_STEP_NICE;
        if (t->set_nice) {
                errno = 0;
                int cur = getpriority(PRIO_PROCESS, 0);

                if (errno || setpriority(PRIO_PROCESS, 0, cur + t->nice) < 0)
                        goto fail;
        }
        if (t->umask >= 0)
                umask((mode_t)t->umask);
        /* The mount namespace before the chroot: the mounts are made on the real tree (the
         * private /tmp at the chroot's /tmp). A vfork() child may unshare it: CLONE_FS is not
         * shared with the parent, only the memory. */
        step = SPAWN_STEP_MOUNT_NS;
        if (t->mount_ns && harden_mount_ns(t->private_tmp, t->read_only_root) < 0)
                goto fail;
        /* Into the chroot while still privileged; the server path is inside it. (A vfork()
         * child has its own root and working directory: CLONE_FS is not shared.) */
        step = SPAWN_STEP_CHROOT;
        if (t->chroot && (chroot(t->chroot) < 0 || chdir("/") < 0))
                goto fail;
        step = SPAWN_STEP_CAPS_BOUND;
        if (t->set_caps && caps_bound(t) < 0)
                goto fail;
        if (t->set_creds) {
                step = SPAWN_STEP_GROUPS;
                if (setgroups((size_t)t->n_groups, t->groups) < 0)
                        goto fail;
                step = SPAWN_STEP_GID;
                if (setresgid(t->gid, t->gid, t->gid) < 0)
                        goto fail;
                step = SPAWN_STEP_UID;
                if (setresuid(t->uid, t->uid, t->uid) < 0)
                        goto fail;
        }
        step = SPAWN_STEP_CAPS;
        if (t->set_caps && caps_set(t) < 0)
                goto fail;
        /* No set-user-ID, file capability or LSM transition can raise the server's privileges
         * from here on, whatever it executes. */
        step = SPAWN_STEP_NO_NEW_PRIVS;
        if (t->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                goto fail;

        step = SPAWN_STEP_EXEC;
        (void)sigaction(SIGPIPE, &dfl, NULL);
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
        execve(t->path, t->argv, envp);
fail:
        err->error = errno;
        err->step = step;
        if (report_fd >= 0) {   /* a forked child: the parent reads the pipe */
                char buf[1 + sizeof(SpawnError)];
                SpawnError e = { step, errno };

                buf[0] = SPAWN_REPORT_ERROR;
                memcpy(buf + 1, &e, sizeof(e));
                (void)write_all(report_fd, buf, sizeof(buf));
        }
        _exit(127);
}

#ifdef HAVE_LIBWRAP
/*
 * The libwrap path (DESIGN.md decision 4): hosts_access() may block on name lookups and
 * allocate, and its spawn/twist options fork, so it runs in a plain fork()ed child, never
 * under vfork() and never on the loop. A refused client gets banner_fail from the child;
 * the verdict and any failure go back on a pipe the loop watches.
 */
static int spawn_libwrap(const SpawnTemplate *t, int fd, const SpawnPeer *peer,
                         char *const *envp, char *listen_pid_slot, pid_t *ret_pid,
                         int *ret_report_fd)
{
        SpawnError unused = { SPAWN_STEP_NONE, 0 };
        int pfd[2];
        pid_t pid;

        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;

                (void)close(pfd[0]);
                (void)close(pfd[1]);
                return r;
        }
        if (pid == 0) {
                struct request_info req;

                (void)close(pfd[0]);
                request_init(&req, RQ_DAEMON, t->libwrap, RQ_FILE, fd, 0);
                fromhost(&req);
                if (!hosts_access(&req)) {
                        char c = SPAWN_REPORT_LIBWRAP;

                        if (peer && peer->banner_fail_len)
                                (void)send(fd, peer->banner_fail, peer->banner_fail_len,
                                           MSG_DONTWAIT | MSG_NOSIGNAL);
                        (void)write_all(pfd[1], &c, 1);
                        _exit(0);
                }
                if (peer && peer->banner_success_len)
                        (void)send(fd, peer->banner_success, peer->banner_success_len,
                                   MSG_DONTWAIT | MSG_NOSIGNAL);
                child(t, fd, envp, listen_pid_slot, &unused, pfd[1]);
        }
        (void)close(pfd[1]);
        *ret_pid = pid;
        *ret_report_fd = pfd[0];
        return 0;
}
#endif

#ifdef HAVE_LIBWRAP
static bool file_has_rule(const char *path)
{
        FILE *f = fopen(path, "re");
        char line[1024];
        bool rule = false;

        if (!f)
                return false;
        while (!rule && fgets(line, sizeof(line), f)) {
                const char *p = line + strspn(line, " \t\r\n");

                rule = *p && *p != '#';
        }
        fclose(f);
        return rule;
}
#endif

/**
 * spawn_libwrap_has_rules() - does hosts.allow or hosts.deny hold any rule?
 *
 * Without one, hosts_access() grants every client: services then skip the check and keep the
 * vfork() path. Read once per configuration (reload after editing the files).
 *
 * Return: true when a check could refuse someone.
 */
bool spawn_libwrap_has_rules(void)
{
#ifdef HAVE_LIBWRAP
        return file_has_rule(hosts_allow_table) || file_has_rule(hosts_deny_table);
#else
        return false;
#endif
}

/**
 * spawn_libwrap_active() - was portierd built with libwrap?
 *
 * Return: 1 or 0.
 */
int spawn_libwrap_active(void)
{
#ifdef HAVE_LIBWRAP
        return 1;
#else
        return 0;
#endif
}

/**
 * spawn_run() - start a server
 * @t: the service's template
 * @fd: the connection (wait = no) or the listening socket (wait = yes), blocking
 * @peer: the client and local addresses, or NULL when unknown
 * @ret_pid: the server's pid
 * @ret_err: on failure in the child, which step failed and its errno
 *
 * Return: 0; -errno when the child could not be created (fork failure: retry later) or when
 * it failed before executing the server (then @ret_err says where; the child is reaped).
 */
int spawn_run(const SpawnTemplate *t, int fd, const SpawnPeer *peer, pid_t *ret_pid,
              SpawnError *ret_err, int *ret_report_fd)
{
        char vars[SPAWN_PEER_VARS][SPAWN_VAR_MAX];
        char **envp = t->envp;          /* the template's scratch: spawns never overlap */
        volatile SpawnError err = { SPAWN_STEP_NONE, 0 };
        size_t n = 0, nv = 0;
        pid_t pid;

        /* passenv, env, then REMOTE_HOST (as xinetd orders them), then the other peer
         * variables (portier's). */
        nv = peer_vars(peer, vars);
        for (size_t i = 0; i < t->n_inherit; i++)
                envp[n++] = t->inherit[i];
        for (size_t i = 0; i < t->n_env; i++)
                envp[n++] = t->env[i];
        for (size_t i = 0; i < nv; i++)
                envp[n++] = vars[i];
        if (t->listen_fds) {
                /* LISTEN_PID is the child's own pid, known only after vfork(): the child
                 * writes it into the last slot. */
                snprintf(vars[nv], SPAWN_VAR_MAX, "LISTEN_FDS=1");
                envp[n++] = vars[nv++];
                snprintf(vars[nv], SPAWN_VAR_MAX, "LISTEN_FDNAMES=%s", t->listen_fds_name);
                envp[n++] = vars[nv++];
                envp[n++] = vars[nv];
        }
        envp[n] = NULL;

        *ret_report_fd = -1;
#ifdef HAVE_LIBWRAP
        if (t->libwrap)
                return spawn_libwrap(t, fd, peer, envp, t->listen_fds ? envp[n - 1] : NULL,
                                     ret_pid, ret_report_fd);
#endif
        pid = vfork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                child(t, fd, envp, t->listen_fds ? envp[n - 1] : NULL, &err, -1);
        if (err.step != SPAWN_STEP_NONE) {
                (void)waitpid(pid, NULL, 0);
                if (ret_err) {
                        ret_err->step = err.step;
                        ret_err->error = err.error;
                }
                return -(err.error ? err.error : EIO);
        }
        *ret_pid = pid;
        return 0;
}

/**
 * spawn_step_name() - what a failed step was doing, for the daemon's message
 * @step: the step
 *
 * Return: a short description.
 */
const char *spawn_step_name(SpawnStep step)
{
        switch (step) {
        case SPAWN_STEP_FDS:
                return "setting up descriptors";
        case SPAWN_STEP_SESSION:
                return "creating a session";
        case SPAWN_STEP_RLIMIT:
                return "setting resource limits";
        case SPAWN_STEP_NICE:
                return "setting the nice value";
        case SPAWN_STEP_CHROOT:
                return "changing root (chroot)";
        case SPAWN_STEP_NO_NEW_PRIVS:
                return "setting no_new_privs";
        case SPAWN_STEP_MOUNT_NS:
                return "setting up the private mount namespace";
        case SPAWN_STEP_CAPS_BOUND:
                return "reducing the capability bounding set";
        case SPAWN_STEP_CAPS:
                return "setting capabilities";
        case SPAWN_STEP_GROUPS:
                return "setting supplementary groups";
        case SPAWN_STEP_GID:
                return "setting the group";
        case SPAWN_STEP_UID:
                return "setting the user";
        case SPAWN_STEP_EXEC:
                return "executing the server";
        default:
                return "starting";
        }
}
