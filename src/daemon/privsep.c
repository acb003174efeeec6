/* SPDX-License-Identifier: MIT */
/*
 * privsep.c — privilege separation: the fork into monitor and network process, and the
 * network process's side of every call across (privsep.h has the picture).
 *
 * The network process's calls are synchronous: one request, then its reply, on a blocking
 * SOCK_SEQPACKET pair, except SPAWN: the network process sends it with an id and goes on
 * (more accepts, more requests queued on the socket), and the result comes back as a
 * SPAWNED event. Events (spawn results, servers exited, a new configuration) come on a
 * second pair that the loop watches, so that a reply is never mixed up with an event, and
 * a server's EXITED never comes before its SPAWNED (the monitor sends both, in that order,
 * on this one socket). When the monitor is gone, the network process stops at
 * once: it never serves half (it could not start a server or bind a socket any more).
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/bundle.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/privmsg.h"
#include "daemon/privsep.h"
#include "util.h"

#define SETTLE_MSEC 2000
#define BUNDLE_SIZE_MAX ((uint64_t)CONF_MAX_TOTAL_SIZE + (64u << 20))

const struct ConfBundle *privsep_bundle(const Daemon *d)
{
        return d->privsep ? d->privsep->bundle : NULL;
}

/* The monitor is gone or talks nonsense: nothing privileged can happen any more. */
_Noreturn static void lost_monitor(Privsep *p, int r)
{
        portier_log(p->d->log, LOG_CRIT, "privilege separation: lost the monitor (%s); "
                    "exiting", strerror(-r));
        logset_flush(p->d->logs);
        _exit(1);
}

/* A reply whose descriptor this process had no room for: a socket or log file is then
 * not opened (-EMFILE); a server was started all the same, without its libwrap report. */
static void lost_descriptor(Privsep *p, PrivMsg *rep)
{
        portier_log(p->d->log, LOG_ERR, "privilege separation: out of descriptors: the "
                    "monitor's '%s' reply came without its descriptor",
                    privmsg_type_name(rep->type));
        if (rep->type == PRIVMSG_BOUND)
                rep->u.bound.result = -EMFILE;
        else if (rep->type == PRIVMSG_OPENED)
                rep->u.opened.result = -EMFILE;
        else if (rep->type == PRIVMSG_SPAWNED)
                rep->u.spawned.e[0].has_fd = 0;
}

/* One request and its reply. A reply of another type than expected is the monitor's bug:
 * fatal as a lost monitor. */
static void call(Privsep *p, const PrivMsg *req, int fd, uint32_t want, PrivMsg *rep,
                 int *ret_fd)
{
        int r, got = -1;

        r = privmsg_send(p->req_fd, req, fd);
        if (r < 0)
                lost_monitor(p, r);
        r = privmsg_recv(p->req_fd, rep, &got, 0);
        if (r == -EMFILE)
                lost_descriptor(p, rep);
        else if (r < 0)
                lost_monitor(p, r);
        if (rep->type != want) {
                (void)safe_close(got);
                lost_monitor(p, -EPROTO);
        }
        if (ret_fd)
                *ret_fd = got;
        else
                (void)safe_close(got);
}

/**
 * privsep_bind() - the monitor opens a service's listening socket (listener_open() there)
 * @d: the daemon
 * @s: the service
 * @err: receives the monitor's message on failure
 * @errsize: its size
 *
 * Return: the socket; -EMFILE when it would take a descriptor kept for connections; -errno.
 */
int privsep_bind(Daemon *d, const Service *s, ListenerFile *ret_file, char *err,
                 size_t errsize)
{
        PrivMsg req = { .type = PRIVMSG_BIND }, rep;
        const PrivMsgFile *f = &rep.u.bound.file;
        int fd = -1;

        req.u.bind.gen = s->gen->number;
        req.u.bind.index = s->index;
        call(d->privsep, &req, -1, PRIVMSG_BOUND, &rep, &fd);
        if (rep.u.bound.result < 0) {
                snprintf(err, errsize, "%s", rep.u.bound.text);
                return rep.u.bound.result;
        }
        /* which socket file the monitor made: this process may not be able to look */
        if (ret_file)
                *ret_file = (ListenerFile){ .set = f->set, .dev = (dev_t)f->dev,
                                            .ino = (ino_t)f->ino,
                                            .ctime = { .tv_sec = f->ctime_sec,
                                                       .tv_nsec = f->ctime_nsec } };
        if (d->listener_fd_max > 0 && fd >= d->listener_fd_max) {
                (void)close(fd);
                return -EMFILE;
        }
        return fd;
}

/**
 * privsep_remove_file() - the monitor removes a unix service's socket file, if it is still
 * the one that was made for it (listener_remove_file() there)
 * @d: the daemon
 * @s: the service
 * @f: the file's identity; cleared
 */
void privsep_remove_file(Daemon *d, const Service *s, ListenerFile *f)
{
        PrivMsg req = { .type = PRIVMSG_REMOVE_FILE }, rep;

        if (!f->set)
                return;
        req.u.remove_file.gen = s->gen->number;
        req.u.remove_file.index = s->index;
        req.u.remove_file.file = (PrivMsgFile){ .set = 1, .dev = f->dev, .ino = f->ino,
                                                .ctime_sec = f->ctime.tv_sec,
                                                .ctime_nsec = f->ctime.tv_nsec };
        f->set = false;
        call(d->privsep, &req, -1, PRIVMSG_RESULT, &rep, NULL);
}

/* A free slot for a spawn job (the array grows by doubling). Return: its index, or
 * UINT32_MAX when out of memory. */
static uint32_t job_alloc(Privsep *p)
{
        if (p->free_job == 0) {
                uint32_t n = p->n_jobs ? p->n_jobs * 2 : 64;
                SpawnJob *v = realloc(p->jobs, n * sizeof(*v));

                if (!v)
                        return UINT32_MAX;
                for (uint32_t i = n; i > p->n_jobs; i--) {
                        v[i - 1].svc = NULL;
                        v[i - 1].next_free = p->free_job;
                        p->free_job = i;
                }
                p->jobs = v;
                p->n_jobs = n;
        }
        uint32_t id = p->free_job - 1;

        p->free_job = p->jobs[id].next_free;
        return id;
}

/**
 * privsep_spawn_send() - ask the monitor to start a service's server (spawn_run() there),
 * without waiting: the result comes as a SPAWNED event (service_spawn_done())
 * @d: the daemon
 * @j: what the result will need (copied; its svc is the service)
 * @fd: the connection, or the listening socket of a wait = yes service (a copy goes)
 * @first_try: not a fork retry: the server gets banner_success from a libwrap child
 */
void privsep_spawn_send(Daemon *d, const SpawnJob *j, int fd, bool first_try)
{
        Privsep *p = d->privsep;
        const Service *s = j->svc;
        PrivMsg req = { .type = PRIVMSG_SPAWN };
        uint32_t id = job_alloc(p);
        int r;

        if (id == UINT32_MAX)
                lost_monitor(p, -ENOMEM);       /* a server could not be accounted for */
        p->jobs[id] = *j;
        p->jobs[id].gen = s->gen->number;
        req.u.spawn.gen = s->gen->number;
        req.u.spawn.index = s->index;
        /* The result, and the server's exit, may wait (PRIVMSG_SPAWN_HOLD) unless this
         * process needs them at once: a limit counts the service's servers (their exits
         * free places), or a wait = yes service listens again when its server exits. */
        req.u.spawn.flags = (first_try ? PRIVMSG_SPAWN_FIRST_TRY : 0) |
                            (listener_accepts(s->conf) &&
                             s->conf->instances == CONF_UNLIMITED &&
                             s->conf->per_source == CONF_UNLIMITED && d->opts->limit <= 0
                                     ? PRIVMSG_SPAWN_HOLD : 0);
        req.u.spawn.id = id;
        if (s->conf->socket_type != SOCK_STREAM && j->has_peer)
                privmsg_addr_from_sockaddr((const struct sockaddr *)&j->peer, &req.u.spawn.peer);
        r = privmsg_send(p->req_fd, &req, fd);
        if (r < 0)
                lost_monitor(p, r);
        /* The server has the connection now, or it comes back if the fork fails: close this
         * copy at once, so that the client sees the end when the server closes (the
         * result may wait for the server's exit). */
        if (p->jobs[id].fd >= 0) {
                (void)close(p->jobs[id].fd);
                p->jobs[id].fd = -1;
        }
}

/* SPAWNED: each result to its job. An id that is no spawn in flight is a reply to a request
 * this process did not make (a forgery on its socket): logged and dropped. */
static void take_spawned(Privsep *p, const PrivMsg *m, int fd)
{
        for (uint32_t i = 0; i < m->u.spawned.n; i++) {
                const typeof(m->u.spawned.e[0]) *e = &m->u.spawned.e[i];
                /* the descriptor: a started server's libwrap report pipe, or the
                 * connection back after a failed fork */
                int report = e->has_fd && e->result == 0 ? fd : -1;
                SpawnJob job;

                if (e->id >= p->n_jobs || !p->jobs[e->id].svc) {
                        portier_log(p->d->log, LOG_WARNING, "privilege separation: a spawn "
                                    "result for no request of this process (id %u); dropped",
                                    e->id);
                        (void)safe_close(e->has_fd ? fd : -1);
                        continue;
                }
                job = p->jobs[e->id];
                if (e->has_fd && e->result < 0)
                        job.fd = fd;
                p->jobs[e->id].svc = NULL;
                p->jobs[e->id].next_free = p->free_job;
                p->free_job = e->id + 1;
                service_spawn_done(&job, e->result, e->pid,
                                   (SpawnError){ .step = (SpawnStep)e->step,
                                                 .error = e->error }, report);
        }
}

/**
 * privsep_signal() - the monitor signals one of its servers (and its process group)
 * @d: the daemon
 * @pid: the server
 * @sig: SIGTERM or SIGKILL
 *
 * Return: 0 or -errno.
 */
int privsep_signal(Daemon *d, pid_t pid, int sig)
{
        PrivMsg req = { .type = PRIVMSG_SIGNAL }, rep;

        req.u.signal.pid = pid;
        req.u.signal.sig = sig;
        call(d->privsep, &req, -1, PRIVMSG_RESULT, &rep, NULL);
        return rep.u.result.result;
}

/**
 * privsep_open_log() - the monitor opens a log file of its configuration (LogSet opener)
 * @userdata: the Daemon
 * @path: the file
 *
 * Return: the descriptor (append mode, non-blocking), or -errno.
 */
int privsep_open_log(void *userdata, const char *path)
{
        Daemon *d = userdata;
        PrivMsg req = { .type = PRIVMSG_OPEN_LOG }, rep;
        int fd = -1, fl;

        if (strlen(path) >= sizeof(req.u.open_log.path) || path[0] != '/')
                return -EINVAL;
        strcpy(req.u.open_log.path, path);
        call(d->privsep, &req, -1, PRIVMSG_OPENED, &rep, &fd);
        if (rep.u.opened.result < 0)
                return rep.u.opened.result;
        fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
                (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        return fd;
}

/**
 * privsep_open_dump() - the monitor opens the state dump file (truncated)
 * @d: the daemon
 *
 * Return: the descriptor, or -errno.
 */
int privsep_open_dump(Daemon *d)
{
        PrivMsg req = { .type = PRIVMSG_OPEN_DUMP }, rep;
        int fd = -1;

        call(d->privsep, &req, -1, PRIVMSG_OPENED, &rep, &fd);
        return rep.u.opened.result < 0 ? rep.u.opened.result : fd;
}

/**
 * privsep_notify_status() - sd_notify a STATUS= line from the main pid (NotifyAccess=main)
 * @d: the daemon
 * @line: "STATUS=...", one line
 *
 * Return: as portier_notify() in the monitor: 1 sent, 0 no $NOTIFY_SOCKET, -errno.
 */
int privsep_notify_status(Daemon *d, const char *line)
{
        PrivMsg req = { .type = PRIVMSG_STATUS }, rep;

        if (strlen(line) >= sizeof(req.u.status.text))
                return -ENOBUFS;
        strcpy(req.u.status.text, line);
        call(d->privsep, &req, -1, PRIVMSG_RESULT, &rep, NULL);
        return rep.u.result.result;
}

/**
 * privsep_reopen_daemon_log() - reopen the -filelog file (SIGHUP, after log rotation)
 * @d: the daemon
 *
 * The monitor opens it; the new descriptor takes the old one's number, so the log sink
 * writes to the new file without knowing.
 *
 * Return: 0 or -errno.
 */
int privsep_reopen_daemon_log(Daemon *d)
{
        int fds[2], fd;
        size_t n = portier_log_fds(d->log, fds, 2);

        if (!d->opts->filelog_path || portier_log_get_target(d->log) != PORTIER_LOG_FILE ||
            n == 0)
                return 0;
        fd = privsep_open_log(d, d->opts->filelog_path);
        if (fd < 0)
                return fd;
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        if (dup3(fd, fds[0], O_CLOEXEC) < 0) {
                int r = -errno;

                (void)close(fd);
                return r;
        }
        (void)close(fd);
        return 0;
}

/**
 * privsep_ask_reload() - ask the monitor for a reload (SIGHUP to this process, portierctl)
 * @d: the daemon
 *
 * The monitor loads the configuration and sends it back (NEWCONF), which starts the load
 * here.
 *
 * Return: 0 or -errno.
 */
int privsep_ask_reload(Daemon *d)
{
        PrivMsg req = { .type = PRIVMSG_RELOAD }, rep;

        call(d->privsep, &req, -1, PRIVMSG_RESULT, &rep, NULL);
        return rep.u.result.result;
}

/**
 * privsep_take_reload_grant() - is this reload_start() the monitor's NEWCONF? (once)
 * @d: the daemon
 *
 * Return: true when the reload may start.
 */
bool privsep_take_reload_grant(Daemon *d)
{
        bool r = d->privsep->reload_granted;

        d->privsep->reload_granted = false;
        return r;
}

/**
 * privsep_reloaded() - tell the monitor a new configuration was applied (or refused), and
 * the oldest generation a service still uses (it may drop the older ones)
 * @d: the daemon
 */
void privsep_reloaded(Daemon *d)
{
        PrivMsg req = { .type = PRIVMSG_RELOADED }, rep;
        unsigned oldest = d->gen ? d->gen->number : 0;

        for (size_t i = 0; i < d->n_services; i++)
                if (d->services[i]->gen->number < oldest)
                        oldest = d->services[i]->gen->number;
        req.u.reloaded.gen = d->next_generation;
        req.u.reloaded.oldest = oldest;
        /* the load that read it is over: its pages go back (as generation_apply() gives
         * back the syntax tree's) */
        if (d->privsep->bundle) {
                d->privsep->bundle = conf_bundle_free(d->privsep->bundle);
                malloc_trim(0);
        }
        call(d->privsep, &req, -1, PRIVMSG_RESULT, &rep, NULL);
}

/**
 * privsep_stream_finish() - on the load's worker thread, once the load is done: read its
 * stream to the end (CONFSTREAM)
 * @d: the daemon
 *
 * Return: 0 (complete, or no stream), or -errno when the stream was cut or malformed: what
 * was loaded may then differ from the monitor's load, and is not applied.
 */
int privsep_stream_finish(Daemon *d)
{
        Privsep *p = d->privsep;

        return p && p->streaming && p->bundle ? conf_bundle_stream_finish(p->bundle) : 0;
}

/**
 * privsep_conf_pending() - is a load from a stream done here before the monitor said
 * whether it holds that generation (CONFDONE)? It is applied only after.
 * @d: the daemon
 */
bool privsep_conf_pending(const Daemon *d)
{
        return d->privsep && d->privsep->streaming && !d->privsep->conf_done;
}

/**
 * privsep_conf_refused() - did the monitor say it does not hold the generation just loaded
 * from a stream? (It would refuse to start its servers: it is not applied.)
 * @d: the daemon
 */
bool privsep_conf_refused(const Daemon *d)
{
        return d->privsep && d->privsep->streaming && d->privsep->conf_done &&
               !d->privsep->conf_held;
}

/* CONFSTREAM: load the generation the monitor is loading, from the stream, meanwhile. */
static void take_confstream(Privsep *p, const PrivMsg *m, int fd)
{
        Daemon *d = p->d;
        ConfBundle *b = NULL;
        int r = conf_bundle_stream_from(fd, BUNDLE_SIZE_MAX, &b);

        if (r < 0) {
                portier_log(d->log, LOG_ERR, "privilege separation: cannot read the new "
                            "configuration from the monitor: %s", strerror(-r));
                if (conf_bundle_new(&b) < 0)    /* an empty bundle: the load fails */
                        lost_monitor(p, -ENOMEM);
        }
        conf_bundle_free(p->bundle);
        p->bundle = b;
        p->streaming = r == 0;
        p->conf_done = p->conf_held = false;
        d->next_generation = m->u.confstream.gen - 1;  /* reload_start() counts it */
        p->reload_granted = true;
        if (reload_start(d) < 0) {
                p->streaming = false;
                privsep_reloaded(d);    /* nothing will be applied: say so */
        }
}

/* CONFDONE: the monitor's load of the streamed generation is over. */
static void take_confdone(Privsep *p, const PrivMsg *m)
{
        if (!p->streaming || m->u.confdone.gen != p->d->next_generation)
                return;         /* not the load under way (it failed to start) */
        p->conf_done = true;
        p->conf_held = m->u.confdone.held;
        generation_reload_resume(p->d);
}

/* NEWCONF: read the bundle from the memfd, then load it as a reload. */
static void take_newconf(Privsep *p, const PrivMsg *m, int fd)
{
        Daemon *d = p->d;
        ConfBundle *b = NULL;
        struct stat st;
        char *buf = NULL;
        uint64_t got = 0;
        int r = 0;

        if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != m->u.newconf.size ||
            m->u.newconf.size > BUNDLE_SIZE_MAX)
                r = -EBADMSG;
        else if (!(buf = malloc(m->u.newconf.size ? m->u.newconf.size : 1)))
                r = -ENOMEM;
        while (r == 0 && got < m->u.newconf.size) {
                ssize_t n = pread(fd, buf + got, m->u.newconf.size - got, (off_t)got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        r = n < 0 ? -errno : -EBADMSG;
                else
                        got += (uint64_t)n;
        }
        if (r == 0)
                r = conf_bundle_parse(buf, got, &b);
        free(buf);
        (void)close(fd);
        if (r < 0) {
                portier_log(d->log, LOG_ERR, "privilege separation: cannot read the new "
                            "configuration from the monitor: %s", strerror(-r));
                /* An empty bundle: the load fails like an unreadable main file. */
                if (conf_bundle_new(&b) < 0)
                        lost_monitor(p, -ENOMEM);
        }
        conf_bundle_free(p->bundle);
        p->bundle = b;
        p->streaming = false;
        d->next_generation = m->u.newconf.gen - 1;     /* reload_start() counts it */
        p->reload_granted = true;
        if (reload_start(d) < 0)
                privsep_reloaded(d);    /* nothing will be applied: say so */
}

static int on_event(EvFile *f, uint32_t events)
{
        Privsep *p = container_of(f, Privsep, ev);
        Daemon *d = p->d;

        for (;;) {
                PrivMsg m;
                int fd = -1, r = privmsg_recv(p->ev_fd, &m, &fd, MSG_DONTWAIT);

                if (r == -EAGAIN)
                        break;
                if (r == -EMFILE && (m.type == PRIVMSG_NEWCONF ||
                                     m.type == PRIVMSG_CONFSTREAM)) {
                        /* no room for the memfd: this reload fails (the old configuration
                         * goes on), and the monitor must hear of it */
                        portier_log(d->log, LOG_NOTICE, "Starting reconfiguration");
                        portier_log(d->log, LOG_ERR, "reload failed: out of descriptors for "
                                    "the new configuration; keeping the old configuration");
                        d->next_generation = m.type == PRIVMSG_NEWCONF ? m.u.newconf.gen
                                                                       : m.u.confstream.gen;
                        control_reload_done(d, -EMFILE, NULL);
                        privsep_reloaded(d);
                        continue;
                }
                if (r == -EMFILE && m.type == PRIVMSG_SPAWNED)
                        lost_descriptor(p, &m);         /* started, without its report */
                else if (r < 0)
                        lost_monitor(p, r);
                if (m.type == PRIVMSG_SPAWNED)
                        take_spawned(p, &m, fd);
                else if (m.type == PRIVMSG_EXITED)
                        for (uint32_t i = 0; i < m.u.exited.n; i++)
                                server_exited(d, m.u.exited.e[i].pid, m.u.exited.e[i].status);
                else if (m.type == PRIVMSG_NEWCONF)
                        take_newconf(p, &m, fd);
                else if (m.type == PRIVMSG_CONFSTREAM)
                        take_confstream(p, &m, fd);
                else if (m.type == PRIVMSG_CONFDONE)
                        take_confdone(p, &m);
                else
                        (void)safe_close(fd);
        }
        if (d->stopping && d->running == 0 && reexec_signal_children(d, 0) == 0)
                return EV_EXIT;
        return 0;
}

Privsep *privsep_free(Privsep *p)
{
        if (!p)
                return NULL;
        ev_file_remove(&p->ev);
        (void)safe_close(p->req_fd);
        (void)safe_close(p->ev_fd);
        conf_bundle_free(p->bundle);
        free(p->jobs);
        free(p);
        return NULL;
}

/* Become the privsep user for good: no supplementary groups, no capabilities (they go with
 * uid 0), no way back (checked), no_new_privs, and "/" as the working directory. */
static int drop_privileges(uid_t uid, gid_t gid, char *err, size_t errsize)
{
        const char *step;

        step = "setgroups";
        if (setgroups(0, NULL) < 0)
                goto fail;
        step = "setresgid";
        if (setresgid(gid, gid, gid) < 0)
                goto fail;
        step = "setresuid";
        if (setresuid(uid, uid, uid) < 0)
                goto fail;
        if (setuid(0) == 0 || setgid(0) == 0) {
                snprintf(err, errsize, "privileges could be regained after dropping them");
                return -EPERM;
        }
        step = "PR_SET_NO_NEW_PRIVS";
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                goto fail;
        step = "chdir /";
        if (chdir("/") < 0)
                goto fail;
        return 0;
fail:
        snprintf(err, errsize, "%s failed: %s", step, strerror(errno));
        return -errno;
}

/* The network process: drop, then say hello (the monitor reports readiness on it). */
static int network_setup(Daemon *d, pid_t monitor, uid_t uid, gid_t gid, int req_fd,
                         int ev_fd, char *err, size_t errsize)
{
        Privsep *p = calloc(1, sizeof(*p));
        PrivMsg hello = { .type = PRIVMSG_HELLO }, rep;
        int r, fl;

        if (!p) {
                snprintf(err, errsize, "out of memory");
                return -ENOMEM;
        }
        *p = (Privsep){ .d = d, .req_fd = req_fd, .ev_fd = ev_fd, .ev = EV_FILE_NULL };
        d->privsep = p;
        if ((r = drop_privileges(uid, gid, err, errsize)) < 0)
                return r;
#ifdef __SANITIZE_ADDRESS__
        /* Test builds only: LeakSanitizer stops the process's threads with ptrace, which the
         * user switch forbids (the process became non-dumpable). A production build never
         * does this: a dumpable process could be traced by any other process of its user. */
        (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
        /* The death signal is cleared by the user switch: set it after. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != monitor) {
                snprintf(err, errsize, "the monitor is gone");
                return -ESRCH;
        }
        /* NotifyAccess=main: only the monitor speaks to the service manager. */
        (void)unsetenv("NOTIFY_SOCKET");
        fl = fcntl(ev_fd, F_GETFL);
        if (fl < 0 || fcntl(ev_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
            (r = ev_file_add(d->loop, &p->ev, ev_fd, EPOLLIN, on_event)) < 0) {
                snprintf(err, errsize, "cannot watch the monitor's events: %m");
                return -errno;
        }
        /* The monitor's events are taken before the connections ready in the same turn: a
         * server that exited frees its place under a limit before they are judged (and
         * the START lines come before the refusals that follow them without waiting:
         * service_log_after_spawns()). */
        p->ev.first = true;
        logset_set_opener(d->logs, privsep_open_log, d);
        call(p, &hello, -1, PRIVMSG_RESULT, &rep, NULL);
        return 0;
}

/**
 * privsep_start() - split into monitor and network process (after the first configuration
 * is applied and the control socket is open, before readiness is reported)
 * @d: the daemon
 * @user: the privsep user
 * @pf: the pid file (the monitor removes it at the end)
 * @startup: the start-up report (the monitor reports readiness)
 * @err: receives why the split failed
 * @errsize: its size
 *
 * Return: 0 in the network process, running as @user; -errno when the split failed. The
 * monitor never returns.
 */
int privsep_start(Daemon *d, const char *user, PortierPidfile *pf, PortierDaemon *startup,
                  char *err, size_t errsize)
{
        int req[2], ev[2], r;
        struct passwd *pw;
        pid_t monitor = getpid(), pid;

        errno = 0;
        pw = getpwnam(user);    /* at start, before readiness: may block */
        if (!pw) {
                snprintf(err, errsize, "privilege separation: unknown user '%s'", user);
                return -ESRCH;
        }
        if (pw->pw_uid == 0) {
                snprintf(err, errsize, "privilege separation: user '%s' is root", user);
                return -EINVAL;
        }
        uid_t uid = pw->pw_uid;
        gid_t gid = pw->pw_gid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, req) < 0)
                goto fail;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ev) < 0) {
                (void)close(req[0]);
                (void)close(req[1]);
                goto fail;
        }
        pid = fork();
        if (pid < 0) {
                (void)close(req[0]), (void)close(req[1]), (void)close(ev[0]), (void)close(ev[1]);
                goto fail;
        }
        if (pid > 0) {
                (void)close(req[1]);
                (void)close(ev[1]);
                monitor_run(d, pid, req[0], ev[0], pf, startup);
        }
        (void)close(req[0]);
        (void)close(ev[0]);
        r = network_setup(d, monitor, uid, gid, req[1], ev[1], err, errsize);
        if (r < 0) {
                /* The monitor sees this process exit before its hello and fails the start
                 * with the reason in the daemon log. */
                portier_log(d->log, LOG_ERR, "privilege separation: %s", err);
                _exit(1);
        }
        portier_log(d->log, LOG_INFO, "privilege separation: network process %d runs as "
                    "'%s' (uid %d)", (int)getpid(), user, (int)uid);
        return 0;
fail:
        snprintf(err, errsize, "privilege separation: cannot start: %s", strerror(errno));
        return -errno;
}

/**
 * privsep_take_events() - take the monitor's events waiting now (before a re-exec writes
 * the inventory: the servers that exited are not listed)
 * @d: the daemon
 */
void privsep_take_events(Daemon *d)
{
        (void)on_event(&d->privsep->ev, EPOLLIN);
}

static bool spawns_in_flight(const Privsep *p)
{
        for (uint32_t i = 0; i < p->n_jobs; i++)
                if (p->jobs[i].svc)
                        return true;
        return false;
}

/**
 * privsep_settle() - take the monitor's events until no spawn is in flight (before a
 * re-exec writes the inventory: a server whose start was not reported yet would be missing
 * from it, and its result lost with the socket at the exec)
 * @d: the daemon
 *
 * Blocks the loop for at most SETTLE_MSEC (the spawns are answered in one wake-up of the
 * monitor each).
 *
 * Return: 0, or -EBUSY when spawns are still in flight.
 */
int privsep_settle(Daemon *d)
{
        Privsep *p = d->privsep;
        uint64_t deadline = ev_clock_now() + (uint64_t)SETTLE_MSEC * 1000;

        privsep_take_events(d);
        while (spawns_in_flight(p) && ev_clock_now() < deadline) {
                struct pollfd pfd = { .fd = p->ev_fd, .events = POLLIN };

                (void)poll(&pfd, 1, 100);
                privsep_take_events(d);
        }
        return spawns_in_flight(p) ? -EBUSY : 0;
}

/**
 * privsep_reexec() - ask the monitor to re-execute portierd with this process's state
 * @d: the daemon
 * @memfd: the inventory (the monitor takes the descriptors it names from this process)
 * @size: its size
 *
 * @err: receives the monitor's reason when it did not
 * @errsize: its size
 *
 * Return: 1 when the monitor executed the new image (its end of the request socket closed
 * at the exec: this process is now the old one, and drains), or the monitor's -errno (it
 * refused, or execve() failed: nothing changed).
 */
int privsep_reexec(Daemon *d, int memfd, uint64_t size, char *err, size_t errsize)
{
        Privsep *p = d->privsep;
        PrivMsg req = { .type = PRIVMSG_REEXEC, .u.reexec.size = size }, rep;
        int r, got = -1;

        r = privmsg_send(p->req_fd, &req, memfd);
        if (r < 0)
                lost_monitor(p, r);
        r = privmsg_recv(p->req_fd, &rep, &got, 0);
        (void)safe_close(got);
        if (r == -EPIPE || r == -ECONNRESET)
                return 1;
        if (r < 0 || rep.type != PRIVMSG_REEXEC_FAILED)
                lost_monitor(p, r < 0 ? r : -EPROTO);
        snprintf(err, errsize, "%s", rep.u.reexec_failed.text);
        return rep.u.reexec_failed.result;
}
