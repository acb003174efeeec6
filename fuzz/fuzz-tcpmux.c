/* SPDX-License-Identifier: MIT */
/*
 * fuzz-tcpmux — libFuzzer target for the TCPMUX name line: the reader that takes bytes off
 * the socket up to the LF (tcpmux_line_take()), the name parser (tcpmux_parse_name()) and the
 * escaping of what the client sent for the log (escape_log()).
 *
 * Input: the first byte sets the size of the chunks the client's bytes arrive in (1 to 256),
 * the rest is what the client sends. The reader's promises are checked and a broken one
 * aborts: it never takes more than it was offered nor past an LF, never holds more than
 * TCPMUX_LINE_MAX bytes, ends a line exactly at an LF, and what follows the line is left
 * untaken; an accepted name is 1..TCPMUX_NAME_MAX printable characters without spaces; the
 * escaped log text is printable ASCII and decodes back to the bytes.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/escape.h"
#include "daemon/tcpmux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
        if (!ok)
                abort();
}

static int hexval(char c)
{
        return c >= '0' && c <= '9' ? c - '0' : c - 'a' + 10;
}

/* The escaped text is printable and decodes back to the original bytes. */
static void check_escape(const char *src, size_t len)
{
        char esc[ESCAPE_LOG_SIZE(TCPMUX_LINE_MAX)];
        size_t n = escape_log(esc, sizeof(esc), src, len), j = 0;

        check(n < sizeof(esc) && strlen(esc) == n);
        for (size_t i = 0; i < n; j++) {
                check(esc[i] >= 0x20 && esc[i] < 0x7f);
                if (esc[i] == '\\') {
                        check(i + 3 < n + 1 && esc[i + 1] == 'x');
                        check((char)(hexval(esc[i + 2]) << 4 | hexval(esc[i + 3])) == src[j]);
                        i += 4;
                } else {
                        check(esc[i] == src[j] && src[j] != '\\');
                        i++;
                }
        }
        check(j == len);
}

static void check_name(const char *line, size_t len)
{
        char name[TCPMUX_NAME_MAX + 1];
        int r = tcpmux_parse_name(line, len, name, sizeof(name));

        check(r == 0 || r == TCPMUX_E_EMPTY || r == TCPMUX_E_BADCHAR || r == TCPMUX_E_TOO_LONG);
        if (r != 0)
                return;
        size_t n = strlen(name);

        check(n >= 1 && n <= TCPMUX_NAME_MAX);
        check(n == len || (n + 1 == len && line[len - 1] == '\r'));
        check(memcmp(name, line, n) == 0);
        for (size_t i = 0; i < n; i++)
                check(name[i] > ' ' && name[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        TcpmuxLine l = { 0 };
        size_t chunk, off = 0;
        int r = TCPMUX_LINE_MORE;

        if (size < 1)
                return 0;
        chunk = (size_t)data[0] + 1;
        data++;
        size--;
        while (off < size && r == TCPMUX_LINE_MORE) {
                size_t n = size - off < chunk ? size - off : chunk, take = 0;
                size_t before = l.len;

                r = tcpmux_line_take(&l, (const char *)data + off, n, &take);
                check(take <= n && l.len == before + take && l.len <= TCPMUX_LINE_MAX);
                check(memcmp(l.buf + before, data + off, take) == 0);
                check(memchr(data + off, '\n', take ? take - 1 : 0) == NULL);
                if (r == TCPMUX_LINE_DONE)
                        check(take > 0 && data[off + take - 1] == '\n');
                else if (r == TCPMUX_LINE_OVERLONG)
                        check(l.len == TCPMUX_LINE_MAX && !memchr(l.buf, '\n', l.len));
                else
                        check(r == TCPMUX_LINE_MORE && take == n);
                off += take;
        }
        if (r == TCPMUX_LINE_DONE)
                check_name(l.buf, l.len - 1);
        check_escape(l.buf, l.len);
        return 0;
}
