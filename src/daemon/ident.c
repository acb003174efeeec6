/* SPDX-License-Identifier: MIT */
/*
 * ident.c — the asynchronous RFC 1413 client (the protocol, the xinetd formats and the
 * differences from xinetd are described in ident.h).
 *
 * An IdentQuery owns one non-blocking, close-on-exec TCP socket and a fixed buffer of
 * IDENT_LINE_MAX bytes; nothing is allocated after ident_query_new(). Its state machine is
 *
 *     CONNECTING --(connected)--> SENDING --(query sent)--> RECEIVING --(line)--> DONE
 *          \________________________\_______________________\________________> FAILED
 *
 * ident_query_step() advances it as far as the socket allows (until EAGAIN), so it works with
 * level- and edge-triggered epoll alike. The socket stays open until ident_query_free(), even
 * when the query is over, so that the caller's epoll registration never refers to a closed
 * (and maybe reused) descriptor; closing it in ident_query_free() drops it from epoll sets.
 */

#include "daemon/ident.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/escape.h"
#include "util.h"

typedef enum IdentState {
        IDENT_STATE_CONNECTING,
        IDENT_STATE_SENDING,
        IDENT_STATE_RECEIVING,
        IDENT_STATE_DONE,
        IDENT_STATE_FAILED,
} IdentState;

struct IdentQuery {
        int fd;
        IdentState state;
        int error;                      /* -errno once FAILED */
        bool reported;                  /* ident_query_step() has been called */
        IdentResult result;             /* once DONE or FAILED */
        uint16_t port_on_server;        /* the peer's port */
        uint16_t port_on_client;        /* our local port */
        char request[sizeof("65535,65535\r\n")];
        size_t request_len;
        size_t request_sent;
        size_t buf_len;
        char buf[IDENT_LINE_MAX];
        IdentReply reply;
};

/* ---- the reply parser ------------------------------------------------------------------- */

/* White space between tokens: SP, HT, VT, FF (CR and LF never reach the parser's scan). */
static bool is_ws(char c)
{
        return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

/* RFC 1413 token characters: printable ASCII without ':' and ','. */
static bool is_tchar(char c)
{
        return c > 0x20 && c < 0x7f && c != ':' && c != ',';
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
        while (i < len && is_ws(s[i]))
                i++;
        return i;
}

/* Read decimal digits at s[*i] into a port number (1 to 10 digits, leading zeros allowed). */
static int parse_port(const char *s, size_t len, size_t *i, uint16_t *ret)
{
        uint32_t v = 0;
        size_t n = 0;

        while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
                if (++n > 10)
                        return -EBADMSG;
                v = v * 10 + (uint32_t)(s[*i] - '0');
                if (v > 65535)
                        return -EBADMSG;
                (*i)++;
        }
        if (n == 0)
                return -EBADMSG;
        *ret = (uint16_t)v;
        return 0;
}

/* Read a token at s[*i] into ret (IDENT_TOKEN_MAX + 1 bytes). */
static int parse_token(const char *s, size_t len, size_t *i, char *ret)
{
        size_t start = *i, n;

        while (*i < len && is_tchar(s[*i]))
                (*i)++;
        n = *i - start;
        if (n == 0 || n > IDENT_TOKEN_MAX)
                return -EBADMSG;
        memcpy(ret, s + start, n);
        ret[n] = '\0';
        return 0;
}

/* Expect optional white space, the character c, optional white space. */
static int expect(const char *s, size_t len, size_t *i, char c)
{
        *i = skip_ws(s, len, *i);
        if (*i >= len || s[*i] != c)
                return -EBADMSG;
        *i = skip_ws(s, len, *i + 1);
        return 0;
}

static bool token_is(const char *s, size_t len, size_t i, const char *word)
{
        size_t n = strlen(word);

        return len - i >= n && memcmp(s + i, word, n) == 0 &&
               (len - i == n || !is_tchar(s[i + n]));
}

/* The USERID reply's additional info: "<opsys>[ , <charset>] : <user-id>" at s[i]. */
static int parse_userid(const char *s, size_t len, size_t i, IdentReply *r)
{
        size_t j;
        int k;

        /* what xinetd logs: everything from here, verbatim */
        r->text_len = len - i;
        memcpy(r->text, s + i, r->text_len);
        r->text[r->text_len] = '\0';

        k = parse_token(s, len, &i, r->opsys);
        if (k < 0)
                return k;
        j = skip_ws(s, len, i);
        if (j < len && s[j] == ',') {
                i = skip_ws(s, len, j + 1);
                k = parse_token(s, len, &i, r->charset);
                if (k < 0)
                        return k;
                j = skip_ws(s, len, i);
        }
        if (j >= len || s[j] != ':')
                return -EBADMSG;
        /* the user id: after the colon to the end of line; leading white space skipped */
        j = skip_ws(s, len, j + 1);
        if (j >= len)
                return -EBADMSG;
        r->user_id_len = len - j;
        memcpy(r->user_id, s + j, r->user_id_len);
        r->user_id[r->user_id_len] = '\0';
        r->type = IDENT_REPLY_USERID;
        return 0;
}

/**
 * ident_parse_response() - parse one RFC 1413 reply line.
 * @buf: the line, with or without its terminating CR LF (or LF); not NUL-terminated.
 * @len: its length, at most IDENT_LINE_MAX.
 * @port_on_server: the first port of the query (the peer's port on its connection to us).
 * @port_on_client: the second port of the query (our local port on that connection).
 * @ret: the parsed reply; its content is unspecified on failure.
 *
 * Pure and bounded: reads exactly @len bytes of @buf, allocates nothing.
 *
 * Return: 0 when @buf is a well-formed USERID or ERROR reply for these ports (@ret->type says
 * which); -EMSGSIZE when @len exceeds IDENT_LINE_MAX; -EPROTO when the line is well formed up
 * to its port pair but the pair is not the one asked for; -EBADMSG for anything else malformed
 * (missing fields, bad or overlong tokens, NUL, CR or LF inside the line, an empty user id).
 */
int ident_parse_response(const char *buf, size_t len, uint16_t port_on_server,
                         uint16_t port_on_client, IdentReply *ret)
{
        size_t i = 0;
        int r;

        if (len > IDENT_LINE_MAX)
                return -EMSGSIZE;
        if (!buf || len == 0)
                return -EBADMSG;
        memset(ret, 0, sizeof(*ret));

        if (len > 0 && buf[len - 1] == '\n')
                len--;
        if (len > 0 && buf[len - 1] == '\r')
                len--;
        if (memchr(buf, '\0', len) || memchr(buf, '\r', len) || memchr(buf, '\n', len))
                return -EBADMSG;

        i = skip_ws(buf, len, 0);
        r = parse_port(buf, len, &i, &ret->port_on_server);
        if (r < 0)
                return r;
        r = expect(buf, len, &i, ',');
        if (r < 0)
                return r;
        r = parse_port(buf, len, &i, &ret->port_on_client);
        if (r < 0)
                return r;
        r = expect(buf, len, &i, ':');
        if (r < 0)
                return r;
        if (ret->port_on_server != port_on_server || ret->port_on_client != port_on_client)
                return -EPROTO;

        if (token_is(buf, len, i, "USERID")) {
                i += strlen("USERID");
                r = expect(buf, len, &i, ':');
                if (r < 0)
                        return r;
                return parse_userid(buf, len, i, ret);
        }
        if (token_is(buf, len, i, "ERROR")) {
                i += strlen("ERROR");
                r = expect(buf, len, &i, ':');
                if (r < 0)
                        return r;
                r = parse_token(buf, len, &i, ret->error);
                if (r < 0)
                        return r;
                if (skip_ws(buf, len, i) != len)
                        return -EBADMSG;
                ret->type = IDENT_REPLY_ERROR;
                return 0;
        }
        return -EBADMSG;
}

/* ---- the query ------------------------------------------------------------------------- */

/*
 * Copy a peer or local address into ret, turning a v4-mapped IPv6 address into IPv4. Returns
 * the address length, or -EAFNOSUPPORT.
 */
static int normalize_addr(const struct sockaddr *sa, struct sockaddr_storage *ret)
{
        memset(ret, 0, sizeof(*ret));
        if (sa->sa_family == AF_INET) {
                memcpy(ret, sa, sizeof(struct sockaddr_in));
                return (int)sizeof(struct sockaddr_in);
        }
        if (sa->sa_family == AF_INET6) {
                struct sockaddr_in6 in6;

                memcpy(&in6, sa, sizeof(in6));
                if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
                        struct sockaddr_in *in = (struct sockaddr_in *)ret;

                        in->sin_family = AF_INET;
                        in->sin_port = in6.sin6_port;
                        memcpy(&in->sin_addr, &in6.sin6_addr.s6_addr[12], 4);
                        return (int)sizeof(struct sockaddr_in);
                }
                memcpy(ret, &in6, sizeof(in6));
                return (int)sizeof(struct sockaddr_in6);
        }
        return -EAFNOSUPPORT;
}

/* The port of a normalized address, and a way to set it (network byte order inside). */
static uint16_t addr_port(const struct sockaddr_storage *ss)
{
        if (ss->ss_family == AF_INET)
                return ntohs(((const struct sockaddr_in *)ss)->sin_port);
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void addr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
        if (ss->ss_family == AF_INET)
                ((struct sockaddr_in *)ss)->sin_port = htons(port);
        else
                ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static int query_fail(IdentQuery *q, IdentResult result, int error)
{
        q->state = IDENT_STATE_FAILED;
        q->result = result;
        q->error = error;
        return error;
}

/**
 * ident_query_new_port() - start an ident query, naming the identd's port.
 * @ret: the new query.
 * @local: our end of the connection to identify (getsockname()); AF_INET or AF_INET6.
 * @peer: the client's end (getpeername()); same family as @local, v4-mapped allowed.
 * @ident_port: the port the identd listens on (IDENT_PORT; tests use another).
 *
 * Creates a non-blocking, close-on-exec TCP socket, binds it to @local's address (port 0) so
 * that multi-homed hosts query from the address the client connected to, and starts a
 * non-blocking connect to @peer's address at @ident_port. A v4-mapped @peer (and @local) is
 * queried over IPv4. A connect that fails at once (e.g. ECONNREFUSED, ENETUNREACH) does not
 * fail this call: the query is created failed, its socket reports readiness, and the first
 * ident_query_step() returns the error with IDENT_RESULT_NO_SERVER.
 *
 * Return: 0 on success; -EINVAL or -EAFNOSUPPORT for bad addresses; -ENOMEM, or the -errno of
 * socket() or bind() (xinetd's "system error").
 */
int ident_query_new_port(IdentQuery **ret, const struct sockaddr *local,
                         const struct sockaddr *peer, uint16_t ident_port)
{
        _cleanup_free_ IdentQuery *q = NULL;
        struct sockaddr_storage l, p;
        int llen, plen, n;

        if (!ret || !local || !peer || ident_port == 0)
                return -EINVAL;
        llen = normalize_addr(local, &l);
        if (llen < 0)
                return llen;
        plen = normalize_addr(peer, &p);
        if (plen < 0)
                return plen;
        if (l.ss_family != p.ss_family)
                return -EINVAL;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->fd = -1;
        q->port_on_server = addr_port(&p);
        q->port_on_client = addr_port(&l);
        n = snprintf(q->request, sizeof(q->request), "%u,%u\r\n", (unsigned)q->port_on_server,
                     (unsigned)q->port_on_client);
        if (n < 0 || (size_t)n >= sizeof(q->request))
                return -EINVAL;
        q->request_len = (size_t)n;

        q->fd = socket(p.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (q->fd < 0)
                return -errno;
        addr_set_port(&l, 0);
        if (bind(q->fd, (struct sockaddr *)&l, (socklen_t)llen) < 0) {
                int r = -errno;

                q->fd = safe_close(q->fd);
                return r;
        }
        addr_set_port(&p, ident_port);
        if (connect(q->fd, (struct sockaddr *)&p, (socklen_t)plen) == 0)
                q->state = IDENT_STATE_SENDING;
        else if (errno == EINPROGRESS || errno == EINTR)
                q->state = IDENT_STATE_CONNECTING;
        else
                (void)query_fail(q, IDENT_RESULT_NO_SERVER, -errno);

        *ret = TAKE_PTR(q);
        return 0;
}

/**
 * ident_query_new() - start an ident query to the peer's port 113.
 * @ret: the new query.
 * @local: our end of the connection (getsockname()).
 * @peer: the client's end (getpeername()).
 *
 * ident_query_new_port() with IDENT_PORT.
 *
 * Return: as ident_query_new_port().
 */
int ident_query_new(IdentQuery **ret, const struct sockaddr *local, const struct sockaddr *peer)
{
        return ident_query_new_port(ret, local, peer, IDENT_PORT);
}

/**
 * ident_query_free() - end a query, finished or not, and close its socket.
 * @q: the query, or NULL.
 *
 * Closing the socket removes it from every epoll set it is in (it is never duplicated).
 *
 * Return: NULL.
 */
IdentQuery *ident_query_free(IdentQuery *q)
{
        if (!q)
                return NULL;
        q->fd = safe_close(q->fd);
        free(q);
        return NULL;
}

/**
 * ident_query_freep() - ident_query_free() for _cleanup_.
 * @q: where the query pointer is.
 */
void ident_query_freep(IdentQuery **q)
{
        *q = ident_query_free(*q);
}

/**
 * ident_query_fd() - the descriptor to watch.
 * @q: the query.
 *
 * Return: the query's socket; valid until ident_query_free().
 */
int ident_query_fd(const IdentQuery *q)
{
        return q->fd;
}

/**
 * ident_query_events() - the epoll events the query waits for.
 * @q: the query.
 *
 * Call it after ident_query_new() and after every ident_query_step() that returns 0, and
 * update the epoll registration when the answer changes. EPOLLERR and EPOLLHUP are reported by
 * epoll anyway; they also mean "call ident_query_step()".
 *
 * Return: EPOLLOUT while connecting or sending (and for a query that failed at once, whose
 * socket is immediately ready), EPOLLIN while waiting for the reply, 0 once the query is over.
 */
uint32_t ident_query_events(const IdentQuery *q)
{
        switch (q->state) {
        case IDENT_STATE_CONNECTING:
        case IDENT_STATE_SENDING:
                return EPOLLOUT;
        case IDENT_STATE_RECEIVING:
                return EPOLLIN;
        case IDENT_STATE_FAILED:
                /* failed in ident_query_new(): one more step reports it */
                return q->reported ? 0 : EPOLLOUT;
        case IDENT_STATE_DONE:
        default:
                return 0;
        }
}

static int step_connecting(IdentQuery *q)
{
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        int err = 0;
        socklen_t errlen = sizeof(err);

        if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
                return query_fail(q, IDENT_RESULT_SYSTEM_ERROR, -errno);
        if (err != 0)
                return query_fail(q, IDENT_RESULT_NO_SERVER, -err);
        /* no error yet: connected, or a spurious wake-up while the handshake goes on */
        if (getpeername(q->fd, (struct sockaddr *)&ss, &sslen) < 0) {
                if (errno == ENOTCONN)
                        return 0;
                return query_fail(q, IDENT_RESULT_SYSTEM_ERROR, -errno);
        }
        q->state = IDENT_STATE_SENDING;
        return 0;
}

static int step_sending(IdentQuery *q)
{
        while (q->request_sent < q->request_len) {
                ssize_t n = send(q->fd, q->request + q->request_sent,
                                 q->request_len - q->request_sent, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 0;
                        return query_fail(q, IDENT_RESULT_SYSTEM_ERROR, -errno);
                }
                q->request_sent += (size_t)n;
        }
        q->state = IDENT_STATE_RECEIVING;
        return 0;
}

static int step_receiving(IdentQuery *q)
{
        for (;;) {
                size_t room = sizeof(q->buf) - q->buf_len;
                char *eol;
                ssize_t n;
                int r;

                if (room == 0)
                        return query_fail(q, IDENT_RESULT_RECEIVE_ERROR, -EMSGSIZE);
                n = recv(q->fd, q->buf + q->buf_len, room, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 0;
                        return query_fail(q, IDENT_RESULT_RECEIVE_ERROR, -errno);
                }
                if (n == 0)     /* closed before the end of line: RFC 1413's UNKNOWN-ERROR */
                        return query_fail(q, IDENT_RESULT_RECEIVE_ERROR, -ECONNRESET);

                eol = memchr(q->buf + q->buf_len, '\n', (size_t)n);
                q->buf_len += (size_t)n;
                if (!eol)
                        continue;

                r = ident_parse_response(q->buf, (size_t)(eol - q->buf) + 1, q->port_on_server,
                                         q->port_on_client, &q->reply);
                if (r < 0)
                        return query_fail(q, IDENT_RESULT_BAD_RESPONSE, r);
                q->state = IDENT_STATE_DONE;
                q->result = q->reply.type == IDENT_REPLY_USERID ? IDENT_RESULT_OK
                                                                : IDENT_RESULT_BAD_RESPONSE;
                return 1;
        }
}

/**
 * ident_query_step() - advance the query on readiness of its socket.
 * @q: the query.
 *
 * Does everything the socket allows without waiting: completes the connect, sends the query,
 * reads the reply (at most IDENT_LINE_MAX bytes) and parses it. Calling it again once the
 * query is over returns the same value. Spurious calls are harmless.
 *
 * Return: 0 while the query is in progress (see ident_query_events()); 1 when a reply was
 * parsed — a USERID or an ERROR reply, see ident_query_reply() and ident_query_result();
 * a negative errno when the query failed: the connect's error (-ECONNREFUSED, -ENETUNREACH,
 * -ETIMEDOUT, ...), a send or receive error, -ECONNRESET when the identd closed before the end
 * of line, -EMSGSIZE when no end of line came within IDENT_LINE_MAX bytes, -EPROTO for a reply
 * about other ports, -EBADMSG for a malformed reply. ident_query_result() classifies it.
 */
int ident_query_step(IdentQuery *q)
{
        int r;

        q->reported = true;
        for (;;) {
                switch (q->state) {
                case IDENT_STATE_CONNECTING:
                        r = step_connecting(q);
                        if (r < 0 || q->state == IDENT_STATE_CONNECTING)
                                return r;
                        break;
                case IDENT_STATE_SENDING:
                        r = step_sending(q);
                        if (r < 0 || q->state == IDENT_STATE_SENDING)
                                return r;
                        break;
                case IDENT_STATE_RECEIVING:
                        return step_receiving(q);
                case IDENT_STATE_DONE:
                        return 1;
                case IDENT_STATE_FAILED:
                default:
                        return q->error;
                }
        }
}

/**
 * ident_query_result() - how the query ended, in xinetd's terms.
 * @q: the query.
 *
 * Return: the outcome once ident_query_step() returned 1 or an error (IDENT_RESULT_OK only for
 * a USERID reply; an ERROR reply is IDENT_RESULT_BAD_RESPONSE, as in xinetd). While the query
 * is still running: IDENT_RESULT_TIMEOUT, which is what it is when the caller's timer fires.
 */
IdentResult ident_query_result(const IdentQuery *q)
{
        if (q->state == IDENT_STATE_DONE || q->state == IDENT_STATE_FAILED)
                return q->result;
        return IDENT_RESULT_TIMEOUT;
}

/**
 * ident_query_reply() - the parsed reply.
 * @q: the query.
 *
 * Return: the USERID or ERROR reply once ident_query_step() returned 1 (valid until
 * ident_query_free()); NULL otherwise.
 */
const IdentReply *ident_query_reply(const IdentQuery *q)
{
        return q->state == IDENT_STATE_DONE ? &q->reply : NULL;
}

/* ---- log entries ------------------------------------------------------------------------ */

/**
 * ident_result_to_string() - xinetd's words for an outcome (the reason of a NOID line).
 * @result: the outcome.
 *
 * Return: "no error", "no server", "timeout", "system error", "error while receiving response"
 * or "bad response"; "UNKNOWN" for a value outside the enum, as xinetd.
 */
const char *ident_result_to_string(IdentResult result)
{
        switch (result) {
        case IDENT_RESULT_OK:
                return "no error";
        case IDENT_RESULT_NO_SERVER:
                return "no server";
        case IDENT_RESULT_TIMEOUT:
                return "timeout";
        case IDENT_RESULT_SYSTEM_ERROR:
                return "system error";
        case IDENT_RESULT_RECEIVE_ERROR:
                return "error while receiving response";
        case IDENT_RESULT_BAD_RESPONSE:
                return "bad response";
        }
        return "UNKNOWN";
}

/**
 * ident_format_userid() - the USERID log entry, as xinetd writes it.
 * @buf: output buffer.
 * @size: its size, at least 1.
 * @service_id: the service's id (from the configuration; written as is).
 * @r: a USERID reply.
 *
 * Writes "USERID: <service_id> <text>" where <text> is @r->text (the reply after "USERID :",
 * verbatim) escaped with escape_log(). No time stamp, no newline: the log sink adds them.
 *
 * Return: the length written (terminating NUL not included); -EINVAL if @r is not a USERID
 * reply or @size is 0; -ENOBUFS if the entry did not fit (@buf then holds as much of it as
 * fits, NUL-terminated, never ending inside an escape sequence).
 */
int ident_format_userid(char *buf, size_t size, const char *service_id, const IdentReply *r)
{
        size_t need;
        int n;

        if (!buf || size == 0 || !service_id || !r || r->type != IDENT_REPLY_USERID ||
            r->text_len >= sizeof(r->text))
                return -EINVAL;
        n = snprintf(buf, size, "USERID: %s ", service_id);
        if (n < 0)
                return -EINVAL;
        if ((size_t)n >= size)
                return -ENOBUFS;
        need = escape_log(buf + n, size - (size_t)n, r->text, r->text_len);
        if (need >= size - (size_t)n || need > (size_t)(INT_MAX - n))
                return -ENOBUFS;
        return n + (int)need;
}

/**
 * ident_format_noid() - the NOID log entry, as xinetd writes it.
 * @buf: output buffer.
 * @size: its size, at least 1.
 * @service_id: the service's id.
 * @addr: the client's numeric address, as in "from=" (v4-mapped written as plain IPv4).
 * @result: why the lookup failed (not IDENT_RESULT_OK).
 *
 * Writes "NOID: <service_id> <addr> <reason>" with the reason from ident_result_to_string().
 *
 * Return: the length written; -EINVAL for IDENT_RESULT_OK or bad arguments; -ENOBUFS if the
 * entry did not fit (@buf then holds a truncated, NUL-terminated entry).
 */
int ident_format_noid(char *buf, size_t size, const char *service_id, const char *addr,
                      IdentResult result)
{
        int n;

        if (!buf || size == 0 || !service_id || !addr || result == IDENT_RESULT_OK)
                return -EINVAL;
        n = snprintf(buf, size, "NOID: %s %s %s", service_id, addr,
                     ident_result_to_string(result));
        if (n < 0)
                return -EINVAL;
        if ((size_t)n >= size)
                return -ENOBUFS;
        return n;
}
