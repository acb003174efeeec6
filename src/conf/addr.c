/* SPDX-License-Identifier: MIT */
/*
 * addr — address-list words to ConfAddr values. xinetd's rules: a dotted IPv4 address read
 * with inet_aton() whose trailing zero bytes are wildcards ("10.0.0.0" is 10/8, "0.0.0.0"
 * matches everyone); "a.b.c.{1,2}" stands for a.b.c.1 and a.b.c.2 as /32 — or, with fewer
 * given parts, the wildcarded networks; an explicit /prefix is exact; a name is a network
 * from /etc/networks, else a host name resolved to all its addresses.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/addr.h"
#include "conf/value.h"

static void mask_addr(uint8_t *addr, unsigned len, unsigned prefix)
{
        for (unsigned i = 0; i < len; i++) {
                unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
                if (bits >= 8)
                        continue;
                addr[i] &= (uint8_t) (0xff00u >> bits);
        }
}

/* xinetd: trailing zero bytes of a dotted address are wildcards. */
static unsigned wildcard_prefix(const uint8_t *a)
{
        unsigned n = 4;
        while (n > 0 && a[n - 1] == 0)
                n--;
        return n * 8;
}

static bool valid_name(const char *s)
{
        if (!*s || strlen(s) > 253)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.' || *s == '_'))
                        return false;
        return true;
}

static ConfAddr *one(Arena *a, const char *word, ConfAddr **ret, size_t *ret_n)
{
        ConfAddr *x = arena_alloc(a, sizeof(*x));
        if (!x || !(x->text = arena_strdup(a, word)))
                return NULL;
        *ret = x;
        *ret_n = 1;
        return x;
}

static int parse_factorized(Arena *a, const char *word, ConfAddr **ret, size_t *ret_n,
                            const char **ret_err)
{
        const char *lb = strchr(word, '{');
        const char *rb = strchr(word, '}');
        uint8_t base[4] = { 0 };
        unsigned nparts = 0;
        const char *p = word;

        if (!lb || !rb || rb < lb || rb[1] || lb == word || lb[-1] != '.' ||
            strchr(lb + 1, '{') || strchr(rb + 1, '}')) {
                *ret_err = "a factorized address is written a.b.c.{x,y,...}";
                return -EINVAL;
        }
        while (p < lb) {
                uint64_t v;
                const char *q = p;
                if (nparts >= 3) {
                        *ret_err = "a factorized address has at most three parts before '{'";
                        return -EINVAL;
                }
                while (*q >= '0' && *q <= '9')
                        q++;
                if (q == p || *q != '.' || q - p > 3) {
                        *ret_err = "bad number before '{' in a factorized address";
                        return -EINVAL;
                }
                char buf[4];
                memcpy(buf, p, (size_t) (q - p));
                buf[q - p] = 0;
                if (value_uint(buf, 255, &v) < 0) {
                        *ret_err = "a part of a factorized address is over 255";
                        return -EINVAL;
                }
                base[nparts++] = (uint8_t) v;
                p = q + 1;
        }

        size_t n = 1;
        for (const char *q = lb + 1; q < rb; q++)
                if (*q == ',')
                        n++;
        ConfAddr *v = arena_allocarray(a, n, sizeof(*v));
        if (!v)
                return -ENOMEM;
        size_t i = 0;
        for (const char *q = lb + 1; q <= rb; i++) {
                const char *e = q;
                uint64_t x;
                while (*e >= '0' && *e <= '9')
                        e++;
                if (e == q || e - q > 3 || (*e != ',' && *e != '}')) {
                        *ret_err = "a factorized address lists numbers between '{' and '}'";
                        return -EINVAL;
                }
                char buf[4];
                memcpy(buf, q, (size_t) (e - q));
                buf[e - q] = 0;
                if (value_uint(buf, 255, &x) < 0) {
                        *ret_err = "a part of a factorized address is over 255";
                        return -EINVAL;
                }
                v[i].kind = CONF_ADDR_NET;
                v[i].family = AF_INET;
                memcpy(v[i].addr, base, 4);
                v[i].addr[nparts] = (uint8_t) x;
                v[i].prefix = (uint8_t) ((nparts + 1) * 8);
                v[i].text = arena_strdup(a, word);
                if (!v[i].text)
                        return -ENOMEM;
                q = e + 1;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int parse_numeric(Arena *a, const char *word, int family, ConfAddr **ret, size_t *ret_n,
                         const char **ret_err)
{
        char buf[INET6_ADDRSTRLEN + 8];
        const char *slash = strchr(word, '/');
        size_t alen = slash ? (size_t) (slash - word) : strlen(word);
        unsigned max = family == AF_INET ? 32 : 128;
        uint64_t prefix = max;
        ConfAddr *x;

        if (alen >= sizeof(buf)) {
                *ret_err = "address too long";
                return -EINVAL;
        }
        memcpy(buf, word, alen);
        buf[alen] = 0;
        if (slash && value_uint(slash + 1, max, &prefix) < 0) {
                *ret_err = family == AF_INET ? "bad prefix length (0 to 32)"
                                             : "bad prefix length (0 to 128)";
                return -EINVAL;
        }
        if (!(x = one(a, word, ret, ret_n)))
                return -ENOMEM;
        x->kind = CONF_ADDR_NET;
        x->family = family;
        if (family == AF_INET) {
                struct in_addr in;
                if (inet_aton(buf, &in) == 0) {
                        *ret_err = "bad IPv4 address";
                        return -EINVAL;
                }
                memcpy(x->addr, &in, 4);
                if (!slash)
                        prefix = wildcard_prefix(x->addr);
                x->prefix = (uint8_t) prefix;
                mask_addr(x->addr, 4, x->prefix);
        } else {
                if (inet_pton(AF_INET6, buf, x->addr) != 1) {
                        *ret_err = "bad IPv6 address";
                        return -EINVAL;
                }
                x->prefix = (uint8_t) prefix;
                mask_addr(x->addr, 16, x->prefix);
        }
        return 0;
}

static int parse_name(Arena *a, const char *word, bool resolve, ConfAddr **ret, size_t *ret_n,
                      const char **ret_err)
{
        struct netent ne, *nep = NULL;
        char nbuf[1024];
        int herr;

        if (!valid_name(word)) {
                *ret_err = "not an address, a network name, a host name or a .domain";
                return -EINVAL;
        }
        if (getnetbyname_r(word, &ne, nbuf, sizeof(nbuf), &nep, &herr) == 0 && nep &&
            nep->n_addrtype == AF_INET) {
                ConfAddr *x = one(a, word, ret, ret_n);
                if (!x)
                        return -ENOMEM;
                uint32_t net = htonl(nep->n_net);
                x->kind = CONF_ADDR_NET;
                x->family = AF_INET;
                /* getnetbyname gives 127 for "127"; shift the given bytes to the front */
                uint32_t hn = nep->n_net;
                while (hn && !(hn & 0xff000000u))
                        hn <<= 8;
                net = htonl(hn);
                memcpy(x->addr, &net, 4);
                x->prefix = (uint8_t) wildcard_prefix(x->addr);
                return 0;
        }
        if (!resolve) {
                ConfAddr *x = one(a, word, ret, ret_n);
                if (!x)
                        return -ENOMEM;
                x->kind = CONF_ADDR_HOST;
                return 0;
        }

        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
        struct addrinfo *res = NULL;
        if (getaddrinfo(word, NULL, &hints, &res) != 0 || !res) {
                *ret_err = "host name does not resolve";
                return -ENOENT;
        }
        size_t n = 0;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
                if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
                        n++;
        ConfAddr *v = n ? arena_allocarray(a, n, sizeof(*v)) : NULL;
        if (!v) {
                freeaddrinfo(res);
                *ret_err = "host name has no IPv4 or IPv6 address";
                return n ? -ENOMEM : -ENOENT;
        }
        size_t i = 0;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                if (ai->ai_family == AF_INET) {
                        v[i].family = AF_INET;
                        memcpy(v[i].addr, &((struct sockaddr_in *) ai->ai_addr)->sin_addr, 4);
                        v[i].prefix = 32;
                } else if (ai->ai_family == AF_INET6) {
                        v[i].family = AF_INET6;
                        memcpy(v[i].addr, &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr, 16);
                        v[i].prefix = 128;
                } else
                        continue;
                v[i].kind = CONF_ADDR_NET;
                v[i].text = arena_strdup(a, word);
                i++;
        }
        freeaddrinfo(res);
        *ret = v;
        *ret_n = n;
        return 0;
}

int addr_parse(Arena *a, const char *word, bool resolve, ConfAddr **ret, size_t *ret_n,
               const char **ret_err)
{
        *ret_err = NULL;
        if (!*word) {
                *ret_err = "empty address";
                return -EINVAL;
        }
        if (word[0] == '.') {
                if (!word[1] || !valid_name(word + 1)) {
                        *ret_err = "bad domain name";
                        return -EINVAL;
                }
                ConfAddr *x = one(a, word, ret, ret_n);
                if (!x)
                        return -ENOMEM;
                x->kind = CONF_ADDR_DOMAIN;
                return 0;
        }
        if (strchr(word, ':'))
                return parse_numeric(a, word, AF_INET6, ret, ret_n, ret_err);
        if (strchr(word, '{') || strchr(word, '}'))
                return parse_factorized(a, word, ret, ret_n, ret_err);
        if (strspn(word, "0123456789./xXabcdefABCDEF") == strlen(word) &&
            word[0] >= '0' && word[0] <= '9')
                return parse_numeric(a, word, AF_INET, ret, ret_n, ret_err);
        return parse_name(a, word, resolve, ret, ret_n, ret_err);
}

bool addr_equal(const ConfAddr *x, const ConfAddr *y)
{
        if (x->kind != y->kind)
                return false;
        if (x->kind == CONF_ADDR_UID || x->kind == CONF_ADDR_GID)
                return x->id == y->id;
        if (x->kind != CONF_ADDR_NET)
                return strcasecmp(x->text, y->text) == 0;
        return x->family == y->family && x->prefix == y->prefix &&
               memcmp(x->addr, y->addr, x->family == AF_INET ? 4 : 16) == 0;
}

void addr_format(const ConfAddr *x, char *buf, size_t size)
{
        char t[INET6_ADDRSTRLEN];

        if (x->kind != CONF_ADDR_NET) {
                snprintf(buf, size, "%s", x->text);
                return;
        }
        inet_ntop(x->family, x->addr, t, sizeof(t));
        snprintf(buf, size, "%s/%u", t, x->prefix);
}
