/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_INETD_H
#define PORTIER_CONF_INETD_H

/*
 * inetd — read inetd.conf lines (OpenBSD, FreeBSD, GNU and Debian forms) into service items
 * equivalent to xinetd blocks; the loader then applies the same attribute parsers and checks.
 */

#include <stddef.h>

#include "conf/arena.h"
#include "conf/conf.h"
#include "conf/parser.h"

/**
 * inetd_parse() - parse an inetd.conf buffer (modified in place, room for @size + 1 bytes).
 * Items are appended to @ret, marked inetd. Return: 0 or -ENOMEM.
 */
int inetd_parse(Arena *a, ConfDiag *diag, const char *file, char *buf, size_t size,
                ParseResult *ret);

#endif
