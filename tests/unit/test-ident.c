/* SPDX-License-Identifier: MIT */
/*
 * test-ident.c — the RFC 1413 client: the reply parser on good and bad lines, the log escaping,
 * the xinetd USERID/NOID entries, and the non-blocking state machine against a real identd.
 *
 * The identd is a forked child serving one connection on an ephemeral loopback port (the
 * query's identd port is a parameter, so no namespace and no port 113 are needed). It checks
 * the query line it receives and answers as the test asks; its exit status says whether the
 * query was the expected one. The query side runs its own small epoll loop, as portierd will.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/escape.h"
#include "daemon/ident.h"
#include "util.h"

/* ---- parser ---------------------------------------------------------------------------- */

static IdentReply reply;

static int parse(const char *line, uint16_t s, uint16_t c)
{
        return ident_parse_response(line, strlen(line), s, c, &reply);
}

static void test_parse_userid(void **state)
{
        assert_int_equal(parse("1234,80:USERID:UNIX:alice\r\n", 1234, 80), 0);
        assert_int_equal(reply.type, IDENT_REPLY_USERID);
        assert_int_equal(reply.port_on_server, 1234);
        assert_int_equal(reply.port_on_client, 80);
        assert_string_equal(reply.opsys, "UNIX");
        assert_string_equal(reply.charset, "");
        assert_string_equal(reply.user_id, "alice");
        assert_int_equal(reply.user_id_len, 5);
        assert_string_equal(reply.text, "UNIX:alice");
        assert_int_equal(reply.text_len, 10);

        /* the RFC's own example spacing: the text keeps it, the user id skips leading blanks */
        assert_int_equal(parse("6193, 23 : USERID : UNIX : stjohns\r\n", 6193, 23), 0);
        assert_string_equal(reply.opsys, "UNIX");
        assert_string_equal(reply.user_id, "stjohns");
        assert_string_equal(reply.text, "UNIX : stjohns");

        /* with a charset; trailing blanks are part of the user id */
        assert_int_equal(parse("1234,80:USERID:UNIX,UTF-8:bob smith \r\n", 1234, 80), 0);
        assert_string_equal(reply.opsys, "UNIX");
        assert_string_equal(reply.charset, "UTF-8");
        assert_string_equal(reply.user_id, "bob smith ");
        assert_string_equal(reply.text, "UNIX,UTF-8:bob smith ");

        /* tabs everywhere */
        assert_int_equal(parse("\t1234\t,\t80\t:\tUSERID\t:\tUNIX\t,\tUTF-8\t:\talice\t\r\n",
                               1234, 80), 0);
        assert_string_equal(reply.charset, "UTF-8");
        assert_string_equal(reply.user_id, "alice\t");
        assert_string_equal(reply.text, "UNIX\t,\tUTF-8\t:\talice\t");

        /* colons inside the user id belong to it */
        assert_int_equal(parse("1234,80: USERID :OTHER: a:b:c\r\n", 1234, 80), 0);
        assert_string_equal(reply.opsys, "OTHER");
        assert_string_equal(reply.user_id, "a:b:c");
        assert_string_equal(reply.text, "OTHER: a:b:c");

        /* leading zeros, and ports at their bounds */
        assert_int_equal(parse("0001234,080:USERID:UNIX:alice\r\n", 1234, 80), 0);
        assert_int_equal(parse("65535,1:USERID:UNIX:x\r\n", 65535, 1), 0);
}

static void test_parse_line_ends(void **state)
{
        /* CR LF, bare LF, and no terminator (the caller already cut the line) all parse */
        assert_int_equal(parse("1234,80:USERID:UNIX:alice\r\n", 1234, 80), 0);
        assert_string_equal(reply.user_id, "alice");
        assert_int_equal(parse("1234,80:USERID:UNIX:alice\n", 1234, 80), 0);
        assert_string_equal(reply.user_id, "alice");
        assert_int_equal(parse("1234,80:USERID:UNIX:alice", 1234, 80), 0);
        assert_string_equal(reply.user_id, "alice");
        assert_int_equal(parse("1234,80:USERID:UNIX:alice\r", 1234, 80), 0);
        assert_string_equal(reply.user_id, "alice");

        /* a CR, LF or NUL inside the line is not allowed (RFC 1413: not in a user id) */
        assert_int_equal(parse("1234,80:USERID:UNIX:al\rice\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234,80:USERID:UNIX:al\nice\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234,80:USERID:UNIX:alice\r\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234,80:USERID:UNIX:alice\n\n", 1234, 80), -EBADMSG);
        {
                static const char nul[] = "1234,80:USERID:UNIX:al\0ice\r\n";

                assert_int_equal(ident_parse_response(nul, sizeof(nul) - 1, 1234, 80, &reply),
                                 -EBADMSG);
        }
        assert_int_equal(ident_parse_response("", 0, 1234, 80, &reply), -EBADMSG);
        assert_int_equal(ident_parse_response(NULL, 0, 1234, 80, &reply), -EBADMSG);
        assert_int_equal(parse("\r\n", 1234, 80), -EBADMSG);
}

static void test_parse_error(void **state)
{
        static const char *const tokens[] = {
                "NO-USER", "HIDDEN-USER", "UNKNOWN-ERROR", "INVALID-PORT", "X-LOCAL-POLICY",
        };
        char line[128];

        for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
                snprintf(line, sizeof(line), "1234,80:ERROR:%s\r\n", tokens[i]);
                assert_int_equal(parse(line, 1234, 80), 0);
                assert_int_equal(reply.type, IDENT_REPLY_ERROR);
                assert_string_equal(reply.error, tokens[i]);
                assert_string_equal(reply.user_id, "");
                assert_int_equal(reply.text_len, 0);
        }
        assert_int_equal(parse("  1234 , 80 : ERROR : NO-USER  \r\n", 1234, 80), 0);
        assert_string_equal(reply.error, "NO-USER");

        assert_int_equal(parse("1234,80:ERROR\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234,80:ERROR:\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234,80:ERROR:NO-USER extra\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234,80:ERROR:NO USER\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234,80:ERROR:NO-USER:x\r\n", 1234, 80), -EBADMSG);
}

static void test_parse_ports(void **state)
{
        /* the pair must be the one asked for, in order */
        assert_int_equal(parse("1235,80:USERID:UNIX:alice\r\n", 1234, 80), -EPROTO);
        assert_int_equal(parse("1234,81:USERID:UNIX:alice\r\n", 1234, 80), -EPROTO);
        assert_int_equal(parse("80,1234:USERID:UNIX:alice\r\n", 1234, 80), -EPROTO);
        assert_int_equal(parse("1235,80:ERROR:NO-USER\r\n", 1234, 80), -EPROTO);

        /* not numbers, out of range, signs, missing */
        assert_int_equal(parse("65536,80:USERID:UNIX:alice\r\n", 0, 80), -EBADMSG);
        assert_int_equal(parse("99999999999,80:USERID:UNIX:a\r\n", 0, 80), -EBADMSG);
        assert_int_equal(parse("+1234,80:USERID:UNIX:alice\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("-1,80:USERID:UNIX:alice\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("0x10,80:USERID:UNIX:alice\r\n", 16, 80), -EBADMSG);
        assert_int_equal(parse(",80:USERID:UNIX:alice\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234,:USERID:UNIX:alice\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234:USERID:UNIX:alice\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("1234;80:USERID:UNIX:alice\r\n", 1234, 80), -EBADMSG);
        assert_int_equal(parse("12 34,80:USERID:UNIX:alice\r\n", 1234, 80), -EBADMSG);
}

static void test_parse_missing_fields(void **state)
{
        static const char *const bad[] = {
                "1234,80\r\n",
                "1234,80:\r\n",
                "1234,80:USERID\r\n",
                "1234,80:USERID:\r\n",
                "1234,80:USERID:UNIX\r\n",              /* no user id (xinetd logs "UNIX") */
                "1234,80:USERID:UNIX:\r\n",             /* empty user id */
                "1234,80:USERID:UNIX:   \r\n",          /* nothing but blanks */
                "1234,80:USERID::alice\r\n",            /* empty opsys */
                "1234,80:USERID:UNIX,:alice\r\n",       /* empty charset */
                "1234,80:USERID:UNIX,UTF-8,X:alice\r\n",
                "1234,80:USERID:UN IX:alice\r\n",       /* blank inside a token */
                "1234,80:USERID:UNIX alice\r\n",
                "1234,80:USERID UNIX:alice\r\n",
                "1234,80:userid:UNIX:alice\r\n",        /* tokens are upper case, as xinetd */
                "1234,80:USERIDX:UNIX:alice\r\n",
                "1234,80:USER:UNIX:alice\r\n",
                "1234,80:FOO:bar\r\n",
                "1234,80:USERID:UN\x01IX:alice\r\n",    /* control byte in a token */
                "1234,80:USERID:UNIX\xc3\xa9:alice\r\n", /* non-ASCII in a token */
                "USERID:UNIX:alice\r\n",
                "garbage\r\n",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int r = parse(bad[i], 1234, 80);

                if (r != -EBADMSG)
                        fail_msg("line %zu \"%s\": %d", i, bad[i], r);
        }
}

static void test_parse_lengths(void **state)
{
        char line[IDENT_LINE_MAX + 64], token[IDENT_TOKEN_MAX + 2];
        size_t prefix;

        /* exactly IDENT_LINE_MAX bytes, CR LF included: accepted */
        prefix = (size_t)snprintf(line, sizeof(line), "1234,80:USERID:UNIX:");
        memset(line + prefix, 'u', IDENT_LINE_MAX - prefix - 2);
        memcpy(line + IDENT_LINE_MAX - 2, "\r\n", 2);
        assert_int_equal(ident_parse_response(line, IDENT_LINE_MAX, 1234, 80, &reply), 0);
        assert_int_equal(reply.user_id_len, IDENT_LINE_MAX - prefix - 2);
        assert_int_equal(strlen(reply.user_id), reply.user_id_len);
        assert_int_equal(reply.text_len, IDENT_LINE_MAX - 2 - strlen("1234,80:USERID:"));

        /* one byte more: refused before anything is read */
        memset(line + prefix, 'u', IDENT_LINE_MAX - prefix - 1);
        memcpy(line + IDENT_LINE_MAX - 1, "\r\n", 2);
        assert_int_equal(ident_parse_response(line, IDENT_LINE_MAX + 1, 1234, 80, &reply),
                         -EMSGSIZE);

        /* tokens: 64 characters are fine, 65 are not */
        memset(token, 'T', IDENT_TOKEN_MAX);
        token[IDENT_TOKEN_MAX] = '\0';
        snprintf(line, sizeof(line), "1,2:USERID:%s,%s:alice\r\n", token, token);
        assert_int_equal(parse(line, 1, 2), 0);
        assert_int_equal(strlen(reply.opsys), IDENT_TOKEN_MAX);
        assert_int_equal(strlen(reply.charset), IDENT_TOKEN_MAX);
        snprintf(line, sizeof(line), "1,2:ERROR:X%s\r\n", token + 1);
        assert_int_equal(parse(line, 1, 2), 0);
        assert_int_equal(strlen(reply.error), IDENT_TOKEN_MAX);

        strcat(token, "T");
        snprintf(line, sizeof(line), "1,2:USERID:%s:alice\r\n", token);
        assert_int_equal(parse(line, 1, 2), -EBADMSG);
        snprintf(line, sizeof(line), "1,2:USERID:UNIX,%s:alice\r\n", token);
        assert_int_equal(parse(line, 1, 2), -EBADMSG);
        snprintf(line, sizeof(line), "1,2:ERROR:%s\r\n", token);
        assert_int_equal(parse(line, 1, 2), -EBADMSG);
}

static void test_parse_client_bytes(void **state)
{
        /* a user id may hold any octet but NUL, CR and LF: kept raw, escaped only for logs */
        assert_int_equal(parse("1,2:USERID:UNIX:ev\x01il\x1b[31m\\x\xff\x7f\r\n", 1, 2), 0);
        assert_string_equal(reply.user_id, "ev\x01il\x1b[31m\\x\xff\x7f");
        assert_int_equal(reply.user_id_len, 14);
        assert_int_equal(parse("1,2:USERID:UNIX,UTF-8:h\xc3\xa9l\xc3\xa8ne\r\n", 1, 2), 0);
        assert_string_equal(reply.user_id, "h\xc3\xa9l\xc3\xa8ne");
}

/* ---- escaping -------------------------------------------------------------------------- */

static void test_escape(void **state)
{
        char out[128];
        size_t n;

        n = escape_log(out, sizeof(out), "plain text, ok!~", 16);
        assert_int_equal(n, 16);
        assert_string_equal(out, "plain text, ok!~");

        n = escape_log(out, sizeof(out), "ev\x01il\x1b[31m\\x\xff\x7f\t\r\n", 17);
        assert_string_equal(out, "ev\\x01il\\x1b[31m\\x5cx\\xff\\x7f\\x09\\x0d\\x0a");
        assert_int_equal(n, strlen(out));

        n = escape_log(out, sizeof(out), "a\0b", 3);
        assert_string_equal(out, "a\\x00b");
        assert_int_equal(n, 6);

        n = escape_log(out, sizeof(out), "", 0);
        assert_int_equal(n, 0);
        assert_string_equal(out, "");

        /* every byte value: printable ASCII but the backslash is kept, the rest is \xHH */
        for (unsigned c = 0; c < 256; c++) {
                unsigned char b = (unsigned char)c;
                char want[8];

                n = escape_log(out, sizeof(out), &b, 1);
                if (c >= 0x20 && c < 0x7f && c != '\\')
                        snprintf(want, sizeof(want), "%c", (int)c);
                else
                        snprintf(want, sizeof(want), "\\x%02x", c);
                assert_string_equal(out, want);
                assert_int_equal(n, strlen(want));
        }
}

static void test_escape_bounded(void **state)
{
        char out[16];
        size_t n;

        /* cut short, never inside an escape, always terminated; the full length is returned */
        memset(out, 'Z', sizeof(out));
        n = escape_log(out, 6, "ab\x01" "cd", 5);
        assert_int_equal(n, 8);
        assert_string_equal(out, "ab");
        assert_int_equal(out[6], 'Z');

        n = escape_log(out, 7, "ab\x01" "cd", 5);
        assert_string_equal(out, "ab\\x01");
        n = escape_log(out, 9, "ab\x01" "cd", 5);
        assert_int_equal(n, 8);
        assert_string_equal(out, "ab\\x01cd");
        n = escape_log(out, 8, "ab\x01" "cd", 5);
        assert_string_equal(out, "ab\\x01c");

        n = escape_log(out, 1, "abc", 3);
        assert_int_equal(n, 3);
        assert_string_equal(out, "");
        n = escape_log(NULL, 0, "abc", 3);
        assert_int_equal(n, 3);

        /* ESCAPE_LOG_SIZE() always suffices */
        {
                char big[ESCAPE_LOG_SIZE(4)];

                n = escape_log(big, sizeof(big), "\xff\xff\xff\xff", 4);
                assert_true(n < sizeof(big));
                assert_string_equal(big, "\\xff\\xff\\xff\\xff");
        }
}

/* ---- log entries ----------------------------------------------------------------------- */

static void test_format_userid(void **state)
{
        char buf[ESCAPE_LOG_SIZE(IDENT_LINE_MAX) + 64];
        int n;

        /* the lines xinetd 2.3.15.3 wrote for these replies (see ident.h) */
        static const struct {
                const char *reply, *entry;
        } cases[] = {
                { "1,2:USERID:UNIX:alice\r\n", "USERID: uid UNIX:alice" },
                { "1 , 2 : USERID : UNIX : alice\r\n", "USERID: uid UNIX : alice" },
                { "1,2:USERID:UNIX,UTF-8:bob smith \r\n", "USERID: uid UNIX,UTF-8:bob smith " },
                { "1,2: USERID :OTHER: a:b:c\r\n", "USERID: uid OTHER: a:b:c" },
                { "1,2:USERID:UNIX:ev\x01il\x1b[31m\\x\xff\r\n",
                  "USERID: uid UNIX:ev\\x01il\\x1b[31m\\x5cx\\xff" },
                { "\t1\t,\t2\t:\tUSERID\t:\tUNIX\t,\tUTF-8\t:\talice\t\r\n",
                  "USERID: uid UNIX\\x09,\\x09UTF-8\\x09:\\x09alice\\x09" },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                assert_int_equal(parse(cases[i].reply, 1, 2), 0);
                n = ident_format_userid(buf, sizeof(buf), "uid", &reply);
                assert_string_equal(buf, cases[i].entry);
                assert_int_equal(n, strlen(cases[i].entry));
        }

        /* the worst case, a longest line of bytes that all need escaping, fits the bound */
        {
                char worst[IDENT_LINE_MAX];
                static char big[IDENT_ENTRY_SIZE(sizeof("a-service-id") - 1)];
                size_t pre = (size_t)snprintf(worst, sizeof(worst), "1,2:USERID:X:");

                memset(worst + pre, 0xff, IDENT_LINE_MAX - pre - 2);
                memcpy(worst + IDENT_LINE_MAX - 2, "\r\n", 2);
                assert_int_equal(ident_parse_response(worst, IDENT_LINE_MAX, 1, 2, &reply), 0);
                n = ident_format_userid(big, sizeof(big), "a-service-id", &reply);
                assert_int_equal(n, strlen("USERID: a-service-id X:") +
                                            4 * (IDENT_LINE_MAX - pre - 2));
                assert_true((size_t)n < sizeof(big));
        }

        /* too small a buffer: -ENOBUFS with a terminated prefix */
        assert_int_equal(parse("1,2:USERID:UNIX:\x01\x01\r\n", 1, 2), 0);
        assert_int_equal(ident_format_userid(buf, 21, "uid", &reply), -ENOBUFS);
        assert_string_equal(buf, "USERID: uid UNIX:");
        assert_int_equal(ident_format_userid(buf, 22, "uid", &reply), -ENOBUFS);
        assert_string_equal(buf, "USERID: uid UNIX:\\x01");
        assert_int_equal(ident_format_userid(buf, 25, "uid", &reply), -ENOBUFS);
        assert_int_equal(ident_format_userid(buf, 26, "uid", &reply), 25);
        assert_string_equal(buf, "USERID: uid UNIX:\\x01\\x01");
        assert_int_equal(ident_format_userid(buf, 8, "uid", &reply), -ENOBUFS);
        assert_int_equal(strlen(buf), 7);

        /* only USERID replies make a USERID entry */
        assert_int_equal(parse("1,2:ERROR:NO-USER\r\n", 1, 2), 0);
        assert_int_equal(ident_format_userid(buf, sizeof(buf), "uid", &reply), -EINVAL);
        assert_int_equal(ident_format_userid(buf, 0, "uid", &reply), -EINVAL);
}

static void test_format_noid(void **state)
{
        static const struct {
                IdentResult result;
                const char *entry;
        } cases[] = {
                { IDENT_RESULT_NO_SERVER, "NOID: idonly 127.0.0.1 no server" },
                { IDENT_RESULT_TIMEOUT, "NOID: idonly 127.0.0.1 timeout" },
                { IDENT_RESULT_SYSTEM_ERROR, "NOID: idonly 127.0.0.1 system error" },
                { IDENT_RESULT_RECEIVE_ERROR,
                  "NOID: idonly 127.0.0.1 error while receiving response" },
                { IDENT_RESULT_BAD_RESPONSE, "NOID: idonly 127.0.0.1 bad response" },
        };
        char buf[128];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                int n = ident_format_noid(buf, sizeof(buf), "idonly", "127.0.0.1",
                                          cases[i].result);

                assert_string_equal(buf, cases[i].entry);
                assert_int_equal(n, strlen(cases[i].entry));
        }
        assert_int_equal(ident_format_noid(buf, sizeof(buf), "s", "::1", IDENT_RESULT_TIMEOUT),
                         strlen("NOID: s ::1 timeout"));
        assert_string_equal(buf, "NOID: s ::1 timeout");
        assert_int_equal(ident_format_noid(buf, sizeof(buf), "s", "::1", IDENT_RESULT_OK),
                         -EINVAL);
        assert_int_equal(ident_format_noid(buf, 10, "s", "::1", IDENT_RESULT_TIMEOUT), -ENOBUFS);
        assert_string_equal(buf, "NOID: s :");

        assert_string_equal(ident_result_to_string(IDENT_RESULT_OK), "no error");
        assert_string_equal(ident_result_to_string((IdentResult)42), "UNKNOWN");
}

/* ---- the client against a real identd ---------------------------------------------------- */

typedef enum ServerMode {
        SERVE_USERID,           /* "P,L:USERID:UNIX:alice\r\n" */
        SERVE_ERROR,            /* "P,L : ERROR : NO-USER\r\n" */
        SERVE_CLOSE,            /* read the query, close without a word */
        SERVE_SPLIT,            /* a USERID reply a few bytes per write, with pauses */
        SERVE_OVERLONG,         /* 1200 bytes, the LF at 1100 */
        SERVE_NO_EOL,           /* 1001 bytes and no LF, connection kept open */
        SERVE_EXACT,            /* a line of exactly IDENT_LINE_MAX bytes */
        SERVE_WRONG_PORTS,      /* a USERID reply about other ports */
        SERVE_TRAILING,         /* a reply, then more lines */
        SERVE_SILENT,           /* read the query, then say nothing for 3 s */
        SERVE_LF_ONLY,          /* a USERID reply ended by a bare LF */
} ServerMode;

typedef struct Identd {
        pid_t pid;
        int family;
        uint16_t port;
} Identd;

static void sleep_ms(long ms)
{
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static bool write_str(int fd, const char *s, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, s, len);

                if (n <= 0)
                        return false;
                s += n;
                len -= (size_t)n;
        }
        return true;
}

/* The identd child: exit 0 when the query was "<ps>,<pc>\r\n" and the answer went out. */
static void identd_child(int lfd, ServerMode mode, uint16_t ps, uint16_t pc)
{
        char query[64], want[64], out[1300];
        size_t len = 0;
        int c, n;

        alarm(10);
        c = accept(lfd, NULL, NULL);
        if (c < 0)
                _exit(3);
        while (len < sizeof(query) - 1 && !memchr(query, '\n', len)) {
                ssize_t k = read(c, query + len, sizeof(query) - 1 - len);

                if (k <= 0)
                        _exit(4);
                len += (size_t)k;
        }
        query[len] = '\0';
        snprintf(want, sizeof(want), "%u,%u\r\n", (unsigned)ps, (unsigned)pc);
        if (strcmp(query, want) != 0)
                _exit(2);

        switch (mode) {
        case SERVE_USERID:
                n = snprintf(out, sizeof(out), "%u,%u:USERID:UNIX:alice\r\n", ps, pc);
                if (!write_str(c, out, (size_t)n))
                        _exit(5);
                break;
        case SERVE_ERROR:
                n = snprintf(out, sizeof(out), "%u , %u : ERROR : NO-USER\r\n", ps, pc);
                if (!write_str(c, out, (size_t)n))
                        _exit(5);
                break;
        case SERVE_CLOSE:
                break;
        case SERVE_SPLIT:
                n = snprintf(out, sizeof(out), "%u,%u:USERID:UNIX,UTF-8:split user\r\n", ps, pc);
                for (int i = 0; i < n; i += 3) {
                        if (!write_str(c, out + i, (size_t)(n - i < 3 ? n - i : 3)))
                                _exit(5);
                        sleep_ms(5);
                }
                break;
        case SERVE_OVERLONG:
                n = snprintf(out, sizeof(out), "%u,%u:USERID:UNIX:", ps, pc);
                memset(out + n, 'x', 1200 - (size_t)n);
                out[1100] = '\n';
                if (!write_str(c, out, 1200))
                        _exit(5);
                break;
        case SERVE_NO_EOL:
                memset(out, 'y', 1001);
                if (!write_str(c, out, 1001))
                        _exit(5);
                sleep_ms(3000);
                break;
        case SERVE_EXACT:
                n = snprintf(out, sizeof(out), "%u,%u:USERID:UNIX:", ps, pc);
                memset(out + n, 'e', IDENT_LINE_MAX - (size_t)n);
                memcpy(out + IDENT_LINE_MAX - 2, "\r\n", 2);
                if (!write_str(c, out, IDENT_LINE_MAX))
                        _exit(5);
                break;
        case SERVE_WRONG_PORTS:
                n = snprintf(out, sizeof(out), "%u,%u:USERID:UNIX:alice\r\n", pc, ps);
                if (!write_str(c, out, (size_t)n))
                        _exit(5);
                break;
        case SERVE_TRAILING:
                n = snprintf(out, sizeof(out),
                             "%u,%u:USERID:UNIX:first\r\n%u,%u:USERID:UNIX:second\r\nrest",
                             ps, pc, ps, pc);
                if (!write_str(c, out, (size_t)n))
                        _exit(5);
                break;
        case SERVE_SILENT:
                sleep_ms(3000);
                break;
        case SERVE_LF_ONLY:
                n = snprintf(out, sizeof(out), "%u,%u:USERID:UNIX:alice\n", ps, pc);
                if (!write_str(c, out, (size_t)n))
                        _exit(5);
                break;
        }
        sleep_ms(50);
        close(c);
        _exit(0);
}

/* Start an identd on an ephemeral loopback port of the family; -1 if the family is missing. */
static int identd_start(Identd *d, int family, ServerMode mode, uint16_t ps, uint16_t pc)
{
        struct sockaddr_storage ss = { 0 };
        socklen_t len;
        int lfd, one = 1;

        lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0)
                return -1;
        (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)&ss;

                in->sin_family = AF_INET;
                in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(*in);
        } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

                in6->sin6_family = AF_INET6;
                in6->sin6_addr = in6addr_loopback;
                len = sizeof(*in6);
        }
        if (bind(lfd, (struct sockaddr *)&ss, len) < 0 || listen(lfd, 4) < 0 ||
            getsockname(lfd, (struct sockaddr *)&ss, &len) < 0) {
                close(lfd);
                return -1;
        }
        d->family = family;
        d->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);
        d->pid = fork();
        assert_true(d->pid >= 0);
        if (d->pid == 0)
                identd_child(lfd, mode, ps, pc);
        close(lfd);
        return 0;
}

/* Wait for the identd; its exit status (0: it saw the expected query and answered). */
static int identd_wait(Identd *d, bool kill_it)
{
        int status;

        if (kill_it)
                (void)kill(d->pid, SIGKILL);
        assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
        if (kill_it)
                return 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static struct sockaddr_in sin4(const char *addr, uint16_t port)
{
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(port) };

        assert_int_equal(inet_pton(AF_INET, addr, &in.sin_addr), 1);
        return in;
}

static struct sockaddr_in6 sin6(const char *addr, uint16_t port)
{
        struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

        assert_int_equal(inet_pton(AF_INET6, addr, &in6.sin6_addr), 1);
        return in6;
}

/*
 * Drive the query as portierd's loop does, for at most timeout_ms. Returns what the last
 * ident_query_step() returned (0 when the time ran out); *saw_in tells whether the query ever
 * asked for EPOLLIN.
 */
static int drive(IdentQuery *q, int timeout_ms, bool *saw_in)
{
        struct epoll_event ev = { .events = ident_query_events(q) };
        struct timespec start, now;
        int ep, r = 0;

        *saw_in = false;
        ep = epoll_create1(EPOLL_CLOEXEC);
        assert_true(ep >= 0);
        assert_int_equal(ev.events, EPOLLOUT);
        assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, ident_query_fd(q), &ev), 0);
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                struct epoll_event got;
                long left;
                int n;

                clock_gettime(CLOCK_MONOTONIC, &now);
                left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
                                     (now.tv_nsec - start.tv_nsec) / 1000000);
                if (left <= 0)
                        break;
                n = epoll_wait(ep, &got, 1, (int)left);
                if (n < 0 && errno == EINTR)
                        continue;
                assert_true(n >= 0);
                if (n == 0)
                        break;
                r = ident_query_step(q);
                if (r != 0)
                        break;
                ev.events = ident_query_events(q);
                assert_true(ev.events == EPOLLOUT || ev.events == EPOLLIN);
                if (ev.events == EPOLLIN)
                        *saw_in = true;
                assert_int_equal(epoll_ctl(ep, EPOLL_CTL_MOD, ident_query_fd(q), &ev), 0);
        }
        close(ep);
        return r;
}

/* One IPv4 query from 127.0.0.1:2323 about the client 127.0.0.1:40000 to an identd in mode. */
static int run4(ServerMode mode, IdentQuery **ret_q, int *ret_server, int timeout_ms)
{
        struct sockaddr_in local = sin4("127.0.0.1", 2323), peer = sin4("127.0.0.1", 40000);
        Identd d;
        bool saw_in;
        int r;

        assert_int_equal(identd_start(&d, AF_INET, mode, 40000, 2323), 0);
        assert_int_equal(ident_query_new_port(ret_q, (struct sockaddr *)&local,
                                              (struct sockaddr *)&peer, d.port), 0);
        assert_int_equal(ident_query_result(*ret_q), IDENT_RESULT_TIMEOUT);
        assert_null(ident_query_reply(*ret_q));
        r = drive(*ret_q, timeout_ms, &saw_in);
        *ret_server = identd_wait(&d, r == 0 || mode == SERVE_NO_EOL || mode == SERVE_SILENT);
        return r;
}

static void test_query_userid(void **state)
{
        IdentQuery *q;
        const IdentReply *rep;
        char line[256];
        int server;

        assert_int_equal(run4(SERVE_USERID, &q, &server, 5000), 1);
        assert_int_equal(server, 0);
        assert_int_equal(ident_query_result(q), IDENT_RESULT_OK);
        assert_int_equal(ident_query_events(q), 0);
        rep = ident_query_reply(q);
        assert_non_null(rep);
        assert_int_equal(rep->type, IDENT_REPLY_USERID);
        assert_string_equal(rep->opsys, "UNIX");
        assert_string_equal(rep->user_id, "alice");
        assert_int_equal(ident_format_userid(line, sizeof(line), "svc", rep),
                         strlen("USERID: svc UNIX:alice"));
        assert_string_equal(line, "USERID: svc UNIX:alice");
        /* stepping a finished query again changes nothing */
        assert_int_equal(ident_query_step(q), 1);
        assert_true(ident_query_fd(q) >= 0);
        q = ident_query_free(q);
        assert_null(q);
}

static void test_query_error_reply(void **state)
{
        IdentQuery *q;
        const IdentReply *rep;
        char line[256];
        int server;

        assert_int_equal(run4(SERVE_ERROR, &q, &server, 5000), 1);
        assert_int_equal(server, 0);
        rep = ident_query_reply(q);
        assert_non_null(rep);
        assert_int_equal(rep->type, IDENT_REPLY_ERROR);
        assert_string_equal(rep->error, "NO-USER");
        /* for xinetd an ERROR reply is a "bad response" */
        assert_int_equal(ident_query_result(q), IDENT_RESULT_BAD_RESPONSE);
        assert_true(ident_format_noid(line, sizeof(line), "svc", "127.0.0.1",
                                      ident_query_result(q)) > 0);
        assert_string_equal(line, "NOID: svc 127.0.0.1 bad response");
        ident_query_free(q);
}

static void test_query_close_without_reply(void **state)
{
        IdentQuery *q;
        int server;

        assert_int_equal(run4(SERVE_CLOSE, &q, &server, 5000), -ECONNRESET);
        assert_int_equal(server, 0);
        assert_int_equal(ident_query_result(q), IDENT_RESULT_RECEIVE_ERROR);
        assert_int_equal(ident_query_events(q), 0);
        assert_null(ident_query_reply(q));
        assert_int_equal(ident_query_step(q), -ECONNRESET);
        ident_query_free(q);
}

static void test_query_refused(void **state)
{
        struct sockaddr_in local = sin4("127.0.0.1", 2323), peer = sin4("127.0.0.1", 40000);
        struct sockaddr_in bound = sin4("127.0.0.1", 0);
        socklen_t len = sizeof(bound);
        IdentQuery *q;
        bool saw_in;
        int hold;

        /* a port that is bound but not listening: connections to it are refused */
        hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(hold >= 0);
        assert_int_equal(bind(hold, (struct sockaddr *)&bound, sizeof(bound)), 0);
        assert_int_equal(getsockname(hold, (struct sockaddr *)&bound, &len), 0);

        assert_int_equal(ident_query_new_port(&q, (struct sockaddr *)&local,
                                              (struct sockaddr *)&peer, ntohs(bound.sin_port)),
                         0);
        assert_int_equal(drive(q, 5000, &saw_in), -ECONNREFUSED);
        assert_false(saw_in);
        assert_int_equal(ident_query_result(q), IDENT_RESULT_NO_SERVER);
        assert_int_equal(ident_query_events(q), 0);
        assert_int_equal(ident_query_step(q), -ECONNREFUSED);
        ident_query_free(q);
        close(hold);
}

static void test_query_split(void **state)
{
        IdentQuery *q;
        const IdentReply *rep;
        int server;

        assert_int_equal(run4(SERVE_SPLIT, &q, &server, 5000), 1);
        assert_int_equal(server, 0);
        rep = ident_query_reply(q);
        assert_non_null(rep);
        assert_string_equal(rep->charset, "UTF-8");
        assert_string_equal(rep->user_id, "split user");
        assert_int_equal(ident_query_result(q), IDENT_RESULT_OK);
        ident_query_free(q);
}

static void test_query_overlong(void **state)
{
        IdentQuery *q;
        int server;

        assert_int_equal(run4(SERVE_OVERLONG, &q, &server, 5000), -EMSGSIZE);
        assert_int_equal(server, 0);
        assert_int_equal(ident_query_result(q), IDENT_RESULT_RECEIVE_ERROR);
        ident_query_free(q);

        /* no end of line at all: given up after IDENT_LINE_MAX bytes, not at close */
        assert_int_equal(run4(SERVE_NO_EOL, &q, &server, 2000), -EMSGSIZE);
        assert_int_equal(ident_query_result(q), IDENT_RESULT_RECEIVE_ERROR);
        ident_query_free(q);

        /* exactly IDENT_LINE_MAX bytes is still fine */
        assert_int_equal(run4(SERVE_EXACT, &q, &server, 5000), 1);
        assert_int_equal(server, 0);
        assert_int_equal(ident_query_reply(q)->user_id_len,
                         IDENT_LINE_MAX - 2 - strlen("40000,2323:USERID:UNIX:"));
        ident_query_free(q);
}

static void test_query_wrong_ports(void **state)
{
        IdentQuery *q;
        int server;

        assert_int_equal(run4(SERVE_WRONG_PORTS, &q, &server, 5000), -EPROTO);
        assert_int_equal(server, 0);
        assert_int_equal(ident_query_result(q), IDENT_RESULT_BAD_RESPONSE);
        assert_null(ident_query_reply(q));
        ident_query_free(q);
}

static void test_query_line_ends(void **state)
{
        IdentQuery *q;
        int server;

        /* only the first line counts */
        assert_int_equal(run4(SERVE_TRAILING, &q, &server, 5000), 1);
        assert_int_equal(server, 0);
        assert_string_equal(ident_query_reply(q)->user_id, "first");
        ident_query_free(q);

        assert_int_equal(run4(SERVE_LF_ONLY, &q, &server, 5000), 1);
        assert_int_equal(server, 0);
        assert_string_equal(ident_query_reply(q)->user_id, "alice");
        ident_query_free(q);
}

static void test_query_timeout(void **state)
{
        IdentQuery *q;
        char line[128];
        int server;

        /* the caller's timer fires first: the query is still running, its result "timeout" */
        assert_int_equal(run4(SERVE_SILENT, &q, &server, 300), 0);
        assert_int_equal(ident_query_events(q), EPOLLIN);
        assert_int_equal(ident_query_result(q), IDENT_RESULT_TIMEOUT);
        assert_null(ident_query_reply(q));
        assert_true(ident_format_noid(line, sizeof(line), "svc", "127.0.0.1",
                                      ident_query_result(q)) > 0);
        assert_string_equal(line, "NOID: svc 127.0.0.1 timeout");
        ident_query_free(q);
}

static void test_query_ipv6(void **state)
{
        struct sockaddr_in6 local = sin6("::1", 2323), peer = sin6("::1", 40000);
        IdentQuery *q;
        Identd d;
        bool saw_in;

        if (identd_start(&d, AF_INET6, SERVE_USERID, 40000, 2323) < 0)
                skip();
        assert_int_equal(ident_query_new_port(&q, (struct sockaddr *)&local,
                                              (struct sockaddr *)&peer, d.port), 0);
        assert_int_equal(drive(q, 5000, &saw_in), 1);
        assert_int_equal(identd_wait(&d, false), 0);
        assert_string_equal(ident_query_reply(q)->user_id, "alice");
        ident_query_free(q);
}

static void test_query_v4_mapped(void **state)
{
        /* a client on a dual-stack socket: asked over IPv4, from the IPv4 local address */
        struct sockaddr_in6 local = sin6("::ffff:127.0.0.1", 2323);
        struct sockaddr_in6 peer = sin6("::ffff:127.0.0.1", 40000);
        IdentQuery *q;
        Identd d;
        bool saw_in;

        assert_int_equal(identd_start(&d, AF_INET, SERVE_USERID, 40000, 2323), 0);
        assert_int_equal(ident_query_new_port(&q, (struct sockaddr *)&local,
                                              (struct sockaddr *)&peer, d.port), 0);
        assert_int_equal(drive(q, 5000, &saw_in), 1);
        assert_int_equal(identd_wait(&d, false), 0);
        assert_string_equal(ident_query_reply(q)->user_id, "alice");
        ident_query_free(q);
}

static void test_query_bad_arguments(void **state)
{
        struct sockaddr_in l4 = sin4("127.0.0.1", 2323), p4 = sin4("127.0.0.1", 40000);
        struct sockaddr_in6 p6 = sin6("::1", 40000);
        struct sockaddr unix_sa = { .sa_family = AF_UNIX };
        IdentQuery *q = NULL;

        assert_int_equal(ident_query_new(&q, (struct sockaddr *)&l4, (struct sockaddr *)&p6),
                         -EINVAL);
        assert_int_equal(ident_query_new(&q, &unix_sa, (struct sockaddr *)&p4), -EAFNOSUPPORT);
        assert_int_equal(ident_query_new(&q, (struct sockaddr *)&l4, &unix_sa), -EAFNOSUPPORT);
        assert_int_equal(ident_query_new(&q, NULL, (struct sockaddr *)&p4), -EINVAL);
        assert_int_equal(ident_query_new_port(&q, (struct sockaddr *)&l4,
                                              (struct sockaddr *)&p4, 0), -EINVAL);
        assert_null(q);

        /* a local address that is not ours cannot be bound: a system error at once */
        {
                struct sockaddr_in foreign = sin4("192.0.2.1", 2323);

                assert_int_equal(ident_query_new(&q, (struct sockaddr *)&foreign,
                                                 (struct sockaddr *)&p4), -EADDRNOTAVAIL);
                assert_null(q);
        }
        assert_null(ident_query_free(NULL));
        {
                IdentQuery *p = NULL;

                ident_query_freep(&p);
        }
}

static void test_query_close_on_exec(void **state)
{
        struct sockaddr_in local = sin4("127.0.0.1", 2323), peer = sin4("127.0.0.1", 40000);
        _cleanup_(ident_query_freep) IdentQuery *q = NULL;
        int flags;

        /* port 113 on loopback: whatever happens there, the socket's flags are what matter */
        assert_int_equal(ident_query_new(&q, (struct sockaddr *)&local,
                                         (struct sockaddr *)&peer), 0);
        flags = fcntl(ident_query_fd(q), F_GETFD);
        assert_true(flags & FD_CLOEXEC);
        flags = fcntl(ident_query_fd(q), F_GETFL);
        assert_true(flags & O_NONBLOCK);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_userid),
                cmocka_unit_test(test_parse_line_ends),
                cmocka_unit_test(test_parse_error),
                cmocka_unit_test(test_parse_ports),
                cmocka_unit_test(test_parse_missing_fields),
                cmocka_unit_test(test_parse_lengths),
                cmocka_unit_test(test_parse_client_bytes),
                cmocka_unit_test(test_escape),
                cmocka_unit_test(test_escape_bounded),
                cmocka_unit_test(test_format_userid),
                cmocka_unit_test(test_format_noid),
                cmocka_unit_test(test_query_userid),
                cmocka_unit_test(test_query_error_reply),
                cmocka_unit_test(test_query_close_without_reply),
                cmocka_unit_test(test_query_refused),
                cmocka_unit_test(test_query_split),
                cmocka_unit_test(test_query_overlong),
                cmocka_unit_test(test_query_wrong_ports),
                cmocka_unit_test(test_query_line_ends),
                cmocka_unit_test(test_query_timeout),
                cmocka_unit_test(test_query_ipv6),
                cmocka_unit_test(test_query_v4_mapped),
                cmocka_unit_test(test_query_bad_arguments),
                cmocka_unit_test(test_query_close_on_exec),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
