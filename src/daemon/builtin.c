/* SPDX-License-Identifier: MIT */
/*
 * builtin.c — echo, discard, daytime, chargen and time on the event loop (see builtin.h).
 *
 * A stream connection is one small heap object (Conn: the InprocConn record, the EvFile, an
 * idle timer) and no buffer: data passes through a buffer on the stack. echo peeks at the
 * client's bytes, sends them, then consumes exactly what send() took, so a client that does
 * not read leaves its bytes in its own socket's receive queue, and the daemon stops reading
 * (it waits for EPOLLOUT only) until the client reads again. chargen's output is a pure
 * function of the byte offset (builtin_chargen_fill()), so a short write needs no buffer
 * either. Memory per connection is therefore constant, whatever the client does.
 *
 * The idle timer is armed once per timeout period rather than at every transfer: it records
 * the time of the last transfer and, when it fires early, re-arms for the rest.
 *
 * Ownership: a Conn owns its descriptor; conn_close() is its only destructor and is reached
 * from the handlers (end of stream, error, idle) and from inproc's end callback (stop,
 * reload).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/builtin.h"
#include "daemon/daemon.h"
#include "daemon/tcpmux.h"

#define IO_CHUNK (64u * 1024)
#define DGRAM_MAX 65536
#define UDP_TABLE_CAPACITY 4096
#define SECONDS_1900_TO_1970 2208988800u

/* The 95 printable ASCII characters, space to tilde, that chargen's lines rotate through. */
#define RING_FIRST ' '
#define RING_SIZE 95
#define LINE_BYTES (CHARGEN_LINE + 2)

typedef enum BuiltinKind {
        BUILTIN_ECHO,
        BUILTIN_DISCARD,
        BUILTIN_DAYTIME,
        BUILTIN_TIME,
        BUILTIN_CHARGEN,
        BUILTIN_TCPMUX,
        BUILTIN_UNKNOWN,
} BuiltinKind;

typedef struct Conn {
        InprocConn conn;
        EvFile ev;
        EvTimer idle;
        int fd;
        BuiltinKind kind;
        uint64_t last;          /* ev_now() of the last transfer */
        uint64_t offset;        /* chargen: bytes sent */
} Conn;

static BuiltinKind kind_of(const char *name)
{
        static const char *const names[] = {
                [BUILTIN_ECHO] = "echo", [BUILTIN_DISCARD] = "discard",
                [BUILTIN_DAYTIME] = "daytime", [BUILTIN_TIME] = "time",
                [BUILTIN_CHARGEN] = "chargen", [BUILTIN_TCPMUX] = "tcpmux",
        };

        for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
                if (strcmp(names[i], name) == 0)
                        return (BuiltinKind)i;
        return BUILTIN_UNKNOWN;
}

/* --- pure helpers ------------------------------------------------------------------------ */

void builtin_chargen_fill(char *buf, size_t len, uint64_t offset)
{
        uint64_t line = offset / LINE_BYTES;
        unsigned col = (unsigned)(offset % LINE_BYTES);

        for (size_t i = 0; i < len; i++) {
                if (col < CHARGEN_LINE)
                        buf[i] = (char)(RING_FIRST + (line + 1 + col) % RING_SIZE);
                else
                        buf[i] = col == CHARGEN_LINE ? '\r' : '\n';
                if (++col == LINE_BYTES) {
                        col = 0;
                        line++;
                }
        }
}

size_t builtin_daytime(char *buf, size_t size, int64_t t)
{
        static const char *const months[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                              "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
        time_t tt = (time_t)t;
        struct tm tm;
        int n;

        if (!localtime_r(&tt, &tm))
                return 0;
        n = snprintf(buf, size, "%02d %s %d %02d:%02d:%02d %s\r\n", tm.tm_mday,
                     months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, tm.tm_zone ? tm.tm_zone : "UTC");
        return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

void builtin_time(unsigned char buf[4], int64_t t)
{
        uint32_t v = (uint32_t)((uint64_t)t + SECONDS_1900_TO_1970);

        buf[0] = (unsigned char)(v >> 24);
        buf[1] = (unsigned char)(v >> 16);
        buf[2] = (unsigned char)(v >> 8);
        buf[3] = (unsigned char)v;
}

int builtin_udp_source_refused(uint16_t port)
{
        return port < 1024 || port == 7 || port == 9 || port == 13 || port == 19 || port == 37;
}

/* --- stream connections ------------------------------------------------------------------ */

static void conn_close(Conn *c)
{
        ev_file_remove(&c->ev);
        ev_timer_disarm(&c->idle);
        (void)close(c->fd);
        inproc_end(&c->conn);
        free(c);
}

static void on_end(InprocConn *ic, InprocEndReason why)
{
        conn_close(container_of(ic, Conn, conn));
}

static void on_move(InprocConn *ic, EvLoop *to)
{
        Conn *c = container_of(ic, Conn, conn);

        if (ev_file_move(to, &c->ev) < 0)
                conn_close(c);
        else
                ev_timer_move(to, &c->idle);
}

static uint64_t idle_usec(const Conn *c)
{
        return (uint64_t)c->conn.svc->conf->idle_timeout * EV_USEC_PER_SEC;
}

static int on_idle(EvTimer *t)
{
        Conn *c = container_of(t, Conn, idle);
        uint64_t now = ev_now(t->loop), limit = idle_usec(c);

        if (limit == 0)
                return 0;
        if (now - c->last >= limit) {
                conn_close(c);
                return 0;
        }
        ev_timer_arm(t->loop, t, c->last + limit, on_idle);
        return 0;
}

static void want(Conn *c, uint32_t events)
{
        if (c->ev.events != events)
                (void)ev_file_set_events(&c->ev, events);
}

/* echo: send what was sent, consuming only what the socket took. Return: false when the
 * connection is over (closed by the caller). */
static bool echo_io(Conn *c)
{
        char buf[IO_CHUNK];

        for (size_t moved = 0; moved < BUILTIN_BATCH_BYTES;) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT), w;

                if (n == 0)
                        return false;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return false;
                        want(c, EPOLLIN);
                        return true;
                }
                w = send(c->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                return false;
                        want(c, EPOLLOUT);      /* stop reading until the client reads */
                        return true;
                }
                if (recv(c->fd, buf, (size_t)w, MSG_DONTWAIT) != w)
                        return false;           /* cannot happen: the bytes were queued */
                moved += (size_t)w;
                c->last = ev_now(c->ev.loop);
                if (w < n) {
                        want(c, EPOLLOUT);
                        return true;
                }
        }
        want(c, EPOLLIN);
        return true;
}

/* Read and drop what the client sends (discard; chargen's input). */
static bool drain_input(Conn *c)
{
        char buf[IO_CHUNK];

        for (size_t moved = 0; moved < BUILTIN_BATCH_BYTES;) {
                ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n == 0)
                        return false;
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR;
                moved += (size_t)n;
                c->last = ev_now(c->ev.loop);
        }
        return true;
}

static bool chargen_io(Conn *c, uint32_t events)
{
        char buf[IO_CHUNK - IO_CHUNK % LINE_BYTES];

        if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !drain_input(c))
                return false;
        if (!(events & EPOLLOUT))
                return true;
        for (size_t moved = 0; moved < BUILTIN_BATCH_BYTES;) {
                ssize_t w;

                builtin_chargen_fill(buf, sizeof(buf), c->offset);
                w = send(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0)
                        return errno == EAGAIN || errno == EINTR;
                c->offset += (uint64_t)w;
                moved += (size_t)w;
                c->last = ev_now(c->ev.loop);
                if ((size_t)w < sizeof(buf))
                        return true;    /* the socket is full: epoll says when it is not */
        }
        return true;
}

static int on_io(EvFile *f, uint32_t events)
{
        Conn *c = container_of(f, Conn, ev);
        bool go_on;

        switch (c->kind) {
        case BUILTIN_ECHO:
                go_on = echo_io(c);
                break;
        case BUILTIN_CHARGEN:
                go_on = chargen_io(c, events);
                break;
        default:
                go_on = drain_input(c);
                break;
        }
        if (!go_on)
                conn_close(c);
        return 0;
}

static void no_end(InprocConn *ic, InprocEndReason why)
{
        /* The connection ends before control returns to the loop: never called. */
}

/* daytime and time: the answer, then the end. */
static void answer_and_close(Service *s, BuiltinKind k, int fd, const struct sockaddr *peer,
                             const char *from)
{
        InprocConn ic;
        char buf[64];
        size_t len;

        if (!inproc_begin(&ic, s, fd, peer, from, no_end))
                return;
        if (k == BUILTIN_DAYTIME) {
                len = builtin_daytime(buf, sizeof(buf), time(NULL));
        } else {
                builtin_time((unsigned char *)buf, time(NULL));
                len = 4;
        }
        (void)send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)shutdown(fd, SHUT_WR);
        (void)close(fd);
        inproc_end(&ic);
}

void builtin_serve(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        BuiltinKind k = kind_of(s->conf->builtin);
        uint32_t events = EPOLLIN;
        Conn *c;

        switch (k) {
        case BUILTIN_DAYTIME:
        case BUILTIN_TIME:
                answer_and_close(s, k, fd, peer, from);
                return;
        case BUILTIN_TCPMUX:
                tcpmux_serve(s, fd, peer, from);
                return;
        case BUILTIN_UNKNOWN:
                (void)close(fd);
                return;
        case BUILTIN_CHARGEN:
                events = EPOLLIN | EPOLLOUT;
                break;
        default:
                break;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                portier_log(s->d->log, LOG_ERR, "service '%s': out of memory for a connection",
                            s->conf->id);
                (void)close(fd);
                return;
        }
        if (!inproc_begin(&c->conn, s, fd, peer, from, on_end)) {
                free(c);
                return;
        }
        c->conn.move = on_move;
        c->fd = fd;
        c->kind = k;
        c->ev = EV_FILE_NULL;
        c->idle = EV_TIMER_NULL;
        c->last = ev_now(s->d->loop);
        if (ev_file_add(s->d->loop, &c->ev, fd, events, on_io) < 0) {
                conn_close(c);
                return;
        }
        if (idle_usec(c))
                ev_timer_arm(s->d->loop, &c->idle, c->last + idle_usec(c), on_idle);
}

/* --- datagrams --------------------------------------------------------------------------- */

static uint16_t source_port(const struct sockaddr *sa)
{
        if (sa->sa_family == AF_INET)
                return ntohs(((const struct sockaddr_in *)sa)->sin_port);
        if (sa->sa_family == AF_INET6)
                return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
        return 0;
}

void builtin_udp_ports_update(Daemon *d)
{
        size_t words = 65536 / 64;

        if (!d->builtin_udp_ports && !(d->builtin_udp_ports = calloc(words, sizeof(uint64_t))))
                return;         /* then only the fixed ports are checked */
        memset(d->builtin_udp_ports, 0, words * sizeof(uint64_t));
        for (size_t i = 0; i < d->n_services; i++) {
                const ConfService *cs = d->services[i]->conf;

                if (cs->kind == CONF_KIND_INTERNAL && cs->socket_type == SOCK_DGRAM)
                        d->builtin_udp_ports[cs->port / 64] |= UINT64_C(1) << (cs->port % 64);
        }
}

static bool our_builtin_port(const Daemon *d, uint16_t port)
{
        return d->builtin_udp_ports &&
               (d->builtin_udp_ports[port / 64] & (UINT64_C(1) << (port % 64)));
}

/* The per-source answer limit without per_source_cps (with it, admission applied it). */
static bool udp_rate_ok(Service *s, const struct sockaddr *peer)
{
        AccessAddr key;

        if (s->conf->per_source_cps_rate)
                return true;
        if (!s->sources || ratelimit_table_key(s->sources, peer, &key) < 0)
                return false;
        return ratelimit_source_rate(s->sources, &key, BUILTIN_UDP_RATE,
                                     BUILTIN_UDP_BLOCK_SEC * EV_USEC_PER_SEC,
                                     ev_now(s->d->loop)) == RATELIMIT_OK;
}

static size_t udp_answer(BuiltinKind k, char *buf, size_t n, size_t size)
{
        switch (k) {
        case BUILTIN_ECHO:
                return n;
        case BUILTIN_DAYTIME:
                return builtin_daytime(buf, size, time(NULL));
        case BUILTIN_TIME:
                builtin_time((unsigned char *)buf, time(NULL));
                return 4;
        case BUILTIN_CHARGEN:
                builtin_chargen_fill(buf, BUILTIN_UDP_CHARGEN, 0);
                return BUILTIN_UDP_CHARGEN;
        default:
                return 0;
        }
}

static void udp_one(Service *s, BuiltinKind k, char *buf, size_t n,
                    const struct sockaddr *peer, socklen_t plen)
{
        char from[INET6_ADDRSTRLEN] = "", line[512];
        size_t len;

        s->counters.accepted++;
        if (builtin_udp_source_refused(source_port(peer)) ||
            our_builtin_port(s->d, source_port(peer))) {
                s->counters.dropped++;
                return;
        }
        (void)spawn_format_addr(peer, from, sizeof(from), NULL);
        if (!admit_connection(s, -1, peer, from))
                return;
        if (!udp_rate_ok(s, peer)) {
                s->counters.dropped++;
                return;
        }
        len = udp_answer(k, buf, n, DGRAM_MAX);
        if (k != BUILTIN_DISCARD &&
            sendto(s->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, peer, plen) < 0)
                s->counters.dropped++;
        s->counters.started++;
        if (logline_wants_start(s->conf->log_on_success)) {
                size_t m = logline_start(line, sizeof(line), s->conf->id,
                                         s->conf->log_on_success, 0, from);

                service_log(s, line, m);
        }
}

void builtin_datagrams(Service *s)
{
        BuiltinKind k = kind_of(s->conf->builtin);

        /* The per-source state of the answer limit (or of per_source_cps), made once and
         * kept across reloads with the service. Without it nothing is answered. */
        if (!s->sources)
                (void)ratelimit_table_new(UDP_TABLE_CAPACITY, RATELIMIT_V6_PREFIX_DEFAULT,
                                          &s->sources);
        for (unsigned i = 0; i < BUILTIN_DGRAM_BATCH && s->fd >= 0; i++) {
                char buf[DGRAM_MAX];
                struct sockaddr_storage peer;
                socklen_t plen = sizeof(peer);
                ssize_t n;

                n = recvfrom(s->fd, buf, DGRAM_MAX, MSG_DONTWAIT, (struct sockaddr *)&peer,
                             &plen);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EBADF)
                                return;
                        continue;       /* EINTR, or an ICMP error queued on the socket */
                }
                udp_one(s, k, buf, (size_t)n, (struct sockaddr *)&peer, plen);
        }
}
