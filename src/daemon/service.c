/* SPDX-License-Identifier: MIT */
/*
 * service.c — a service at run time: its listening socket, accepting, admission, dispatch.
 *
 * The connection flow (DESIGN.md "How a connection flows"): the socket is readable; a
 * `wait = no` stream service accepts a bounded batch (fairness across services: the loop is
 * level-triggered), and each connection passes admission — the global -limit
 * (process_limit), then `instances` (service_limit) — before anything is spawned. A refused
 * connection costs no process: it gets the FAIL line and is closed. An admitted one gets its
 * server through spawn_run() and the START line.
 *
 * A `wait = yes` service (and any datagram service) hands its socket to the server and stops
 * watching it until that server exits; a datagram socket is then drained (xinetd's rule, so
 * that a datagram the server left does not start another server at once).
 *
 * On EMFILE/ENFILE the service stops watching its socket and looks again 100 ms later,
 * instead of spinning on a connection it cannot accept.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/userid.h"
#include "util.h"

#define ACCEPT_BATCH 32
#define BIND_RETRY_USEC (5 * EV_USEC_PER_SEC)          /* xinetd's RETRY_INTERVAL */
#define EMFILE_PAUSE_USEC (100 * EV_USEC_PER_MSEC)
#define DRAIN_MAX 256
#define FORK_RETRY_USEC (1 * EV_USEC_PER_SEC)
#define FORK_TRIES 5                    /* xinetd's MAX_FORK_FAILURES */

static const char *const refusal_reasons[_REFUSE_MAX] = {
        [REFUSE_ADDRESS] = "address",
        [REFUSE_TIME] = "time",
        [REFUSE_FORK] = "fork",
        [REFUSE_SERVICE_LIMIT] = "service_limit",
        [REFUSE_PER_SOURCE_LIMIT] = "per_source_limit",
        [REFUSE_PROCESS_LIMIT] = "process_limit",
        [REFUSE_LIBWRAP] = "libwrap",
        [REFUSE_LOAD] = "load",
        [REFUSE_CPS] = "connections per second",
};

const char *refusal_reason(Refusal r)
{
        return r < _REFUSE_MAX ? refusal_reasons[r] : "unknown";
}

const char *service_state_name(ServiceState st)
{
        switch (st) {
        case SERVICE_LISTENING:
                return "listening";
        case SERVICE_SUSPENDED:
                return "suspended (server running)";
        case SERVICE_BIND_RETRY:
                return "waiting to retry bind";
        case SERVICE_RETIRED:
                return "retired";
        }
        return "?";
}

static bool takes_connections(const ConfService *cs)
{
        return cs->socket_type == SOCK_STREAM && !cs->wait;
}

/**
 * service_new() - a run-time service for a configured one (no socket yet)
 * @d: the daemon
 * @g: the generation the configuration comes from (a reference is taken)
 * @index: the service's index in g->config
 *
 * Return: the service, or NULL when out of memory.
 */
Service *service_new(Daemon *d, Generation *g, size_t index)
{
        Service *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->d = d;
        s->fd = -1;
        s->ev = EV_FILE_NULL;
        s->retry = EV_TIMER_NULL;
        s->fork_timer = EV_TIMER_NULL;
        s->state = SERVICE_BIND_RETRY;
        s->gen = generation_ref(g);
        s->conf = g->config->services[index];
        s->spawn = g->templates[index];
        s->banners = g->banners[index];
        (void)logset_target(d->logs, &s->conf->log_type, &s->log);
        (void)listener_key(s->conf, s->key, sizeof(s->key));
        return s;
}

/**
 * service_close() - stop listening (the socket is closed; running servers go on)
 * @s: the service
 */
void service_close(Service *s)
{
        ev_file_remove(&s->ev);
        ev_timer_disarm(&s->retry);
        s->fd = safe_close(s->fd);
}

/**
 * service_free() - free a service without servers
 * @s: the service, or NULL
 *
 * Return: NULL.
 */
Service *service_free(Service *s)
{
        Daemon *d;

        if (!s)
                return NULL;
        d = s->d;
        for (size_t i = 0; i < d->n_retired; i++)
                if (d->retired[i] == s) {
                        d->retired[i] = d->retired[--d->n_retired];
                        break;
                }
        userid_cancel_service(s);
        service_drop_fork_retries(s);
        service_close(s);
        generation_unref(s->gen);
        free(s);
        return NULL;
}

static void service_log(Service *s, const char *line, size_t len)
{
        logset_write(s->d->logs, &s->log, line, len);
}

/* Banners go out without blocking: what the socket buffer does not take is cut (a banner
 * is read at load time and bounded; loopback and LAN buffers take far more). */
static void send_banner(const Service *s, int fd, BannerKind k)
{
        if (s->banners && s->banners->len[k] > 0)
                (void)send(fd, s->banners->data[k], s->banners->len[k],
                           MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Only connections accepted by the daemon have an ident answer to ask for (as in xinetd). */
static bool wants_userid(const Service *s, unsigned log_flags)
{
        return (log_flags & CONF_LOG_USERID) && takes_connections(s->conf);
}

static void refuse(Service *s, int fd, const struct sockaddr *peer, Refusal why, const char *from)
{
        char line[512];

        s->counters.refused[why]++;
        if (logline_wants_fail(s->conf->log_on_failure)) {
                size_t n = logline_fail(line, sizeof(line), s->conf->id, refusal_reason(why),
                                        s->conf->log_on_failure, from);

                service_log(s, line, n);
        }
        if (fd >= 0 && peer)
                send_banner(s, fd, BANNER_FAIL);
        if (fd >= 0 && peer && wants_userid(s, s->conf->log_on_failure)) {
                struct sockaddr_storage local;
                socklen_t llen = sizeof(local);

                if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0) {
                        /* The lookup holds the connection, so the identd still knows it. */
                        (void)userid_start(s, USERID_AFTER_FAIL, fd, peer,
                                           (struct sockaddr *)&local, from);
                        return;
                }
        }
        if (fd >= 0)
                (void)close(fd);
}

/* Admission: the checks that cost nothing, in xinetd's order. Access rules come here.
 * A refused connection is closed (or held for an ident lookup) here. */
static bool admit(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        const Options *o = s->d->opts;

        if (o->limit > 0 && s->d->running >= (uint32_t)o->limit) {
                refuse(s, fd, peer, REFUSE_PROCESS_LIMIT, from);
                return false;
        }
        if (s->conf->instances != CONF_UNLIMITED && s->running + s->gated >= s->conf->instances) {
                refuse(s, fd, peer, REFUSE_SERVICE_LIMIT, from);
                return false;
        }
        return true;
}

static int fork_retry_due(EvTimer *t);

/* vfork() failed: keep a connection for another try, unless NORETRY or the queue is full.
 * Return: true when the queue took the descriptor. */
static bool queue_fork_retry(Service *s, int fd, const struct sockaddr *peer, const char *from,
                             unsigned tries)
{
        ForkRetry *fr;

        if ((s->conf->flags & CONF_FLAG_NORETRY) || tries >= FORK_TRIES || !peer ||
            !takes_connections(s->conf) || s->n_fork_retry == FORK_RETRY_MAX)
                return false;
        fr = &s->fork_retry[s->n_fork_retry++];
        fr->fd = fd;
        memcpy(&fr->peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                              : sizeof(struct sockaddr_in));
        snprintf(fr->from, sizeof(fr->from), "%s", from ? from : "");
        fr->tries = tries;
        if (!ev_timer_armed(&s->fork_timer))
                ev_timer_arm_in(s->d->loop, &s->fork_timer, FORK_RETRY_USEC, fork_retry_due);
        return true;
}

/* Start the server; log START (and begin the USERID lookup) or the failure. Return: true
 * when the descriptor was kept for a fork retry (the caller must not close it). */
static bool spawn_and_log_try(Service *s, int fd, const struct sockaddr *peer, const char *from,
                              bool lookup, unsigned tries)
{
        struct sockaddr_storage local;
        socklen_t llen = sizeof(local);
        SpawnPeer sp = { .remote = peer, .tcp = s->conf->protocol == IPPROTO_TCP };
        SpawnError err = { 0 };
        char line[512];
        pid_t pid;
        int r;

        if (peer && sp.tcp && getsockname(fd, (struct sockaddr *)&local, &llen) == 0)
                sp.local = (struct sockaddr *)&local;
        if (tries == 0 && takes_connections(s->conf))
                send_banner(s, fd, BANNER_SUCCESS);     /* before the server can write */
        r = spawn_run(s->spawn, fd, &sp, &pid, &err);
        if (r < 0) {
                s->counters.spawn_failed++;
                if (err.step != SPAWN_STEP_NONE) {
                        portier_log(s->d->log, LOG_ERR, "service '%s': cannot start '%s': "
                                    "%s failed: %s", s->conf->id, s->spawn->path,
                                    spawn_step_name(err.step), strerror(err.error));
                        return false;
                }
                /* vfork() itself failed: out of processes or memory. */
                portier_log(s->d->log, LOG_ERR, "service '%s': cannot fork: %s", s->conf->id,
                            strerror(-r));
                if (queue_fork_retry(s, fd, peer, from, tries + 1))
                        return true;
                refuse(s, -1, NULL, REFUSE_FORK, from);
                return false;
        }
        s->counters.started++;
        if (!server_add(s->d, s, pid))
                portier_log(s->d->log, LOG_ERR, "service '%s': out of memory recording "
                            "server %d", s->conf->id, (int)pid);
        if (logline_wants_start(s->conf->log_on_success)) {
                size_t n = logline_start(line, sizeof(line), s->conf->id,
                                         s->conf->log_on_success, pid, from);

                service_log(s, line, n);
        }
        if (lookup && sp.local && wants_userid(s, s->conf->log_on_success))
                (void)userid_start(s, USERID_LOG, -1, peer, sp.local, from);
        return false;
}

static bool spawn_and_log(Service *s, int fd, const struct sockaddr *peer, const char *from,
                          bool lookup)
{
        return spawn_and_log_try(s, fd, peer, from, lookup, 0);
}

static int fork_retry_due(EvTimer *t)
{
        Service *s = container_of(t, Service, fork_timer);
        ForkRetry queue[FORK_RETRY_MAX];
        size_t n = s->n_fork_retry;

        /* Take the queue: failures re-queue themselves with one more try counted. */
        memcpy(queue, s->fork_retry, n * sizeof(ForkRetry));
        s->n_fork_retry = 0;
        for (size_t i = 0; i < n; i++) {
                ForkRetry *fr = &queue[i];

                if (!spawn_and_log_try(s, fr->fd, (struct sockaddr *)&fr->peer, fr->from,
                                       true, fr->tries))
                        (void)close(fr->fd);
        }
        return 0;
}

/**
 * service_drop_fork_retries() - close the connections waiting for a fork retry
 * @s: the service (stopping, retired or freed)
 */
void service_drop_fork_retries(Service *s)
{
        ev_timer_disarm(&s->fork_timer);
        for (size_t i = 0; i < s->n_fork_retry; i++)
                (void)close(s->fork_retry[i].fd);
        s->n_fork_retry = 0;
}

/**
 * service_start_server() - start the server of an admitted connection; log START
 * @s: the service
 * @fd: the connection (wait = no) or the socket (wait = yes); the caller closes it
 * @peer: the client, or NULL when unknown
 * @from: the client as text, or NULL
 *
 * Used by the IDONLY gate once the identd answered (the gate writes the USERID line).
 */
void service_start_server(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        if (!spawn_and_log(s, fd, peer, from, false))
                return;
        /* Queued for a fork retry with a descriptor the caller closes: keep a copy. */
        s->fork_retry[s->n_fork_retry - 1].fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (s->fork_retry[s->n_fork_retry - 1].fd < 0)
                s->n_fork_retry--;
}

static int resume_after_pause(EvTimer *t)
{
        Service *s = container_of(t, Service, retry);

        if (s->fd >= 0 && s->state == SERVICE_LISTENING)
                (void)ev_file_set_events(&s->ev, EPOLLIN);
        return 0;
}

static void accept_batch(Service *s)
{
        for (int i = 0; i < ACCEPT_BATCH; i++) {
                struct sockaddr_storage peer;
                socklen_t plen = sizeof(peer);
                char from[INET6_ADDRSTRLEN] = "";
                int fd = accept4(s->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);

                if (fd < 0) {
                        switch (errno) {
                        case EAGAIN:
                                return;
                        case EINTR:
                        case ECONNABORTED:
                        case EPROTO:
                        case EPERM:
                                continue;
                        case EMFILE:
                        case ENFILE:
                        case ENOBUFS:
                        case ENOMEM:
                                portier_log(s->d->log, LOG_WARNING, "service '%s': cannot "
                                            "accept: %m; pausing", s->conf->id);
                                (void)ev_file_set_events(&s->ev, 0);
                                ev_timer_arm_in(s->d->loop, &s->retry, EMFILE_PAUSE_USEC,
                                                resume_after_pause);
                                return;
                        default:
                                portier_log(s->d->log, LOG_ERR, "service '%s': accept: %m",
                                            s->conf->id);
                                return;
                        }
                }
                s->counters.accepted++;
                (void)spawn_format_addr((struct sockaddr *)&peer, from, sizeof(from), NULL);
                send_banner(s, fd, BANNER_ALWAYS);
                if (!admit(s, fd, (struct sockaddr *)&peer, from))
                        continue;
                if ((s->conf->flags & CONF_FLAG_IDONLY) &&
                    wants_userid(s, s->conf->log_on_success)) {
                        struct sockaddr_storage local;
                        socklen_t llen = sizeof(local);

                        /* IDONLY: the identd's answer decides; the connection waits. */
                        if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0)
                                (void)close(fd);
                        else
                                (void)userid_start(s, USERID_GATE, fd, (struct sockaddr *)&peer,
                                                   (struct sockaddr *)&local, from);
                        continue;
                }
                if (!spawn_and_log(s, fd, (struct sockaddr *)&peer, from, true))
                        (void)close(fd);
        }
}

/* Discard what is queued on a datagram socket (bounded). */
static void drain(int fd)
{
        char buf[64];

        for (int i = 0; i < DRAIN_MAX; i++)
                if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0)
                        return;
}

/* wait = yes, or datagrams: the server gets the socket itself. */
static void hand_over(Service *s)
{
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        char from[INET6_ADDRSTRLEN] = "";
        const struct sockaddr *p = NULL;

        if (s->conf->socket_type == SOCK_DGRAM) {
                char c;

                if (recvfrom(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&peer, &plen) < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                drain(s->fd);   /* an ICMP error queued on the socket */
                        return;
                }
                p = (struct sockaddr *)&peer;
                (void)spawn_format_addr(p, from, sizeof(from), NULL);
        }
        s->counters.accepted++;
        if (!admit(s, -1, NULL, p ? from : NULL)) {
                if (s->conf->socket_type == SOCK_DGRAM)
                        (void)recv(s->fd, &(char){ 0 }, 1, MSG_DONTWAIT);
                else
                        (void)ev_file_set_events(&s->ev, 0);    /* resumed by an exit */
                return;
        }
        (void)spawn_and_log(s, s->fd, p, p ? from : NULL, false);
        if (s->running > 0) {
                (void)ev_file_set_events(&s->ev, 0);
                s->state = SERVICE_SUSPENDED;
        }
}

static int on_readable(EvFile *f, uint32_t events)
{
        Service *s = container_of(f, Service, ev);

        if (takes_connections(s->conf))
                accept_batch(s);
        else
                hand_over(s);
        return 0;
}

static int retry_bind(EvTimer *t)
{
        Service *s = container_of(t, Service, retry);

        if (service_listen(s) == 0)
                portier_log(s->d->log, LOG_NOTICE, "service '%s': listening now",
                            s->conf->id);
        return 0;
}

/**
 * service_listen() - open the socket and watch it; on failure, retry every 5 s
 * @s: the service
 *
 * Return: 0, or the -errno of the failure (s->bind_error says what failed; the retry is armed).
 */
int service_listen(Service *s)
{
        int fd = listener_open(s->conf, s->bind_error, sizeof(s->bind_error));
        int r;

        if (fd < 0) {
                s->state = SERVICE_BIND_RETRY;
                ev_timer_arm_in(s->d->loop, &s->retry, BIND_RETRY_USEC, retry_bind);
                return fd;
        }
        r = ev_file_add(s->d->loop, &s->ev, fd, EPOLLIN, on_readable);
        if (r < 0) {
                snprintf(s->bind_error, sizeof(s->bind_error), "cannot watch the socket: %s",
                         strerror(-r));
                (void)close(fd);
                s->state = SERVICE_BIND_RETRY;
                ev_timer_arm_in(s->d->loop, &s->retry, BIND_RETRY_USEC, retry_bind);
                return r;
        }
        s->fd = fd;
        s->bind_error[0] = '\0';
        s->state = s->running > 0 && !takes_connections(s->conf) ? SERVICE_SUSPENDED
                                                                  : SERVICE_LISTENING;
        if (s->state == SERVICE_SUSPENDED)
                (void)ev_file_set_events(&s->ev, 0);
        return 0;
}

/* Attributes that live in the socket itself: a change needs a new socket. */
static bool socket_differs(const ConfService *a, const ConfService *b)
{
        return a->wait != b->wait || a->socket_type != b->socket_type ||
               a->backlog != b->backlog || a->v6only != b->v6only ||
               (a->flags & (CONF_FLAG_NODELAY | CONF_FLAG_KEEPALIVE)) !=
                       (b->flags & (CONF_FLAG_NODELAY | CONF_FLAG_KEEPALIVE));
}

/**
 * service_update() - take a reloaded definition with the same key
 * @s: the service
 * @g: the new generation
 * @index: the service's index in it
 *
 * The socket stays open (unless an attribute of the socket itself changed), so no
 * connection waiting in its queue is lost. Running servers keep the settings they started
 * with; new ones get the new definition.
 */
void service_update(Service *s, Generation *g, size_t index)
{
        const ConfService *old = s->conf, *cs = g->config->services[index];
        bool reopen = socket_differs(old, cs);
        Generation *prev = s->gen;

        s->gen = generation_ref(g);
        s->conf = cs;
        s->spawn = g->templates[index];
        s->banners = g->banners[index];
        (void)logset_target(s->d->logs, &cs->log_type, &s->log);
        generation_unref(prev);
        if (reopen && s->fd >= 0) {
                service_close(s);
                (void)service_listen(s);
        }
}

/**
 * service_retire() - a reload removed the service: close it; end its servers
 * @s: the service (no longer in d->services)
 *
 * Its servers get SIGTERM, as xinetd ends the servers of removed services. The service is
 * freed at once when none runs, else when the last one is reaped.
 */
void service_retire(Service *s)
{
        Daemon *d = s->d;

        userid_cancel_service(s);
        service_drop_fork_retries(s);
        service_close(s);
        if (s->running == 0) {
                service_free(s);
                return;
        }
        Service **v = realloc(d->retired, (d->n_retired + 1) * sizeof(*v));

        if (v) {
                d->retired = v;
                d->retired[d->n_retired++] = s;
        }
        s->state = SERVICE_RETIRED;
        server_kill_service(s, SIGTERM);
}

/* After an exit frees a slot, services paused by -limit or instances listen again. */
static void resume_paused(Daemon *d)
{
        for (size_t i = 0; i < d->n_services; i++) {
                Service *s = d->services[i];

                if (s->state == SERVICE_LISTENING && s->fd >= 0 && s->ev.events == 0 &&
                    !ev_timer_armed(&s->retry))
                        (void)ev_file_set_events(&s->ev, EPOLLIN);
        }
}

/**
 * service_server_exited() - account for a server that exited; write the EXIT line
 * @s: its service
 * @srv: its record (released by the caller afterwards)
 * @status: the waitpid() status
 */
void service_server_exited(Service *s, Server *srv, int status)
{
        char line[512];

        s->counters.exited++;
        if (logline_wants_exit(s->conf->log_on_success)) {
                size_t n = logline_exit(line, sizeof(line), s->conf->id, s->conf->log_on_success,
                                        status, srv->pid, (long)(time(NULL) - srv->started));

                service_log(s, line, n);
        }
        if (s->state == SERVICE_SUSPENDED && s->running <= 1) {
                if (s->conf->socket_type == SOCK_DGRAM && s->fd >= 0)
                        drain(s->fd);
                s->state = SERVICE_LISTENING;
                if (s->fd >= 0)
                        (void)ev_file_set_events(&s->ev, EPOLLIN);
        }
        if (s->d->opts->limit > 0 || s->conf->instances != CONF_UNLIMITED)
                resume_paused(s->d);
}
