/* SPDX-License-Identifier: MIT */
/*
 * reexec.c — live upgrade: `portierctl reexec` makes portierd execve() its binary in place.
 *
 * The pid stays, and so do the listening sockets, the running servers (they stay our children
 * across execve(): the new image adopts them, reaps them and writes their EXIT lines), the
 * pid file's lock (an OFD lock belongs to the open file description: its descriptor is kept),
 * the control socket and the connection of the client that asked, which the new image tells
 * the outcome.
 *
 * Hand-over: an inventory in a memfd whose descriptor number is in $PORTIER_REEXEC — one
 * line per item, text, versioned:
 *
 *      portier-reexec 1
 *      generation N
 *      started MONOTONIC_USEC WALL_SECONDS
 *      pidfile FD | control FD | client FD | fallback FD
 *      service FD ACCEPTED STARTED EXITED SPAWN_FAILED NOID DROPPED REFUSED[_REFUSE_MAX] KEY
 *      server PID STARTED_WALL KEY
 *      arg HEX                 (the old image's command line, one line per argument)
 *      end
 *
 * Only the descriptors named there lose FD_CLOEXEC (everything else portierd opens is
 * close-on-exec), and only for the exec. The binary is the path /proc/self/exe named at start
 * (so an upgraded package's new file is run), with the same command line, executed from the
 * directory portierd was started in (relative paths on the command line keep their meaning;
 * the new image then enters "/" again). Before exec the old image checks what it can
 * (no reload under way, not stopping, the binary is an executable regular file, the inventory
 * written); if execve() returns, it undoes the descriptor flags and answers with the error.
 * If the new image cannot read the inventory or load the configuration, it executes the
 * original binary again (kept open as "fallback", immune to the file being replaced) with the
 * same inventory and $PORTIER_REEXEC_ERROR, so the old program serves on and tells the client
 * that the upgrade failed.
 *
 * Not carried over: in-process connections and admissions under way (ident, reverse DNS,
 * fork retries) end; a service off for its cps listens again at once; per_source slots of
 * adopted servers are not counted; servers of services the new configuration no longer has
 * are reaped without an EXIT line.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "proto/proto.h"
#include "util.h"

#define REEXEC_ENV "PORTIER_REEXEC"
#define REEXEC_ERROR_ENV "PORTIER_REEXEC_ERROR"
#define REEXEC_VERSION 1
#define REEXEC_STATE_MAX (64u << 20)

extern char **environ;

typedef struct ReexecService {
        int fd;
        ServiceCounters counters;
        char *key;
        bool taken;
} ReexecService;

typedef struct ReexecServer {
        pid_t pid;
        time_t started;
        char *key;
} ReexecServer;

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
};

static int set_cloexec(int fd, bool on)
{
        int fl = fcntl(fd, F_GETFD);

        if (fl < 0)
                return -errno;
        fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
        return fcntl(fd, F_SETFD, fl) < 0 ? -errno : 0;
}

/**
 * reexec_init() - remember the binary and the command line, for a later reexec
 * @d: the daemon
 *
 * Return: 0, or -ENOMEM.
 */
int reexec_init(Daemon *d)
{
        Reexec *x = calloc(1, sizeof(*x));
        char path[PATH_MAX];
        ssize_t n;

        if (!x)
                return -ENOMEM;
        x->exe_fd = x->state_fd = x->pidfile_fd = x->control_fd = x->client_fd = -1;
        n = readlink("/proc/self/exe", path, sizeof(path) - 1);
        if (n > 0) {
                path[n] = '\0';
                x->exe = strdup(path);
        }
        /* Descriptors opened now would not survive detaching (it closes them all): the
         * binary is opened when a reexec starts, and the directory kept by name. */
        x->cwd = getcwd(NULL, 0);
        d->reexec = x;
        return 0;
}

void reexec_free(Daemon *d)
{
        Reexec *x = d->reexec;

        if (!x)
                return;
        for (size_t i = 0; i < x->n_services; i++) {
                if (!x->services[i].taken)
                        (void)safe_close(x->services[i].fd);
                free(x->services[i].key);
        }
        for (size_t i = 0; i < x->n_servers; i++)
                free(x->servers[i].key);
        for (size_t i = 0; i < x->argc; i++)
                free(x->argv[i]);
        free(x->argv);
        free(x->services);
        free(x->servers);
        (void)safe_close(x->exe_fd);
        free(x->cwd);
        (void)safe_close(x->state_fd);
        free(x->exe);
        free(x->error);
        free(x);
        d->reexec = NULL;
}

/* --- the old image ------------------------------------------------------------------------ */

static void write_service(FILE *f, const Service *s)
{
        const ServiceCounters *c = &s->counters;
        char key[512];

        (void)listener_key(s->conf, key, sizeof(key));
        fprintf(f, "service %d %llu %llu %llu %llu %llu %llu", s->fd,
                (unsigned long long)c->accepted, (unsigned long long)c->started,
                (unsigned long long)c->exited, (unsigned long long)c->spawn_failed,
                (unsigned long long)c->noid, (unsigned long long)c->dropped);
        for (int k = 0; k < _REFUSE_MAX; k++)
                fprintf(f, " %llu", (unsigned long long)c->refused[k]);
        fprintf(f, " %s\n", key);
        for (Server *srv = s->servers; srv; srv = srv->next)
                fprintf(f, "server %d %lld %s\n", (int)srv->pid, (long long)srv->started, key);
}

static int write_state(Daemon *d, int pidfile_fd, int client_fd)
{
        _cleanup_close_ int fd = memfd_create("portierd-reexec", 0);
        FILE *f;
        int r;

        if (fd < 0)
                return -errno;
        f = fdopen(dup(fd), "w");
        if (!f)
                return -errno;
        fprintf(f, "portier-reexec %d\ngeneration %u\nstarted %llu %lld\n", REEXEC_VERSION,
                d->gen ? d->gen->number : 0, (unsigned long long)d->started_usec,
                (long long)d->started_wall);
        fprintf(f, "pidfile %d\ncontrol %d\nclient %d\nfallback %d\n", pidfile_fd,
                control_socket_fd(d->control), client_fd, d->reexec->exe_fd);
        for (size_t i = 0; i < d->n_services; i++)
                write_service(f, d->services[i]);
        for (size_t i = 0; i < d->n_retired; i++)
                write_service(f, d->retired[i]);
        for (char **a = d->opts->argv; a && *a; a++) {
                fputs("arg ", f);
                for (const unsigned char *p = (const unsigned char *)*a; *p; p++)
                        fprintf(f, "%02x", *p);
                fputc('\n', f);
        }
        fputs("end\n", f);
        r = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

/* The descriptors that cross execve(): FD_CLOEXEC off (on = false) or back on (undo). */
static void pass_fds(Daemon *d, int pidfile_fd, int client_fd, int state_fd, bool on)
{
        int fds[] = { pidfile_fd, client_fd, state_fd, control_socket_fd(d->control),
                      d->reexec->exe_fd };

        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                if (fds[i] >= 0)
                        (void)set_cloexec(fds[i], on);
        for (size_t i = 0; i < d->n_services; i++)
                if (d->services[i]->fd >= 0)
                        (void)set_cloexec(d->services[i]->fd, on);
}

/**
 * reexec_start() - execute the daemon's binary in place, handing the state over
 * @d: the daemon
 * @client_fd: the control client that asked (told the outcome by the new image)
 * @err: the reason when it returns
 * @errsize: size of @err
 *
 * Return: only on failure, -errno (the daemon goes on serving as before).
 */
int reexec_start(Daemon *d, int client_fd, char *err, size_t errsize)
{
        Reexec *x = d->reexec;
        int pidfile_fd = d->pidfile_fd;
        char num[16];
        struct stat st;
        int fd, r;

        if (d->stopping || d->reload_running) {
                snprintf(err, errsize, "re-exec refused: %s", d->stopping ? "the daemon is "
                         "stopping" : "a reload is under way; try again");
                return -EBUSY;
        }
        if (!x || !x->exe || !d->opts->argv) {
                snprintf(err, errsize, "re-exec refused: the daemon's binary is unknown");
                return -ENOENT;
        }
        if (stat(x->exe, &st) < 0 || !S_ISREG(st.st_mode) || access(x->exe, X_OK) < 0) {
                snprintf(err, errsize, "re-exec refused: '%s' is not an executable file",
                         x->exe);
                return -ENOEXEC;
        }
        /* The running binary, for the fallback: /proc/self/exe names our image's file even
         * when the package upgrade replaced the path. */
        if (x->exe_fd < 0)
                x->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        fd = write_state(d, pidfile_fd, client_fd);
        if (fd < 0) {
                snprintf(err, errsize, "re-exec refused: cannot write the state: %s",
                         strerror(-fd));
                return fd;
        }
        snprintf(num, sizeof(num), "%d", fd);
        portier_log(d->log, LOG_NOTICE, "re-executing '%s' (%zu services, %u servers running)",
                    x->exe, d->n_services, d->running);
        logset_flush(d->logs);
        pass_fds(d, pidfile_fd, client_fd, fd, false);
        if (setenv(REEXEC_ENV, num, 1) == 0) {
                (void)unsetenv(REEXEC_ERROR_ENV);
                if (x->cwd && chdir(x->cwd) < 0)
                        portier_log(d->log, LOG_WARNING, "re-exec: cannot enter '%s': %m; "
                                    "relative paths of the command line may not be found",
                                    x->cwd);
                execve(x->exe, d->opts->argv, environ);
        }
        r = -errno;
        if (chdir("/") < 0)
                portier_log(d->log, LOG_WARNING, "cannot go back to '/': %m");
        (void)unsetenv(REEXEC_ENV);
        pass_fds(d, pidfile_fd, client_fd, fd, true);
        close(fd);
        snprintf(err, errsize, "re-exec failed: cannot execute '%s': %s; still serving", x->exe,
                 strerror(-r));
        portier_log(d->log, LOG_ERR, "%s", err);
        return r;
}

/* --- the new image -------------------------------------------------------------------------- */

static int read_all_fd(int fd, char **ret)
{
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap + 1);

        if (!buf)
                return -ENOMEM;
        if (lseek(fd, 0, SEEK_SET) < 0) {
                free(buf);
                return -errno;
        }
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        char *nb = cap < REEXEC_STATE_MAX ? realloc(buf, cap * 2 + 1) : NULL;

                        if (!nb) {
                                free(buf);
                                return -EFBIG;
                        }
                        buf = nb;
                        cap *= 2;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        free(buf);
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret = buf;
        return 0;
}

static int parse_fd_line(const char *line, const char *name, int *ret)
{
        size_t n = strlen(name);
        char *end;
        long v;

        if (strncmp(line, name, n) != 0 || line[n] != ' ')
                return 0;
        errno = 0;
        v = strtol(line + n + 1, &end, 10);
        if (errno || *end || v < -1 || v > INT_MAX)
                return -EBADMSG;
        *ret = (int)v;
        return 1;
}

static int parse_service(Reexec *x, char *line)
{
        ReexecService *v, *s;
        unsigned long long n[6 + _REFUSE_MAX];
        char *p = line + strlen("service "), *end;
        long fd;

        fd = strtol(p, &end, 10);
        if (end == p || *end != ' ' || fd < -1 || fd > INT_MAX)
                return -EBADMSG;
        p = end + 1;
        for (size_t i = 0; i < ELEMENTSOF(n); i++) {
                errno = 0;
                n[i] = strtoull(p, &end, 10);
                if (errno || end == p || *end != ' ')
                        return -EBADMSG;
                p = end + 1;
        }
        if (!*p)
                return -EBADMSG;
        v = realloc(x->services, (x->n_services + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->services = v;
        s = &v[x->n_services];
        *s = (ReexecService){ .fd = (int)fd, .key = strdup(p) };
        if (!s->key)
                return -ENOMEM;
        x->n_services++;
        s->counters = (ServiceCounters){ .accepted = n[0], .started = n[1], .exited = n[2],
                                         .spawn_failed = n[3], .noid = n[4],
                                         .dropped = n[5] };
        for (int k = 0; k < _REFUSE_MAX; k++)
                s->counters.refused[k] = n[6 + k];
        return 0;
}

static int parse_server(Reexec *x, char *line)
{
        ReexecServer *v;
        char *p = line + strlen("server "), *end;
        long pid;
        long long started;

        pid = strtol(p, &end, 10);
        if (end == p || *end != ' ' || pid <= 0 || pid > INT_MAX)
                return -EBADMSG;
        p = end + 1;
        started = strtoll(p, &end, 10);
        if (end == p || *end != ' ' || !end[1])
                return -EBADMSG;
        v = realloc(x->servers, (x->n_servers + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->servers = v;
        v[x->n_servers] = (ReexecServer){ .pid = (pid_t)pid, .started = (time_t)started,
                                          .key = strdup(end + 1) };
        if (!v[x->n_servers].key)
                return -ENOMEM;
        x->n_servers++;
        return 0;
}

static int parse_arg(Reexec *x, const char *hex)
{
        size_t n = strlen(hex);
        char **v, *a;

        if (n % 2 || strspn(hex, "0123456789abcdef") != n)
                return -EBADMSG;
        v = realloc(x->argv, (x->argc + 2) * sizeof(char *));
        if (!v)
                return -ENOMEM;
        x->argv = v;
        a = malloc(n / 2 + 1);
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned b;

                sscanf(hex + 2 * i, "%2x", &b);
                a[i] = (char)b;
        }
        a[n / 2] = '\0';
        x->argv[x->argc++] = a;
        x->argv[x->argc] = NULL;
        return 0;
}

static int cmp_service(const void *a, const void *b)
{
        return strcmp(((const ReexecService *)a)->key, ((const ReexecService *)b)->key);
}

static int parse_state(Reexec *x, char *text)
{
        char *save = NULL, *line;
        int version = 0, fallback = -1, r;
        bool ended = false;

        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                unsigned long long us;
                long long wall;

                if (ended)
                        return -EBADMSG;
                if (sscanf(line, "portier-reexec %d", &version) == 1)
                        continue;
                if (version != REEXEC_VERSION)
                        return -EPROTONOSUPPORT;
                if (sscanf(line, "generation %u", &x->generation) == 1)
                        continue;
                if (sscanf(line, "started %llu %lld", &us, &wall) == 2) {
                        x->started_usec = us;
                        x->started_wall = (time_t)wall;
                        continue;
                }
                if ((r = parse_fd_line(line, "pidfile", &x->pidfile_fd)) ||
                    (r = parse_fd_line(line, "control", &x->control_fd)) ||
                    (r = parse_fd_line(line, "client", &x->client_fd)) ||
                    (r = parse_fd_line(line, "fallback", &fallback))) {
                        if (r < 0)
                                return r;
                        continue;
                }
                if (strncmp(line, "service ", 8) == 0)
                        r = parse_service(x, line);
                else if (strncmp(line, "server ", 7) == 0)
                        r = parse_server(x, line);
                else if (strncmp(line, "arg ", 4) == 0)
                        r = parse_arg(x, line + 4);
                else if (strcmp(line, "end") == 0)
                        r = 0, ended = true;
                else
                        r = -EBADMSG;
                if (r < 0)
                        return r;
        }
        if (!ended || x->pidfile_fd < 0)
                return -EBADMSG;
        /* By key, for reexec_take_fd(): 10,000 services are matched in O(n log n). */
        qsort(x->services, x->n_services, sizeof(*x->services), cmp_service);
        /* The fallback binary: keep the one the old image ran, unless we are it. */
        if (fallback >= 0) {
                if (x->error) {
                        (void)close(fallback);
                } else {
                        (void)safe_close(x->exe_fd);
                        x->exe_fd = fallback;
                }
        }
        return 0;
}

/**
 * reexec_load() - read the inventory a re-executing daemon left, if this start is one
 * @d: the daemon (reexec_init() done)
 * @err: the reason on failure
 * @errsize: its size
 *
 * Return: 1 when this is a re-exec (the pid file descriptor is in d->pidfile_fd), 0 for a
 * plain start, or -errno (call reexec_fail()).
 */
int reexec_load(Daemon *d, char *err, size_t errsize)
{
        Reexec *x = d->reexec;
        const char *v = getenv(REEXEC_ENV), *e = getenv(REEXEC_ERROR_ENV);
        _cleanup_free_ char *text = NULL;
        char *end;
        long fd;
        int r;

        if (!v)
                return 0;
        x->active = true;
        if (e && !(x->error = strdup(e)))
                return -ENOMEM;
        fd = strtol(v, &end, 10);
        /* Servers must not see these (the environment is captured at configuration load). */
        (void)unsetenv(REEXEC_ENV);
        (void)unsetenv(REEXEC_ERROR_ENV);
        if (*end || fd < 0 || fd > INT_MAX) {
                snprintf(err, errsize, "re-exec: bad %s", REEXEC_ENV);
                return -EINVAL;
        }
        x->state_fd = (int)fd;
        (void)set_cloexec(x->state_fd, true);
        r = read_all_fd(x->state_fd, &text);
        if (r == 0)
                r = parse_state(x, text);
        /* Whatever happens now, the inherited descriptors close on the next exec. */
        for (size_t i = 0; i < x->n_services; i++)
                if (x->services[i].fd >= 0)
                        (void)set_cloexec(x->services[i].fd, true);
        int fds[] = { x->pidfile_fd, x->control_fd, x->client_fd, x->exe_fd };

        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                if (fds[i] >= 0)
                        (void)set_cloexec(fds[i], true);
        if (r < 0) {
                snprintf(err, errsize, "re-exec: cannot read the state handed over: %s",
                         strerror(-r));
                return r;
        }
        d->pidfile_fd = x->pidfile_fd;
        d->started_usec = x->started_usec;
        d->started_wall = x->started_wall;
        d->next_generation = x->generation + 1;
        return 1;
}

/**
 * reexec_fail() - the new image cannot take over: run the old binary again, or give up
 * @d: the daemon
 * @why: what went wrong
 *
 * Returns only when there is nothing left to try (the caller exits); the client is told.
 */
void reexec_fail(Daemon *d, const char *why)
{
        Reexec *x = d->reexec;
        char num[16];

        if (!x || !x->active)
                return;
        portier_log(d->log, LOG_ERR, "%s", why);
        if (!x->error && x->exe_fd >= 0 && x->state_fd >= 0) {
                int fds[] = { x->pidfile_fd, x->control_fd, x->client_fd, x->exe_fd, x->state_fd };

                for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                        if (fds[i] >= 0)
                                (void)set_cloexec(fds[i], false);
                /* Taken or not, the inherited sockets are still open under the same numbers:
                 * nothing closes them before the daemon exits. */
                for (size_t i = 0; i < x->n_services; i++)
                        if (x->services[i].fd >= 0)
                                (void)set_cloexec(x->services[i].fd, false);
                snprintf(num, sizeof(num), "%d", x->state_fd);
                if (setenv(REEXEC_ENV, num, 1) == 0 && setenv(REEXEC_ERROR_ENV, why, 1) == 0) {
                        logset_flush(d->logs);
                        if (x->cwd && chdir(x->cwd) < 0)
                                portier_log(d->log, LOG_WARNING, "cannot enter '%s': %m",
                                            x->cwd);
                        execveat(x->exe_fd, "", x->argv ? x->argv : d->opts->argv, environ,
                                 AT_EMPTY_PATH);
                }
                portier_log(d->log, LOG_ERR, "re-exec: cannot run the previous binary again: "
                            "%m");
        }
        if (x->client_fd >= 0) {
                control_reply_fd(x->client_fd, PROTO_E_FAILED, NULL, why);
                x->client_fd = safe_close(x->client_fd);
        }
}

/**
 * reexec_take_fd() - the listening socket a re-executed daemon inherited for a service
 * @d: the daemon
 * @cs: the service's configuration (its listener_key() is looked up)
 *
 * Return: the descriptor (now the caller's), or -1.
 */
int reexec_take_fd(Daemon *d, const ConfService *cs)
{
        Reexec *x = d->reexec;
        ReexecService want, *s;
        char key[512];

        if (!x || !x->active || x->n_services == 0)
                return -1;
        (void)listener_key(cs, key, sizeof(key));
        want.key = key;
        s = bsearch(&want, x->services, x->n_services, sizeof(*x->services), cmp_service);
        if (!s || s->taken || s->fd < 0)
                return -1;
        s->taken = true;
        return s->fd;
}

typedef struct KeyedService {
        char *key;
        Service *s;
} KeyedService;

static int cmp_keyed(const void *a, const void *b)
{
        return strcmp(((const KeyedService *)a)->key, ((const KeyedService *)b)->key);
}

static Service *find_service(KeyedService *v, size_t n, char *key)
{
        KeyedService want = { .key = key }, *k;

        k = v ? bsearch(&want, v, n, sizeof(*v), cmp_keyed) : NULL;
        return k ? k->s : NULL;
}

/* The current services sorted by key (NULL when out of memory: nothing is adopted). */
static KeyedService *keyed_services(Daemon *d)
{
        KeyedService *v = calloc(d->n_services + 1, sizeof(*v));
        char key[512];

        for (size_t i = 0; v && i < d->n_services; i++) {
                (void)listener_key(d->services[i]->conf, key, sizeof(key));
                v[i] = (KeyedService){ .key = strdup(key), .s = d->services[i] };
                if (!v[i].key) {
                        for (size_t k = 0; k < i; k++)
                                free(v[k].key);
                        free(v);
                        return NULL;
                }
        }
        if (v)
                qsort(v, d->n_services, sizeof(*v), cmp_keyed);
        return v;
}

/**
 * reexec_adopt() - after the configuration is applied: adopt the servers, restore the
 * counters, close the sockets no service took, and tell the client
 * @d: the daemon
 */
void reexec_adopt(Daemon *d)
{
        Reexec *x = d->reexec;
        size_t adopted = 0, orphans = 0;
        char msg[PROTO_MESSAGE_MAX];

        if (!x || !x->active)
                return;
        KeyedService *keyed = keyed_services(d);

        for (size_t i = 0; i < x->n_services; i++) {
                ReexecService *rs = &x->services[i];
                Service *s = find_service(keyed, d->n_services, rs->key);

                if (s)
                        s->counters = rs->counters;
                if (!rs->taken)
                        rs->fd = safe_close(rs->fd);
        }
        for (size_t i = 0; i < x->n_servers; i++) {
                Service *s = find_service(keyed, d->n_services, x->servers[i].key);
                Server *srv = s ? server_add(d, s, x->servers[i].pid) : NULL;

                if (!srv) {
                        orphans++;
                        continue;
                }
                srv->started = x->servers[i].started;
                adopted++;
                /* A wait = yes server has the socket: stop watching it until it exits. */
                if (!listener_accepts(s->conf) && s->fd >= 0 && s->state == SERVICE_LISTENING) {
                        s->state = SERVICE_SUSPENDED;
                        (void)ev_file_set_events(&s->ev, 0);
                }
        }
        for (size_t i = 0; keyed && i < d->n_services; i++)
                free(keyed[i].key);
        free(keyed);
        if (orphans)
                portier_log(d->log, LOG_WARNING, "re-exec: %zu running servers belong to no "
                            "service any more; they are reaped without an EXIT line", orphans);
        if (x->error)
                snprintf(msg, sizeof(msg), "re-exec failed: %s; the previous binary serves "
                         "again (pid %d)", x->error, (int)getpid());
        else
                snprintf(msg, sizeof(msg), "re-executed '%s': pid %d, %zu services, %zu "
                         "servers adopted", x->exe ? x->exe : "?", (int)getpid(), d->n_services,
                         adopted);
        portier_log(d->log, x->error ? LOG_ERR : LOG_NOTICE, "%s", msg);
        if (x->client_fd >= 0) {
                control_reply_fd(x->client_fd, x->error ? PROTO_E_FAILED : PROTO_OK, NULL, msg);
                x->client_fd = safe_close(x->client_fd);
        }
        x->state_fd = safe_close(x->state_fd);
        x->exe_fd = safe_close(x->exe_fd);     /* the next reexec opens the binary it runs */
        x->active = false;
        /* Children that exited while no image watched are waiting to be reaped. */
        server_reap(d);
}

/**
 * reexec_control_fd() - the inherited control socket, or -1 (then one is created)
 * @d: the daemon
 */
int reexec_control_fd(Daemon *d)
{
        Reexec *x = d->reexec;
        int fd = x && x->active ? x->control_fd : -1;

        if (x)
                x->control_fd = -1;
        return fd;
}
