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
 * are shared), the pid file descriptor (the lock stays the daemon's), refuses connections in
 * a fork retry queue with their FAIL line (fork) and closes those waiting for an ident answer
 * or a host name (logged: admissions cannot finish where nothing may be started); it sends no
 * sd_notify, accepts nothing and reaps no servers. It writes the EXIT (and TRAFFIC) lines of
 * its connections, exits when the last one ended, ends them all at SIGTERM/SIGINT, and dies
 * with the daemon (PR_SET_PDEATHSIG). It is the daemon's child (a fork of the pre-exec
 * process is the new image's child): server_reap() hands its exit to reexec_child_exited(),
 * never taking it for a server; the stop sends it SIGTERM and waits for it as for servers.
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/revdns.h"
#include "daemon/userid.h"
#include "proto/proto.h"
#include "util.h"

#define REEXEC_ENV "PORTIER_REEXEC"
#define REEXEC_ERROR_ENV "PORTIER_REEXEC_ERROR"
#define REEXEC_VERSION 2        /* 1 (read too): no drainer/cpsoff lines, servers without
                                   their per_source slot and client */
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

static const char *const held_stage_names[_HELD_MAX] = {
        [HELD_RETRY] = "retry", [HELD_IDENT] = "ident", [HELD_NAME] = "name",
};

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
        free(x);
        d->reexec = NULL;
}

/* --- the old image ------------------------------------------------------------------------ */

static void write_addr(FILE *f, bool have, const AccessAddr *a)
{
        if (!have) {
                fputs(" -", f);
                return;
        }
        fputc(' ', f);
        for (size_t i = 0; i < sizeof(a->addr); i++)
                fprintf(f, "%02x", a->addr[i]);
}

static void write_hex(FILE *f, const char *text)
{
        fputc(' ', f);
        if (!text || !*text) {
                fputc('-', f);
                return;
        }
        for (const unsigned char *p = (const unsigned char *)text; *p; p++)
                fprintf(f, "%02x", *p);
}

/* What the EXIT line of a server needs when the new image has no service for it. */
static void write_exitlog_fields(FILE *f, const char *key, unsigned log_on_success,
                                 const ConfLogType *lt, const char *id)
{
        fprintf(f, "exitlog %s %u %d %d %d %llu %llu", key, log_on_success, (int)lt->kind,
                lt->facility, lt->level, (unsigned long long)lt->soft_limit,
                (unsigned long long)lt->hard_limit);
        write_hex(f, id);
        write_hex(f, lt->kind == CONF_LOG_FILE ? lt->path : NULL);
        fputc('\n', f);
}

static void write_exitlog(FILE *f, const Service *s, const char *key)
{
        write_exitlog_fields(f, key, s->conf->log_on_success, &s->conf->log_type, s->conf->id);
}

static void write_service(FILE *f, const Service *s)
{
        const ServiceCounters *c = &s->counters;
        char key[512];

        /* A retired service's key may be a current service's again (re-added by a later
         * reload): its servers are marked, so that the new image does not mix them up. */
        if (s->state == SERVICE_RETIRED)
                key[0] = '!';
        (void)listener_key(s->conf, key + (s->state == SERVICE_RETIRED),
                           sizeof(key) - 1);
        fprintf(f, "service %d %llu %llu %llu %llu %llu %llu", s->fd,
                (unsigned long long)c->accepted, (unsigned long long)c->started,
                (unsigned long long)c->exited, (unsigned long long)c->spawn_failed,
                (unsigned long long)c->noid, (unsigned long long)c->dropped);
        for (int k = 0; k < _REFUSE_MAX; k++)
                fprintf(f, " %llu", (unsigned long long)c->refused[k]);
        fprintf(f, " %s\n", key);
        for (Server *srv = s->servers; srv; srv = srv->next) {
                fprintf(f, "server %d %lld", (int)srv->pid, (long long)srv->started);
                write_addr(f, srv->src_held, &srv->src);
                write_addr(f, srv->has_client, &srv->client);
                fprintf(f, " %s\n", key);
        }
        if (s->servers)
                write_exitlog(f, s, key);
        if (s->state == SERVICE_CPS_OFF && ev_timer_armed(&s->retry))
                fprintf(f, "cpsoff %llu %s\n", (unsigned long long)s->retry.when, key);
}

/* The connections in admission, of every service (retired ones too). */
typedef void (*EachHeldFn)(void *userdata, Service *s, HeldStage stage, unsigned tries, int fd,
                           const struct sockaddr *peer, const char *from);

typedef struct HeldWalk {
        EachHeldFn fn;
        void *userdata;
        Service *s;
        HeldStage stage;
} HeldWalk;

static void held_one(void *userdata, int fd, const struct sockaddr *peer, const char *from)
{
        HeldWalk *w = userdata;

        w->fn(w->userdata, w->s, w->stage, 0, fd, peer, from);
}

static void each_held(Daemon *d, EachHeldFn fn, void *userdata)
{
        for (size_t i = 0; i < d->n_services + d->n_retired; i++) {
                Service *s = i < d->n_services ? d->services[i] : d->retired[i - d->n_services];
                HeldWalk w = { .fn = fn, .userdata = userdata, .s = s };

                for (size_t k = 0; s->fork_queue && k < s->fork_queue->n; k++) {
                        ForkRetry *fr = &s->fork_queue->e[k];

                        fn(userdata, s, HELD_RETRY, fr->tries, fr->fd,
                           (struct sockaddr *)&fr->peer, fr->from);
                }
                w.stage = HELD_IDENT;
                userid_each_gated(s, held_one, &w);
                w.stage = HELD_NAME;
                revdns_each_held(s, held_one, &w);
        }
}

static void write_held(void *userdata, Service *s, HeldStage stage, unsigned tries, int fd,
                       const struct sockaddr *peer, const char *from)
{
        FILE *f = userdata;
        socklen_t len = peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                    : sizeof(struct sockaddr_in);
        char key[512];

        if (s->state == SERVICE_RETIRED)
                return;         /* not served any more: closed at the exec */
        (void)listener_key(s->conf, key, sizeof(key));
        fprintf(f, "held %s %u %d ", held_stage_names[stage], tries, fd);
        for (socklen_t i = 0; i < len; i++)
                fprintf(f, "%02x", ((const unsigned char *)peer)[i]);
        write_hex(f, from);
        fprintf(f, " %s\n", key);
}

/* A server adopted without a service stays one through the next re-exec. */
static void write_orphan(FILE *f, const ReexecOrphan *o)
{
        char key[32];

        snprintf(key, sizeof(key), "!orphan%d", (int)o->pid);
        fprintf(f, "server %d %lld - - %s\n", (int)o->pid, (long long)o->started, key);
        if (!o->id)
                return;
        write_exitlog_fields(f, key, o->log_on_success, &o->log_type, o->id);
}

static int write_state(Daemon *d, int pidfile_fd, int client_fd, pid_t drainer)
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
        for (size_t i = 0; i < d->reexec->n_drainers; i++)
                fprintf(f, "drainer %d\n", (int)d->reexec->drainers[i]);
        for (size_t i = 0; i < d->reexec->n_orphans; i++)
                write_orphan(f, &d->reexec->orphans[i]);
        each_held(d, write_held, f);
        if (drainer > 0)
                fprintf(f, "drainer %d\n", (int)drainer);
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

/* --- the drainer ------------------------------------------------------------------------ */

/* The drainer's own loop state (on its stack; found again with container_of). */
typedef struct Drainer {
        Daemon *d;
        EvFile sig_ev;
        EvTimer done;
} Drainer;

static int drainer_exit(EvTimer *t)
{
        return EV_EXIT;
}

/* SIGTERM/SIGINT (the daemon stops, or the operator's ^C): end every connection now, with
 * its EXIT (and TRAFFIC) line; the loop then ends. */
static int drainer_on_signal(EvFile *f, uint32_t events)
{
        Drainer *dr = container_of(f, Drainer, sig_ev);
        PortierSignal sig;

        while (portier_signalfd_read(dr->d->signal_fd, &sig) > 0)
                if (sig.signo == SIGTERM || sig.signo == SIGINT || sig.signo == SIGQUIT)
                        inproc_end_all(dr->d);
        return 0;
}

static void drainer_before_sleep(void *userdata)
{
        Drainer *dr = userdata;

        logset_flush(dr->d->logs);
        if (dr->d->inproc_running == 0 && !ev_timer_armed(&dr->done))
                ev_timer_arm(dr->d->loop, &dr->done, 0, drainer_exit);
}

/* Admissions under way were handed over to the new image (the inventory's held lines): the
 * drainer's copies of their connections are closed, nothing logged. */
static void drainer_end_admissions(Service *s)
{
        ForkQueue *q = s->fork_queue;

        for (size_t i = 0; q && i < q->n; i++)
                (void)close(q->e[i].fd);
        if (q)
                q->n = 0;
        userid_cancel_service(s);
        for (RevdnsJob *j = s->revdns_jobs; j; j = revdns_job_next(j))
                revdns_job_close(j);
}

/* Close what belongs to the daemon, not to the connections: listening sockets, the control
 * socket and its clients (without a read, an answer or an unlink: they are shared), the pid
 * file (its lock is the daemon's), the reload eventfd. */
static void drainer_release(Drainer *dr)
{
        Daemon *d = dr->d;

        for (size_t k = 0; k < 2; k++) {
                Service **v = k ? d->retired : d->services;
                size_t n = k ? d->n_retired : d->n_services;

                for (size_t i = 0; i < n; i++) {
                        drainer_end_admissions(v[i]);
                        v[i]->fd = safe_close(v[i]->fd);
                }
        }
        d->control = control_forget(d->control);
        d->pidfile_fd = safe_close(d->pidfile_fd);
        d->reload_fd = safe_close(d->reload_fd);
        d->reexec->exe_fd = safe_close(d->reexec->exe_fd);
}

/*
 * The drainer's life: wait until the daemon's execve() succeeded (the pipe's write end is
 * close-on-exec: EOF) or failed (a byte: exit at once, untouched, the old image serves on),
 * then serve the in-process connections from a loop of its own until the last one ends.
 * The old loop's epoll instance is not touched again (after the exec no one else holds it,
 * but it still names the daemon's listening sockets).
 */
static _Noreturn void drainer_run(Daemon *d, int go_fd)
{
        Drainer dr = { .d = d, .sig_ev = EV_FILE_NULL, .done = EV_TIMER_NULL };
        EvLoop *loop = NULL;
        ssize_t n;
        char c;

        do
                n = read(go_fd, &c, 1);
        while (n < 0 && errno == EINTR);
        if (n != 0)
                _exit(0);
        (void)close(go_fd);
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        d->draining = true;
        d->stopping = true;
        if (ev_loop_new(&loop) < 0) {
                portier_log(d->log, LOG_ERR, "re-exec drainer: cannot make its loop: %m; "
                            "its connections end now");
                inproc_end_all(d);
                logset_flush(d->logs);
                _exit(1);
        }
        inproc_move_all(d, loop);
        drainer_release(&dr);
        d->loop = loop;
        ev_loop_set_before_sleep(loop, drainer_before_sleep, &dr);
        if (ev_file_add(loop, &dr.sig_ev, d->signal_fd, EPOLLIN, drainer_on_signal) < 0)
                portier_log(d->log, LOG_WARNING, "re-exec drainer: cannot watch signals: %m");
        portier_log(d->log, LOG_NOTICE, "re-exec: pid %d serves %u in-process connections "
                    "until they end", (int)getpid(), d->inproc_running);
        (void)ev_loop_run(loop);
        logset_flush(d->logs);
        _exit(0);
}

/* Fork the drainer when in-process connections are open. Return: its pid (and the pipe's
 * write end in *ret_go), 0 when none is needed, or -errno. */
static pid_t drainer_fork(Daemon *d, int *ret_go)
{
        int go[2];
        pid_t pid;

        *ret_go = -1;
        if (d->inproc_running == 0)
                return 0;
        if (pipe2(go, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;

                (void)close(go[0]);
                (void)close(go[1]);
                return r;
        }
        if (pid == 0) {
                (void)close(go[1]);
                drainer_run(d, go[0]);
        }
        (void)close(go[0]);
        *ret_go = go[1];
        return pid;
}

/* execve() failed: the drainer leaves without touching anything (it is reaped as a child
 * that is no server). */
static void drainer_abort(int go_fd)
{
        if (go_fd < 0)
                return;
        (void)!write(go_fd, "x", 1);
        (void)close(go_fd);
}

static void held_cloexec_on(void *userdata, Service *s, HeldStage stage, unsigned tries,
                            int fd, const struct sockaddr *peer, const char *from)
{
        if (s->state != SERVICE_RETIRED)
                (void)set_cloexec(fd, true);
}

static void held_cloexec_off(void *userdata, Service *s, HeldStage stage, unsigned tries,
                             int fd, const struct sockaddr *peer, const char *from)
{
        if (s->state != SERVICE_RETIRED)
                (void)set_cloexec(fd, false);
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
        each_held(d, on ? held_cloexec_on : held_cloexec_off, NULL);
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
        int fd, r, go_fd;
        pid_t drainer;

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
        fd = write_state(d, pidfile_fd, client_fd, drainer);
        if (fd < 0) {
                drainer_abort(go_fd);
                snprintf(err, errsize, "re-exec refused: cannot write the state: %s",
                         strerror(-fd));
                return fd;
        }
        snprintf(num, sizeof(num), "%d", fd);
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
        drainer_abort(go_fd);
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

static int parse_addr(char **p, bool *ret_have, AccessAddr *ret)
{
        char *tok = *p, *end = strchr(tok, ' ');

        if (!end)
                return -EBADMSG;
        *end = '\0';
        *p = end + 1;
        *ret_have = strcmp(tok, "-") != 0;
        if (!*ret_have)
                return 0;
        if (strlen(tok) != 2 * sizeof(ret->addr) || strspn(tok, "0123456789abcdef") != strlen(tok))
                return -EBADMSG;
        for (size_t i = 0; i < sizeof(ret->addr); i++) {
                unsigned b;

                sscanf(tok + 2 * i, "%2x", &b);
                ret->addr[i] = (uint8_t)b;
        }
        return 0;
}

static int parse_server(Reexec *x, char *line, int version)
{
        ReexecServer *v, srv = { 0 };
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
        p = end + 1;
        if (version >= 2 && (parse_addr(&p, &srv.has_src, &srv.src) < 0 ||
                             parse_addr(&p, &srv.has_client, &srv.client) < 0 || !*p))
                return -EBADMSG;
        v = realloc(x->servers, (x->n_servers + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->servers = v;
        srv.pid = (pid_t)pid;
        srv.started = (time_t)started;
        srv.key = strdup(p);
        if (!srv.key)
                return -ENOMEM;
        v[x->n_servers++] = srv;
        return 0;
}

static int parse_cps_off(Reexec *x, char *line)
{
        ReexecCpsOff *v;
        char *p = line + strlen("cpsoff "), *end;
        unsigned long long until;

        errno = 0;
        until = strtoull(p, &end, 10);
        if (errno || end == p || *end != ' ' || !end[1])
                return -EBADMSG;
        v = realloc(x->cps_off, (x->n_cps_off + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->cps_off = v;
        v[x->n_cps_off] = (ReexecCpsOff){ .until = until, .key = strdup(end + 1) };
        if (!v[x->n_cps_off].key)
                return -ENOMEM;
        x->n_cps_off++;
        return 0;
}

/* HEX (or "-": NULL) decoded into a new string. */
static int hex_decode(const char *hex, char **ret)
{
        size_t n = strlen(hex);
        char *a;

        *ret = NULL;
        if (strcmp(hex, "-") == 0)
                return 0;
        if (n == 0 || n % 2 || strspn(hex, "0123456789abcdef") != n)
                return -EBADMSG;
        a = malloc(n / 2 + 1);
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned b;

                sscanf(hex + 2 * i, "%2x", &b);
                a[i] = (char)b;
        }
        a[n / 2] = '\0';
        *ret = a;
        return 0;
}

/* Split @line in place at single spaces: exactly @n fields, or -EBADMSG. */
static int split_fields(char *line, char **ret, size_t n)
{
        size_t k = 0;

        for (char *p = line; k < n; k++) {
                ret[k] = p;
                p = strchr(p, ' ');
                if (!p)
                        return k + 1 == n && *ret[k] ? 0 : -EBADMSG;
                *p++ = '\0';
                if (!*ret[k])
                        return -EBADMSG;
        }
        return -EBADMSG;        /* more fields than wanted */
}

static int parse_u64(const char *t, uint64_t max, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(t, &end, 10);
        if (errno || *end || end == t || *t == '-' || v > max)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int parse_exitlog(Reexec *x, char *line)
{
        ReexecExitLog e = { 0 }, *v;
        char *f[10];
        uint64_t flags, kind, facility, level, soft, hard;
        int r;

        /* exitlog KEY LOG_ON_SUCCESS LOGKIND FACILITY LEVEL SOFT HARD HEX(ID) HEX(PATH)|- */
        if (split_fields(line, f, 10) < 0 || parse_u64(f[2], UINT_MAX, &flags) < 0 ||
            parse_u64(f[3], CONF_LOG_FILE, &kind) < 0 ||
            parse_u64(f[4], INT_MAX, &facility) < 0 || parse_u64(f[5], INT_MAX, &level) < 0 ||
            parse_u64(f[6], UINT64_MAX, &soft) < 0 || parse_u64(f[7], UINT64_MAX, &hard) < 0)
                return -EBADMSG;
        e.log_on_success = (unsigned)flags;
        e.log_type = (ConfLogType){ .kind = (ConfLogKind)kind, .facility = (int)facility,
                                    .level = (int)level, .soft_limit = soft,
                                    .hard_limit = hard };
        v = realloc(x->exitlogs, (x->n_exitlogs + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->exitlogs = v;
        e.key = strdup(f[1]);
        if (!e.key)
                return -ENOMEM;
        if ((r = hex_decode(f[8], &e.id)) < 0 ||
            (r = hex_decode(f[9], (char **)&e.log_type.path)) < 0 || !e.id ||
            (e.log_type.kind == CONF_LOG_FILE && !e.log_type.path)) {
                free(e.key);
                free(e.id);
                free((char *)e.log_type.path);
                return r < 0 ? r : -EBADMSG;
        }
        v[x->n_exitlogs++] = e;
        return 0;
}

static int parse_held(Reexec *x, char *line)
{
        ReexecHeld h = { .fd = -1 }, *v;
        char *f[7];
        _cleanup_free_ char *from_text = NULL;
        uint64_t tries, fd;
        size_t n;
        int r;

        /* held STAGE TRIES FD HEX(PEER SOCKADDR) HEX(FROM) KEY */
        if (split_fields(line, f, 7) < 0 || parse_u64(f[2], UINT_MAX, &tries) < 0 ||
            parse_u64(f[3], INT_MAX, &fd) < 0)
                return -EBADMSG;
        h.tries = (unsigned)tries;
        h.fd = (int)fd;
        for (h.stage = 0; h.stage < _HELD_MAX; h.stage++)
                if (strcmp(f[1], held_stage_names[h.stage]) == 0)
                        break;
        n = strlen(f[4]);
        if (h.stage == _HELD_MAX || (n != 2 * sizeof(struct sockaddr_in) &&
                                     n != 2 * sizeof(struct sockaddr_in6)) ||
            strspn(f[4], "0123456789abcdef") != n)
                return -EBADMSG;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned b;

                sscanf(f[4] + 2 * i, "%2x", &b);
                ((unsigned char *)&h.peer)[i] = (unsigned char)b;
        }
        if (h.peer.ss_family != (n == 2 * sizeof(struct sockaddr_in) ? AF_INET : AF_INET6))
                return -EBADMSG;
        if ((r = hex_decode(f[5], &from_text)) < 0)
                return r;
        snprintf(h.from, sizeof(h.from), "%s", from_text ? from_text : "");
        v = realloc(x->held, (x->n_held + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->held = v;
        if (!(h.key = strdup(f[6])))
                return -ENOMEM;
        v[x->n_held++] = h;
        return 0;
}

static int parse_drainer(Reexec *x, const char *line)
{
        pid_t *v;
        char *end;
        long pid = strtol(line + strlen("drainer "), &end, 10);

        if (*end || pid <= 0 || pid > INT_MAX)
                return -EBADMSG;
        v = realloc(x->drainers, (x->n_drainers + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->drainers = v;
        v[x->n_drainers++] = (pid_t)pid;
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
                if (version != 1 && version != REEXEC_VERSION)
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
                        r = parse_server(x, line, version);
                else if (version >= 2 && strncmp(line, "cpsoff ", 7) == 0)
                        r = parse_cps_off(x, line);
                else if (version >= 2 && strncmp(line, "drainer ", 8) == 0)
                        r = parse_drainer(x, line);
                else if (version >= 2 && strncmp(line, "exitlog ", 8) == 0)
                        r = parse_exitlog(x, line);
                else if (version >= 2 && strncmp(line, "held ", 5) == 0)
                        r = parse_held(x, line);
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
        for (size_t i = 0; i < x->n_held; i++)
                (void)set_cloexec(x->held[i].fd, true);
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
                for (size_t i = 0; i < x->n_held; i++)
                        (void)set_cloexec(x->held[i].fd, false);
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
        for (size_t i = 0; sig && x && i < x->n_orphans; i++)
                if (kill(-x->orphans[i].pid, sig) < 0)
                        (void)kill(x->orphans[i].pid, sig);
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
        size_t adopted = 0, orphans = 0, kept = 0, lost = 0;
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
        if (lost)
                portier_log(d->log, LOG_WARNING, "re-exec: %zu connections in admission belong "
                            "to no service any more; closed", lost);
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
