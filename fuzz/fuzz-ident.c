/* SPDX-License-Identifier: MIT */
/*
 * fuzz-ident — libFuzzer target for the RFC 1413 reply parser, ident_parse_response(), and the
 * log escaping and USERID entry built from what it accepts.
 *
 * Input: two bytes of port_on_server and two of port_on_client (big endian), then the reply
 * line. A reply rejected only for its port pair (-EPROTO) is parsed again with the ports it
 * names, so the fuzzer reaches the rest of the grammar without guessing ports. Every accepted
 * reply is checked against the parser's promises (terminated strings, consistent lengths, no
 * NUL/CR/LF, token syntax) and its log entry must be printable ASCII; a broken promise aborts.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/escape.h"
#include "daemon/ident.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
        if (!ok)
                abort();
}

static void check_token(const char *t, int may_be_empty)
{
        size_t n = strlen(t);

        check(n <= IDENT_TOKEN_MAX);
        check(may_be_empty || n > 0);
        for (size_t i = 0; i < n; i++)
                check(t[i] > 0x20 && t[i] < 0x7f && t[i] != ':' && t[i] != ',');
}

static void check_reply(const IdentReply *r, uint16_t ps, uint16_t pc)
{
        static char line[ESCAPE_LOG_SIZE(IDENT_LINE_MAX) + 64];
        int n;

        check(r->port_on_server == ps && r->port_on_client == pc);
        if (r->type == IDENT_REPLY_ERROR) {
                check_token(r->error, 0);
                check(r->user_id_len == 0 && r->text_len == 0);
                check(ident_format_userid(line, sizeof(line), "svc", r) == -EINVAL);
                return;
        }
        check(r->type == IDENT_REPLY_USERID);
        check_token(r->opsys, 0);
        check_token(r->charset, 1);
        check(r->user_id_len > 0 && r->user_id_len < sizeof(r->user_id));
        check(strlen(r->user_id) == r->user_id_len);
        check(r->text_len < sizeof(r->text) && strlen(r->text) == r->text_len);
        check(!memchr(r->user_id, '\r', r->user_id_len));
        check(!memchr(r->user_id, '\n', r->user_id_len));
        check(r->user_id[0] != ' ' && r->user_id[0] != '\t');

        n = ident_format_userid(line, sizeof(line), "svc", r);
        check(n > 0 && (size_t)n == strlen(line));
        for (int i = 0; i < n; i++)
                check(line[i] >= 0x20 && line[i] < 0x7f);
        /* the same entry cut short stays terminated and printable */
        n = ident_format_userid(line, 1 + (size_t)r->text_len % 40, "svc", r);
        check(n == -ENOBUFS || (n >= 0 && (size_t)n == strlen(line)));
        for (size_t i = 0; line[i]; i++)
                check(line[i] >= 0x20 && line[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static IdentReply r;
        uint16_t ps, pc;
        const char *line;
        size_t len;
        int k;

        if (size < 4)
                return 0;
        ps = (uint16_t)(data[0] << 8 | data[1]);
        pc = (uint16_t)(data[2] << 8 | data[3]);
        line = (const char *)data + 4;
        len = size - 4;

        k = ident_parse_response(line, len, ps, pc, &r);
        if (k == -EPROTO) {
                ps = r.port_on_server;
                pc = r.port_on_client;
                k = ident_parse_response(line, len, ps, pc, &r);
                check(k != -EPROTO);
        }
        check(k == 0 || k == -EBADMSG || k == -EMSGSIZE);
        check(k != -EMSGSIZE || len > IDENT_LINE_MAX);
        if (k == 0)
                check_reply(&r, ps, pc);
        return 0;
}
