/* SPDX-License-Identifier: MIT */
/*
 * tcpmux.c — the tcpmux built-in (RFC 1078; see tcpmux.h for the rules).
 *
 * A connection of the tcpmux service is a Mux: an InprocConn of the tcpmux service (its
 * instances, START/EXIT with pid=0) while the name line is read, with a buffer for that line
 * and a timer. Reading never goes past the line: the bytes waiting on the socket are peeked
 * at, and only those up to the LF (or all of them, when no LF is among them: they are part of
 * the name) are consumed, so whatever the client sends after the line is left for the server.
 *
 * Once the name is known, the Mux ends (EXIT for tcpmux) and the connection goes to the
 * named service through service_dispatch(): its own admission (FAIL lines under its id), its
 * own spawn template (user, group, ...), its START and EXIT lines.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/escape.h"
#include "daemon/listener.h"
#include "daemon/tcpmux.h"

typedef struct Mux {
        InprocConn conn;
        EvFile ev;
        EvTimer timer;
        int fd;
        struct sockaddr_storage peer;
        char from[INET6_ADDRSTRLEN];
        TcpmuxLine line;
} Mux;

int tcpmux_line_take(TcpmuxLine *l, const char *data, size_t n, size_t *ret_take)
{
        size_t room = sizeof(l->buf) - l->len, take = n < room ? n : room;
        const char *lf = memchr(data, '\n', take);

        if (lf)
                take = (size_t)(lf - data) + 1;
        memcpy(l->buf + l->len, data, take);
        l->len += take;
        *ret_take = take;
        if (lf)
                return TCPMUX_LINE_DONE;
        return l->len == sizeof(l->buf) ? TCPMUX_LINE_OVERLONG : TCPMUX_LINE_MORE;
}

int tcpmux_parse_name(const char *line, size_t len, char *name, size_t size)
{
        if (len > 0 && line[len - 1] == '\r')
                len--;
        if (len == 0)
                return TCPMUX_E_EMPTY;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)line[i];

                if (c <= ' ' || c >= 0x7f)
                        return TCPMUX_E_BADCHAR;
        }
        if (len > TCPMUX_NAME_MAX || len >= size)
                return TCPMUX_E_TOO_LONG;
        memcpy(name, line, len);
        name[len] = '\0';
        return 0;
}

/* A service tcpmux may hand a connection to: of type TCPMUX(PLUS), and one that takes
 * connections (a wait = yes one would expect a listening socket). */
static bool is_mux(const Service *s)
{
        return s->state == SERVICE_MUX &&
               (s->conf->type & (CONF_TYPE_TCPMUX | CONF_TYPE_TCPMUXPLUS)) &&
               listener_accepts(s->conf);
}

/* Read (a bounded amount of) what the client sent after a refused line: closing with unread
 * bytes would send a reset, which can destroy the "-" line before the client reads it. */
static void drain_before_close(int fd)
{
        char buf[4096];

        for (int i = 0; i < 16; i++)
                if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
                        return;
}

/* Close the connection (unless handed over: fd is then -1) and end the record. */
static void mux_close(Mux *m)
{
        ev_file_remove(&m->ev);
        ev_timer_disarm(&m->timer);
        if (m->fd >= 0) {
                drain_before_close(m->fd);
                (void)close(m->fd);
        }
        inproc_end(&m->conn);
        free(m);
}

static void on_end(InprocConn *ic, InprocEndReason why)
{
        mux_close(container_of(ic, Mux, conn));
}

static void on_move(InprocConn *ic, EvLoop *to)
{
        Mux *m = container_of(ic, Mux, conn);

        if (ev_file_move(to, &m->ev) < 0)
                mux_close(m);
        else
                ev_timer_move(to, &m->timer);
}

static void reply(Mux *m, const char *text)
{
        (void)send(m->fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Log what the client sent, escaped. */
static void log_refused(Mux *m, const char *what, const char *bytes, size_t len)
{
        char esc[ESCAPE_LOG_SIZE(TCPMUX_LINE_MAX)];
        Service *s = m->conn.svc;

        (void)escape_log(esc, sizeof(esc), bytes, len);
        portier_log(s->d->log, LOG_WARNING, "service '%s': %s '%s' from %s", s->conf->id, what,
                    esc, m->from);
}

static void send_help(Mux *m)
{
        Daemon *d = m->conn.svc->d;
        char buf[8192];
        size_t n = 0;

        /* One send, bounded: a list longer than the buffer is cut (at a line's end). */
        for (size_t i = 0; i < d->n_services; i++) {
                const Service *s = d->services[i];
                size_t len;

                if (!is_mux(s))
                        continue;
                len = strlen(s->conf->name);
                if (n + len + 2 > sizeof(buf))
                        break;
                memcpy(buf + n, s->conf->name, len);
                memcpy(buf + n + len, "\r\n", 2);
                n += len + 2;
        }
        (void)send(m->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static Service *find_mux(Daemon *d, const char *name)
{
        for (size_t i = 0; i < d->n_services; i++)
                if (is_mux(d->services[i]) && strcasecmp(d->services[i]->conf->name, name) == 0)
                        return d->services[i];
        return NULL;
}

/* The line is complete (m->line[0..len), its LF not included): act on it. */
static void on_line(Mux *m, size_t len)
{
        Daemon *d = m->conn.svc->d;
        char name[TCPMUX_NAME_MAX + 1];
        struct sockaddr_storage peer;
        char from[INET6_ADDRSTRLEN];
        Service *target;
        int fd, r = tcpmux_parse_name(m->line.buf, len, name, sizeof(name));

        if (r != 0) {
                reply(m, r == TCPMUX_E_TOO_LONG ? "-Service name too long\r\n"
                                                : "-Invalid service name\r\n");
                log_refused(m, "invalid TCPMUX service name", m->line.buf, len);
                mux_close(m);
                return;
        }
        if (strcasecmp(name, "help") == 0) {
                send_help(m);
                mux_close(m);
                return;
        }
        /* Re-exec's drainer finishes connections but starts nothing (reexec.c): a name that
         * completes there is answered as a service that is down for a moment. */
        if (d->draining) {
                reply(m, "-Service temporarily unavailable (portierd upgrade); try again\r\n");
                mux_close(m);
                return;
        }
        target = find_mux(d, name);
        if (!target) {
                reply(m, "-Service name not found\r\n");     /* xinetd's text */
                log_refused(m, "no TCPMUX service", name, strlen(name));
                mux_close(m);
                return;
        }
        /* Hand over: the tcpmux record ends (EXIT), the service's admission takes it. */
        fd = m->fd;
        m->fd = -1;
        peer = m->peer;
        memcpy(from, m->from, sizeof(from));
        mux_close(m);
        service_dispatch(target, fd, (struct sockaddr *)&peer, from);
}

static int on_readable(EvFile *f, uint32_t events)
{
        Mux *m = container_of(f, Mux, ev);
        char peek[TCPMUX_LINE_MAX];
        size_t take;
        ssize_t n = recv(m->fd, peek, sizeof(m->line.buf) - m->line.len,
                         MSG_PEEK | MSG_DONTWAIT);
        int r;

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                mux_close(m);           /* the client left, or an error */
                return 0;
        }
        r = tcpmux_line_take(&m->line, peek, (size_t)n, &take);
        if (recv(m->fd, peek, take, MSG_DONTWAIT) != (ssize_t)take) {
                mux_close(m);
                return 0;
        }
        if (r == TCPMUX_LINE_DONE) {
                on_line(m, m->line.len - 1);
        } else if (r == TCPMUX_LINE_OVERLONG) {
                reply(m, "-Service name too long\r\n");
                log_refused(m, "overlong TCPMUX service name", m->line.buf, m->line.len);
                mux_close(m);
        }
        return 0;
}

static int on_timeout(EvTimer *t)
{
        Mux *m = container_of(t, Mux, timer);

        reply(m, "-Timeout reading the service name\r\n");
        mux_close(m);
        return 0;
}

void tcpmux_serve(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        uint64_t timeout = TCPMUX_NAME_TIMEOUT_SEC;
        Mux *m = calloc(1, sizeof(*m));

        if (!m) {
                portier_log(s->d->log, LOG_ERR, "service '%s': out of memory for a connection",
                            s->conf->id);
                (void)close(fd);
                return;
        }
        if (!inproc_begin(&m->conn, s, fd, peer, from, on_end)) {
                free(m);
                return;
        }
        m->conn.move = on_move;
        m->fd = fd;
        m->ev = EV_FILE_NULL;
        m->timer = EV_TIMER_NULL;
        memcpy(&m->peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                             : sizeof(struct sockaddr_in));
        snprintf(m->from, sizeof(m->from), "%s", from ? from : "");
        if (ev_file_add(s->d->loop, &m->ev, fd, EPOLLIN, on_readable) < 0) {
                mux_close(m);
                return;
        }
        if (s->conf->idle_timeout && s->conf->idle_timeout < timeout)
                timeout = s->conf->idle_timeout;
        ev_timer_arm_in(s->d->loop, &m->timer, timeout * EV_USEC_PER_SEC, on_timeout);
}
