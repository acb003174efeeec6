/* SPDX-License-Identifier: MIT */
/*
 * escape.c — escaping of client-controlled bytes for log lines (the scheme is in escape.h).
 *
 * Pure functions: no allocation, no state; output is always bounded by the caller's buffer
 * and always NUL-terminated when the buffer has room for at least the NUL.
 */

#include "daemon/escape.h"

#include <stdbool.h>
#include <stdint.h>

static bool escape_needed(uint8_t c)
{
        return c < 0x20 || c >= 0x7f || c == '\\';
}

/**
 * escape_log() - escape bytes for a log line.
 * @dst: output buffer (may be NULL when @size is 0).
 * @size: size of @dst in bytes, terminating NUL included.
 * @src: the bytes to escape (NULs included: they are escaped as "\x00").
 * @len: number of bytes at @src.
 *
 * Writes the escaped form of @src into @dst, cutting it short if it does not fit: the output
 * is then the longest prefix that fits, never ending inside an escape sequence. @dst is always
 * NUL-terminated when @size > 0.
 *
 * Return: the length the complete escaped string has (like snprintf()), terminating NUL not
 * included; a value >= @size means the output was cut short. ESCAPE_LOG_SIZE(@len) always
 * suffices.
 */
size_t escape_log(char *dst, size_t size, const void *src, size_t len)
{
        static const char hex[] = "0123456789abcdef";
        const uint8_t *s = src;
        size_t need = 0, w = 0;
        bool full = size == 0;

        for (size_t i = 0; i < len; i++) {
                uint8_t c = s[i];
                size_t n = escape_needed(c) ? 4 : 1;

                need += n;
                if (full)
                        continue;
                if (w + n >= size) {
                        /* no room for this unit and the NUL: stop writing, keep counting */
                        full = true;
                        continue;
                }
                if (n == 1) {
                        dst[w++] = (char)c;
                } else {
                        dst[w++] = '\\';
                        dst[w++] = 'x';
                        dst[w++] = hex[c >> 4];
                        dst[w++] = hex[c & 0xf];
                }
        }
        if (size > 0)
                dst[w] = '\0';
        return need;
}
