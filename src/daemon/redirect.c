/* SPDX-License-Identifier: MIT */
/*
 * redirect.c — `redirect = host port` served on the event loop: a TCP proxy without a
 * process per connection.
 *
 * A connection that passed admission (admit.c: limits, access rules, banners) becomes a pair:
 * the client socket and a non-blocking connect() to the backend address, which the
 * configuration loader resolved off the loop (on the worker thread, again at each reload).
 * The connect is bounded by `connect_timeout`; a failure closes the client's connection with
 * what xinetd's redirect child leaves: EXIT status=0, no TRAFFIC line, and the daemon message
 * "can't connect to remote host ..." (rate-limited). Never a FAIL line: FAIL means the client
 * was refused, and fail2ban would ban clients for the backend's outage.
 *
 * Relaying: each direction (up: client to backend, down: backend to client) owns a pipe;
 * splice() moves bytes socket -> pipe -> socket without copying them through user space. A
 * direction that cannot splice (no descriptors left for a pipe, or splice refused) falls back
 * to a RELAY_BUF-byte buffer with recv()/send(). Either way at most one window of data waits
 * per direction (see dir_maybe_grow()): while it is full the source is not read, so a slow
 * reader slows its writer down through TCP flow control instead of growing memory.
 *
 * End of stream: EOF from one side is passed on as shutdown(SHUT_WR) to the other once the
 * data before it has been written; the other direction goes on until its EOF too (the
 * half-close xinetd loses). A reset or error on either side ends the pair at once and resets
 * the other side (SO_LINGER 0), so that it does not mistake a broken stream for a complete one.
 * A pair that has nothing to relay stays as long as its two sides do, unless `idle_timeout`.
 *
 * Fairness: the loop is level-triggered; one callback moves at most PUMP_ROUNDS splices per
 * direction, so a fast pair cannot starve the others. A descriptor with nothing to wait for is
 * taken out of epoll entirely (a half-closed socket would otherwise report EPOLLHUP forever).
 *
 * Memory: pair records come from a free list grown in chunks (the accept path does not
 * allocate once warm). A direction takes a pipe when data arrives and gives it back as soon
 * as it is empty again, into a small pool from which the next burst (of any pair) takes it:
 * an idle pair holds only its two sockets, and a busy one makes no pipe2() calls.
 */

#include "daemon/redirect.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "util.h"

#define WINDOW_MIN (64 * 1024)          /* bytes a direction may hold at first (a pipe's default) */
#define WINDOW_MAX (1024 * 1024)        /* ... and at most, once its destination keeps up */
#define WINDOW_BUDGET (32 * 1024 * 1024)        /* all windows' growth beyond WINDOW_MIN */
#define RELAY_BUF (16 * 1024)           /* the read/write fallback's buffer per direction */
#define PUMP_ROUNDS 8                   /* splices per direction and callback (fairness) */
#define PIPE_POOL_MAX 64                /* empty pipes kept for reuse */
#define PAIR_CHUNK 128                  /* pair records allocated at once */
#define CONNECT_MSG_PER_SEC 10          /* "can't connect" messages a second, per service */

/* One direction of a pair: from src to dst. */
typedef struct RelayDir {
        int src, dst;           /* the pair's sockets (not owned) */
        int pipe_r, pipe_w;     /* splice path; -1 while no data waits */
        size_t pipe_cap;        /* the pipe's size (the kernel may grant less than asked) */
        size_t window;          /* bytes this direction may hold: grows while dst drains */
        bool drained;           /* dst took everything queued since the window last grew */
        size_t reserved;        /* this direction's share of WINDOW_BUDGET */
        char *buf;              /* fallback path (RELAY_BUF bytes), or NULL */
        size_t buf_off;         /* first byte of buf not yet sent */
        size_t queued;          /* bytes read from src, not yet written to dst */
        uint64_t moved;         /* bytes written to dst (TRAFFIC) */
        bool eof;               /* src sent EOF */
        bool full;              /* src paused until some of the queue is written */
        bool shut;              /* shutdown(dst, SHUT_WR) done */
} RelayDir;

typedef enum PairState {
        PAIR_CONNECTING,
        PAIR_RELAYING,
} PairState;

typedef struct RedirectPair RedirectPair;
struct RedirectPair {
        InprocConn conn;        /* the accounting: instances, START/EXIT (inproc.c) */
        Daemon *d;
        PairState state;
        int client, backend;
        EvFile client_ev, backend_ev;
        EvTimer timer;          /* connect timeout, then idle timeout */
        uint8_t attempt;        /* which of the backend's addresses is being connected to */
        RelayDir up, down;      /* client -> backend, backend -> client */
        uint64_t last_active;   /* ev_now() of the last byte moved */
        RedirectPair *next_free;
};

typedef struct PairChunk {
        struct PairChunk *next;
        RedirectPair pairs[PAIR_CHUNK];
} PairChunk;

/* The module's state, hung off the Daemon on first use. */
typedef struct Redirect {
        RedirectPair *free;
        PairChunk *chunks;
        struct {
                int r, w;
                size_t cap;
        } pool[PIPE_POOL_MAX];
        size_t n_pool;
        size_t reserved;        /* WINDOW_BUDGET in use, all directions */
        uint64_t msg_second;    /* "can't connect" messages: the current second, */
        uint32_t msg_logged;    /* those written in it, */
        uint32_t msg_suppressed;        /* and those left out */
} Redirect;

static Redirect *redirect_get(Daemon *d)
{
        if (!d->redirect)
                d->redirect = calloc(1, sizeof(Redirect));
        return d->redirect;
}

static RedirectPair *pair_alloc(Redirect *rd)
{
        RedirectPair *p;

        if (!rd->free) {
                PairChunk *c = calloc(1, sizeof(*c));

                if (!c)
                        return NULL;
                c->next = rd->chunks;
                rd->chunks = c;
                for (size_t i = 0; i < PAIR_CHUNK; i++) {
                        c->pairs[i].next_free = rd->free;
                        rd->free = &c->pairs[i];
                }
        }
        p = rd->free;
        rd->free = p->next_free;
        *p = (RedirectPair){ 0 };
        return p;
}

/* --- pipes ------------------------------------------------------------------------------ */

static int pipe_get(Redirect *rd, RelayDir *dir)
{
        int fds[2];

        int cap;

        if (rd->n_pool > 0) {
                rd->n_pool--;
                dir->pipe_r = rd->pool[rd->n_pool].r;
                dir->pipe_w = rd->pool[rd->n_pool].w;
                dir->pipe_cap = rd->pool[rd->n_pool].cap;
                return 0;
        }
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        cap = fcntl(fds[1], F_GETPIPE_SZ);
        dir->pipe_r = fds[0];
        dir->pipe_w = fds[1];
        dir->pipe_cap = cap > 0 ? (size_t)cap : 4096;
        return 0;
}

/* An empty pipe goes back to the pool; one still holding data is closed. */
static void pipe_put(Redirect *rd, RelayDir *dir)
{
        if (dir->pipe_r < 0)
                return;
        if (dir->queued == 0 && rd->n_pool < PIPE_POOL_MAX) {
                rd->pool[rd->n_pool].r = dir->pipe_r;
                rd->pool[rd->n_pool].w = dir->pipe_w;
                rd->pool[rd->n_pool].cap = dir->pipe_cap;
                rd->n_pool++;
        } else {
                (void)close(dir->pipe_r);
                (void)close(dir->pipe_w);
        }
        dir->pipe_r = dir->pipe_w = -1;
}

/* --- one direction ---------------------------------------------------------------------- */

/* What the direction may hold now: its window, within its pipe's size, or the buffer. */
static size_t dir_capacity(const RelayDir *dir)
{
        if (dir->buf)
                return RELAY_BUF;
        if (dir->pipe_r >= 0 && dir->pipe_cap < dir->window)
                return dir->pipe_cap;
        return dir->window;
}

/* A pipe smaller than the window is enlarged (once per pipe: pooled pipes keep their
 * size). The kernel may refuse (pipe-user-pages-soft for an unprivileged daemon): the
 * direction then works within the size it has. */
static void dir_fit_pipe(RelayDir *dir)
{
        int cap;

        if (dir->pipe_r < 0 || dir->pipe_cap >= dir->window)
                return;
        cap = fcntl(dir->pipe_w, F_SETPIPE_SZ, (int)dir->window);
        if (cap > 0)
                dir->pipe_cap = (size_t)cap;
}

/*
 * Flow control, the window: a direction starts with WINDOW_MIN bytes in flight. Each time it
 * fills its window after its destination had taken everything queued (a fast reader), the
 * window grows fourfold up to WINDOW_MAX, so that a stream moves more per splice. The growth
 * of all windows together is bounded by WINDOW_BUDGET. When the destination stops taking
 * data (a write would block) the window drops back to WINDOW_MIN: no more is read until the
 * queue is below it, and then its share of the budget is given back. So however many pairs
 * stall, they hold WINDOW_MIN per direction plus WINDOW_BUDGET in all.
 */
static void dir_maybe_grow(Redirect *rd, RelayDir *dir)
{
        size_t next, delta;

        if (dir->buf || !dir->drained || dir->queued < dir->window || dir->window >= WINDOW_MAX)
                return;
        next = dir->window * 4 < WINDOW_MAX ? dir->window * 4 : WINDOW_MAX;
        /* A window that shrank may still hold its share: only the difference is taken. */
        delta = next - WINDOW_MIN > dir->reserved ? next - WINDOW_MIN - dir->reserved : 0;
        if (rd->reserved + delta > WINDOW_BUDGET)
                return;
        rd->reserved += delta;
        dir->reserved += delta;
        dir->window = next;
        dir->drained = false;
        dir_fit_pipe(dir);
}

static void dir_shrink(RelayDir *dir)
{
        dir->window = WINDOW_MIN;
        dir->drained = false;
}

/* Give the budget back once the queue fits the minimal window again (or at the end). */
static void dir_release(Redirect *rd, RelayDir *dir, bool ending)
{
        if (!dir->reserved || (!ending && (dir->window > WINDOW_MIN || dir->queued > WINDOW_MIN)))
                return;
        rd->reserved -= dir->reserved;
        dir->reserved = 0;
}

/* Read from src into the pipe or buffer. Return: bytes read, 0 at EOF, or -errno. */
static ssize_t dir_in(Redirect *rd, RelayDir *dir)
{
        size_t room = dir_capacity(dir) - dir->queued;
        ssize_t n;

        if (dir->pipe_r < 0 && !dir->buf) {
                int r = pipe_get(rd, dir);

                /* Out of descriptors for a pipe: this direction copies instead. */
                if (r < 0 && !(dir->buf = malloc(RELAY_BUF)))
                        return -ENOMEM;
                dir_fit_pipe(dir);
                room = dir_capacity(dir);
        }
        if (dir->buf) {
                if (dir->buf_off > 0 && dir->queued > 0)
                        memmove(dir->buf, dir->buf + dir->buf_off, dir->queued);
                dir->buf_off = 0;
                n = recv(dir->src, dir->buf + dir->queued, room, MSG_DONTWAIT);
        } else {
                n = splice(dir->src, NULL, dir->pipe_w, NULL, room,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n < 0 && errno == EINVAL && dir->queued == 0) {
                        /* This socket cannot splice: copy through a buffer from now on. */
                        pipe_put(rd, dir);
                        if (!(dir->buf = malloc(RELAY_BUF)))
                                return -ENOMEM;
                        n = recv(dir->src, dir->buf, RELAY_BUF, MSG_DONTWAIT);
                }
        }
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        dir->queued += (size_t)n;
        return n;
}

/* Write from the pipe or buffer to dst. Return: bytes written, or -errno. */
static ssize_t dir_out(RelayDir *dir)
{
        ssize_t n;

        if (dir->buf)
                n = send(dir->dst, dir->buf + dir->buf_off, dir->queued,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        else
                n = splice(dir->pipe_r, NULL, dir->dst, NULL, dir->queued,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0)
                return errno == EINTR ? -EAGAIN : -errno;
        dir->queued -= (size_t)n;
        dir->moved += (uint64_t)n;
        if (dir->queued == 0)
                dir->drained = true;
        if (dir->buf)
                dir->buf_off = dir->queued ? dir->buf_off + (size_t)n : 0;
        return n;
}

/*
 * Move what can be moved now, both ends of one direction, at most PUMP_ROUNDS times.
 * @can_write: the destination is connected.
 * @other_done: the other direction has ended (its destination shut down).
 * Return: 0, or -errno of a failed socket (the pair must end).
 */
static int dir_pump(Redirect *rd, RelayDir *dir, bool can_write, bool other_done,
                    bool *ret_progress)
{
        for (int i = 0; i < PUMP_ROUNDS; i++) {
                bool progress = false;
                ssize_t n;

                if (dir->queued > 0 && can_write) {
                        n = dir_out(dir);
                        if (n < 0 && n != -EAGAIN)
                                return (int)n;
                        if (n == -EAGAIN && dir->window > WINDOW_MIN)
                                dir_shrink(dir);        /* the destination stalls */
                        if (n > 0) {
                                progress = true;
                                dir->full = false;
                        }
                }
                if (!dir->eof && dir->queued < dir_capacity(dir)) {
                        n = dir_in(rd, dir);
                        if (n == 0) {
                                dir->eof = true;
                        } else if (n > 0) {
                                progress = true;
                                dir_maybe_grow(rd, dir);
                        } else if (n != -EAGAIN) {
                                return (int)n;
                        } else if (dir->queued > 0) {
                                /* Nothing read: with data queued, the pipe may be out of
                                 * slots; wait for a write to free some. */
                                dir->full = true;
                        }
                }
                if (dir->queued >= dir_capacity(dir))
                        dir->full = true;
                if (progress)
                        *ret_progress = true;
                else
                        break;
        }
        dir_release(rd, dir, false);
        /* An empty pipe goes back to the pool: a quiet pair holds only its two sockets. */
        if (dir->queued == 0 && dir->pipe_r >= 0)
                pipe_put(rd, dir);
        if (dir->eof && dir->queued == 0 && can_write && !dir->shut) {
                dir->shut = true;
                /* When the other direction is over too, the pair closes both sockets right
                 * away, and close() sends the FIN itself. */
                if (!other_done && shutdown(dir->dst, SHUT_WR) < 0 && errno != ENOTCONN)
                        return -errno;
        }
        return 0;
}

static bool dir_done(const RelayDir *dir)
{
        return dir->shut;
}

static bool dir_wants_read(const RelayDir *dir)
{
        return !dir->eof && !dir->full;
}

/* --- a pair ----------------------------------------------------------------------------- */

static int on_client(EvFile *f, uint32_t events);
static int on_backend(EvFile *f, uint32_t events);
static int on_timer(EvTimer *t);

static const ConfService *pair_conf(const RedirectPair *p)
{
        return p->conn.svc->conf;
}

/* A socket closed with SO_LINGER 0 sends a reset: the peer learns the stream broke. */
static void close_reset(int fd)
{
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };

        if (fd < 0)
                return;
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        (void)close(fd);
}

/*
 * End a pair: its TRAFFIC line (once it was connected, as xinetd), its descriptors closed
 * (with a reset when @reset), then inproc_end() for its EXIT line and slots.
 */
static void pair_end(RedirectPair *p, bool reset)
{
        const ConfService *cs = pair_conf(p);
        Redirect *rd = p->d->redirect;

        ev_file_remove(&p->client_ev);
        ev_file_remove(&p->backend_ev);
        ev_timer_disarm(&p->timer);
        if (p->state == PAIR_RELAYING && (cs->log_on_success & CONF_LOG_TRAFFIC)) {
                char line[512];
                size_t n = logline_traffic(line, sizeof(line), cs->id, p->up.moved,
                                           p->down.moved);

                service_log(p->conn.svc, line, n);
        }
        if (reset) {
                close_reset(p->client);
                close_reset(p->backend);
        } else {
                (void)safe_close(p->client);
                (void)safe_close(p->backend);
        }
        dir_release(rd, &p->up, true);
        dir_release(rd, &p->down, true);
        pipe_put(rd, &p->up);
        pipe_put(rd, &p->down);
        free(p->up.buf);
        free(p->down.buf);
        inproc_end(&p->conn);           /* may free a retired service */
        p->next_free = rd->free;
        rd->free = p;
}

/* The daemon ends the pair (stop, or a reload that removed the service or refuses the
 * client): both sides are reset, so that neither takes the cut for a complete stream. */
static void pair_end_by_daemon(InprocConn *c, InprocEndReason why)
{
        pair_end(container_of(c, RedirectPair, conn), true);
}

static void pair_move(InprocConn *c, EvLoop *to)
{
        RedirectPair *p = container_of(c, RedirectPair, conn);

        if (ev_file_move(to, &p->client_ev) < 0 || ev_file_move(to, &p->backend_ev) < 0) {
                pair_end(p, true);
                return;
        }
        ev_timer_move(to, &p->timer);
}

/* Watch fd for @events; a descriptor with nothing to wait for leaves epoll (see above). */
static int watch(RedirectPair *p, EvFile *ev, int fd, uint32_t events, EvFileFn fn)
{
        if (events == 0) {
                ev_file_remove(ev);
                return 0;
        }
        if (!ev->added)
                return ev_file_add(p->d->loop, ev, fd, events, fn);
        return ev_file_set_events(ev, events);
}

static int pair_rewatch(RedirectPair *p)
{
        bool relaying = p->state == PAIR_RELAYING;
        uint32_t ce = 0, be = 0;
        int r;

        if (dir_wants_read(&p->up))
                ce |= EPOLLIN;
        if (relaying && p->down.queued > 0)
                ce |= EPOLLOUT;
        if (!relaying) {
                be = EPOLLOUT;          /* the connect's completion */
        } else {
                if (dir_wants_read(&p->down))
                        be |= EPOLLIN;
                if (p->up.queued > 0)
                        be |= EPOLLOUT;
        }
        r = watch(p, &p->client_ev, p->client, ce, on_client);
        if (r == 0)
                r = watch(p, &p->backend_ev, p->backend, be, on_backend);
        return r;
}

static uint64_t idle_usec(const RedirectPair *p)
{
        return (uint64_t)redirect_idle_timeout(p->conn.svc) * EV_USEC_PER_SEC;
}

static void arm_idle(RedirectPair *p)
{
        uint64_t idle = idle_usec(p);

        if (idle)
                ev_timer_arm(p->d->loop, &p->timer, p->last_active + idle, on_timer);
}

/* Relay what can be relayed; end the pair when both directions are done or on an error. */
static void pair_pump(RedirectPair *p)
{
        Redirect *rd = p->d->redirect;
        bool relaying = p->state == PAIR_RELAYING, progress = false;
        int r;

        r = dir_pump(rd, &p->up, relaying, dir_done(&p->down), &progress);
        if (r == 0 && relaying)
                r = dir_pump(rd, &p->down, true, dir_done(&p->up), &progress);
        if (r < 0) {
                pair_end(p, true);
                return;
        }
        if (progress)
                p->last_active = ev_now(p->d->loop);
        if (relaying && dir_done(&p->up) && dir_done(&p->down)) {
                pair_end(p, false);
                return;
        }
        if (pair_rewatch(p) < 0)
                pair_end(p, true);
}

static int on_client(EvFile *f, uint32_t events)
{
        RedirectPair *p = container_of(f, RedirectPair, client_ev);

        /* An error is reported whatever the interest: end here, or it would be reported
         * again and again. */
        if (events & EPOLLERR)
                pair_end(p, true);
        else
                pair_pump(p);
        return 0;
}

/* "can't connect to remote host ...", xinetd's message, at most CONNECT_MSG_PER_SEC a
 * second in all, so that a backend that is down cannot flood the daemon's log. */
static void log_connect_error(RedirectPair *p, int err)
{
        Redirect *rd = p->d->redirect;
        uint64_t sec = ev_now(p->d->loop) / EV_USEC_PER_SEC;
        char host[INET6_ADDRSTRLEN] = "?";

        if (sec != rd->msg_second) {
                if (rd->msg_suppressed)
                        portier_log(p->d->log, LOG_ERR, "%u more failed redirect connections "
                                    "not logged", rd->msg_suppressed);
                rd->msg_second = sec;
                rd->msg_logged = 0;
                rd->msg_suppressed = 0;
        }
        if (rd->msg_logged >= CONNECT_MSG_PER_SEC) {
                rd->msg_suppressed++;
                return;
        }
        rd->msg_logged++;
        if (conf_redirect_unix(pair_conf(p))) {
                portier_log(p->d->log, LOG_ERR, "can't connect to unix socket '%s': %s "
                            "(errno = %d)", pair_conf(p)->redirect_host, strerror(err), err);
                return;
        }
        socklen_t len;
        const ConfSockaddr *to = conf_redirect_addr(pair_conf(p), p->attempt, &len);

        if (to)
                (void)spawn_format_addr(&to->sa, host, sizeof(host), NULL);
        portier_log(p->d->log, LOG_ERR, "can't connect to remote host %s: %s (errno = %d)",
                    host, strerror(err), err);
}

static int start_connect(RedirectPair *p);

/* The backend's next address, if its name has one more: 0 (connecting to it), or -errno. */
static int connect_next(RedirectPair *p)
{
        const ConfService *cs = pair_conf(p);
        socklen_t len;
        int r;

        if (!conf_redirect_addr(cs, p->attempt + 1u, &len))
                return -ENOENT;
        ev_file_remove(&p->backend_ev);
        (void)close(p->backend);
        p->backend = p->up.dst = p->down.src = -1;
        p->attempt++;
        if ((r = start_connect(p)) < 0)
                return r;
        if (cs->connect_timeout)
                ev_timer_arm_in(p->d->loop, &p->timer,
                                (uint64_t)cs->connect_timeout * EV_USEC_PER_SEC, on_timer);
        return pair_rewatch(p);
}

/* The backend cannot be reached at this address: the next one of its name is tried, and
 * when none is left the client's connection is closed (no TRAFFIC line; EXIT status=0, as
 * xinetd's redirect child exits 0 then too). */
static void connect_failed(RedirectPair *p, int err)
{
        for (;;) {
                log_connect_error(p, err);
                int r = connect_next(p);

                if (r == 0)
                        return;
                if (r == -ENOENT || p->backend < 0)
                        break;
                err = -r;       /* that address failed at once: on to the next */
        }
        pair_end(p, false);
}

static void connected(RedirectPair *p)
{
        const ConfService *cs = pair_conf(p);
        int one = 1;

        p->state = PAIR_RELAYING;
        ev_timer_disarm(&p->timer);
        if (cs->flags & CONF_FLAG_NODELAY)
                (void)setsockopt(p->backend, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (cs->flags & CONF_FLAG_KEEPALIVE)
                (void)setsockopt(p->backend, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        p->last_active = ev_now(p->d->loop);
        arm_idle(p);
        pair_pump(p);
}

static int on_backend(EvFile *f, uint32_t events)
{
        RedirectPair *p = container_of(f, RedirectPair, backend_ev);

        if (p->state == PAIR_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);

                if (getsockopt(p->backend, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err)
                        connect_failed(p, err);
                else
                        connected(p);
                return 0;
        }
        if (events & EPOLLERR)
                pair_end(p, true);
        else
                pair_pump(p);
        return 0;
}

static int on_timer(EvTimer *t)
{
        RedirectPair *p = container_of(t, RedirectPair, timer);
        uint64_t idle = idle_usec(p);

        if (p->state == PAIR_CONNECTING) {
                connect_failed(p, ETIMEDOUT);
                return 0;
        }
        if (!idle)
                return 0;
        if (ev_now(p->d->loop) < p->last_active + idle) {
                arm_idle(p);            /* there was traffic since: look again later */
                return 0;
        }
        pair_end(p, false);
        return 0;
}

/* Open the backend socket and start connecting. Return: 0 (connecting, or connected at
 * once), or -errno. */
static int start_connect(RedirectPair *p)
{
        const ConfService *cs = pair_conf(p);
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        socklen_t len = 0;
        const ConfSockaddr *addr = conf_redirect_addr(cs, p->attempt, &len);
        const struct sockaddr *to = addr ? &addr->sa : NULL;
        int fd;

        if (conf_redirect_unix(cs)) {
                /* "/path", or "@name": the abstract namespace (a NUL first, none after) */
                size_t n = strlen(cs->redirect_host);

                memcpy(un.sun_path, cs->redirect_host, n);
                if (cs->redirect_host[0] == '@')
                        un.sun_path[0] = '\0';
                to = (const struct sockaddr *)&un;
                len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                                  (cs->redirect_host[0] == '/'));
        } else if (!to)
                return -EDESTADDRREQ;   /* never resolved (not the daemon's loads), or a
                                           reload left the name fewer addresses */
        fd = socket(to->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        p->backend = p->up.dst = p->down.src = fd;
        /* a unix socket whose queue is full says EAGAIN, not EINPROGRESS: it is refused */
        if (connect(fd, to, len) < 0 && errno != EINPROGRESS)
                return -errno;
        return 0;
}

/**
 * redirect_idle_timeout() - a redirect service's idle timeout in seconds (0: none)
 * @s: the service
 *
 * A proxy carries long sessions: unless `idle_timeout` is set for the service or in
 * defaults, a pair is never closed for being quiet (the built-ins' default of 300 s does not
 * apply). The service's current definition counts, so a reload changes it for running pairs.
 */
uint32_t redirect_idle_timeout(const Service *s)
{
        const ConfService *cs = s->conf, *def = s->gen->config->defaults;

        if (conf_attr_line(cs, CONF_ATTR_IDLE_TIMEOUT) ||
            (def && conf_attr_line(def, CONF_ATTR_IDLE_TIMEOUT)))
                return cs->idle_timeout;
        return 0;
}

/**
 * redirect_start() - proxy an admitted connection to the service's backend; log START
 * @s: a redirect service (admission passed)
 * @fd: the client connection, taken over
 * @peer: the client
 * @from: the client as text
 *
 * The pair counts against the service's `instances` until it ends (inproc.c). The backend
 * connect is bounded by `connect_timeout`.
 */
void redirect_start(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        Daemon *d = s->d;
        Redirect *rd = redirect_get(d);
        RedirectPair *p = rd ? pair_alloc(rd) : NULL;
        int one = 1, r;

        /* The connection came from accept4() blocking, as servers want it. */
        if (!p || ioctl(fd, FIONBIO, &one) < 0) {
                portier_log(d->log, LOG_ERR, "service '%s': cannot start a redirect: %s",
                            s->conf->id, p ? strerror(errno) : "out of memory");
                if (p) {
                        p->next_free = rd->free;
                        rd->free = p;
                }
                (void)close(fd);
                return;
        }
        /* Reached through tcpmux as a TCPMUXPLUS service: the daemon acknowledges (RFC 1078's
         * "+"), as for a server; banner_success follows. */
        if (s->conf->type & CONF_TYPE_TCPMUXPLUS)
                (void)send(fd, "+Go\r\n", 5, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (!inproc_begin(&p->conn, s, fd, peer, from, pair_end_by_daemon)) {
                p->next_free = rd->free;        /* refused (per_source): fd closed */
                rd->free = p;
                return;
        }
        p->conn.move = pair_move;
        p->d = d;
        p->state = PAIR_CONNECTING;
        p->client = fd;
        p->backend = -1;
        p->client_ev = p->backend_ev = EV_FILE_NULL;
        p->timer = EV_TIMER_NULL;
        p->attempt = 0;
        p->up = (RelayDir){ .src = fd, .dst = -1, .pipe_r = -1, .pipe_w = -1,
                            .window = WINDOW_MIN };
        p->down = (RelayDir){ .src = -1, .dst = fd, .pipe_r = -1, .pipe_w = -1,
                              .window = WINDOW_MIN };
        r = start_connect(p);
        if (r < 0) {
                connect_failed(p, -r);
                return;
        }
        if (s->conf->connect_timeout)
                ev_timer_arm_in(d->loop, &p->timer,
                                (uint64_t)s->conf->connect_timeout * EV_USEC_PER_SEC, on_timer);
        if (pair_rewatch(p) < 0)
                pair_end(p, true);
}

/**
 * redirect_deinit() - free the module's state (its pairs have ended: inproc_end_all())
 * @d: the daemon
 */
void redirect_deinit(Daemon *d)
{
        Redirect *rd = d->redirect;

        if (!rd)
                return;
        for (size_t i = 0; i < rd->n_pool; i++) {
                (void)close(rd->pool[i].r);
                (void)close(rd->pool[i].w);
        }
        for (PairChunk *c = rd->chunks, *next; c; c = next) {
                next = c->next;
                free(c);
        }
        free(rd);
        d->redirect = NULL;
}
