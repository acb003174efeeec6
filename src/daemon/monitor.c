/* SPDX-License-Identifier: MIT */
/*
 * monitor.c — privilege separation's root process (privsep.h): the main pid.
 *
 * Its loop watches two descriptors with poll(): the signalfd (signals from outside and
 * SIGCHLD) and the request socket of the network process. It answers each request from its
 * own state, never from the message's word:
 *   - BIND and SPAWN name a generation and a service index: the generation must be one the
 *     monitor loaded and still holds, the index an active service of it; SPAWN needs an exec'd
 *     service (a spawn template), a socket of the service's type, fewer running servers
 *     than -limit, and takes the client's address from the connection itself
 *     (getpeername), the message's only for datagrams;
 *   - SIGNAL names a pid: it must be one of the monitor's running servers (its own children,
 *     reaped here, so the pid cannot have been reused), the signal SIGTERM or SIGKILL;
 *   - OPEN_LOG names a path: it must be -filelog or a log_type FILE of a held generation;
 *   - REEXEC carries the inventory: monitor_reexec.c checks it and executes the new image
 *     (refused while a reload is under way or events wait for the network process).
 * A refused request is answered with an error and logged; the monitor keeps running.
 *
 * Reload (SIGHUP/SIGUSR2 here, or RELOAD from the network process): the monitor loads the
 * configuration recording every file it reads (conf/bundle.h) and sends the bundle in a
 * memfd (NEWCONF); the network process loads the same bytes, applies them and answers
 * RELOADED with the oldest generation its services still use: older ones are dropped. One
 * reload at a time; a request meanwhile is kept for afterwards. sd_notify RELOADING=1 and
 * READY=1 come from here (NotifyAccess=main).
 *
 * Stop: SIGTERM/SIGINT go on to the network process, which ends the servers through SIGNAL
 * requests and exits; then the monitor exits with its status. If the network process dies
 * otherwise, the monitor ends every server (SIGTERM, 5 s, SIGKILL) and exits 1: never half a
 * daemon.
 *
 * The load runs on a worker thread, so spawns are answered meanwhile; events the network
 * process's socket cannot take now are queued (neither side ever blocks on the other's
 * not reading, except the network process on the reply to its own request).
 *
 * Spawns are pipelined (privsep.c): the network process does not wait for their results,
 * so after a burst of connections several SPAWN requests wait here. One wake-up serves all
 * that wait (on_request()) and their results go as one SPAWNED event on the event socket:
 * a failure at once; successes when one of the servers exits (just before its EXITED, so a
 * short-lived server's start and exit wake the network process once), when another kind
 * of request comes, or SPAWNED_HOLD_USEC after the first of them. And while every running
 * server is one whose exit may wait (PRIVMSG_SPAWN_HOLD), SIGCHLD is not waited for up to
 * SPAWNED_HOLD_USEC after a spawn: the next request's wake-up reaps (lazy()).
 */

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "conf/bundle.h"
#include "daemon/control.h"
#include "daemon/access.h"
#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/privmsg.h"
#include "daemon/privsep.h"
#include "daemon/reexec.h"
#include "util.h"

#define END_GRACE_MSEC 5000
#define LOG_MODE 0644
#define REQUESTS_PER_WAKE 64

typedef struct PidSet {
        pid_t *slots;                   /* 0: free; open addressing, linear probing */
        size_t size, n;
} PidSet;

typedef struct Monitor {
        Daemon *d;
        PortierLog *log;
        int req_fd, ev_fd, sig_fd;
        int chld_fd;                    /* signalfd of SIGCHLD alone (see lazy_until) */
        pid_t net_pid;
        int net_status;                 /* wait status, once it is gone */
        bool net_gone, stopping, quitting;
        Generation **gens;              /* held: the network process may name them */
        size_t n_gens;
        unsigned last_gen;
        bool reload_waiting, reload_pending;   /* a reload is under way; another is due */
        /* The load runs on a worker thread: the loop goes on answering spawns meanwhile. */
        int reload_fd;                  /* eventfd: the worker is done */
        pthread_t reload_thread;
        bool reload_running;
        Generation *reload_result;
        int reload_error;
        ConfBundle *reload_bundle;
        int reload_stream;              /* the worker streams the bundle into it (CONFSTREAM),
                                           and closes it; -1: passed whole at the end */
        bool reload_streamed;           /* this reload's bundle went down a stream */
        PidSet servers;
        uint64_t refused;
        /* Events the network process has not taken yet (its socket was full): sent when it
         * is writable again. The monitor never blocks on a network process that does not
         * read, and a reply it does not read is dropped. */
        struct QueuedEvent {
                PrivMsg m;
                int fd;
        } *queue;
        size_t n_queue, queue_allocated;
        /* SPAWNED results not sent yet: held until their server exits (they go with its
         * EXITED), another request but a spawn comes, or spawned_due (ev_clock_now(), µs) */
        PrivMsg spawned;
        uint64_t spawned_due;
        /* Servers whose exit the network process needs at once (a limit counts them, or a
         * wait = yes service listens again after it): every server not started with
         * PRIVMSG_SPAWN_HOLD. While there is none, SIGCHLD is not waited for until
         * lazy_until (ev_clock_now(), µs; 0: not lazy) after a spawn: the exits are reaped
         * when the next request wakes the monitor anyway, so that back-to-back short
         * connections cost it one wake-up fewer each. */
        PidSet prompt;
        uint64_t lazy_until;
        /* Drainers (the old network processes after a re-exec): children, not servers; their
         * exits go to the network process as a server's (reexec_child_exited() there). */
        PidSet drainers;
} Monitor;

/* How long a spawn's success waits for its server's exit, to go in one event with it. */
#define SPAWNED_HOLD_USEC 2000

/* --- the servers' pids ------------------------------------------------------------------ */

static size_t pid_slot(const PidSet *p, pid_t pid)
{
        return ((uint32_t)pid * 2654435761u) & (p->size - 1);
}

static int pidset_add(PidSet *p, pid_t pid)
{
        if ((p->n + 1) * 2 > p->size) {
                PidSet bigger = { .size = p->size ? p->size * 2 : 1024 };

                if (!(bigger.slots = calloc(bigger.size, sizeof(pid_t))))
                        return -ENOMEM;
                for (size_t i = 0; i < p->size; i++)
                        if (p->slots[i])
                                (void)pidset_add(&bigger, p->slots[i]);
                free(p->slots);
                *p = bigger;
        }
        size_t i = pid_slot(p, pid);

        while (p->slots[i])
                i = (i + 1) & (p->size - 1);
        p->slots[i] = pid;
        p->n++;
        return 0;
}

static bool pidset_has(const PidSet *p, pid_t pid)
{
        if (!p->size || pid <= 0)
                return false;
        for (size_t i = pid_slot(p, pid); p->slots[i]; i = (i + 1) & (p->size - 1))
                if (p->slots[i] == pid)
                        return true;
        return false;
}

/* Remove, then move back the entries after it that probing would no longer find. */
static bool pidset_remove(PidSet *p, pid_t pid)
{
        size_t i, j;

        if (!pidset_has(p, pid))
                return false;
        for (i = pid_slot(p, pid); p->slots[i] != pid; i = (i + 1) & (p->size - 1))
                ;
        p->slots[i] = 0;
        p->n--;
        for (j = (i + 1) & (p->size - 1); p->slots[j]; j = (j + 1) & (p->size - 1)) {
                pid_t q = p->slots[j];

                p->slots[j] = 0;
                p->n--;
                (void)pidset_add(p, q);         /* cannot grow: one was just freed */
        }
        return true;
}

/* --- generations ------------------------------------------------------------------------ */

static Generation *held(Monitor *m, uint32_t number)
{
        for (size_t i = 0; i < m->n_gens; i++)
                if (m->gens[i]->number == number)
                        return m->gens[i];
        return NULL;
}

static int hold(Monitor *m, Generation *g)
{
        Generation **v = realloc(m->gens, (m->n_gens + 1) * sizeof(*v));

        if (!v)
                return -ENOMEM;
        m->gens = v;
        m->gens[m->n_gens++] = g;
        return 0;
}

/* The network process no longer uses generations before @oldest; the newest stays. */
static void drop_before(Monitor *m, uint32_t oldest)
{
        size_t k = 0;

        for (size_t i = 0; i < m->n_gens; i++) {
                if (m->gens[i]->number < oldest && m->gens[i]->number != m->last_gen)
                        generation_unref(m->gens[i]);
                else
                        m->gens[k++] = m->gens[i];
        }
        m->n_gens = k;
}

/* The service a request names, or NULL with *why set. */
static const ConfService *named_service(Monitor *m, uint32_t gen, uint32_t index,
                                        Generation **ret_g, const char **why)
{
        Generation *g = held(m, gen);
        const ConfService *cs;

        if (!g) {
                *why = "not a generation of the monitor";
                return NULL;
        }
        if (index >= g->config->n_services) {
                *why = "no such service";
                return NULL;
        }
        cs = g->config->services[index];
        if (cs->state != CONF_SERVICE_ACTIVE) {
                *why = "the service is not active";
                return NULL;
        }
        *ret_g = g;
        return cs;
}

static void refuse(Monitor *m, const char *what, const char *why)
{
        m->refused++;
        portier_log(m->log, LOG_WARNING, "privilege separation: refused the network "
                    "process's request (%s): %s", what, why);
}

static void reply(Monitor *m, const PrivMsg *rep, int fd)
{
        int r = privmsg_send(m->req_fd, rep, fd);

        if (r == -EAGAIN)
                refuse(m, "reply", "the network process does not read its replies; dropped");
        else if (r < 0 && r != -EPIPE && r != -ECONNRESET)
                portier_log(m->log, LOG_ERR, "privilege separation: cannot answer the "
                            "network process: %s", strerror(-r));
}

static void reply_result(Monitor *m, int result)
{
        PrivMsg rep = { .type = PRIVMSG_RESULT, .u.result.result = result };

        reply(m, &rep, -1);
}

/* --- requests --------------------------------------------------------------------------- */

static void do_bind(Monitor *m, const PrivMsg *req)
{
        PrivMsg rep = { .type = PRIVMSG_BOUND };
        ListenerFile file;
        const char *why = NULL;
        Generation *g;
        const ConfService *cs = named_service(m, req->u.bind.gen, req->u.bind.index, &g, &why);
        int fd;

        if (!cs) {
                refuse(m, "bind", why);
                rep.u.bound.result = -EPERM;
                snprintf(rep.u.bound.text, sizeof(rep.u.bound.text), "refused by the monitor: "
                         "%s", why);
                reply(m, &rep, -1);
                return;
        }
        fd = listener_open(cs, 0, &file, rep.u.bound.text, sizeof(rep.u.bound.text));
        rep.u.bound.result = fd < 0 ? fd : 0;
        if (fd >= 0 && file.set)
                rep.u.bound.file = (PrivMsgFile){ .set = 1, .dev = file.dev, .ino = file.ino,
                                                  .ctime_sec = file.ctime.tv_sec,
                                                  .ctime_nsec = file.ctime.tv_nsec };
        reply(m, &rep, fd < 0 ? -1 : fd);
        (void)safe_close(fd);
}

/* A unix service's socket file goes with its service: removed only at the path the
 * monitor's configuration names, only a socket, and only the file the identity names. */
static void do_remove_file(Monitor *m, const PrivMsg *req)
{
        const PrivMsgFile *f = &req->u.remove_file.file;
        const char *why = NULL;
        Generation *g;
        const ConfService *cs = named_service(m, req->u.remove_file.gen,
                                              req->u.remove_file.index, &g, &why);
        ListenerFile file = { .set = true, .dev = (dev_t)f->dev, .ino = (ino_t)f->ino,
                              .ctime = { .tv_sec = f->ctime_sec, .tv_nsec = f->ctime_nsec } };

        if (cs && (cs->family != AF_UNIX || !cs->rare->socket_path))
                why = "not a unix service with a socket file", cs = NULL;
        if (!cs) {
                refuse(m, "remove file", why);
                reply_result(m, -EPERM);
                return;
        }
        listener_remove_file(cs, &file);
        reply_result(m, 0);
}

/* A unix client as the monitor sees it itself: a connection's SO_PEERCRED, or the
 * credentials of the datagram waiting on a dgram socket (SO_PASSCRED, listener.c), peeked
 * at so that the server still reads it. */
static bool unix_client(int fd, const ConfService *cs, struct sockaddr_storage *ret)
{
        AccessUnixPeer p = { .family = AF_UNIX };

        if (cs->socket_type != SOCK_DGRAM ? access_unix_peer_of(fd, &p) < 0
                                          : access_unix_datagram_peer(fd, &p) < 0)
                return false;
        memset(ret, 0, sizeof(*ret));
        memcpy(ret, &p, sizeof(p));
        return true;
}

/* The descriptor a spawn request carries must be a socket of the service's type. */
static bool socket_fits(int fd, const ConfService *cs)
{
        int type;
        socklen_t len = sizeof(type);

        /* (ENOTSOCK for anything but a socket) */
        return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == cs->socket_type;
}

static void send_event(Monitor *m, const PrivMsg *ev, int fd);

/* Send the SPAWNED results gathered so far (one event). */
static void flush_spawned(Monitor *m)
{
        if (m->spawned.u.spawned.n == 0)
                return;
        send_event(m, &m->spawned, -1);
        m->spawned.u.spawned.n = 0;
        m->spawned_due = 0;
}

/*
 * A spawn request's result, into the batch of results not sent yet. A success the request
 * let wait (@hold: no limit of the service counts its servers) waits there for its server's
 * exit (reap()) or SPAWNED_HOLD_USEC, so that a short-lived server costs the network
 * process one wake-up for its start and exit, not two; anything else goes at once.
 * One carrying a descriptor (@fd: libwrap's report pipe, or the connection back after a
 * failed fork) goes alone, after the results before it (the order of the replies is the
 * requests').
 */
static void spawned(Monitor *m, uint32_t id, int result, pid_t pid, const SpawnError *err,
                    int fd, bool hold)
{
        PrivMsg one = { .type = PRIVMSG_SPAWNED, .u.spawned.n = 1 };
        PrivMsg *batch = fd >= 0 ? &one : &m->spawned;
        typeof(one.u.spawned.e[0]) *e;

        if (fd >= 0)
                flush_spawned(m);
        m->spawned.type = PRIVMSG_SPAWNED;
        e = &batch->u.spawned.e[fd >= 0 ? 0 : batch->u.spawned.n++];
        *e = (typeof(*e)){ .id = id, .result = result, .pid = result == 0 ? pid : 0,
                           .step = err->step, .error = err->error, .has_fd = fd >= 0 };
        if (fd >= 0)
                send_event(m, &one, fd);
        else if (m->spawned.u.spawned.n == PRIVMSG_SPAWNED_MAX || result != 0 || !hold)
                flush_spawned(m);
}

static void do_spawn(Monitor *m, const PrivMsg *req, int fd)
{
        const char *why = NULL;
        Generation *g = NULL;
        const ConfService *cs = named_service(m, req->u.spawn.gen, req->u.spawn.index, &g, &why);
        struct sockaddr_storage remote, local;
        socklen_t rlen = sizeof(remote), llen = sizeof(local);
        SpawnPeer sp = { 0 };
        SpawnError err = { 0 };
        pid_t pid = 0;
        int report = -1, r;

        if (cs && !g->templates[req->u.spawn.index])
                why = "not a service with a server to start", cs = NULL;
        if (cs && !socket_fits(fd, cs))
                why = "the descriptor is not a socket of the service's type", cs = NULL;
        /* -limit, kept here too: the network process counts servers until it has taken
         * their exit events, so it always counts at least as many and is never refused */
        if (cs && m->d->opts->limit > 0 && m->servers.n >= (size_t)m->d->opts->limit)
                why = "the -limit of running servers is reached", cs = NULL;
        if (!cs) {
                refuse(m, "spawn", why);
                (void)close(fd);
                spawned(m, req->u.spawn.id, -EPERM, 0, &err, -1, false);
                return;
        }
        sp.tcp = cs->protocol == IPPROTO_TCP;
        if (cs->family == AF_UNIX) {
                /* (a wait = yes stream server gets the listening socket: no client yet) */
                if ((cs->socket_type == SOCK_DGRAM || !cs->wait) &&
                    unix_client(fd, cs, &remote))
                        sp.remote = (struct sockaddr *)&remote;
        } else if (cs->socket_type == SOCK_STREAM) {
                if (getpeername(fd, (struct sockaddr *)&remote, &rlen) == 0) {
                        sp.remote = (struct sockaddr *)&remote;
                        if (sp.tcp && getsockname(fd, (struct sockaddr *)&local, &llen) == 0)
                                sp.local = (struct sockaddr *)&local;
                }
        } else if (privmsg_addr_to_sockaddr(&req->u.spawn.peer, &remote)) {
                sp.remote = (struct sockaddr *)&remote;
        }
        const Banners *b = g->banners[req->u.spawn.index];

        if (b) {
                sp.banner_fail = b->data[BANNER_FAIL];
                sp.banner_fail_len = b->len[BANNER_FAIL];
                sp.banner_success = b->data[BANNER_SUCCESS];
                sp.banner_success_len = req->u.spawn.flags & PRIVMSG_SPAWN_FIRST_TRY
                                                ? b->len[BANNER_SUCCESS] : 0;
        }
        r = spawn_run(g->templates[req->u.spawn.index], fd, &sp, &pid, &err, &report);
        if (r == 0 && (pidset_add(&m->servers, pid) < 0 ||
                       (!(req->u.spawn.flags & PRIVMSG_SPAWN_HOLD) &&
                        pidset_add(&m->prompt, pid) < 0)))
                portier_log(m->log, LOG_ERR, "privilege separation: out of memory recording "
                            "server %d", (int)pid);
        if (r == 0 && req->u.spawn.flags & PRIVMSG_SPAWN_HOLD && m->prompt.n == 0 &&
            m->drainers.n == 0)
                m->lazy_until = ev_clock_now() + SPAWNED_HOLD_USEC;     /* (lazy()) */
        /* the fork failed: a connection goes back for the retry (the network process's
         * copy was closed when it asked; a wait = yes socket is its own) */
        spawned(m, req->u.spawn.id, r, pid, &err,
                r == 0 ? report : err.step == SPAWN_STEP_NONE && listener_accepts(cs) ? fd : -1,
                req->u.spawn.flags & PRIVMSG_SPAWN_HOLD);
        (void)close(fd);
        (void)safe_close(report);
}

static void do_signal(Monitor *m, const PrivMsg *req)
{
        pid_t pid = req->u.signal.pid;
        int sig = req->u.signal.sig;

        if (sig != SIGTERM && sig != SIGKILL) {
                refuse(m, "signal", "only SIGTERM and SIGKILL are sent");
                reply_result(m, -EPERM);
                return;
        }
        if (!pidset_has(&m->servers, pid)) {
                char why[64];

                snprintf(why, sizeof(why), "pid %d is not a running server", (int)pid);
                refuse(m, "signal", why);
                reply_result(m, -ESRCH);
                return;
        }
        /* A server leads its own session and process group: end what it started too. */
        if (kill(-pid, sig) < 0)
                (void)kill(pid, sig);
        reply_result(m, 0);
}

static bool log_path_configured(Monitor *m, const char *path)
{
        const char *filelog = m->d->opts->filelog_path;

        if (filelog && strcmp(filelog, path) == 0)
                return true;
        for (size_t i = 0; i < m->n_gens; i++) {
                const Config *c = m->gens[i]->config;

                if (c->defaults && c->defaults->log_type.kind == CONF_LOG_FILE &&
                    strcmp(c->defaults->log_type.path, path) == 0)
                        return true;
                for (size_t k = 0; k < c->n_services; k++)
                        if (c->services[k]->log_type.kind == CONF_LOG_FILE &&
                            strcmp(c->services[k]->log_type.path, path) == 0)
                                return true;
        }
        return false;
}

static void do_open_log(Monitor *m, const PrivMsg *req)
{
        PrivMsg rep = { .type = PRIVMSG_OPENED };
        int fd;

        if (!log_path_configured(m, req->u.open_log.path)) {
                char why[PRIVMSG_PATH_MAX + 64];

                snprintf(why, sizeof(why), "'%s' is not a log file of the configuration",
                         req->u.open_log.path);
                refuse(m, "open log", why);
                rep.u.opened.result = -EPERM;
                reply(m, &rep, -1);
                return;
        }
        fd = open(req->u.open_log.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
                  LOG_MODE);
        rep.u.opened.result = fd < 0 ? -errno : 0;
        reply(m, &rep, fd);
        (void)safe_close(fd);
}

/* The state dump (SIGUSR1, portierctl dump): the one file the monitor truncates, at the
 * one place it may be. */
static void do_open_dump(Monitor *m)
{
        PrivMsg rep = { .type = PRIVMSG_OPENED };
        _cleanup_free_ char *path = daemon_dump_path(m->d->pidfile_path);
        int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY |
                             O_NOFOLLOW, LOG_MODE) : -1;

        rep.u.opened.result = !path ? -ENOMEM : fd < 0 ? -errno : 0;
        reply(m, &rep, fd);
        (void)safe_close(fd);
}

/* --- reload ----------------------------------------------------------------------------- */

/* The bundle in a sealed memfd: the network process reads exactly what was recorded. */
static int bundle_memfd(const ConfBundle *b, uint64_t *ret_size)
{
        _cleanup_free_ char *buf = NULL;
        size_t size, at = 0;
        int fd, r;

        if ((r = conf_bundle_serialize(b, &buf, &size)) < 0)
                return r;
        fd = memfd_create("portierd-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        while (at < size) {
                ssize_t n = write(fd, buf + at, size - at);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? -errno : -EIO;
                        (void)close(fd);
                        return r;
                }
                at += (size_t)n;
        }
        (void)fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
        *ret_size = size;
        return fd;
}

static void event_failed(Monitor *m, const PrivMsg *ev, int r)
{
        if (!m->net_gone)
                portier_log(m->log, LOG_ERR, "privilege separation: cannot send '%s' to the "
                            "network process: %s", privmsg_type_name(ev->type), strerror(-r));
}

/* Send what waits, in order, until the socket is full again. */
static void flush_events(Monitor *m)
{
        size_t k = 0;

        while (k < m->n_queue) {
                struct QueuedEvent *q = &m->queue[k];
                int r = privmsg_send(m->ev_fd, &q->m, q->fd);

                if (r == -EAGAIN)
                        break;
                if (r < 0)
                        event_failed(m, &q->m, r);
                (void)safe_close(q->fd);
                k++;
        }
        if (k == 0)
                return;
        memmove(m->queue, m->queue + k, (m->n_queue - k) * sizeof(*m->queue));
        m->n_queue -= k;
}

/* Send an event now, or queue it (with a copy of its descriptor) behind those waiting. */
static void send_event(Monitor *m, const PrivMsg *ev, int fd)
{
        int r;

        /* Held results go first: a server's start before its exit, and before a new
         * configuration (whose reload re-checks the servers running). */
        if (ev != &m->spawned)
                flush_spawned(m);
        r = m->n_queue == 0 ? privmsg_send(m->ev_fd, ev, fd) : -EAGAIN;

        if (r == -EAGAIN && !m->net_gone) {
                if (m->n_queue == m->queue_allocated) {
                        size_t n = m->queue_allocated ? m->queue_allocated * 2 : 64;
                        struct QueuedEvent *v = realloc(m->queue, n * sizeof(*v));

                        if (!v) {
                                event_failed(m, ev, -ENOMEM);
                                return;
                        }
                        m->queue = v;
                        m->queue_allocated = n;
                }
                m->queue[m->n_queue].m = *ev;
                m->queue[m->n_queue].fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
                m->n_queue++;
                return;
        }
        if (r < 0)
                event_failed(m, ev, r);
}

static void *reload_worker(void *arg)
{
        Monitor *m = arg;
        GenerationSource src = { .record = m->reload_bundle };
        uint64_t one = 1;

        m->reload_error = generation_load_from(m->d, m->last_gen, &src, &m->reload_result);
        if (m->reload_stream >= 0) {
                /* the end mark comes after everything, the refusals included */
                (void)conf_bundle_stream_end(m->reload_bundle);
                m->reload_stream = safe_close(m->reload_stream);
        }
        /* The eventfd write publishes the result to the loop. */
        if (write(m->reload_fd, &one, sizeof(one)) < 0)
                abort();
        return NULL;
}

/*
 * A pipe the worker streams the bundle into as it loads, so that the network process loads
 * at the same time rather than after it (a reload of 10,000 services took the sum of the two
 * loads). Returns the reading end, or -1: then the bundle goes whole, in a memfd, at the end.
 */
static int stream_bundle(Monitor *m)
{
        int pfd[2];

        m->reload_stream = -1;
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -1;
        (void)fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);     /* fewer wake-ups; best effort */
        if (conf_bundle_stream_to(m->reload_bundle, pfd[1]) < 0) {
                (void)close(pfd[0]);
                (void)close(pfd[1]);
                return -1;
        }
        m->reload_stream = pfd[1];
        return pfd[0];
}

static void reload(Monitor *m)
{
        int r, stream;

        /* (with a stream, the network process may be done before the worker is: a load
         * that failed there at once) */
        if (m->reload_waiting || m->reload_running || m->stopping) {
                m->reload_pending = !m->stopping;
                return;
        }
        (void)portier_notify_reloading();
        if (conf_bundle_new(&m->reload_bundle) < 0) {
                portier_log(m->log, LOG_ERR, "reload failed: out of memory");
                (void)portier_notify(false, "READY=1");
                return;
        }
        m->last_gen++;
        m->reload_result = NULL;
        stream = stream_bundle(m);
        r = -pthread_create(&m->reload_thread, NULL, reload_worker, m);
        if (r < 0) {
                portier_log(m->log, LOG_ERR, "reload failed: cannot start a thread: %s",
                            strerror(-r));
                m->reload_bundle = conf_bundle_free(m->reload_bundle);
                m->reload_stream = safe_close(m->reload_stream);
                (void)safe_close(stream);
                (void)portier_notify(false, "READY=1");
                return;
        }
        m->reload_running = true;
        m->reload_waiting = true;
        m->reload_streamed = stream >= 0;
        if (stream >= 0) {
                PrivMsg ev = { .type = PRIVMSG_CONFSTREAM };

                ev.u.confstream.gen = m->last_gen;
                send_event(m, &ev, stream);
                (void)close(stream);
        }
}

/* The worker is done: hold the generation and pass what was read on (or, when it streamed
 * it, say whether the network process may apply what it loaded from the stream). */
static void reload_loaded(Monitor *m)
{
        PrivMsg ev = { .type = PRIVMSG_NEWCONF };
        bool streamed = m->reload_streamed, held;
        Generation *g;
        uint64_t v;
        int fd;

        if (read(m->reload_fd, &v, sizeof(v)) < 0)
                return;
        (void)pthread_join(m->reload_thread, NULL);
        m->reload_running = false;
        g = m->reload_result;
        m->reload_result = NULL;
        /* Its diagnostics are the network process's to log: it loads the same bytes. */
        held = m->reload_error == 0 && g && g->config && hold(m, g) == 0;
        if (held)
                g = NULL;
        if (streamed) {
                PrivMsg done = { .type = PRIVMSG_CONFDONE };

                done.u.confdone.gen = m->last_gen;
                done.u.confdone.held = held;
                generation_unref(g);
                m->reload_bundle = conf_bundle_free(m->reload_bundle);
                send_event(m, &done, -1);
                if (!m->reload_waiting && m->reload_pending) {
                        m->reload_pending = false;
                        reload(m);
                }
                return;
        }
        generation_unref(g);
        fd = bundle_memfd(m->reload_bundle, &ev.u.newconf.size);
        m->reload_bundle = conf_bundle_free(m->reload_bundle);
        if (fd < 0) {
                portier_log(m->log, LOG_ERR, "reload failed: cannot pass the configuration "
                            "on: %s", strerror(-fd));
                m->reload_waiting = false;
                (void)portier_notify(false, "READY=1");
                return;
        }
        ev.u.newconf.gen = m->last_gen;
        send_event(m, &ev, fd);
        (void)close(fd);
}

static void do_reloaded(Monitor *m, const PrivMsg *req)
{
        reply_result(m, 0);
        if (!m->reload_waiting)
                return;
        m->reload_waiting = false;
        drop_before(m, req->u.reloaded.oldest);
        (void)portier_notify(false, "READY=1");
        /* The load built a whole syntax tree on the worker thread, and the generations
         * dropped are free now: give the pages back (generation_apply() does it too), so
         * that RSS does not climb with each reload of a large configuration. */
        malloc_trim(0);
        if (m->reload_pending && !m->reload_running) {
                m->reload_pending = false;
                reload(m);
        }
}

/* --- re-exec (monitor_reexec.c) ------------------------------------------------------------ */

static bool reexec_is_server(void *userdata, pid_t pid)
{
        return pidset_has(&((Monitor *)userdata)->servers, pid);
}

static bool reexec_is_drainer(void *userdata, pid_t pid)
{
        return pidset_has(&((Monitor *)userdata)->drainers, pid);
}

static bool reexec_is_log_path(void *userdata, const char *path)
{
        return log_path_configured(userdata, path);
}

/* REEXEC: returns only when the new image was not executed (then the pair serves on). */
static void do_reexec(Monitor *m, const PrivMsg *req, int fd)
{
        MonitorReexecChecks c = { .userdata = m, .log = m->log,
                                  .is_server = reexec_is_server,
                                  .is_drainer = reexec_is_drainer,
                                  .is_log_path = reexec_is_log_path };
        PrivMsg rep = { .type = PRIVMSG_REEXEC_FAILED };
        char *err = rep.u.reexec_failed.text;
        size_t errsize = sizeof(rep.u.reexec_failed.text);
        int r, unread = 0;

        if (m->stopping || m->quitting || m->reload_waiting || m->reload_running) {
                snprintf(err, errsize, "%s", m->stopping || m->quitting ?
                         "the daemon is stopping" : "a reload is under way; try again");
                r = -EBUSY;
        } else if (m->n_queue > 0 || m->spawned.u.spawned.n > 0 ||
                   (ioctl(m->ev_fd, SIOCOUTQ, &unread) == 0 && unread > 0)) {
                /* events the network process has not read (or this wake-up's spawn
                 * results, not sent yet): its inventory is out of date, and they would be
                 * lost with the socket at the exec */
                snprintf(err, errsize, "events for the network process are under way; "
                         "try again");
                r = -EAGAIN;
        } else {
                r = monitor_reexec(m->d, m->net_pid, fd, &c, err, errsize);
        }
        refuse(m, "re-exec", err);
        (void)safe_close(fd);
        rep.u.reexec_failed.result = r < 0 ? r : -EPROTO;
        reply(m, &rep, -1);
}

/* After a re-exec: the servers the new image adopted (before the split) are the monitor's
 * children and servers, and the drainers its children. */
static void adopt_children(Monitor *m)
{
        Daemon *d = m->d;
        Reexec *x = d->reexec;

        for (size_t k = 0; k < d->n_services + d->n_retired; k++) {
                Service *s = k < d->n_services ? d->services[k] : d->retired[k - d->n_services];

                for (Server *srv = s->servers; srv; srv = srv->next)
                        (void)pidset_add(&m->servers, srv->pid);
        }
        for (size_t i = 0; x && i < x->n_orphans; i++)
                (void)pidset_add(&m->servers, x->orphans[i].pid);
        for (size_t i = 0; x && i < x->n_drainers; i++)
                (void)pidset_add(&m->drainers, x->drainers[i]);
}

/* One request: answered on the request socket, or (SPAWN) into the SPAWNED batch.
 * Return: false when there is none (EAGAIN, or the end of the stream). */
static bool serve_request(Monitor *m)
{
        PrivMsg req;
        int fd = -1, r = privmsg_recv(m->req_fd, &req, &fd, MSG_DONTWAIT);

        if (r == -EAGAIN || r == -EPIPE || r == -ECONNRESET)
                return false;   /* EOF: its exit comes as SIGCHLD */
        if (r == -EMFILE && req.type == PRIVMSG_SPAWN) {
                portier_log(m->log, LOG_ERR, "privilege separation: out of descriptors: a "
                            "connection to start a server for is lost");
                spawned(m, req.u.spawn.id, -EMFILE, 0, &(SpawnError){ 0 }, -1, false);
                return true;
        }
        if (r < 0) {
                refuse(m, "malformed", strerror(-r));
                reply_result(m, -EBADMSG);
                return true;
        }
        if (req.type != PRIVMSG_SPAWN)
                flush_spawned(m);
        switch (req.type) {
        case PRIVMSG_HELLO:
                reply_result(m, 0);
                break;
        case PRIVMSG_BIND:
                do_bind(m, &req);
                break;
        case PRIVMSG_SPAWN:
                do_spawn(m, &req, fd);
                break;
        case PRIVMSG_SIGNAL:
                do_signal(m, &req);
                break;
        case PRIVMSG_OPEN_LOG:
                do_open_log(m, &req);
                break;
        case PRIVMSG_OPEN_DUMP:
                do_open_dump(m);
                break;
        case PRIVMSG_REMOVE_FILE:
                do_remove_file(m, &req);
                break;
        case PRIVMSG_STATUS:
                /* the decoder let only a one-line STATUS= through: never READY=, MAINPID=
                 * or anything else the service manager acts on */
                r = portier_notify(false, req.u.status.text);
                reply_result(m, r > 0 ? 0 : r);
                break;
        case PRIVMSG_RELOAD:
                reply_result(m, 0);
                reload(m);
                break;
        case PRIVMSG_RELOADED:
                do_reloaded(m, &req);
                break;
        case PRIVMSG_REEXEC:
                do_reexec(m, &req, fd);
                break;
        default:
                (void)safe_close(fd);
                refuse(m, privmsg_type_name(req.type), "not a request");
                reply_result(m, -EBADMSG);
        }
        return true;
}

static void reap(Monitor *m);

/* Every request waiting, up to REQUESTS_PER_WAKE (a forged flood cannot keep the monitor
 * from its signals), their SPAWNED results gathered in as few events as fit (the network
 * process pipelines its spawns, so several wait here after a burst of connections, and one
 * wake-up of each side serves them all); then, in a lazy spell, the exits SIGCHLD was not
 * waited for. send_event() sends held results before any other event, so a server's exit
 * never overtakes its start. */
static void on_request(Monitor *m)
{
        bool was_lazy = m->lazy_until != 0;

        for (int i = 0; i < REQUESTS_PER_WAKE && serve_request(m); i++)
                ;
        /* (awake anyway: the exits SIGCHLD was not waited for) */
        if (was_lazy)
                reap(m);
        if (m->spawned.u.spawned.n > 0 && !m->spawned_due)
                m->spawned_due = ev_clock_now() + SPAWNED_HOLD_USEC;
}

/* --- children and signals --------------------------------------------------------------- */

static void reap(Monitor *m)
{
        PrivMsg ev = { .type = PRIVMSG_EXITED };

        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);

                if (pid < 0 && errno == EINTR)
                        continue;
                if (pid <= 0)
                        break;
                if (pid == m->net_pid) {
                        m->net_gone = true;
                        m->net_status = status;
                        continue;
                }
                (void)pidset_remove(&m->prompt, pid);
                if ((!pidset_remove(&m->servers, pid) && !pidset_remove(&m->drainers, pid)) ||
                    m->net_gone)
                        continue;       /* a spawn that failed, reaped by spawn_run() */
                ev.u.exited.e[ev.u.exited.n].pid = pid;
                ev.u.exited.e[ev.u.exited.n].status = status;
                if (++ev.u.exited.n == PRIVMSG_EXITED_MAX) {
                        send_event(m, &ev, -1);
                        ev.u.exited.n = 0;
                }
        }
        if (ev.u.exited.n > 0 && !m->net_gone)
                send_event(m, &ev, -1);
}

/* SIGCHLD came, or a lazy spell ended: reap. */
static void on_child(Monitor *m)
{
        PortierSignal sig;

        while (portier_signalfd_read(m->chld_fd, &sig) > 0)
                ;
        reap(m);
}

/* SIGCHLD is waited for unless every running server was started with PRIVMSG_SPAWN_HOLD
 * and a spawn was served less than SPAWNED_HOLD_USEC ago (on_request() reaps then). */
static bool lazy(const Monitor *m, uint64_t now)
{
        return m->lazy_until > now && m->prompt.n == 0 && m->drainers.n == 0 &&
               !m->stopping && !m->quitting;
}

/* SIGCHLD on a signalfd of its own (lazy()), the other signals on another: new ones, as
 * the daemon's is the network process's too. Return: 0, or -1 (the daemon's kept). */
static int split_signals(Monitor *m)
{
        sigset_t chld, rest;
        int fd;

        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigemptyset(&rest);
        for (size_t i = 0; i < DAEMON_N_SIGNALS; i++)
                if (daemon_signals[i] != SIGCHLD)
                        sigaddset(&rest, daemon_signals[i]);
        m->chld_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
        fd = signalfd(-1, &rest, SFD_NONBLOCK | SFD_CLOEXEC);
        if (m->chld_fd < 0 || fd < 0) {
                m->chld_fd = safe_close(m->chld_fd);
                (void)safe_close(fd);
                return -1;
        }
        (void)close(m->sig_fd);
        m->sig_fd = m->d->signal_fd = fd;
        return 0;
}

static void on_signal(Monitor *m)
{
        PortierSignal sig;

        while (portier_signalfd_read(m->sig_fd, &sig) > 0) {
                switch (sig.signo) {
                case SIGCHLD:
                        reap(m);
                        break;
                case SIGHUP:
                case SIGUSR2:
                        reload(m);
                        break;
                case SIGTERM:
                case SIGINT:
                        if (!m->stopping)
                                (void)portier_notify(false, "STOPPING=1");
                        m->stopping = true;
                        (void)kill(m->net_pid, SIGTERM);
                        break;
                case SIGQUIT:
                        m->quitting = true;
                        (void)kill(m->net_pid, SIGQUIT);
                        break;
                default:
                        (void)kill(m->net_pid, sig.signo);
                }
        }
}

static void kill_servers(Monitor *m, int sig)
{
        for (size_t i = 0; i < m->servers.size; i++)
                if (m->servers.slots[i] > 0 && kill(-m->servers.slots[i], sig) < 0)
                        (void)kill(m->servers.slots[i], sig);
}

/* The network process is gone: end every server still running (SIGTERM, a grace period,
 * SIGKILL), reaping them. */
static void end_servers(Monitor *m)
{
        uint64_t deadline;

        if (m->servers.n == 0)
                return;
        portier_log(m->log, LOG_NOTICE, "privilege separation: ending %zu servers",
                    m->servers.n);
        kill_servers(m, SIGTERM);
        deadline = ev_clock_now() + (uint64_t)END_GRACE_MSEC * 1000;
        while (m->servers.n > 0 && ev_clock_now() < deadline) {
                struct pollfd p = { .fd = m->chld_fd, .events = POLLIN };

                (void)poll(&p, 1, 100);
                on_child(m);
        }
        kill_servers(m, SIGKILL);
        for (int i = 0; i < 20 && m->servers.n > 0; i++) {
                reap(m);
                if (m->servers.n > 0)
                        (void)usleep(10000);
        }
}

/* Close what the network process serves on: a listening socket kept here would stay bound
 * after the network process closed it at a reload. And let go of the services' hold on the
 * first configuration: the monitor holds the generations it needs itself (hold()), so the
 * first one is freed once the network process no longer uses it. (The rest of this copy of
 * the daemon's start-up state is never touched again: its epoll instance and its other
 * descriptors are shared with the network process, so nothing of it is torn down here.) */
static void close_network_side(Daemon *d)
{
        for (size_t i = 0; i < d->n_services; i++) {
                if (d->services[i]->fd >= 0)
                        (void)close(d->services[i]->fd);
                d->services[i]->gen = generation_unref(d->services[i]->gen);
        }
        reexec_drop_held(d);    /* after a re-exec: the network process adopts them */
}

/* The network process cannot remove the control socket from a directory only root may
 * write (/run): the monitor does, if a socket is still there. */
static void remove_control_socket(Daemon *d)
{
        const char *path = control_socket_path(d->control);
        struct stat st;

        if (path && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                (void)unlink(path);
}

static int wait_hello(Monitor *m)
{
        struct pollfd p = { .fd = m->req_fd, .events = POLLIN };
        PrivMsg req;
        int fd = -1, r;

        /* Until the hello, a dead network process is all there is to see (EOF). */
        do
                r = poll(&p, 1, -1);
        while (r < 0 && errno == EINTR);
        if (r < 0)
                return -errno;
        r = privmsg_recv(m->req_fd, &req, &fd, MSG_DONTWAIT);
        (void)safe_close(fd);
        if (r < 0)
                return r;
        if (req.type != PRIVMSG_HELLO)
                return -EPROTO;
        reply_result(m, 0);
        return 0;
}

_Noreturn void monitor_run(Daemon *d, pid_t net_pid, int req_fd, int ev_fd,
                           PortierPidfile *pf, PortierDaemon *startup)
{
        Monitor m = { .d = d, .log = d->log, .req_fd = req_fd, .ev_fd = ev_fd,
                      .sig_fd = d->signal_fd, .chld_fd = -1, .net_pid = net_pid,
                      .reload_stream = -1 };
        int status = 1, r;

        adopt_children(&m);     /* (before the first configuration's services go) */
        m.last_gen = d->gen->number;
        if (hold(&m, d->gen) < 0)       /* takes over d->gen's reference */
                generation_unref(d->gen);       /* (no generation held: fails below) */
        d->gen = NULL;
        close_network_side(d);
        m.reload_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        r = split_signals(&m);
        /* Neither socket may block the monitor (flush_events(), reply()). */
        (void)fcntl(req_fd, F_SETFL, fcntl(req_fd, F_GETFL) | O_NONBLOCK);
        (void)fcntl(ev_fd, F_SETFL, fcntl(ev_fd, F_GETFL) | O_NONBLOCK);
        if (m.reload_fd < 0 || r < 0 || m.n_gens == 0 || (r = wait_hello(&m)) < 0) {
                (void)kill(net_pid, SIGKILL);
                (void)waitpid(net_pid, NULL, 0);
                portier_log(m.log, LOG_ERR, "privilege separation: the network process did "
                            "not start");
                (void)portier_daemon_fail(startup, 1, "privilege separation: the network "
                                          "process did not start (see the daemon log)");
                (void)portier_pidfile_remove(pf);
                _exit(1);
        }
        (void)portier_daemon_ready(startup);
        while (!m.net_gone) {
                uint64_t now = ev_clock_now();
                bool lazy_now = lazy(&m, now);
                struct pollfd p[5] = { { .fd = m.sig_fd, .events = POLLIN },
                                       { .fd = m.req_fd, .events = POLLIN },
                                       { .fd = m.reload_fd, .events = POLLIN },
                                       { .fd = m.ev_fd, .events = m.n_queue ? POLLOUT : 0 },
                                       { .fd = m.chld_fd, .events = lazy_now ? 0 : POLLIN } };
                uint64_t due = m.spawned_due;
                struct timespec ts, *timeout = NULL;

                if (lazy_now && (!due || m.lazy_until < due))
                        due = m.lazy_until;
                if (due) {
                        uint64_t left = due > now ? due - now : 0;

                        ts = (struct timespec){ left / 1000000, left % 1000000 * 1000 };
                        timeout = &ts;
                }
                if (ppoll(p, 5, timeout, NULL) < 0 && errno != EINTR)
                        break;
                now = ev_clock_now();
                if (m.spawned_due && now >= m.spawned_due)
                        flush_spawned(&m);
                if (p[3].revents)
                        flush_events(&m);
                if (p[1].revents)
                        on_request(&m);
                if (p[2].revents)
                        reload_loaded(&m);
                if (p[0].revents)
                        on_signal(&m);
                /* SIGCHLD, or the end of a lazy spell (or of its reason: a prompt server,
                 * a drainer, the stop) */
                if (p[4].revents || (m.lazy_until && !lazy(&m, now))) {
                        if (!lazy(&m, now))
                                m.lazy_until = 0;
                        on_child(&m);
                }
        }
        if (m.reload_running)
                (void)pthread_join(m.reload_thread, NULL);
        if (m.net_gone && WIFEXITED(m.net_status) && (m.stopping || m.quitting ||
                                                      WEXITSTATUS(m.net_status) != 0))
                status = WEXITSTATUS(m.net_status);
        if (!m.stopping && !m.quitting) {
                portier_log(m.log, LOG_ERR, "privilege separation: the network process %d "
                            "ended (%s %d); stopping", (int)net_pid,
                            WIFSIGNALED(m.net_status) ? "signal" : "status",
                            WIFSIGNALED(m.net_status) ? WTERMSIG(m.net_status)
                                                      : WEXITSTATUS(m.net_status));
                (void)portier_notify(false, "STOPPING=1");
                status = 1;
        }
        if (!m.quitting)
                end_servers(&m);
        remove_control_socket(d);
        (void)portier_pidfile_remove(pf);
        portier_daemon_free(startup);
        _exit(status);
}
