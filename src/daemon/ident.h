/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_IDENT_H
#define PORTIERD_IDENT_H

/*
 * The asynchronous RFC 1413 (ident) client, for `log_on_success = USERID`,
 * `log_on_failure = USERID` and `flags = IDONLY`.
 *
 * One IdentQuery asks the client's identd (port 113 on the peer's address, reached from the
 * address the connection came in on) who owns the TCP connection local <-> peer. It never
 * blocks: the daemon's epoll loop watches ident_query_fd() for ident_query_events(), calls
 * ident_query_step() on readiness, arms its own timer and frees the query when the timer fires
 * first. The module does not log; it returns codes and offers the xinetd-compatible log
 * entries as pure formatting functions. The parser is pure and fuzzed (fuzz/fuzz-ident.c).
 *
 * Protocol (RFC 1413): the query is "<port-on-server>,<port-on-client>\r\n", where the
 * "server" is the identd's host (our peer) and the "client" is us: the peer's port first,
 * then our local port. The reply is one line
 *     <port-on-server> , <port-on-client> : USERID : <opsys>[ , <charset>] : <user-id>
 *     <port-on-server> , <port-on-client> : ERROR : <error-type>
 * ended by CR LF. This client reads at most IDENT_LINE_MAX (1000) bytes, CR LF included,
 * and treats a longer line as a protocol error (RFC 1413: "Clients should feel free to abort a
 * connection if they receive 1000 characters without receiving an <EOL>"); bytes after the
 * line are ignored. A bare LF also ends the line. The reply's port pair must be the one asked
 * for. Tokens (USERID, ERROR, opsys, charset, error-type) are 1-64 printable ASCII characters
 * other than ':' and ','; white space (SP, HT, VT, FF) may surround every token. The user id is
 * everything after the colon that follows the opsys field, up to the end of line; it must be
 * at least one octet and may hold any octet but NUL, CR and LF. Peers given as v4-mapped IPv6
 * addresses are queried over IPv4.
 *
 * xinetd 2.3.15.3 compatibility. Observed here with Debian's xinetd on loopback (in a private
 * network namespace, a scripted identd on port 113, `log_type = FILE`) and read in xinetd's
 * src/ident.c, src/log.c, src/child.c and src/service.c:
 *
 *   - The USERID entry is "USERID: <service id> <text>", where <text> is the reply line after
 *     "USERID", optional white space, ":" and optional white space, verbatim up to the CR LF:
 *     opsys, charset and user id as the identd spaced them. Raw lines:
 *         26/11/22@05:04:17: USERID: uid UNIX:alice           <- "P,L:USERID:UNIX:alice"
 *         26/11/22@05:06:31: USERID: uid UNIX : alice         <- "P , L : USERID : UNIX : alice"
 *         26/11/22@05:04:19: USERID: uid UNIX,UTF-8:bob smith <- (its trailing space kept)
 *         26/11/22@05:04:21: USERID: uid OTHER: a:b:c         <- "P,L: USERID :OTHER: a:b:c"
 *     ident_format_userid() writes exactly this, with <text> escaped (daemon/escape.h).
 *   - The NOID entry is "NOID: <service id> <client address> <reason>", written only for
 *     `flags = IDONLY` services whose lookup failed; the connection is then closed without
 *     running the server. Reasons (xinetd's idresult_explain()): "no server" (connect failed),
 *     "timeout", "system error" (socket/bind/send failed), "error while receiving response"
 *     (read error, close before CR LF, line over xinetd's 1024 bytes), "bad response" (port
 *     mismatch, not a USERID reply — ERROR replies included —, or malformed). Raw lines:
 *         26/11/22@05:04:52: NOID: idonly 127.0.0.1 no server
 *         26/11/22@05:04:23: NOID: idonly 127.0.0.1 bad response              <- ERROR:NO-USER
 *         26/11/22@05:04:26: NOID: idonly 127.0.0.1 bad response              <- wrong port
 *         26/11/22@05:04:30: NOID: idonly 127.0.0.1 error while receiving response  <- close
 *     ident_format_noid() writes exactly this; ident_result_to_string() gives the reasons.
 *   - `log_on_success = USERID`: the lookup runs after the START line (xinetd does it in the
 *     forked child, before exec), and the server runs whatever the answer: the USERID line comes
 *     after START, and nothing at all is written to the service log for a failed lookup
 *     (ERROR reply, no identd, timeout, garbage). xinetd's timeout is 30 s for it.
 *         26/11/22@05:04:17: START: uid pid=9224 from=127.0.0.1
 *         26/11/22@05:04:17: USERID: uid UNIX:alice
 *   - `flags = IDONLY` (with USERID in log_on_success): the server runs only after a USERID
 *     reply (USERID line after START); otherwise NOID and the connection is closed. xinetd waits
 *     for the identd without any timeout in this case. IDONLY without USERID in log_on_success
 *     does nothing at all in xinetd (no lookup, the server runs, no warning).
 *         26/11/22@05:04:23: START: idonly pid=9656 from=127.0.0.1
 *         26/11/22@05:04:23: NOID: idonly 127.0.0.1 bad response
 *   - `log_on_failure = USERID`: for the refusals of limits, rates, load and time (instances,
 *     per_source, cps, load, -limit, access_times): after the FAIL line a USERID line when the
 *     lookup succeeds, nothing otherwise (a failure goes to the daemon's own log as "Failed to
 *     contact identity server at <addr>: <reason>"). Refusals by only_from/no_access, the
 *     SENSOR deny list and libwrap make no lookup at all (observed for time and address in
 *     the e2e tests against xinetd).
 *         26/11/22@05:04:45: FAIL: limited service_limit from=127.0.0.1
 *         26/11/22@05:04:45: USERID: limited UNIX:carol
 *   - <client address> in NOID is the numeric address as in from= (portier: v4-mapped clients
 *     as plain IPv4, DESIGN.md decision 5).
 *   - With `log_type = SYSLOG`, the entries are the same text at the service's facility and
 *     level; as xinetd writes them from a forked process, the tag carries that process's pid:
 *     the server's pid (as in START's pid=) for USERID/NOID after START, the pid of a separate
 *     short-lived lookup process for the USERID after a parent-side FAIL. A bad reply also
 *     makes xinetd write a daemon message (facility daemon, level err) from that process:
 *         <133>Nov 22 05:15:42 xinetd[2580]: START: uid pid=5443 from=127.0.0.1
 *         <133>Nov 22 05:15:42 xinetd[5443]: USERID: uid UNIX:alice
 *         <133>Nov 22 05:15:44 xinetd[2580]: FAIL: limited service_limit from=127.0.0.1
 *         <133>Nov 22 05:15:44 xinetd[10021]: USERID: limited UNIX:alice
 *         <27>Nov 22 05:15:45 xinetd[12741]: Bad line received from identity server at
 *                              127.0.0.1: 58220,20002:ERROR:NO-USER          (one line)
 *         <133>Nov 22 05:15:45 xinetd[12741]: NOID: idonly 127.0.0.1 bad response
 *
 * Deliberate differences from xinetd's parser (all make portier stricter or bounded): a reply
 * must end within 1000 bytes (xinetd: 1024); a bare LF ends a line (xinetd needs CR LF);
 * NUL, or CR before the end of line, is a bad response (xinetd logs a CR raw and cuts at a NUL);
 * a USERID reply needs the opsys ":" user-id part (xinetd logs "USERID: uid UNIX" for
 * "P,L:USERID:UNIX") and a non-empty user id, and tokens are checked; port numbers are plain
 * digits (xinetd also takes "+1234"); bytes a client controls are escaped in the log line.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon/escape.h"

#define IDENT_PORT 113
/* The longest reply line read, terminating CR LF included. */
#define IDENT_LINE_MAX 1000
/* The longest token (opsys, charset, error-type), RFC 1413. */
#define IDENT_TOKEN_MAX 64
/*
 * A buffer size that holds any USERID or NOID entry of a service whose id is id_len bytes
 * long, terminating NUL included (the escaped reply text is at most 4 bytes per byte).
 */
#define IDENT_ENTRY_SIZE(id_len) (sizeof("USERID: ") + (id_len) + ESCAPE_LOG_SIZE(IDENT_LINE_MAX))

typedef enum IdentReplyType {
        IDENT_REPLY_USERID = 1,
        IDENT_REPLY_ERROR = 2,
} IdentReplyType;

/*
 * One parsed reply line. All strings are NUL-terminated (a reply holding a NUL is refused, so
 * none is cut short).
 */
typedef struct IdentReply {
        IdentReplyType type;
        uint16_t port_on_server;                /* the peer's port, as echoed */
        uint16_t port_on_client;                /* our local port, as echoed */
        char opsys[IDENT_TOKEN_MAX + 1];        /* USERID: "UNIX", "OTHER", ... */
        char charset[IDENT_TOKEN_MAX + 1];      /* USERID: "" when absent (means US-ASCII) */
        char error[IDENT_TOKEN_MAX + 1];        /* ERROR: "NO-USER", "HIDDEN-USER", "X-..." */
        /* USERID: the user id after the opsys field's colon, leading white space skipped;
           any octet but NUL, CR and LF (escape it before logging) */
        char user_id[IDENT_LINE_MAX];
        size_t user_id_len;
        /* USERID: what xinetd logs — the line after "USERID :" and white space, verbatim */
        char text[IDENT_LINE_MAX];
        size_t text_len;
} IdentReply;

/*
 * How a lookup ended, in xinetd's terms (the reason in a NOID line). Only IDENT_RESULT_OK
 * identifies the client.
 */
typedef enum IdentResult {
        IDENT_RESULT_OK = 0,            /* a USERID reply */
        IDENT_RESULT_NO_SERVER,         /* "no server": the connection to port 113 failed */
        IDENT_RESULT_TIMEOUT,           /* "timeout": the caller's timer fired first */
        IDENT_RESULT_SYSTEM_ERROR,      /* "system error": socket, bind or send failed */
        IDENT_RESULT_RECEIVE_ERROR,     /* "error while receiving response" */
        IDENT_RESULT_BAD_RESPONSE,      /* "bad response": ERROR reply, wrong ports, garbage */
} IdentResult;

typedef struct IdentQuery IdentQuery;

int ident_parse_response(const char *buf, size_t len, uint16_t port_on_server,
                         uint16_t port_on_client, IdentReply *ret);

int ident_query_new(IdentQuery **ret, const struct sockaddr *local, const struct sockaddr *peer);
int ident_query_new_port(IdentQuery **ret, const struct sockaddr *local,
                         const struct sockaddr *peer, uint16_t ident_port);
IdentQuery *ident_query_free(IdentQuery *q);
void ident_query_freep(IdentQuery **q);

int ident_query_fd(const IdentQuery *q);
uint32_t ident_query_events(const IdentQuery *q);
int ident_query_step(IdentQuery *q);
IdentResult ident_query_result(const IdentQuery *q);
const IdentReply *ident_query_reply(const IdentQuery *q);

const char *ident_result_to_string(IdentResult result);
int ident_format_userid(char *buf, size_t size, const char *service_id, const IdentReply *r);
int ident_format_noid(char *buf, size_t size, const char *service_id, const char *addr,
                      IdentResult result);

#endif
