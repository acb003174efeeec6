/* SPDX-License-Identifier: MIT */
/*
 * control.c — the control socket: portierctl's requests, served by the event loop.
 *
 * The socket is AF_UNIX SOCK_SEQPACKET, mode 0600 (created under umask 077), so that one
 * packet is one frame (proto.h). It is created under a temporary name and renamed over the
 * configured path: a stale socket left by a dead daemon is replaced in one step; a socket a
 * live daemon still answers on is left alone (the control socket is then off, with an error
 * logged); anything that is not a socket is never replaced nor unlinked.
 *
 * Nothing here blocks the loop: accept4() and every client descriptor are non-blocking; a
 * client is read once (one request per connection), its answer is rendered into a buffer
 * bounded by CONTROL_REPLY_MAX and sent frame by frame as the socket takes it; at most
 * CONTROL_CLIENTS_MAX clients are served at once, and one that sends nothing, or reads
 * nothing of its answer, for CONTROL_IDLE_USEC is dropped. Only root and the daemon's own user are answered (SO_PEERCRED);
 * anyone else gets a "permission denied" END frame.
 *
 * Reload and reexec answer later: a reload waiter keeps its connection until the reload it
 * asked for is applied (control_reload_done(), from generation.c), and the reexec client's
 * descriptor crosses execve() so that the new image (or the old one, when the new one fails)
 * tells it the outcome.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/privsep.h"
#include "proto/proto.h"
#include "util.h"

#define CONTROL_CLIENTS_MAX 32
#define CONTROL_IDLE_USEC (10 * EV_USEC_PER_SEC)
#define CONTROL_REPLY_MAX (64u << 20)   /* bytes of one answer */
#define CONTROL_SEND_BATCH 64           /* frames sent per readiness event */

typedef struct ControlClient ControlClient;

struct ControlClient {
        Control *ctl;
        int fd;
        uid_t uid;
        EvFile ev;
        EvTimer idle;
        bool answered;                  /* the request was read */
        unsigned reload_wait;           /* reload completions still to wait for; 0: none */
        char *body;                     /* the DATA to send, then the END frame */
        size_t body_len, body_off;
        bool end_ready;
        int32_t status;
        char message[PROTO_MESSAGE_MAX + 1];
        ControlClient *next, *prev;
};

struct Control {
        Daemon *d;
        int fd;
        EvFile ev;
        char *path;
        dev_t dev;
        ino_t ino;
        ControlClient *clients;
        size_t n_clients;
        ControlExit exits[CONTROL_EXITS];
        size_t n_exits, next_exit;
        EvTimer status_timer;           /* sd_notify STATUS= refresh */
        char status_sent[256];          /* the last STATUS= sent */
        EvTimer accept_pause;           /* out of descriptors: accept again later */
};

/* --- the socket ------------------------------------------------------------------------ */

static int socket_alive(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), r;

        if (fd < 0)
                return -errno;
        memcpy(sa.sun_path, path, strlen(path));
        r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        r = r == 0 || errno == EAGAIN || errno == EINPROGRESS;
        close(fd);
        return r;
}

/* Bind under a temporary name in the same directory, then rename it over @path. */
static int control_open(Control *c, char *err, size_t errsize)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        mode_t old;
        int r;

        if (asprintf(&tmp, "%s.%d.new", c->path, (int)getpid()) < 0)
                return -ENOMEM;
        if (strlen(tmp) >= sizeof(sa.sun_path)) {
                snprintf(err, errsize, "the path is too long for a socket (at most %zu bytes)",
                         sizeof(sa.sun_path) - 1 - (strlen(tmp) - strlen(c->path)));
                return -ENAMETOOLONG;
        }
        if (lstat(c->path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        snprintf(err, errsize, "the path exists and is not a socket; not "
                                 "replacing it");
                        return -EEXIST;
                }
                if (socket_alive(c->path) > 0) {
                        snprintf(err, errsize, "another daemon answers on it");
                        return -EADDRINUSE;
                }
        }
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                goto fail;
        memcpy(sa.sun_path, tmp, strlen(tmp));
        (void)unlink(tmp);
        old = umask(0177);      /* srw------- */
        r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0 || listen(fd, 16) < 0)
                goto fail;
        /* The check above and this rename are not one step: re-check what the rename
         * replaces, so that a file put there meanwhile is still never replaced. */
        if (lstat(c->path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
                (void)unlink(tmp);
                snprintf(err, errsize, "the path exists and is not a socket; not replacing it");
                return -EEXIST;
        }
        if (rename(tmp, c->path) < 0) {
                r = -errno;
                (void)unlink(tmp);
                snprintf(err, errsize, "%s", strerror(-r));
                return r;
        }
        if (stat(c->path, &st) == 0) {
                c->dev = st.st_dev;
                c->ino = st.st_ino;
        }
        c->fd = TAKE_FD(fd);
        return 0;
fail:
        r = -errno;
        snprintf(err, errsize, "%s", strerror(errno));
        return r;
}

/* --- clients --------------------------------------------------------------------------- */

/* Close a client's connection. A packet it sent that we did not read would make the kernel
 * report ECONNRESET to it before our answer: read (at most a few) such packets first. */
static int close_drained(int fd)
{
        char c;

        if (fd < 0)
                return -1;
        for (int i = 0; i < 8 && recv(fd, &c, 1, MSG_DONTWAIT | MSG_TRUNC) > 0; i++)
                ;
        return safe_close(fd);
}

static void client_free(ControlClient *cl)
{
        Control *c = cl->ctl;

        ev_file_remove(&cl->ev);
        ev_timer_disarm(&cl->idle);
        (void)close_drained(cl->fd);
        if (cl->prev)
                cl->prev->next = cl->next;
        else
                c->clients = cl->next;
        if (cl->next)
                cl->next->prev = cl->prev;
        c->n_clients--;
        free(cl->body);
        free(cl);
}

static int on_idle(EvTimer *t);

/* Send what the socket takes; free the client once the END frame is out (or it is gone). */
static void client_flush(ControlClient *cl)
{
        static uint8_t frame[PROTO_FRAME_MAX];

        for (int i = 0; i < CONTROL_SEND_BATCH; i++) {
                size_t chunk = cl->body_len - cl->body_off;
                int n;

                if (chunk > 0) {
                        if (chunk > PROTO_PAYLOAD_MAX)
                                chunk = PROTO_PAYLOAD_MAX;
                        n = proto_frame_encode(frame, sizeof(frame), PROTO_REPLY_DATA,
                                               cl->body + cl->body_off, chunk);
                } else if (cl->end_ready) {
                        n = proto_end_encode(frame, sizeof(frame), cl->status, cl->message);
                } else {
                        (void)ev_file_set_events(&cl->ev, EPOLLIN);
                        return;
                }
                if (send(cl->fd, frame, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                        if (errno == EAGAIN || errno == EINTR) {
                                (void)ev_file_set_events(&cl->ev, EPOLLIN | EPOLLOUT);
                                return;
                        }
                        client_free(cl);        /* the client went away */
                        return;
                }
                /* A client that stops reading its answer is dropped after CONTROL_IDLE_USEC
                 * without progress, like one that never sends its request. */
                ev_timer_arm_in(cl->ctl->d->loop, &cl->idle, CONTROL_IDLE_USEC, on_idle);
                if (chunk > 0) {
                        cl->body_off += chunk;
                } else {
                        client_free(cl);
                        return;
                }
        }
        (void)ev_file_set_events(&cl->ev, EPOLLIN | EPOLLOUT);
}

/* Queue the answer: @body (taken; may be NULL) as DATA, then END with @status, @message. */
static void client_answer(ControlClient *cl, char *body, size_t len, int status,
                          const char *message)
{
        free(cl->body);
        cl->body = body;
        cl->body_len = body ? len : 0;
        cl->body_off = 0;
        cl->status = status;
        snprintf(cl->message, sizeof(cl->message), "%s", message ? message : "");
        cl->end_ready = true;
        cl->reload_wait = 0;
        ev_timer_arm_in(cl->ctl->d->loop, &cl->idle, CONTROL_IDLE_USEC, on_idle);
        client_flush(cl);
}

static void answer_report(ControlClient *cl, ReportKind kind, const ProtoRequest *rq)
{
        char message[PROTO_MESSAGE_MAX + 1] = "";
        char *body = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&body, &len);
        int status;

        if (!f) {
                client_answer(cl, NULL, 0, PROTO_E_FAILED, "out of memory");
                return;
        }
        status = report_write(cl->ctl->d, kind, rq->arg, rq->flags & PROTO_F_JSON, f, message,
                              sizeof(message));
        if (fclose(f) != 0 || len > CONTROL_REPLY_MAX) {
                free(body);
                client_answer(cl, NULL, 0, PROTO_E_FAILED, "the answer is too large");
                return;
        }
        client_answer(cl, body, len, status, message);
}

static void answer_reload(ControlClient *cl)
{
        Daemon *d = cl->ctl->d;
        bool queued = d->reload_running;

        if (d->stopping) {
                client_answer(cl, NULL, 0, PROTO_E_FAILED, "the daemon is stopping");
                return;
        }
        if (reload_start(d) < 0) {
                client_answer(cl, NULL, 0, PROTO_E_FAILED, "cannot start the reload");
                return;
        }
        /* A reload already under way read the files before this request: wait for the one
         * queued after it. */
        cl->reload_wait = queued ? 2 : 1;
}

static void answer_reexec(ControlClient *cl)
{
        char err[512];

        if (reexec_start(cl->ctl->d, cl->fd, err, sizeof(err)) < 0) {
                client_answer(cl, NULL, 0, PROTO_E_FAILED, err);
                return;
        }
        /* Not reached when execve() succeeds; the new image answers. */
        client_answer(cl, NULL, 0, PROTO_E_FAILED, "re-exec did not happen");
}

static void client_request(ControlClient *cl, const ProtoRequest *rq)
{
        switch (rq->type) {
        case PROTO_REQ_INFO:
                answer_report(cl, REPORT_INFO, rq);
                break;
        case PROTO_REQ_LIST:
                answer_report(cl, REPORT_LIST, rq);
                break;
        case PROTO_REQ_STATUS:
                answer_report(cl, REPORT_STATUS, rq);
                break;
        case PROTO_REQ_SOCKETS:
                answer_report(cl, REPORT_SOCKETS, rq);
                break;
        case PROTO_REQ_DUMP:
                answer_report(cl, REPORT_DUMP, rq);
                break;
        case PROTO_REQ_RELOAD:
                answer_reload(cl);
                break;
        case PROTO_REQ_REEXEC:
                answer_reexec(cl);
                break;
        default:
                client_answer(cl, NULL, 0, PROTO_E_USAGE, "unknown request");
        }
}

static void client_read(ControlClient *cl)
{
        static uint8_t buf[PROTO_FRAME_MAX];
        ProtoFrame f;
        ProtoRequest rq;
        ssize_t n;
        int r;

        n = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        client_free(cl);
                return;
        }
        if (n == 0 || cl->answered) {
                /* The client hung up (or broke the one-request rule): nothing to answer. */
                client_free(cl);
                return;
        }
        cl->answered = true;
        ev_timer_disarm(&cl->idle);
        r = proto_frame_decode(buf, (size_t)n, &f);
        if (r == -EMSGSIZE) {
                client_answer(cl, NULL, 0, PROTO_E_USAGE, "request too large");
                return;
        }
        if (r == -EPROTONOSUPPORT) {
                char m[128];

                snprintf(m, sizeof(m), "protocol version %u is not supported (this daemon "
                         "speaks %u)", f.version, PROTO_VERSION);
                client_answer(cl, NULL, 0, PROTO_E_USAGE, m);
                return;
        }
        if (r < 0 || proto_request_decode(&f, &rq) < 0) {
                client_answer(cl, NULL, 0, PROTO_E_USAGE, "malformed request");
                return;
        }
        client_request(cl, &rq);
}

static int on_client(EvFile *ev, uint32_t events)
{
        ControlClient *cl = container_of(ev, ControlClient, ev);

        if (events & EPOLLOUT && cl->end_ready) {
                client_flush(cl);
                return 0;
        }
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                client_read(cl);
        return 0;
}

static int on_idle(EvTimer *t)
{
        client_free(container_of(t, ControlClient, idle));
        return 0;
}

/* Answer and close at once, without a client record (refusals). */
void control_reply_fd(int fd, int status, const char *data, const char *message)
{
        uint8_t frame[PROTO_HEADER_SIZE + 4 + PROTO_MESSAGE_MAX];
        int n;

        if (data && *data) {
                uint8_t *big = malloc(PROTO_FRAME_MAX);

                if (big) {
                        n = proto_frame_encode(big, PROTO_FRAME_MAX, PROTO_REPLY_DATA, data,
                                               strnlen(data, PROTO_PAYLOAD_MAX));
                        if (n > 0)
                                (void)send(fd, big, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
                        free(big);
                }
        }
        n = proto_end_encode(frame, sizeof(frame), status, message);
        if (n > 0)
                (void)send(fd, frame, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void accept_one(Control *c, int fd)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);
        ControlClient *cl;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                close(fd);
                return;
        }
        if (cred.uid != 0 && cred.uid != c->d->uid) {
                portier_log(c->d->log, LOG_WARNING, "control socket: refused a request from "
                            "uid %d (pid %d): only root and uid %d are answered",
                            (int)cred.uid, (int)cred.pid, (int)c->d->uid);
                control_reply_fd(fd, PROTO_E_DENIED, NULL, "permission denied");
                close_drained(fd);
                return;
        }
        if (c->n_clients >= CONTROL_CLIENTS_MAX) {
                control_reply_fd(fd, PROTO_E_BUSY, NULL, "too many control clients; try again");
                close_drained(fd);
                return;
        }
        cl = calloc(1, sizeof(*cl));
        if (!cl) {
                close(fd);
                return;
        }
        cl->ctl = c;
        cl->fd = fd;
        cl->uid = cred.uid;
        cl->ev = EV_FILE_NULL;
        cl->idle = EV_TIMER_NULL;
        if (ev_file_add(c->d->loop, &cl->ev, fd, EPOLLIN, on_client) < 0) {
                close(fd);
                free(cl);
                return;
        }
        ev_timer_arm_in(c->d->loop, &cl->idle, CONTROL_IDLE_USEC, on_idle);
        cl->next = c->clients;
        if (c->clients)
                c->clients->prev = cl;
        c->clients = cl;
        c->n_clients++;
}

#define ACCEPT_PAUSE_USEC (100 * EV_USEC_PER_MSEC)

static int accept_resume(EvTimer *t)
{
        Control *c = container_of(t, Control, accept_pause);

        (void)ev_file_set_events(&c->ev, EPOLLIN);
        return 0;
}

static int on_accept(EvFile *ev, uint32_t events)
{
        Control *c = container_of(ev, Control, ev);

        for (int i = 0; i < CONTROL_CLIENTS_MAX; i++) {
                int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (fd >= 0) {
                        accept_one(c, fd);
                        continue;
                }
                /* Out of descriptors, the client stays queued and the socket readable: the
                 * level-triggered loop would call again at once, forever. Look again later. */
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        (void)ev_file_set_events(&c->ev, 0);
                        ev_timer_arm_in(c->d->loop, &c->accept_pause, ACCEPT_PAUSE_USEC,
                                        accept_resume);
                }
                return 0;       /* EAGAIN: all taken */
        }
        return 0;
}

/* --- sd_notify STATUS= ----------------------------------------------------------------- */

#define STATUS_INTERVAL_USEC (1 * EV_USEC_PER_SEC)

static int status_tick(EvTimer *t)
{
        Control *c = container_of(t, Control, status_timer);
        char line[sizeof(c->status_sent)];

        /* At most one datagram a second, and only when the counts changed. */
        report_status_line(c->d, line, sizeof(line));
        if (strcmp(line, c->status_sent) != 0 &&
            (c->d->privsep ? privsep_notify_status(c->d, line) : portier_notify(false, line)) >= 0)
                memcpy(c->status_sent, line, sizeof(line));
        ev_timer_arm_in(c->d->loop, t, STATUS_INTERVAL_USEC, status_tick);
        return 0;
}

/* --- life ------------------------------------------------------------------------------ */

/**
 * control_new() - open the control socket and serve it on the daemon's loop
 * @d: the daemon
 * @path: the socket's path
 * @inherited_fd: a listening socket handed over by reexec (-1: create one)
 * @ret: the control object; also returned when the socket could not be opened (the error is
 *       logged and the daemon runs without it)
 *
 * Return: 0, or -ENOMEM.
 */
int control_new(Daemon *d, const char *path, int inherited_fd, Control **ret)
{
        Control *c = calloc(1, sizeof(*c));
        char err[256] = "";
        int r;

        if (!c || !(c->path = strdup(path))) {
                free(c);
                return -ENOMEM;
        }
        c->d = d;
        c->fd = -1;
        c->ev = EV_FILE_NULL;
        c->status_timer = EV_TIMER_NULL;
        c->accept_pause = EV_TIMER_NULL;
        if (inherited_fd >= 0) {
                struct stat st;

                c->fd = inherited_fd;
                if (stat(path, &st) == 0) {
                        c->dev = st.st_dev;
                        c->ino = st.st_ino;
                }
                r = 0;
        } else {
                r = control_open(c, err, sizeof(err));
        }
        if (r == 0 && (r = ev_file_add(d->loop, &c->ev, c->fd, EPOLLIN, on_accept)) < 0)
                snprintf(err, sizeof(err), "%s", strerror(-r));
        if (r < 0) {
                portier_log(d->log, LOG_ERR, "control socket '%s': %s; running without it",
                            path, err);
                c->fd = safe_close(c->fd);
        }
        if (getenv("NOTIFY_SOCKET"))
                ev_timer_arm_in(d->loop, &c->status_timer, STATUS_INTERVAL_USEC, status_tick);
        *ret = c;
        return 0;
}

/**
 * control_free() - close the control socket and every client
 * @c: the control object, or NULL
 * @keep_socket: leave the socket file (reexec); otherwise it is unlinked if it is still ours
 *
 * Return: NULL.
 */
Control *control_free(Control *c, bool keep_socket)
{
        struct stat st;

        if (!c)
                return NULL;
        while (c->clients) {
                if (c->clients->reload_wait)
                        control_reply_fd(c->clients->fd, PROTO_E_FAILED, NULL,
                                         "the daemon is stopping");
                client_free(c->clients);
        }
        ev_timer_disarm(&c->status_timer);
        ev_timer_disarm(&c->accept_pause);
        ev_file_remove(&c->ev);
        if (c->fd >= 0 && !keep_socket && stat(c->path, &st) == 0 && st.st_dev == c->dev &&
            st.st_ino == c->ino && S_ISSOCK(st.st_mode))
                (void)unlink(c->path);
        (void)safe_close(c->fd);
        free(c->path);
        free(c);
        return NULL;
}

/**
 * control_forget() - in re-exec's drainer: close the control socket and every client's
 * connection, touching nothing they share with the daemon (no read, no answer, no unlink)
 * @c: the control object, or NULL
 *
 * Return: NULL.
 */
Control *control_forget(Control *c)
{
        if (!c)
                return NULL;
        while (c->clients) {
                ControlClient *cl = c->clients;

                c->clients = cl->next;
                (void)safe_close(cl->fd);
                free(cl->body);
                free(cl);
        }
        (void)safe_close(c->fd);
        free(c->path);
        free(c);
        return NULL;
}

int control_socket_fd(const Control *c)
{
        return c ? c->fd : -1;
}

const char *control_socket_path(const Control *c)
{
        return c ? c->path : NULL;
}

/**
 * control_reload_done() - tell the clients waiting for a reload its outcome
 * @d: the daemon
 * @error: 0 when the configuration was read (even with broken services), else -errno
 * @diag: the load's diagnostics (may be NULL)
 */
void control_reload_done(Daemon *d, int error, const ConfDiag *diag)
{
        Control *c = d->control;
        ControlClient *cl, *next;

        if (!c)
                return;
        for (cl = c->clients; cl; cl = next) {
                char *body = NULL, message[512];
                size_t len = 0;
                FILE *f;
                int status = PROTO_OK;

                next = cl->next;
                if (!cl->reload_wait || --cl->reload_wait > 0)
                        continue;
                f = open_memstream(&body, &len);
                if (f && diag)
                        for (size_t i = 0; i < diag->n_entries; i++)
                                conf_diag_format(&diag->entries[i], f);
                if (f)
                        fclose(f);
                if (error == -ESHUTDOWN) {
                        snprintf(message, sizeof(message), "the daemon is stopping");
                        status = PROTO_E_FAILED;
                } else if (error < 0) {
                        snprintf(message, sizeof(message), "reload failed: cannot read '%s': "
                                 "%s; the old configuration stays", d->config_path,
                                 strerror(-error));
                        status = PROTO_E_FAILED;
                } else if (diag && diag->n_errors > 0) {
                        snprintf(message, sizeof(message), "reloaded with %zu error%s: broken "
                                 "services keep their old definition or are skipped",
                                 diag->n_errors, diag->n_errors == 1 ? "" : "s");
                        status = PROTO_E_FAILED;
                } else {
                        snprintf(message, sizeof(message), "reloaded: configuration "
                                 "generation %u", d->next_generation);
                }
                client_answer(cl, body, len, status, message);
        }
}

/**
 * control_note_exit() - remember a server's exit for `portierctl status`
 * @d: the daemon
 * @s: the server's service
 * @srv: its record
 * @status: the waitpid() status
 */
void control_note_exit(Daemon *d, const Service *s, const Server *srv, int status)
{
        Control *c = d->control;
        ControlExit *e;

        if (!c)
                return;
        e = &c->exits[c->next_exit];
        c->next_exit = (c->next_exit + 1) % CONTROL_EXITS;
        if (c->n_exits < CONTROL_EXITS)
                c->n_exits++;
        snprintf(e->id, sizeof(e->id), "%s", s->conf->id);
        e->pid = srv->pid;
        e->status = status;
        e->ended = time(NULL);
        e->duration = (long)(e->ended - srv->started);
}

/**
 * control_exits() - the last exits of one service (or all), newest first
 * @d: the daemon
 * @id: a service id, or NULL for every service
 * @ret: filled with up to @max pointers... to entries (valid until the next exit)
 * @max: capacity of @ret
 *
 * Return: the number of entries.
 */
size_t control_exits(const Daemon *d, const char *id, const ControlExit **ret, size_t max)
{
        const Control *c = d->control;
        size_t n = 0;

        for (size_t k = 0; c && k < c->n_exits && n < max; k++) {
                size_t i = (c->next_exit + CONTROL_EXITS - 1 - k) % CONTROL_EXITS;

                if (!id || strncmp(c->exits[i].id, id, CONTROL_EXIT_ID_MAX) == 0)
                        ret[n++] = &c->exits[i];
        }
        return n;
}
