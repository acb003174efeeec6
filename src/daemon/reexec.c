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
 * line per item, text, versioned (version 1, without the drainer, cpsoff and orphan lines
 * and with servers as "server PID STARTED_WALL KEY", is read too):
 *
 *      portier-reexec 2
 *      generation N
 *      started MONOTONIC_USEC WALL_SECONDS
 *      pidfile FD | control FD | client FD | fallback FD
 *      service FD ACCEPTED STARTED EXITED SPAWN_FAILED NOID DROPPED REFUSED[_REFUSE_MAX] KEY
 *      server PID STARTED_WALL SRC|- CLIENT|- KEY      (SRC: its per_source slot, CLIENT: its
 *                                                       address; 32 hex digits each)
 *      cpsoff UNTIL_MONOTONIC_USEC KEY                 (closed for its cps until then)
 *      exitlog KEY LOG_ON_SUCCESS LOGKIND FACILITY LEVEL SOFT HARD HEX(ID) HEX(PATH)|-
 *                                                      (how a service writes EXIT lines, for
 *                                                       servers the new image has no service
 *                                                       for: retired, or dropped from the files)
 *      drainer PID
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
 * In-process connections (built-ins, tcpmux before its name line, redirect pairs): the
 * drainer. Two designs were weighed: (a) fork, before the exec, a "drainer" that keeps
 * serving the connections already open, and (b) hand every connection through the inventory
 * and rebuild its handler's state in the new image. (b) would have to serialize each
 * handler's private state — a redirect pair's connect state, two pipes with data in flight,
 * windows and budget shares, half-close flags and TRAFFIC counts; tcpmux's partial line; a
 * chargen offset; idle timers — and every future handler would need the same, with a format
 * that two different binaries must agree on. (a) needs none of it: the drainer is a copy of
 * the old image, the connections go on in exactly the code and state that served them, and
 * the format between binaries gains one line ("drainer PID"). Its costs, accepted: the new
 * image does not count the drained connections against `instances` and `per_source` (they
 * are in another process; they end on their own), a tcpmux connection whose name line
 * completes in the drainer is answered "-Service temporarily unavailable" (the drainer never
 * starts anything), and one more process lives while drained connections last.
 *
 * The drainer's rules: it is forked only when in-process connections exist, after the log
 * buffers were flushed (nothing is written twice), and waits on a pipe whose write end is
 * close-on-exec in the daemon: EOF means execve() succeeded — only then does it touch
 * anything; a byte (execve() failed) makes it _exit() at once, and the old image, whose state
 * nothing changed, serves on. Then it moves its connections to a loop of its own (a fresh
 * epoll instance: the old one still names the daemon's listening sockets), closes the
 * listening sockets, the control socket and its clients (no read, no answer, no unlink: they
 * are shared), the pid file descriptor (the lock stays the daemon's) and its copies of the
 * connections in admission (handed over to the new image, below); it sends no sd_notify,
 * accepts nothing, starts nothing and reaps no servers. It writes the EXIT (and TRAFFIC) lines of
 * its connections, exits when the last one ended, ends them all at SIGTERM/SIGINT, and dies
 * with the daemon (PR_SET_PDEATHSIG). It is the daemon's child (a fork of the pre-exec
 * process is the new image's child): server_reap() hands its exit to reexec_child_exited(),
 * never taking it for a server; the stop sends it SIGTERM and waits for it as for servers.
 *
 * Connections in admission are handed over ("held" lines: their descriptors cross the exec)
 * and go on from their step in the new image: a fork retry stays queued with its tries, an
 * IDONLY ident lookup or a host name lookup is started again; one that cannot go on is
 * refused with its FAIL line, as admission refuses it.
 *
 * Also carried over: per_source slots and client addresses of adopted servers (so
 * `per_source` and the address rules of later reloads apply to them as before; `instances`
 * counts them as servers), a service off for its cps (reopened when it was due, not at once),
 * and servers of services the new image has no definition for (retired by a reload, or gone
 * from the files): their EXIT lines are written as their service would have, and the stop
 * ends them as other servers.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/privmsg.h"
#include "daemon/privsep.h"
#include "daemon/reexec.h"
#include "daemon/revdns.h"
#include "daemon/userid.h"
#include "proto/proto.h"
#include "util.h"

extern char **environ;

/**
 * reexec_set_cloexec() - set or clear a descriptor's close-on-exec flag
 * @fd: the descriptor
 * @on: set it
 *
 * Return: 0 or -errno.
 */
int reexec_set_cloexec(int fd, bool on)
{
        int fl = fcntl(fd, F_GETFD);

        if (fl < 0)
                return -errno;
        fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
        return fcntl(fd, F_SETFD, fl) < 0 ? -errno : 0;
}

/**
 * reexec_execve() - execute the new image with the state in @state_fd (its number in
 * REEXEC_ENV), in the directory portierd was started from
 * @x: the re-exec's binary and starting directory
 * @log: for the warnings
 * @state_fd: the inventory (not close-on-exec)
 * @argv: the command line
 *
 * Return: only when execve() failed: -errno, with the environment and the working
 * directory (/) as they were.
 */
int reexec_execve(const Reexec *x, PortierLog *log, int state_fd, char *const argv[])
{
        char num[16];
        int r;

        snprintf(num, sizeof(num), "%d", state_fd);
        if (setenv(REEXEC_ENV, num, 1) == 0) {
                (void)unsetenv(REEXEC_ERROR_ENV);
                if (x->cwd && chdir(x->cwd) < 0)
                        portier_log(log, LOG_WARNING, "re-exec: cannot enter '%s': %m; "
                                    "relative paths of the command line may not be found",
                                    x->cwd);
                execve(x->exe, argv, environ);
        }
        r = -errno;
        (void)unsetenv(REEXEC_ENV);
        if (chdir("/") < 0)
                portier_log(log, LOG_WARNING, "cannot go back to '/': %m");
        return r;
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
        if (!d->reexec)
                return;
        reexec_state_free(d->reexec, true);
        free(d->reexec);
        d->reexec = NULL;
}

/* Free what @x holds; its descriptors are closed only with @close_fds (a copy parsed to be
 * checked names another process's numbers). @x itself is not freed. */
void reexec_state_free(Reexec *x, bool close_fds)
{
        if (!close_fds) {
                for (size_t i = 0; i < x->n_services; i++)
                        x->services[i].fd = -1;
                for (size_t i = 0; i < x->n_held; i++)
                        x->held[i].fd = -1;
                x->exe_fd = x->state_fd = -1;
        }
        for (size_t i = 0; i < x->n_services; i++) {
                if (!x->services[i].taken)
                        (void)safe_close(x->services[i].fd);
                free(x->services[i].key);
        }
        for (size_t i = 0; i < x->n_servers; i++)
                free(x->servers[i].key);
        for (size_t i = 0; i < x->n_cps_off; i++)
                free(x->cps_off[i].key);
        free(x->cps_off);
        free(x->drainers);
        for (size_t i = 0; i < x->n_exitlogs; i++) {
                free(x->exitlogs[i].key);
                free(x->exitlogs[i].id);
                free((char *)x->exitlogs[i].log_type.path);
        }
        free(x->exitlogs);
        for (size_t i = 0; i < x->n_orphans; i++) {
                free(x->orphans[i].id);
                free((char *)x->orphans[i].log_type.path);
        }
        free(x->orphans);
        for (size_t i = 0; i < x->n_held; i++) {
                (void)safe_close(x->held[i].fd);
                free(x->held[i].key);
        }
        free(x->held);
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
}

/* --- the old image ------------------------------------------------------------------------ */
static void held_cloexec_on(void *userdata, Service *s, HeldStage stage, unsigned tries,
                            int fd, const struct sockaddr *peer, const char *from)
{
        if (s->state != SERVICE_RETIRED)
                (void)reexec_set_cloexec(fd, true);
}

static void held_cloexec_off(void *userdata, Service *s, HeldStage stage, unsigned tries,
                             int fd, const struct sockaddr *peer, const char *from)
{
        if (s->state != SERVICE_RETIRED)
                (void)reexec_set_cloexec(fd, false);
}

/* The descriptors that cross execve(): FD_CLOEXEC off (on = false) or back on (undo). */
static void pass_fds(Daemon *d, int pidfile_fd, int client_fd, int state_fd, bool on)
{
        int fds[] = { pidfile_fd, client_fd, state_fd, control_socket_fd(d->control),
                      d->reexec->exe_fd };

        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                if (fds[i] >= 0)
                        (void)reexec_set_cloexec(fds[i], on);
        for (size_t i = 0; i < d->n_services; i++)
                if (d->services[i]->fd >= 0)
                        (void)reexec_set_cloexec(d->services[i]->fd, on);
        inventory_each_held(d, on ? held_cloexec_on : held_cloexec_off, NULL);
}

/* Under privilege separation: the monitor executes the new image (monitor_reexec.c) with
 * this process's inventory; this process, the old network process, then drains. */
#define REEXEC_TRIES 3

static int reexec_by_monitor(Daemon *d, int client_fd, char *err, size_t errsize)
{
        pid_t monitor = getppid();
        char why[PRIVMSG_TEXT_MAX];
        struct stat st;
        int fd, r;

        portier_log(d->log, LOG_NOTICE, "re-executing through the monitor (%zu services, %u "
                    "servers running, %u in-process connections)", d->n_services, d->running,
                    d->inproc_running);
        /* A server that exited while the inventory was written makes it out of date (the
         * monitor says -EAGAIN): take the exits and write it again, a few times. */
        for (int tries = 0; tries < REEXEC_TRIES; tries++) {
                if (tries > 0 && privsep_settle(d) < 0)
                        break;
                /* This process drains its own in-process connections: it names itself. */
                fd = inventory_write(d, d->pidfile_fd, client_fd,
                                     d->inproc_running ? getpid() : 0);
                if (fd < 0 || fstat(fd, &st) < 0) {
                        r = fd < 0 ? fd : -errno;
                        (void)safe_close(fd);
                        snprintf(err, errsize, "re-exec refused: cannot write the state: %s",
                                 strerror(-r));
                        return r;
                }
                logset_flush(d->logs);
                r = privsep_reexec(d, fd, (uint64_t)st.st_size, why, sizeof(why));
                (void)close(fd);
                if (r != -EAGAIN || d->reload_running || d->stopping)
                        break;
        }
        if (r < 0) {
                snprintf(err, errsize, "re-exec %s: %s; still serving", r == -EBUSY ||
                         r == -EAGAIN || r == -ENOEXEC ? "refused" : "failed", why);
                portier_log(d->log, LOG_ERR, "%s", err);
                return r;
        }
        /* The request socket closed: the monitor executed the new image (same pid), or died
         * (then this process is reparented and ends). */
        if (getppid() != monitor) {
                portier_log(d->log, LOG_CRIT, "privilege separation: lost the monitor during "
                            "the re-exec; exiting");
                logset_flush(d->logs);
                _exit(1);
        }
        if (d->inproc_running == 0) {
                logset_flush(d->logs);
                _exit(0);
        }
        d->reexec->exe_fd = safe_close(d->reexec->exe_fd);
        drainer_serve(d);
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
        struct stat st;
        int fd, r, go_fd;
        pid_t drainer;

        if (d->privsep && privsep_settle(d) < 0) {     /* (may start a reload: checked next) */
                snprintf(err, errsize, "re-exec refused: servers are being started; try again");
                return -EBUSY;
        }
        if (d->stopping || d->reload_running) {
                snprintf(err, errsize, "re-exec refused: %s", d->stopping ? "the daemon is "
                         "stopping" : "a reload is under way; try again");
                return -EBUSY;
        }
        if (!x || !x->exe || !d->opts->argv) {
                snprintf(err, errsize, "re-exec refused: the daemon's binary is unknown");
                return -ENOENT;
        }
        if (d->privsep)
                return reexec_by_monitor(d, client_fd, err, errsize);
        if (stat(x->exe, &st) < 0 || !S_ISREG(st.st_mode) || access(x->exe, X_OK) < 0) {
                snprintf(err, errsize, "re-exec refused: '%s' is not an executable file",
                         x->exe);
                return -ENOEXEC;
        }
        /* The running binary, for the fallback: /proc/self/exe names our image's file even
         * when the package upgrade replaced the path. */
        if (x->exe_fd < 0)
                x->exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        portier_log(d->log, LOG_NOTICE, "re-executing '%s' (%zu services, %u servers running, "
                    "%u in-process connections)", x->exe, d->n_services, d->running,
                    d->inproc_running);
        /* Log lines buffered now must not be written twice: flushed before the fork. */
        logset_flush(d->logs);
        drainer = drainer_fork(d, &go_fd);
        if (drainer < 0) {
                snprintf(err, errsize, "re-exec refused: cannot fork the drainer of the "
                         "in-process connections: %s", strerror((int)-drainer));
                return (int)drainer;
        }
        fd = inventory_write(d, pidfile_fd, client_fd, drainer);
        if (fd < 0) {
                drainer_abort(go_fd);
                snprintf(err, errsize, "re-exec refused: cannot write the state: %s",
                         strerror(-fd));
                return fd;
        }
        pass_fds(d, pidfile_fd, client_fd, fd, false);
        r = reexec_execve(x, d->log, fd, d->opts->argv);
        drainer_abort(go_fd);
        pass_fds(d, pidfile_fd, client_fd, fd, true);
        close(fd);
        snprintf(err, errsize, "re-exec failed: cannot execute '%s': %s; still serving", x->exe,
                 strerror(-r));
        portier_log(d->log, LOG_ERR, "%s", err);
        return r;
}

/* --- the new image -------------------------------------------------------------------------- */

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
        (void)reexec_set_cloexec(x->state_fd, true);
        r = inventory_read(x->state_fd, &text);
        if (r == 0)
                r = inventory_parse(x, text);
        /* Whatever happens now, the inherited descriptors close on the next exec. */
        for (size_t i = 0; i < x->n_services; i++)
                if (x->services[i].fd >= 0)
                        (void)reexec_set_cloexec(x->services[i].fd, true);
        for (size_t i = 0; i < x->n_held; i++)
                (void)reexec_set_cloexec(x->held[i].fd, true);
        int fds[] = { x->pidfile_fd, x->control_fd, x->client_fd, x->exe_fd };

        for (size_t i = 0; i < ELEMENTSOF(fds); i++)
                if (fds[i] >= 0)
                        (void)reexec_set_cloexec(fds[i], true);
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
                                (void)reexec_set_cloexec(fds[i], false);
                /* Taken or not, the inherited sockets are still open under the same numbers:
                 * nothing closes them before the daemon exits. */
                for (size_t i = 0; i < x->n_services; i++)
                        if (x->services[i].fd >= 0)
                                (void)reexec_set_cloexec(x->services[i].fd, false);
                for (size_t i = 0; i < x->n_held; i++)
                        (void)reexec_set_cloexec(x->held[i].fd, false);
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
        s = bsearch(&want, x->services, x->n_services, sizeof(*x->services), inventory_cmp_service);
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

/* A connection that was in admission goes on from the step it was at; one that cannot is
 * refused with its FAIL line, as admission refuses it. The descriptor is taken (-1). */
static void adopt_held(Service *s, ReexecHeld *h)
{
        const struct sockaddr *peer = (struct sockaddr *)&h->peer;
        struct sockaddr_storage local;
        socklen_t llen = sizeof(local);
        int fd = TAKE_FD(h->fd);

        switch (h->stage) {
        case HELD_RETRY:
                if (!service_queue_fork_retry(s, fd, peer, h->from, h->tries))
                        admit_refuse(s, fd, peer, REFUSE_FORK, h->from);
                break;
        case HELD_IDENT:
                if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0) {
                        (void)close(fd);        /* the connection is gone */
                        break;
                }
                (void)userid_start(s, USERID_GATE, fd, peer, (struct sockaddr *)&local,
                                   h->from);    /* a failure logs NOID and closes */
                break;
        case HELD_NAME:
                if (revdns_start(s, fd, peer, h->from) < 0)
                        admit_refuse(s, fd, peer, REFUSE_ADDRESS, h->from);
                break;
        default:
                (void)close(fd);
                break;
        }
}

static const ReexecExitLog *find_exitlog(const Reexec *x, const char *key)
{
        for (size_t i = 0; i < x->n_exitlogs; i++)
                if (strcmp(x->exitlogs[i].key, key) == 0)
                        return &x->exitlogs[i];
        return NULL;
}

/* A server without a service (retired, or gone from the files): kept as an orphan, reaped
 * and logged by reexec_child_exited(), ended at stop. Return: 0 or -ENOMEM. */
static int adopt_orphan(Daemon *d, const ReexecServer *rs)
{
        Reexec *x = d->reexec;
        const ReexecExitLog *e = find_exitlog(x, rs->key);
        ReexecOrphan *v = realloc(x->orphans, (x->n_orphans + 1) * sizeof(*v)), *o;

        if (!v)
                return -ENOMEM;
        x->orphans = v;
        o = &v[x->n_orphans];
        *o = (ReexecOrphan){ .pid = rs->pid, .started = rs->started };
        if (e) {
                o->id = strdup(e->id);
                o->log_on_success = e->log_on_success;
                o->log_type = e->log_type;
                o->log_type.path = e->log_type.path ? strdup(e->log_type.path) : NULL;
                if (!o->id || (e->log_type.path && !o->log_type.path) ||
                    logset_target(d->logs, &o->log_type, &o->log) < 0) {
                        free(o->id);
                        free((char *)o->log_type.path);
                        return -ENOMEM;
                }
        }
        x->n_orphans++;
        return 0;
}

/* The server's per_source slot is counted again (over the limit or not: it runs), and its
 * client kept for the address rules of later reloads. */
static void adopt_slots(Service *s, Server *srv, const ReexecServer *rs)
{
        srv->client = rs->client;
        srv->has_client = rs->has_client;
        if (!rs->has_src || !s->sources)
                return;
        if (ratelimit_source_acquire(s->sources, &rs->src, UINT32_MAX, ev_now(s->d->loop)) ==
            RATELIMIT_OK) {
                srv->src = rs->src;
                srv->src_held = true;
        }
}

/**
 * reexec_cps_pause() - at a re-exec's first apply: keep a service off that the old image had
 * closed for its cps, until it was due
 * @s: the service about to listen
 *
 * Return: true when it stays off (its state and timer set), false to listen now.
 */
bool reexec_cps_pause(Service *s)
{
        Reexec *x = s->d->reexec;
        char key[512];

        if (!x || !x->active || x->n_cps_off == 0 || s->conf->cps_rate == 0)
                return false;
        (void)listener_key(s->conf, key, sizeof(key));
        for (size_t i = 0; i < x->n_cps_off; i++) {
                if (strcmp(x->cps_off[i].key, key) != 0)
                        continue;
                if (x->cps_off[i].until <= ev_now(s->d->loop))
                        return false;
                s->cps.off = true;
                s->cps.off_until = x->cps_off[i].until;
                s->state = SERVICE_CPS_OFF;
                ev_timer_arm(s->d->loop, &s->retry, x->cps_off[i].until, admit_cps_return);
                return true;
        }
        return false;
}

/**
 * reexec_child_exited() - a child that is no server was reaped: forget it if a drainer
 * @d: the daemon
 * @pid: the child
 * @status: its waitpid() status
 *
 * Return: true when it was a drainer.
 */
bool reexec_child_exited(Daemon *d, pid_t pid, int status)
{
        Reexec *x = d->reexec;

        for (size_t i = 0; x && i < x->n_orphans; i++) {
                ReexecOrphan *o = &x->orphans[i];
                char line[512];

                if (o->pid != pid)
                        continue;
                if (o->id && logline_wants_exit(o->log_on_success)) {
                        size_t n = logline_exit(line, sizeof(line), o->id, o->log_on_success,
                                                status, pid, (long)(time(NULL) - o->started));

                        logset_write(d->logs, &o->log, line, n);
                }
                free(o->id);
                free((char *)o->log_type.path);
                *o = x->orphans[--x->n_orphans];
                return true;
        }
        for (size_t i = 0; x && i < x->n_drainers; i++) {
                if (x->drainers[i] != pid)
                        continue;
                x->drainers[i] = x->drainers[--x->n_drainers];
                portier_log(d->log, status == 0 ? LOG_INFO : LOG_WARNING, "re-exec: the "
                            "drainer (pid %d) %s", (int)pid, status == 0 ? "is done" :
                            "ended abnormally");
                return true;
        }
        return false;
}

/**
 * reexec_signal_children() - send a signal to the drainers and to the servers adopted without
 * a service (stop: SIGTERM ends them, as servers are ended)
 * @d: the daemon
 * @sig: the signal, or 0 to count them
 *
 * Return: how many of them still run (the stop waits for them).
 */
size_t reexec_signal_children(Daemon *d, int sig)
{
        Reexec *x = d->reexec;

        for (size_t i = 0; sig && x && i < x->n_drainers; i++)
                (void)kill(x->drainers[i], sig);
        /* A server leads its own process group: end what it started too. */
        for (size_t i = 0; sig && x && i < x->n_orphans; i++) {
                if (d->privsep)         /* (they are the monitor's children, maybe root's) */
                        (void)privsep_signal(d, x->orphans[i].pid, sig);
                else if (kill(-x->orphans[i].pid, sig) < 0)
                        (void)kill(x->orphans[i].pid, sig);
        }
        return x ? x->n_drainers + x->n_orphans : 0;
}

/**
 * reexec_adopt() - after the configuration is applied: adopt the servers, restore the
 * counters, close the sockets no service took, and tell the client
 * @d: the daemon
 */
void reexec_adopt(Daemon *d)
{
        Reexec *x = d->reexec;
        size_t adopted = 0, orphans = 0, kept = 0;
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
                        if (!s && adopt_orphan(d, &x->servers[i]) == 0)
                                kept++;
                        else
                                orphans++;
                        continue;
                }
                srv->started = x->servers[i].started;
                adopt_slots(s, srv, &x->servers[i]);
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
        if (kept)
                portier_log(d->log, LOG_NOTICE, "re-exec: %zu running servers of services no "
                            "longer configured are adopted; their EXIT lines will be written",
                            kept);
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
 * reexec_adopt_held() - the connections that were in admission go on from their step
 * @d: the daemon
 *
 * After reexec_adopt(), and under privilege separation only in the network process: the
 * monitor must not hold a copy of a connection (or of an ident query) that the network
 * process serves (reexec_drop_held() there).
 */
void reexec_adopt_held(Daemon *d)
{
        Reexec *x = d->reexec;
        KeyedService *keyed;
        size_t lost = 0;

        if (!x || x->n_held == 0)
                return;
        keyed = keyed_services(d);
        for (size_t i = 0; i < x->n_held; i++) {
                ReexecHeld *h = &x->held[i];
                Service *s = find_service(keyed, d->n_services, h->key);

                if (s)
                        adopt_held(s, h);
                else
                        lost++;
                h->fd = safe_close(h->fd);      /* -1 when taken */
        }
        for (size_t i = 0; keyed && i < d->n_services; i++)
                free(keyed[i].key);
        free(keyed);
        reexec_drop_held(d);
        if (lost)
                portier_log(d->log, LOG_WARNING, "re-exec: %zu connections in admission belong "
                            "to no service any more; closed", lost);
}

/**
 * reexec_drop_held() - close the handed-over connections in admission, unadopted (the
 * monitor's copies: the network process adopts them)
 * @d: the daemon
 */
void reexec_drop_held(Daemon *d)
{
        Reexec *x = d->reexec;

        for (size_t i = 0; x && i < x->n_held; i++) {
                (void)safe_close(x->held[i].fd);
                free(x->held[i].key);
        }
        if (x) {
                free(x->held);
                x->held = NULL;
                x->n_held = 0;
        }
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
