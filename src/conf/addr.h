/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_ADDR_H
#define PORTIER_CONF_ADDR_H

/*
 * addr — the address forms of only_from and no_access: dotted IPv4 whose trailing .0 parts
 * are wildcards, factorized a.b.c.{x,y}, addr/prefix for IPv4 and IPv6, plain IPv6, network
 * names (/etc/networks), host names (resolved now, unless CONF_LOAD_NO_RESOLVE) and .domain
 * suffixes (matched later by reverse lookup).
 */

#include <stdbool.h>
#include <stddef.h>

#include "conf/arena.h"
#include "conf/conf.h"

/**
 * addr_parse() - parse one word of an address list.
 * @a: arena for the results
 * @word: the word
 * @resolve: resolve host names with getaddrinfo (blocking; off the event loop)
 * @ret: receives an array of addresses (a factorized form or a host name gives several)
 * @ret_n: its length (at least 1 on success)
 * @ret_err: on error, a static message saying what is wrong
 *
 * Return: 0, -EINVAL (bad form, see @ret_err), -ENOENT (a name that does not resolve),
 * -ENOMEM.
 */
int addr_parse(Arena *a, const char *word, bool resolve, ConfAddr **ret, size_t *ret_n,
               const char **ret_err);

/** addr_equal() - same kind, family, prefix and address (or same name). */
bool addr_equal(const ConfAddr *x, const ConfAddr *y);

/** addr_format() - write @x in a form addr_parse() reads back to the same value. */
void addr_format(const ConfAddr *x, char *buf, size_t size);

#endif
