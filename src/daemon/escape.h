/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_ESCAPE_H
#define PORTIERD_ESCAPE_H

/*
 * Escaping of bytes a client controls (ident replies, TCPMUX service names) before they reach
 * a log line, so that no client can forge a line, hide text behind terminal escapes or feed
 * invalid UTF-8 to a log reader.
 *
 * The scheme: every byte below 0x20, 0x7f, the backslash 0x5c and every byte from 0x80 up is
 * written as the four characters "\xHH" (lowercase hexadecimal); every other byte (printable
 * ASCII, space included) is copied. The backslash is escaped too, so the output decodes back
 * to the input without ambiguity: "\x5c" is a backslash that was sent, "\x0a" a line feed.
 */

#include <stddef.h>

/* The longest escaping of n bytes, terminating NUL included. */
#define ESCAPE_LOG_SIZE(n) ((n) * 4 + 1)

size_t escape_log(char *dst, size_t size, const void *src, size_t len);

#endif
