/* SPDX-License-Identifier: MIT */
/*
 * service.c — a service at run time: its listening socket, accepting, dispatch, its servers'
 * exits, and reloads.
 *
 * The connection flow (DESIGN.md "How a connection flows"): the socket is readable; a
 * `wait = no` stream service accepts a bounded batch (fairness across services: the loop is
 * level-triggered), and each connection passes admission (admit.c) before anything is
 * spawned. A refused connection costs no process. An admitted one gets banner_success, the
 * IDONLY gate when configured (userid.c), then its server through spawn_run() and the START
 * line.
 *
 * A `wait = yes` service (and any datagram service) hands its socket to the server and stops
 * watching it until that server exits; a datagram socket is then drained (xinetd's rule, so
 * that a datagram the server left does not start another server at once). When its server
 * cannot be started at all, the datagrams are dropped too and the socket rests a second.
 *
 * On EMFILE/ENFILE the service stops watching its socket and looks again 100 ms later, or
 * as soon as a connection portierd serves itself ends (it had descriptors),
 * instead of spinning on a connection it cannot accept (the loop is level-triggered: the
 * queued connection would report the socket readable at once, forever). It says so once per
 * shortage, and once when the shortage is over (its queue emptied).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/builtin.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/privsep.h"
#include "daemon/redirect.h"
#include "daemon/revdns.h"
#include "daemon/timewin.h"
#include "daemon/userid.h"
#include "util.h"

#define ACCEPT_BATCH 32
#define BIND_RETRY_USEC (5 * EV_USEC_PER_SEC)          /* xinetd's RETRY_INTERVAL */
#define EMFILE_PAUSE_USEC (100 * EV_USEC_PER_MSEC)
#define DRAIN_MAX 256
#define FORK_RETRY_USEC (1 * EV_USEC_PER_SEC)
#define REST_USEC (1 * EV_USEC_PER_SEC)          /* wait = yes: refused, or no server */
#define FORK_TRIES 5                    /* xinetd's MAX_FORK_FAILURES */

const char *service_state_name(ServiceState st)
{
        switch (st) {
        case SERVICE_LISTENING:
                return "listening";
        case SERVICE_SUSPENDED:
                return "suspended (server running)";
        case SERVICE_BIND_RETRY:
                return "waiting to retry bind";
        case SERVICE_CPS_OFF:
                return "off (over its cps)";
        case SERVICE_RETIRED:
                return "retired";
        case SERVICE_MUX:
                return "reached through tcpmux";
        }
        return "?";
}

static bool takes_connections(const ConfService *cs)
{
        return listener_accepts(cs);
}

#define SOURCES_DEFAULT_CAPACITY 4096

/* per_source and per_source_cps need a table of sources, sized once (DESIGN.md decision 8):
 * twice max_connections, so that live sources always fit with room for rate state. A table
 * that exists is kept across reloads: the slots of running servers live in it. */
static void ensure_sources(Service *s)
{
        const ConfService *cs = s->conf;
        uint32_t maxc = s->gen->config->max_connections;
        size_t cap = maxc ? 2 * (size_t)maxc : SOURCES_DEFAULT_CAPACITY;
        int r;

        if (s->sources || (cs->per_source == CONF_UNLIMITED && !cs->per_source_cps_rate) ||
            !takes_connections(cs))
                return;
        r = ratelimit_table_new(cap, RATELIMIT_V6_PREFIX_DEFAULT, &s->sources);
        if (r < 0)
                portier_log(s->d->log, LOG_ERR, "service '%s': cannot allocate its table of "
                            "sources: %s; per_source and per_source_cps are not enforced",
                            cs->id, strerror(-r));
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
        s->state = SERVICE_BIND_RETRY;
        s->conf = g->config->services[index];
        /* (kept apart: 40 bytes that 10,000 TCP services would carry for nothing) */
        if (s->conf->family == AF_UNIX && s->conf->rare->socket_path[0] == '/' &&
            !(s->file = calloc(1, sizeof(*s->file)))) {
                free(s);
                return NULL;
        }
        s->gen = generation_ref(g);
        s->index = (uint32_t)index;
        s->spawn = g->templates[index];
        s->banners = g->banners[index];
        (void)logset_target(d->logs, &s->conf->log_type, &s->log);
        s->key_hash = listener_key_hash(s->conf);
        ensure_sources(s);
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
 * service_remove_socket_file() - a unix service goes for good (removed by a reload, or the
 * daemon stops): remove its socket file if it is still the one it created. Not in a re-exec's
 * drainer: the new image listens on those files.
 * @s: the service
 */
void service_remove_socket_file(Service *s)
{
        if (s->file && s->file->set && !s->d->draining) {
                if (s->d->privsep)
                        privsep_remove_file(s->d, s, s->file);
                else
                        listener_remove_file(s->conf, s->file);
        }
}

void service_log(Service *s, const char *line, size_t len)
{
        logset_write(s->d->logs, &s->log, line, len);
}

struct HeldLine {
        struct HeldLine *next;
        uint64_t after;                 /* goes once this many spawns are answered */
        size_t len;
        char text[];
};

/**
 * service_log_after_spawns() - log a line about a connection after the START lines of the
 * servers started for earlier ones
 * @s: the service
 * @line: the line
 * @len: its length
 *
 * Under privilege separation a server's START is logged when the monitor's result comes,
 * and the network process goes on accepting meanwhile: the FAIL of a connection refused
 * at the limit that server filled could be written first. Such a line waits for the
 * answers to the spawns asked before it (flush_held_lines()), not for later ones, so that
 * the log keeps xinetd's order (START for a connection, then what happened to those after
 * it) and a busy service never keeps it waiting. FAIL lines are at most FAIL_LINES_PER_SEC
 * a second, so few wait; without memory the line is written at once.
 */
void service_log_after_spawns(Service *s, const char *line, size_t len)
{
        struct HeldLine *h;

        if (service_spawns_in_flight(s) == 0 || !(h = malloc(sizeof(*h) + len))) {
                service_log(s, line, len);
                return;
        }
        h->next = NULL;
        h->after = s->spawns_asked;
        h->len = len;
        memcpy(h->text, line, len);
        if (!s->held_lines)
                s->held_tail = &s->held_lines;
        *s->held_tail = h;
        s->held_tail = &h->next;
}

/* Write the lines whose spawns have been answered (all of them: @all). */
static void flush_held_lines(Service *s, bool all)
{
        while (s->held_lines && (all || s->held_lines->after <= s->spawns_answered)) {
                struct HeldLine *h = s->held_lines;

                s->held_lines = h->next;
                service_log(s, h->text, h->len);
                free(h);
        }
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
        revdns_cancel_service(s);
        service_drop_fork_retries(s);
        service_close(s);
        flush_held_lines(s, true);
        if (s->fail_report)
                ev_timer_disarm(&s->fail_report->timer);
        free(s->fail_report);
        ratelimit_table_free(s->sources);
        generation_unref(s->gen);
        free(s->fork_queue);
        free(s->bind_error);
        free(s->file);
        free(s);
        return NULL;
}

static int fork_retry_due(EvTimer *t);
static void rest_after_spawn_failure(Service *s);

/* Act on what a libwrap child reported, once (the pipe is then closed). */
static void take_report(Service *s, Server *srv)
{
        char buf[1 + sizeof(SpawnError)];
        ssize_t n = read(srv->report_fd, buf, sizeof(buf));

        if (n >= 1 && buf[0] == SPAWN_REPORT_LIBWRAP) {
                portier_log(s->d->log, LOG_INFO, "libwrap refused connection to %s (libwrap=%s) "
                            "from %s", s->conf->id, s->spawn->libwrap, srv->from);
                admit_refuse(s, -1, NULL, REFUSE_LIBWRAP, srv->from);
        } else if (n == (ssize_t)sizeof(buf) && buf[0] == SPAWN_REPORT_ERROR) {
                SpawnError e;

                memcpy(&e, buf + 1, sizeof(e));
                s->counters.spawn_failed++;
                portier_log(s->d->log, LOG_ERR, "service '%s': cannot start '%s': %s failed: "
                            "%s", s->conf->id, s->spawn->path, spawn_step_name(e.step),
                            strerror(e.error));
        } else if (n < 0 && errno == EAGAIN) {
                return;         /* nothing yet: wait for more */
        }
        ev_file_remove(&srv->report_ev);
        srv->report_fd = safe_close(srv->report_fd);
}

static int on_report(EvFile *f, uint32_t events)
{
        Server *srv = container_of(f, Server, report_ev);

        take_report(srv->svc, srv);
        return 0;
}

static void watch_report(Service *s, Server *srv, int fd, const char *from)
{
        int fl = fcntl(fd, F_GETFL);

        if (fl >= 0)
                (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        srv->report_fd = fd;
        snprintf(srv->from, sizeof(srv->from), "%s", from ? from : "");
        if (ev_file_add(s->d->loop, &srv->report_ev, fd, EPOLLIN, on_report) < 0)
                take_report(s, srv);    /* cannot watch it: read what is there */
}

/* vfork() failed: keep a connection for another try, unless NORETRY or the queue is full.
 * Return: true when the queue took the descriptor. */
static bool queue_fork_retry(Service *s, int fd, const struct sockaddr *peer, const char *from,
                             unsigned tries)
{
        ForkQueue *q = s->fork_queue;
        ForkRetry *fr;

        if ((s->conf->flags & CONF_FLAG_NORETRY) || tries >= FORK_TRIES || !peer ||
            !takes_connections(s->conf) || (q && q->n == FORK_RETRY_MAX))
                return false;
        if (!q) {
                if (!(q = s->fork_queue = calloc(1, sizeof(*q))))
                        return false;
                q->svc = s;
                q->timer = EV_TIMER_NULL;
        }
        fr = &q->e[q->n++];
        fr->fd = fd;
        memcpy(&fr->peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                              : sizeof(struct sockaddr_in));
        snprintf(fr->from, sizeof(fr->from), "%s", from ? from : "");
        fr->tries = tries;
        if (!ev_timer_armed(&q->timer))
                ev_timer_arm_in(s->d->loop, &q->timer, FORK_RETRY_USEC, fork_retry_due);
        return true;
}

/*
 * The server of a spawn was started, or could not be: log START (and begin the USERID
 * lookup) or the failure. A connection (wait = no stream) is taken over: closed once the
 * server has it, queued for a fork retry, or refused.
 */
static void spawn_finish(SpawnJob *j, int r, pid_t pid, const SpawnError *err, int report_fd)
{
        Service *s = j->svc;
        const struct sockaddr *peer = j->has_peer ? (struct sockaddr *)&j->peer : NULL;
        const char *from = j->has_from ? j->from : NULL;
        Server *srv;
        char line[512];

        if (r < 0 && j->held)
                ratelimit_source_release(s->sources, &j->key, ev_now(s->d->loop));
        if (r < 0) {
                s->counters.spawn_failed++;
                if (err->step != SPAWN_STEP_NONE) {
                        portier_log(s->d->log, LOG_ERR, "service '%s': cannot start '%s': "
                                    "%s failed: %s", s->conf->id, s->spawn->path,
                                    spawn_step_name(err->step), strerror(err->error));
                        goto done;
                }
                /* vfork() itself failed: out of processes or memory. */
                portier_log(s->d->log, LOG_ERR, "service '%s': cannot fork: %s", s->conf->id,
                            strerror(-r));
                /* (not for a service retired or a daemon stopping while the spawn was under
                 * way: nothing would serve the retry) */
                if (j->fd >= 0 && s->state != SERVICE_RETIRED && !s->d->stopping &&
                    queue_fork_retry(s, j->fd, peer, from, j->tries + 1)) {
                        j->fd = -1;     /* the queue's now */
                        goto done;
                }
                admit_refuse(s, -1, NULL, REFUSE_FORK, from);
                goto done;
        }
        s->counters.started++;
        srv = server_add(s->d, s, pid);
        if (!srv) {
                portier_log(s->d->log, LOG_ERR, "service '%s': out of memory recording "
                            "server %d", s->conf->id, (int)pid);
                (void)safe_close(report_fd);
        } else {
                if (report_fd >= 0)
                        watch_report(s, srv, report_fd, from);
                if (j->held) {
                        srv->src = j->key;
                        srv->src_held = true;
                }
                srv->has_client = peer && access_addr_from_sockaddr(peer, &srv->client) == 0;
        }
        if (logline_wants_start(s->conf->log_on_success)) {
                size_t n = logline_start(line, sizeof(line), s->conf->id,
                                         s->conf->log_on_success, pid, from);

                service_log(s, line, n);
        }
        if (j->lookup && j->has_local && admit_wants_userid(s, s->conf->log_on_success))
                (void)userid_start(s, USERID_LOG, -1, peer, (struct sockaddr *)&j->local,
                                   from);
done:
        if (j->fd >= 0)
                (void)close(j->fd);
        if (j->after_start)
                service_log(s, j->after_start, strlen(j->after_start));
        if (j->after_owned)
                free((char *)j->after_start);
}

/*
 * Start the server: synchronously (spawn_run()), or under privilege separation by a request
 * to the monitor whose result comes later as an event (service_spawn_done()): the network
 * process goes on accepting meanwhile, and the monitor serves the requests of a burst in one
 * wake-up. A connection (wait = no stream) is taken over; a wait = yes socket stays the
 * caller's.
 */
static void spawn_and_log_try(Service *s, int fd, const struct sockaddr *peer, const char *from,
                              bool lookup, unsigned tries, const char *after)
{
        socklen_t llen = sizeof(struct sockaddr_storage);
        SpawnPeer sp = { .remote = peer, .tcp = s->conf->protocol == IPPROTO_TCP };
        SpawnError err = { 0 };
        SpawnJob j = { .svc = s, .fd = takes_connections(s->conf) ? fd : -1, .tries = tries,
                       .lookup = lookup, .has_from = from != NULL, .after_start = after };
        pid_t pid = 0;
        int r, report_fd = -1;

        /* (under privilege separation the monitor asks for the server's variables itself:
         * here the local address is only wanted for an ident lookup) */
        if (peer && sp.tcp &&
            (!s->d->privsep || (lookup && admit_wants_userid(s, s->conf->log_on_success))) &&
            getsockname(fd, (struct sockaddr *)&j.local, &llen) == 0) {
                sp.local = (struct sockaddr *)&j.local;
                j.has_local = true;
        }
        j.held = peer && s->sources && s->conf->per_source != CONF_UNLIMITED &&
                 takes_connections(s->conf);
        if (j.held && !admit_take_source_slot(s, fd, peer, from, &j.key)) {
                if (after)
                        service_log(s, after, strlen(after));
                return;
        }
        /* banner_success before the server can write; with libwrap, the child sends it once
         * hosts_access() has let the client in (DESIGN.md decision 4). */
        /* TCPMUXPLUS: the daemon acknowledges for the server (RFC 1078's "+"). */
        if (tries == 0 && (s->conf->type & CONF_TYPE_TCPMUXPLUS) && takes_connections(s->conf))
                (void)send(fd, "+Go\r\n", 5, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (tries == 0 && takes_connections(s->conf) && !s->spawn->libwrap)
                admit_send_banner(s, fd, BANNER_SUCCESS);
        if (peer) {
                j.has_peer = true;
                memcpy(&j.peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                      : peer->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                   : sizeof(j.peer));
        }
        if (from) {     /* (j.from is zeroed: the copy stays terminated) */
                size_t n = strnlen(from, sizeof(j.from) - 1);

                memcpy(j.from, from, n);
        }
        if (s->d->privsep) {
                /* the line waits for the result: the job keeps a copy (written now if
                 * there is no memory for one) */
                if (after && !(j.after_start = strdup(after)))
                        service_log(s, after, strlen(after));
                j.after_owned = j.after_start != NULL;
                privsep_spawn_send(s->d, &j, fd, tries == 0);
                s->spawns_asked++;
                s->running++;
                s->d->running++;
                return;
        }
        if (s->banners) {
                sp.banner_fail = s->banners->data[BANNER_FAIL];
                sp.banner_fail_len = s->banners->len[BANNER_FAIL];
                sp.banner_success = s->banners->data[BANNER_SUCCESS];
                sp.banner_success_len = tries == 0 ? s->banners->len[BANNER_SUCCESS] : 0;
        }
        r = spawn_run(s->spawn, fd, &sp, &pid, &err, &report_fd);
        spawn_finish(&j, r, pid, &err, report_fd);
}

static void recheck_running(Service *s, const Server *only);

/**
 * service_spawn_done() - privilege separation: the monitor's result of a spawn request
 * @j: the request's job (its connection taken over)
 * @r: 0, or spawn_run()'s error
 * @pid: the server, when started
 * @err: the failed step
 * @report_fd: libwrap's report pipe, or -1 (taken over)
 *
 * A server started for a service that was retired or for a daemon that is stopping
 * meanwhile is ended at once, as its fellows were; one whose request went before a reload
 * that has been applied meanwhile gets the reload's re-check of running servers; a wait =
 * yes service whose server could not be started listens again after a rest, as after a
 * synchronous failure.
 */
void service_spawn_done(SpawnJob *j, int r, pid_t pid, SpawnError err, int report_fd)
{
        Service *s = j->svc;
        Daemon *d = s->d;

        s->spawns_answered++;
        s->running--;
        d->running--;
        if (r < 0 && err.step > SPAWN_STEP_EXEC)
                err = (SpawnError){ SPAWN_STEP_NONE, 0 };
        spawn_finish(j, r, pid, &err, report_fd);
        flush_held_lines(s, false);
        if (r == 0 && (s->state == SERVICE_RETIRED || d->stopping)) {
                (void)privsep_signal(d, pid, SIGTERM);
        } else if (r == 0 && j->gen != s->gen->number) {
                /* admitted under the rules a reload has replaced meanwhile: re-checked as
                 * the servers running at the reload were */
                for (Server *srv = s->servers; srv; srv = srv->next)
                        if (srv->pid == pid)
                                recheck_running(s, srv);
        } else if (r < 0 && !takes_connections(s->conf) && s->state == SERVICE_SUSPENDED &&
                   s->running == 0) {
                s->state = SERVICE_LISTENING;
                if (s->fd >= 0)
                        rest_after_spawn_failure(s);
        }
        if (r < 0 && s->state == SERVICE_RETIRED && s->running == 0)
                service_free(s);
        else if (r < 0 && (d->opts->limit > 0 || s->conf->instances != CONF_UNLIMITED))
                service_resume_paused(d);
}

/* Serve an admitted connection: a built-in on the loop, a redirect's proxy, else its
 * server. */
static void spawn_and_log(Service *s, int fd, const struct sockaddr *peer, const char *from,
                          bool lookup)
{
        if (s->conf->kind == CONF_KIND_INTERNAL) {
                builtin_serve(s, fd, peer, from);
                return;
        }
        if (s->conf->kind == CONF_KIND_REDIRECT) {
                redirect_start(s, fd, peer, from);
                return;
        }
        spawn_and_log_try(s, fd, peer, from, lookup, 0, NULL);
}

static int fork_retry_due(EvTimer *t)
{
        ForkQueue *q = container_of(t, ForkQueue, timer);
        Service *s = q->svc;
        ForkRetry queue[FORK_RETRY_MAX];
        size_t n = q->n;

        /* Take the queue: failures re-queue themselves with one more try counted. */
        memcpy(queue, q->e, n * sizeof(ForkRetry));
        q->n = 0;
        for (size_t i = 0; i < n; i++) {
                ForkRetry *fr = &queue[i];

                spawn_and_log_try(s, fr->fd, (struct sockaddr *)&fr->peer, fr->from, true,
                                  fr->tries, NULL);
        }
        return 0;
}

/**
 * service_queue_fork_retry() - after a re-exec: queue a connection handed over from the old
 * image's fork retry queue
 * @s: the service
 * @fd: the connection, taken over
 * @peer: the client
 * @from: the client as text
 * @tries: the tries it had
 *
 * Return: true when queued; false when it cannot be (@fd is still the caller's).
 */
bool service_queue_fork_retry(Service *s, int fd, const struct sockaddr *peer, const char *from,
                              unsigned tries)
{
        return queue_fork_retry(s, fd, peer, from, tries);
}

/**
 * service_drop_fork_retries() - close the connections waiting for a fork retry
 * @s: the service (stopping, retired or freed)
 */
void service_drop_fork_retries(Service *s)
{
        ForkQueue *q = s->fork_queue;

        if (!q)
                return;
        ev_timer_disarm(&q->timer);
        for (size_t i = 0; i < q->n; i++)
                (void)close(q->e[i].fd);
        q->n = 0;
}

/**
 * service_start_server() - start the server of an admitted connection; log START
 * @s: the service
 * @fd: the connection, taken over (closed once the server has it)
 * @peer: the client, or NULL when unknown
 * @from: the client as text, or NULL
 *
 * @after: a line to log after START, or NULL (the gate's USERID line; under privilege
 *         separation START comes with the monitor's result, later)
 *
 * Used by the IDONLY gate once the identd answered.
 */
void service_start_server(Service *s, int fd, const struct sockaddr *peer, const char *from,
                          const char *after)
{
        if (s->conf->kind == CONF_KIND_SERVER) {
                spawn_and_log_try(s, fd, peer, from, false, 0, after);
                return;
        }
        spawn_and_log(s, fd, peer, from, false);
        if (after)
                service_log(s, after, strlen(after));
}

static int resume_after_pause(EvTimer *t)
{
        Service *s = container_of(t, Service, retry);

        if (s->fd >= 0 && s->state == SERVICE_LISTENING)
                (void)ev_file_set_events(&s->ev, EPOLLIN);
        return 0;
}

/* A connection that passed admission: the IDONLY gate, or its server. */
static void admitted(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        if ((s->conf->flags & CONF_FLAG_IDONLY) && admit_wants_userid(s, s->conf->log_on_success)) {
                struct sockaddr_storage local;
                socklen_t llen = sizeof(local);

                /* IDONLY: the identd's answer decides; the connection waits. */
                if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0)
                        (void)close(fd);
                else
                        (void)userid_start(s, USERID_GATE, fd, peer, (struct sockaddr *)&local,
                                           from);
                return;
        }
        spawn_and_log(s, fd, peer, from, true);
}

/**
 * service_admit_with_name() - admission goes on once the client's name is known
 * @s: the service
 * @fd: the held connection, taken over
 * @peer: the client
 * @from: the client as text
 * @name: its name from the reverse lookup, "" when it has none
 */
void service_admit_with_name(Service *s, int fd, const struct sockaddr *peer, const char *from,
                             const char *name)
{
        const ConfService *cs = s->conf;

        if (s->state == SERVICE_RETIRED || s->d->stopping) {
                (void)close(fd);
                return;
        }
        if (access_check(&cs->only_from, &cs->no_access, peer, name) != ACCESS_ALLOW) {
                admit_refuse(s, fd, peer, REFUSE_ADDRESS, from);
                return;
        }
        if (!admit_source_rate(s, fd, peer, from))
                return;
        admitted(s, fd, peer, from);
}

/**
 * service_dispatch() - admission, then the server, for a connection the daemon accepted for
 * another service (tcpmux hands over the connections for TCPMUX services this way)
 * @s: the service
 * @fd: the connection, taken over
 * @peer: the client
 * @from: the client as text
 */
void service_dispatch(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        s->counters.accepted++;
        admit_send_banner(s, fd, BANNER_ALWAYS);
        if (admit_connection(s, fd, peer, from))
                admitted(s, fd, peer, from);
}

/* A unix service's client is its credentials (access.h, AccessUnixPeer), not its address;
 * its supplementary groups count for the service's gid: rules. */
static void unix_client(const Service *s, int fd, struct sockaddr_storage *peer)
{
        AccessUnixPeer p;

        (void)access_unix_peer_of(fd, &p);
        access_unix_peer_groups(fd, &s->conf->only_from, &s->conf->no_access, &p);
        memset(peer, 0, sizeof(*peer));
        memcpy(peer, &p, sizeof(p));
}

static void accept_batch(Service *s)
{
        for (int i = 0; i < ACCEPT_BATCH; i++) {
                if (admit_defer_at_limit(s))
                        return;
                struct sockaddr_storage peer;
                socklen_t plen = sizeof(peer);
                char from[INET6_ADDRSTRLEN] = "";
                int fd = accept4(s->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);

                if (fd < 0) {
                        switch (errno) {
                        case EAGAIN:
                                /* The queue is empty: a shortage is over only now (while
                                 * clients come and go at the limit, it pauses again and
                                 * again, and says so once). */
                                if (s->accept_paused) {
                                        s->accept_paused = false;
                                        portier_log(s->d->log, LOG_NOTICE, "service '%s': "
                                                    "accepting again", s->conf->id);
                                }
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
                                /* Said once per shortage, not at every look 100 ms apart. */
                                if (!s->accept_paused)
                                        portier_log(s->d->log, LOG_WARNING, "service '%s': "
                                                    "cannot accept: %m; pausing until it "
                                                    "can", s->conf->id);
                                s->accept_paused = true;
                                s->d->accept_short = true;
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
                if (s->conf->family == AF_UNIX)
                        unix_client(s, fd, &peer);
                (void)spawn_format_addr((struct sockaddr *)&peer, from, sizeof(from), NULL);
                admit_send_banner(s, fd, BANNER_ALWAYS);
                if (s->conf->kind == CONF_KIND_SENSOR) {
                        admit_sensor_hit(s, fd, (struct sockaddr *)&peer, from);
                        continue;
                }
                if (!admit_connection(s, fd, (struct sockaddr *)&peer, from)) {
                        if (s->fd < 0)          /* cps closed the socket */
                                return;
                        continue;
                }
                admitted(s, fd, (struct sockaddr *)&peer, from);
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

/*
 * A wait = yes stream socket whose waiting connection was refused (access_times, max_load)
 * stays readable: look at it again a second later (the connection is refused again, or served
 * once the rules let it in), neither at once, forever, nor never.
 *
 * The server of a wait = yes or datagram service could not be started (fork or exec failed).
 * What waits on the socket keeps it readable, and the level-triggered loop would try again at
 * once, forever: drop the datagrams (as when a server exits) and rest a second before looking
 * at the socket again.
 */
static void rest(Service *s)
{
        (void)ev_file_set_events(&s->ev, 0);
        ev_timer_arm_in(s->d->loop, &s->retry, REST_USEC, resume_after_pause);
}

static void rest_after_spawn_failure(Service *s)
{
        if (s->conf->socket_type == SOCK_DGRAM)
                drain(s->fd);
        rest(s);
}

/*
 * The client of the datagram waiting on a unix dgram socket: the credentials the kernel
 * attached to it (SO_PASSCRED is set on the socket: listener.c), peeked at, so that the
 * server still reads the datagram. A datagram carries no connection: these are its sender's
 * at the time it was sent.
 */
static ssize_t unix_datagram_client(const Service *s, int fd, struct sockaddr_storage *peer)
{
        AccessUnixPeer p;
        ssize_t n = access_unix_datagram_peer(fd, &p);

        if (n < 0) {
                errno = (int)-n;
                return -1;
        }
        /* no supplementary groups come with a datagram */
        access_unix_peer_groups(-1, &s->conf->only_from, &s->conf->no_access, &p);
        memset(peer, 0, sizeof(*peer));
        memcpy(peer, &p, sizeof(p));
        return n;
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

                if ((s->conf->family == AF_UNIX ? unix_datagram_client(s, s->fd, &peer)
                                                : recvfrom(s->fd, &c, 1,
                                                           MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC,
                                                           (struct sockaddr *)&peer, &plen)) < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                drain(s->fd);   /* an ICMP error queued on the socket */
                        return;
                }
                p = (struct sockaddr *)&peer;
                (void)spawn_format_addr(p, from, sizeof(from), NULL);
                if (s->conf->kind == CONF_KIND_SENSOR) {
                        s->counters.accepted++;
                        (void)recv(s->fd, &(char){ 0 }, 1, MSG_DONTWAIT);
                        admit_sensor_hit(s, -1, p, from);
                        return;
                }
        }
        s->counters.accepted++;
        uint64_t at_limit = s->counters.refused[REFUSE_SERVICE_LIMIT] +
                            s->counters.refused[REFUSE_PROCESS_LIMIT];

        if (!admit_connection(s, -1, p, p ? from : NULL)) {
                if (s->conf->socket_type == SOCK_DGRAM)
                        (void)recv(s->fd, &(char){ 0 }, 1, MSG_DONTWAIT);
                else if (s->counters.refused[REFUSE_SERVICE_LIMIT] +
                         s->counters.refused[REFUSE_PROCESS_LIMIT] != at_limit)
                        (void)ev_file_set_events(&s->ev, 0);    /* resumed by an exit */
                else if (s->fd >= 0 && !ev_timer_armed(&s->retry))
                        rest(s);        /* access_times, max_load: no exit will resume it */
                return;
        }
        uint64_t started = s->counters.started;
        uint64_t asked = s->spawns_asked;

        spawn_and_log(s, s->fd, p, p ? from : NULL, false);
        /* (under privilege separation the spawn is under way: the service waits for it,
         * suspended, and a failure resumes it: service_spawn_done()) */
        if (s->counters.started == started && s->spawns_asked == asked) {
                rest_after_spawn_failure(s);
                return;
        }
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
        else if (s->conf->kind == CONF_KIND_INTERNAL)
                builtin_datagrams(s);
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

static int reserve_reached(Service *s, char *err, size_t size)
{
        snprintf(err, size, "not opened: %d descriptors in use, the rest of the descriptor "
                 "limit (RLIMIT_NOFILE) is kept for connections", s->d->listener_fd_max);
        return -EMFILE;
}

/*
 * Open the service's socket unless it would take one of the descriptors kept for connections
 * (daemon.c). listener_open() checks the descriptor socket() gave before anything is bound:
 * a port never accepts for a moment only to reset, and no system call is spent on a probe.
 */
static int open_within_reserve(Service *s, char *err, size_t size)
{
        int fd;

        if (s->d->privsep) {
                /* the monitor creates it (a unix socket's file too, with its owner and
                 * mode) and says which file it made */
                fd = privsep_bind(s->d, s, s->file, err, size);
        } else {
                fd = listener_open(s->conf, s->d->listener_fd_max, s->file, err, size);
        }

        return fd == -EMFILE && s->d->listener_fd_max > 0 ? reserve_reached(s, err, size) : fd;
}

static int watch(Service *s);

/**
 * service_listen() - open the socket and watch it; on failure, retry every 5 s
 * @s: the service
 *
 * Return: 0, or the -errno of the failure (s->bind_error says what failed; the retry is armed).
 */
int service_listen(Service *s)
{
        char err[256];
        int fd;

        if (reexec_cps_pause(s))        /* after a reexec: still off for its cps */
                return 0;
        fd = reexec_take_fd(s->d, s->conf);     /* after a reexec: the socket it kept */

        if (fd < 0)
                fd = open_within_reserve(s, err, sizeof(err));
        else if (s->file)
                listener_identify_file(s->conf, s->file);

        free(s->bind_error);
        s->bind_error = NULL;
        if (fd < 0) {
                s->bind_error = strdup(err);
                s->state = SERVICE_BIND_RETRY;
                ev_timer_arm_in(s->d->loop, &s->retry, BIND_RETRY_USEC, retry_bind);
                return fd;
        }
        s->fd = fd;
        if (s->d->watch_later) {
                s->state = SERVICE_LISTENING;
                return 0;
        }
        return watch(s);
}

/* Watch the open socket s->fd; on failure, close it and retry later. */
static int watch(Service *s)
{
        int r = ev_file_add(s->d->loop, &s->ev, s->fd, EPOLLIN, on_readable);

        if (r < 0) {
                if (asprintf(&s->bind_error, "cannot watch the socket: %s", strerror(-r)) < 0)
                        s->bind_error = NULL;
                (void)close(s->fd);
                s->fd = -1;
                s->state = SERVICE_BIND_RETRY;
                ev_timer_arm_in(s->d->loop, &s->retry, BIND_RETRY_USEC, retry_bind);
                return r;
        }
        s->state = s->running > 0 && !takes_connections(s->conf) ? SERVICE_SUSPENDED
                                                                  : SERVICE_LISTENING;
        if (s->state == SERVICE_SUSPENDED)
                (void)ev_file_set_events(&s->ev, 0);
        return 0;
}

/**
 * service_watch_all() - watch the sockets opened at start
 * @d: the daemon
 *
 * At start the sockets are opened, bound and listening before portierd says it is ready,
 * and added to epoll only afterwards (with 10,000 services that is a tenth of the start):
 * a connection that comes in between waits in the socket's queue, as under socket
 * activation, and is accepted by the first turn of the loop, which runs after this.
 */
void service_watch_all(Daemon *d)
{
        d->watch_later = false;
        for (size_t i = 0; i < d->n_services; i++) {
                Service *s = d->services[i];

                if (s->fd >= 0 && !s->ev.added && watch(s) < 0)
                        portier_log(d->log, LOG_ERR, "service '%s': %s; retried in 5 s",
                                    s->conf->id, s->bind_error ? s->bind_error
                                                               : "cannot watch the socket");
        }
}

/*
 * xinetd re-applies its checks to the servers already running when it reloads, and ends
 * those that now fail: clients the new address rules or access_times refuse, and servers
 * beyond a lowered `instances` (the most recent ones). Ended with SIGTERM. @only: just that
 * server (one whose start was reported after the reload), or NULL for all.
 */
static void recheck_running(Service *s, const Server *only)
{
        const ConfService *cs = s->conf;
        bool times_ok = true;
        uint32_t keep = cs->instances, n = 0;

        if (cs->n_access_times) {
                time_t t = time(NULL);
                struct tm tm;

                times_ok = !localtime_r(&t, &tm) ||
                           timewin_contains_tm(cs->access_times, cs->n_access_times, &tm);
        }
        /* s->servers lists the newest first: keep the oldest `instances`. */
        if (keep != CONF_UNLIMITED)
                for (Server *srv = s->servers; srv; srv = srv->next)
                        n++;
        for (Server *srv = s->servers; srv; srv = srv->next, n--) {
                bool end = !times_ok || (keep != CONF_UNLIMITED && n > keep);

                if (only && srv != only)
                        continue;
                if (!end && srv->has_client && (cs->only_from.set || cs->no_access.n_addrs))
                        end = access_check_addr(&cs->only_from, &cs->no_access, &srv->client,
                                                NULL) == ACCESS_DENY;
                if (end)
                        server_signal(s, srv, SIGTERM);
        }
}

/**
 * service_update() - take a reloaded definition with the same key
 * @s: the service
 * @g: the new generation
 * @index: the service's index in it
 *
 * The socket stays open and is adjusted in place (only a change of IPV6_V6ONLY needs a new
 * one), so no connection waiting in its queue is lost. Running servers keep the settings they started
 * with; new ones get the new definition.
 */
void service_update(Service *s, Generation *g, size_t index)
{
        const ConfService *old = s->conf, *cs = g->config->services[index];
        Generation *prev = s->gen;
        bool reopen = s->fd >= 0 &&
                      listener_update(s->fd, old, cs, s->state == SERVICE_SUSPENDED) == -EAGAIN;

        s->gen = generation_ref(g);
        s->conf = cs;
        s->index = (uint32_t)index;
        s->spawn = g->templates[index];
        s->banners = g->banners[index];
        (void)logset_target(s->d->logs, &cs->log_type, &s->log);
        generation_unref(prev);
        ensure_sources(s);
        recheck_running(s, NULL);
        inproc_recheck(s);
        if (reopen) {
                service_close(s);
                (void)service_listen(s);
        }
}

/**
 * service_take_socket() - a reloaded service takes over the socket of a removed one that
 * listened on the same address (a renamed service, ports swapped between services)
 * @s: the new service, without a socket
 * @old: the removed one
 *
 * Return: 0, or -errno (then @s opens its own socket).
 */
int service_take_socket(Service *s, Service *old)
{
        int fd = old->fd, r;

        if (fd < 0 || old->state == SERVICE_SUSPENDED)
                return -EBUSY;
        ev_file_remove(&old->ev);
        old->fd = -1;
        if (s->file && old->file) {     /* the file goes with the socket */
                *s->file = *old->file;
                old->file->set = false;
        }
        r = listener_update(fd, old->conf, s->conf, false);
        if (r == 0)
                r = ev_file_add(s->d->loop, &s->ev, fd, EPOLLIN, on_readable);
        if (r < 0) {
                (void)close(fd);
                return r;
        }
        s->fd = fd;
        s->state = SERVICE_LISTENING;
        return 0;
}

/**
 * service_retire() - a reload removed the service: close it; end its servers
 * @s: the service (no longer in d->services)
 *
 * Its servers get SIGTERM, as xinetd ends the servers of removed services, and its in-process
 * connections are closed. The service is freed at once when no server runs, else when the
 * last one is reaped.
 */
void service_retire(Service *s)
{
        Daemon *d = s->d;

        userid_cancel_service(s);
        service_drop_fork_retries(s);
        service_close(s);
        service_remove_socket_file(s);
        inproc_end_service(s, INPROC_END_RELOAD);
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

/**
 * service_descriptors_freed() - an in-process connection ended, so descriptors were given
 * back: the services that paused accepting for lack of them look again now rather than at
 * the end of their pause (a look that finds none left pauses again, quietly)
 * @d: the daemon
 */
void service_descriptors_freed(Daemon *d)
{
        bool still = false;

        if (!d->accept_short)
                return;
        for (size_t i = 0; i < d->n_services; i++) {
                Service *s = d->services[i];

                if (!s->accept_paused || s->fd < 0 || s->state != SERVICE_LISTENING)
                        continue;
                still = true;
                if (s->ev.events == 0 && ev_timer_armed(&s->retry)) {
                        ev_timer_disarm(&s->retry);
                        (void)ev_file_set_events(&s->ev, EPOLLIN);
                }
        }
        d->accept_short = still;
}

/**
 * service_resume_paused() - after an exit frees a slot, services paused by -limit or
 * instances (at_limit = defer) listen again
 * @d: the daemon
 */
void service_resume_paused(Daemon *d)
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
        if (srv->report_fd >= 0) {
                /* The child is gone: whatever it reported is in the pipe now. */
                take_report(s, srv);
                if (srv->report_fd >= 0) {
                        ev_file_remove(&srv->report_ev);
                        srv->report_fd = safe_close(srv->report_fd);
                }
        }
        if (srv->src_held && s->sources)
                ratelimit_source_release(s->sources, &srv->src, ev_now(s->d->loop));
        if (logline_wants_exit(s->conf->log_on_success)) {
                size_t n = logline_exit(line, sizeof(line), s->conf->id, s->conf->log_on_success,
                                        status, srv->pid, (long)(time(NULL) - srv->started));

                service_log(s, line, n);
        }
        if (s->state == SERVICE_SUSPENDED && s->running <= 1) {
                if (s->conf->socket_type == SOCK_DGRAM && s->fd >= 0)
                        drain(s->fd);
                s->state = SERVICE_LISTENING;
                if (s->fd >= 0) {
                        /* A reload may have changed `wait` while the server had it. */
                        (void)listener_set_blocking(s->fd, s->conf);
                        (void)ev_file_set_events(&s->ev, EPOLLIN);
                }
        }
        if (s->d->opts->limit > 0 || s->conf->instances != CONF_UNLIMITED)
                service_resume_paused(s->d);
}
