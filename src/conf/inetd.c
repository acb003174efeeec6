/* SPDX-License-Identifier: MIT */
/*
 * inetd — the inetd.conf reader. Each line becomes a service item with the attribute lines
 * an xinetd user would have written, so that the same attribute parsers and checks apply:
 *
 *      [addr[,addr]:]service  socket-type  protocol  wait|nowait[.max|/max-child[/rate[/per-ip]]]
 *              user[:group|.group][/class]  server-program|internal  [argv0 args...]
 *
 * Mapping (documented in portier.conf(5)):
 *   - protocol tcp/udp: IPv4 (as xinetd); tcp4/udp4: IPv4; tcp6/udp6: IPv6 only;
 *     tcp46/udp46: dual stack; "proto,sndbuf=..." options are ignored with a warning;
 *     rpc/... is RPC (unsupported, skipped); unix is unsupported.
 *   - .max (OpenBSD, GNU: invocations per minute) becomes cps = ceil(max/60) 600 (stopped for
 *     10 minutes, as OpenBSD inetd does); FreeBSD's /max-child becomes instances, /max-child-
 *     per-ip per_source, and /max-connections-per-ip-per-minute per_source_cps.
 *   - flags NAMEINARGS NOLIBWRAP and groups = yes, as xinetd's inetd.conf reader sets; the
 *     arguments start with argv[0].
 *   - internal services get id NAME-stream or NAME-dgram (xinetd picks the suffix from the
 *     protocol and so always gets -dgram: a bug not reproduced); discard works.
 *   - "addr:" alone on a line sets the bind address of the lines that follow ("*:" resets).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/inetd.h"
#include "conf/lexer.h"
#include "conf/value.h"

typedef struct Builder {
        Arena *a;
        ParseItem *it;
        size_t allocated;
        unsigned line;
} Builder;

static int add(Builder *b, const char *name, const char *const *values, size_t n)
{
        ParseItem *it = b->it;
        if (it->n_attrs == b->allocated) {
                size_t m = b->allocated ? b->allocated * 2 : 16;
                ParseAttr *v = arena_allocarray(b->a, m, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                if (it->n_attrs)
                        memcpy(v, it->attrs, it->n_attrs * sizeof(*v));
                it->attrs = v;
                b->allocated = m;
        }
        LexTok *t = n ? arena_allocarray(b->a, n, sizeof(*t)) : NULL;
        if (n && !t)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                t[i].s = arena_strdup(b->a, values[i]);
                if (!t[i].s)
                        return -ENOMEM;
        }
        it->attrs[it->n_attrs++] = (ParseAttr) {
                .name = name, .op = CONF_OP_SET, .values = t, .n_values = n, .line = b->line,
        };
        return 0;
}

static int add1(Builder *b, const char *name, const char *value)
{
        return add(b, name, &value, 1);
}

static char *num(Builder *b, uint64_t v)
{
        return arena_printf(b->a, "%llu", (unsigned long long) v);
}

static int parse_line(Arena *a, ConfDiag *diag, const char *file, LexLine *lp,
                      char **default_hostp, ParseResult *ret)
{
        LexLine l = *lp;
        char *default_host = *default_hostp;
        int r;

        LexTok *t = l.toks;
        if (l.n_toks == 1 && t[0].s[strlen(t[0].s) - 1] == ':') {
                /* "addr:" sets the default host of the following lines */
                t[0].s[strlen(t[0].s) - 1] = '\0';
                *default_hostp = strcmp(t[0].s, "*") == 0 || !t[0].s[0] ? NULL
                                                          : arena_strdup(a, t[0].s);
                return 0;
        }
        if (l.n_toks < 6) {
                conf_diag_add(diag, CONF_ERROR, file, l.line, 0, NULL, "inetd.conf line "
                              "has %zu fields, at least 6 are needed", l.n_toks);
                return 0;
        }

        char *svc = t[0].s, *host = default_host, *colon = strrchr(svc, ':');
        if (colon && !strchr(svc, '[')) {
                *colon = '\0';
                host = strcmp(svc, "*") == 0 ? NULL : svc;
                svc = colon + 1;
        }
        if (host && strchr(host, ',')) {
                conf_diag_add(diag, CONF_WARNING, file, l.line, t[0].col, NULL,
                              "several host addresses: only the first is used");
                *strchr(host, ',') = '\0';
        }

        ParseItem *it = parser_new_item(ret);
        if (!it)
                return -ENOMEM;
        *it = (ParseItem) { .kind = PARSE_SERVICE, .file = file, .line = l.line,
                            .col = 1, .inetd = true };
        Builder b = { .a = a, .it = it, .line = l.line };
        const char *type[8];         /* at most 5: UNLISTED, TCPMUX*, RPC, UNLISTED, INTERNAL */
        size_t n_type = 0;
        char *slash = strchr(svc, '/');
        if (slash && slash - svc == 6 && strncmp(svc, "tcpmux", 6) == 0) {
                *slash = '\0';
                svc = slash + 1;
                type[n_type++] = "UNLISTED";
                if (svc[0] == '+') {
                        svc++;
                        type[n_type++] = "TCPMUXPLUS";
                } else
                        type[n_type++] = "TCPMUX";
        } else if (slash) {
                *slash = '\0';
                type[n_type++] = "RPC";
                if ((r = add1(&b, "rpc_version", slash + 1)) < 0)
                        return r;
        }
        if (!svc[0]) {
                /* "addr:" followed by more fields, or "tcpmux/+": no service name */
                ret->n_items--;
                conf_diag_add(diag, CONF_ERROR, file, l.line, t[0].col, NULL,
                              "no service name in the first field");
                return 0;
        }
        it->name = arena_strdup(a, svc);
        if (!it->name)
                return -ENOMEM;

        uint64_t port;
        if (value_uint(svc, 65535, &port) == 0) {
                type[n_type++] = "UNLISTED";
                if ((r = add1(&b, "port", svc)) < 0)
                        return r;
        }

        /* protocol */
        char *proto = t[2].s, *comma = strchr(proto, ',');
        if (comma) {
                conf_diag_add(diag, CONF_WARNING, file, l.line, t[2].col, NULL,
                              "socket options '%s' ignored", comma + 1);
                *comma = '\0';
        }
        const char *flags[4];
        size_t n_flags = 0;
        flags[n_flags++] = "NAMEINARGS";
        flags[n_flags++] = "NOLIBWRAP";
        const char *base = proto, *v6only = NULL;
        if (strncmp(proto, "rpc/", 4) == 0) {
                base = proto + 4;
                if (!n_type || strcmp(type[0], "RPC") != 0)
                        type[n_type++] = "RPC";
        }
        size_t blen = strlen(base);
        char pbuf[16];
        if (blen >= 2 && strcmp(base + blen - 2, "46") == 0) {
                flags[n_flags++] = "IPv6";
                v6only = "no";
                blen -= 2;
        } else if (blen >= 1 && base[blen - 1] == '6') {
                flags[n_flags++] = "IPv6";
                v6only = "yes";
                blen -= 1;
        } else if (blen >= 1 && base[blen - 1] == '4') {
                flags[n_flags++] = "IPv4";
                blen -= 1;
        }
        if (blen >= sizeof(pbuf))
                blen = sizeof(pbuf) - 1;
        memcpy(pbuf, base, blen);
        pbuf[blen] = '\0';
        if (strcmp(pbuf, "unix") == 0) {
                it->broken = "unix sockets in inetd.conf are not supported";
                conf_diag_add(diag, CONF_ERROR, file, l.line, t[2].col, it->name,
                              "%s", it->broken);
        }

        /* wait field */
        char *w = t[3].s, *dot = strchr(w, '.'), *wsl = strchr(w, '/');
        uint64_t lim[3] = { 0, 0, 0 };
        size_t n_lim = 0;
        bool bad = false;
        if (dot && (!wsl || dot < wsl)) {
                *dot = '\0';
                if (value_uint(dot + 1, INT32_MAX, &lim[0]) < 0)
                        bad = true;
        } else if (wsl) {
                *wsl = '\0';
                for (char *p = wsl + 1; p && n_lim < 3;) {
                        char *nx = strchr(p, '/');
                        if (nx)
                                *nx++ = '\0';
                        if (value_uint(p, INT32_MAX, &lim[n_lim++]) < 0)
                                bad = true;
                        p = nx;
                }
        }
        if (strcmp(w, "wait") != 0 && strcmp(w, "nowait") != 0)
                bad = true;
        if (bad) {
                it->broken = "the fourth field must be wait or nowait, with an "
                             "optional .max or /max-child[/rate[/per-ip]]";
                conf_diag_add(diag, CONF_ERROR, file, l.line, t[3].col, it->name,
                              "%s", it->broken);
        }
        bool wait = strcmp(w, "wait") == 0;

        /* user[:group|.group][/class] */
        char *user = t[4].s, *cls = strchr(user, '/'), *group = NULL;
        if (cls) {
                *cls = '\0';
                conf_diag_add(diag, CONF_WARNING, file, l.line, t[4].col, it->name,
                              "login class '%s' ignored", cls + 1);
        }
        char *sep = strchr(user, ':');
        if (!sep)
                sep = strchr(user, '.');
        if (sep) {
                *sep = '\0';
                group = sep + 1;
        }

        bool internal = strcmp(t[5].s, "internal") == 0;
        const char *id = internal ? arena_printf(a, "%s-%s", it->name, t[1].s)
                                  : it->name;
        if (!id)
                return -ENOMEM;
        if (internal) {
                /* no NAMEINARGS/NOLIBWRAP for a built-in: keep the family flag only */
                type[n_type++] = "INTERNAL";
                const char *fam = n_flags > 2 ? flags[2] : NULL;
                n_flags = 0;
                if (fam)
                        flags[n_flags++] = fam;
        }

        if ((r = add1(&b, "id", id)) < 0 || (r = add1(&b, "socket_type", t[1].s)) < 0 ||
            (r = add1(&b, "protocol", pbuf)) < 0 ||
            (r = add1(&b, "wait", wait ? "yes" : "no")) < 0 ||
            (r = add1(&b, "user", user)) < 0 ||
            (group && (r = add1(&b, "group", group)) < 0) ||
            (r = add1(&b, "groups", "yes")) < 0)
                return r;
        if (n_type && (r = add(&b, "type", type, n_type)) < 0)
                return r;
        if (n_flags && (r = add(&b, "flags", flags, n_flags)) < 0)
                return r;
        if (v6only && (r = add1(&b, "v6only", v6only)) < 0)
                return r;
        if (host && (r = add1(&b, "bind", host)) < 0)
                return r;
        if (!internal) {
                if ((r = add1(&b, "server", t[5].s)) < 0)
                        return r;
                const char *args[l.n_toks];
                size_t n_args = 0;
                if (l.n_toks > 6)
                        for (size_t i = 6; i < l.n_toks; i++)
                                args[n_args++] = t[i].s;
                else {
                        const char *sl = strrchr(t[5].s, '/');
                        args[n_args++] = sl && sl[1] ? sl + 1 : t[5].s;  /* never empty */
                }
                if ((r = add(&b, "server_args", args, n_args)) < 0)
                        return r;
        }
        if (dot && lim[0]) {
                const char *cps[2] = { num(&b, (lim[0] + 59) / 60), "600" };
                if (!cps[0] || (r = add(&b, "cps", cps, 2)) < 0)
                        return r ? r : -ENOMEM;
        }
        if (n_lim >= 1 && lim[0]) {
                const char *v = num(&b, lim[0]);
                if (!v || (r = add1(&b, "instances", v)) < 0)
                        return r ? r : -ENOMEM;
        }
        if (n_lim >= 2 && lim[1]) {
                const char *v[2] = { num(&b, (lim[1] + 59) / 60), "60" };
                if (!v[0] || (r = add(&b, "per_source_cps", v, 2)) < 0)
                        return r ? r : -ENOMEM;
        }
        if (n_lim >= 3 && lim[2]) {
                const char *v = num(&b, lim[2]);
                if (!v || (r = add1(&b, "per_source", v)) < 0)
                        return r ? r : -ENOMEM;
        }
        return 0;
}

int inetd_parse(Arena *a, ConfDiag *diag, const char *file, char *buf, size_t size,
                ParseResult *ret)
{
        Lexer lx;
        LexLine l;
        char *default_host = NULL;
        int r;

        lexer_init(&lx, buf, size);
        while ((r = lexer_next(&lx, &l)) != 0) {
                if (r < 0)
                        break;
                if (r == LEXER_E_LONG || r == LEXER_E_NUL) {
                        conf_diag_add(diag, CONF_ERROR, file, l.line, 0, NULL, "%s",
                                      r == LEXER_E_LONG ? "line too long, ignored"
                                                        : "line contains a NUL byte, ignored");
                        continue;
                }
                r = parse_line(a, diag, file, &l, &default_host, ret);
                if (r < 0)
                        break;
        }
        lexer_deinit(&lx);
        return r < 0 ? r : 0;
}
