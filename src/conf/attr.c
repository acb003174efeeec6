/* SPDX-License-Identifier: MIT */
/*
 * attr — the attribute table and one value parser per attribute.
 *
 * xinetd's rules, from its parse table: an attribute taking a fixed number of values that gets
 * another number is ignored with a warning; a single-valued attribute given twice keeps the
 * first value (warning); '+=' and '-=' are for the cumulative attributes only (warning and
 * ignored elsewhere); in 'defaults', '=' on a cumulative attribute means '+='. A value that
 * does not parse is an error and the service is not run. portier's own attributes follow the
 * same rules.
 */

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>

#include "conf/addr.h"
#include "conf/attr.h"
#include "conf/resolve.h"
#include "conf/value.h"

enum {
        IN_SERVICE = 1u << 0,
        IN_DEFAULTS = 1u << 1,
};

typedef int (*AttrParser)(ConfCtx *c, ConfService *s, const ParseAttr *a);

typedef struct AttrDef {
        const char *name;
        ConfAttrId id;
        int min, max;           /* value count; max -1: any */
        bool fixed;             /* xinetd's fixed count: a wrong count is a warning */
        bool cumulative;        /* += and -= allowed, may repeat */
        unsigned scope;
        AttrParser parse;
} AttrDef;

/* --- reporting --------------------------------------------------------------------------- */

static void vreport(ConfCtx *c, ConfSeverity sev, unsigned line, unsigned col, const char *fmt,
                    va_list ap) __attribute__((format(printf, 5, 0)));

static void vreport(ConfCtx *c, ConfSeverity sev, unsigned line, unsigned col, const char *fmt,
                    va_list ap)
{
        char msg[1024];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        if (!c->quiet)
                conf_diag_add(c->diag, sev, c->file, line, col, c->label, "%s", msg);
        if (sev == CONF_ERROR || c->severity == CONF_WARNING) {
                if (!c->error)
                        c->error = arena_printf(c->arena, "%s:%u: %s", c->file ? c->file : "",
                                                line, msg);
        }
}

void conf_error(ConfCtx *c, unsigned line, unsigned col, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vreport(c, c->severity, line, col, fmt, ap);
        va_end(ap);
}

void conf_warn(ConfCtx *c, unsigned line, unsigned col, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char msg[1024];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (!c->quiet)
                conf_diag_add(c->diag, CONF_WARNING, c->file, line, col, c->label, "%s", msg);
}

/* error about value i of a */
#define VERR(c, a, i, ...) (conf_error((c), (a)->line, (a)->values[(i)].col, __VA_ARGS__), 1)

static uint64_t str_hash(const char *s)
{
        uint64_t h = 14695981039346656037ull;

        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ull;
        return h;
}

static bool strings_grow(ConfCtx *c)
{
        size_t size = c->strings_size ? 2 * c->strings_size : 256;
        char **v = calloc(size, sizeof(char *));

        if (!v)
                return false;
        for (size_t i = 0; i < c->strings_size; i++)
                if (c->strings[i]) {
                        size_t k = (size_t) str_hash(c->strings[i]) & (size - 1);

                        while (v[k])
                                k = (k + 1) & (size - 1);
                        v[k] = c->strings[i];
                }
        free(c->strings);
        c->strings = v;
        c->strings_size = size;
        return true;
}

/* A string kept in the Config: the copy already there if any (they are never modified). */
static char *dup(ConfCtx *c, const char *s)
{
        size_t i;

        if (2 * (c->n_strings + 1) > c->strings_size && !strings_grow(c))
                return arena_strdup(c->arena, s);       /* unshared, but correct */
        for (i = (size_t) str_hash(s) & (c->strings_size - 1); c->strings[i];
             i = (i + 1) & (c->strings_size - 1))
                if (strcmp(c->strings[i], s) == 0)
                        return c->strings[i];
        if (!(c->strings[i] = arena_strdup(c->arena, s)))
                return NULL;
        c->n_strings++;
        return c->strings[i];
}

/* --- simple values ------------------------------------------------------------------------ */

static int p_id(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return (s->id = dup(c, a->values[0].s)) ? 0 : -ENOMEM;
}

static int p_bool_field(ConfCtx *c, const ParseAttr *a, bool *field)
{
        if (value_bool(a->values[0].s, field) < 0)
                return VERR(c, a, 0, "%s: expected 'yes' or 'no', not '%s'", a->name,
                            a->values[0].s);
        return 0;
}

static int p_disable(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        bool v;
        int r = p_bool_field(c, a, &v);
        if (r == 0 && v && s->state == CONF_SERVICE_ACTIVE)
                s->state = CONF_SERVICE_DISABLED;
        return r;
}

static int p_wait(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_bool_field(c, a, &s->wait);
}

static int p_groups(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_bool_field(c, a, &s->groups);
}

static int p_no_new_privs(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_bool_field(c, a, &s->no_new_privs);
}

static int p_v6only(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        bool v;
        int r = p_bool_field(c, a, &v);
        if (r == 0)
                s->v6only = v;
        return r;
}

static int p_socket_type(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        static const struct { const char *n; int v; } t[] = {
                { "stream", SOCK_STREAM }, { "dgram", SOCK_DGRAM },
                { "raw", SOCK_RAW }, { "seqpacket", SOCK_SEQPACKET },
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                if (strcmp(a->values[0].s, t[i].n) == 0) {
                        s->socket_type = t[i].v;
                        return 0;
                }
        return VERR(c, a, 0, "socket_type: expected stream, dgram, raw or seqpacket, not '%s'",
                    a->values[0].s);
}

static int p_protocol(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        int p;
        if (resolve_protocol_cached(c->cache, a->values[0].s, &p) < 0)
                return VERR(c, a, 0, "protocol: unknown protocol '%s' (not in /etc/protocols)",
                            a->values[0].s);
        s->protocol = p;
        return (s->protocol_name = dup(c, a->values[0].s)) ? 0 : -ENOMEM;
}

static int p_user(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        uid_t uid;
        gid_t gid = 0;
        bool has_gid = false;
        int r = resolve_user_cached(c->cache, a->values[0].s, &uid, &gid, &has_gid);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return VERR(c, a, 0, "user: unknown user '%s'", a->values[0].s);
        s->has_user = true;
        s->uid = uid;
        if (!s->group)
                s->gid = gid;
        if (!has_gid)
                conf_warn(c, a->line, a->values[0].col, "user: uid %s has no passwd entry; the "
                          "server runs with gid %u unless 'group' is set", a->values[0].s,
                          (unsigned) gid);
        return (s->user = dup(c, a->values[0].s)) ? 0 : -ENOMEM;
}

static int p_group(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        gid_t gid;
        int r = resolve_group_cached(c->cache, a->values[0].s, &gid);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return VERR(c, a, 0, "group: unknown group '%s'", a->values[0].s);
        s->gid = gid;
        return (s->group = dup(c, a->values[0].s)) ? 0 : -ENOMEM;
}

static int p_limit_field(ConfCtx *c, const ParseAttr *a, uint32_t *field)
{
        if (value_limit(a->values[0].s, field) < 0)
                return VERR(c, a, 0, "%s: expected a number (0 to 2147483647) or UNLIMITED, "
                            "not '%s'", a->name, a->values[0].s);
        return 0;
}

static int p_instances(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_limit_field(c, a, &s->instances);
}

static int p_per_source(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_limit_field(c, a, &s->per_source);
}

static int p_u32(ConfCtx *c, const ParseAttr *a, size_t i, uint64_t min, uint64_t max,
                 uint32_t *field)
{
        uint64_t v;
        if (value_uint(a->values[i].s, max, &v) < 0 || v < min)
                return VERR(c, a, i, "%s: expected a number from %llu to %llu, not '%s'",
                            a->name, (unsigned long long) min, (unsigned long long) max,
                            a->values[i].s);
        *field = (uint32_t) v;
        return 0;
}

static int p_cps(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        uint32_t rate, wait;
        if (p_u32(c, a, 0, 0, INT32_MAX, &rate) || p_u32(c, a, 1, 0, INT32_MAX, &wait))
                return 1;
        s->cps_rate = rate;
        s->cps_wait = wait;
        return 0;
}

static int p_per_source_cps(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        uint32_t rate, secs;
        if (p_u32(c, a, 0, 1, INT32_MAX, &rate) || p_u32(c, a, 1, 1, 86400 * 365, &secs))
                return 1;
        s->per_source_cps_rate = rate;
        s->per_source_cps_seconds = secs;
        return 0;
}

static int p_backlog(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        uint32_t v;
        if (p_u32(c, a, 0, 1, INT32_MAX, &v))
                return 1;
        s->backlog = (int) v;
        return 0;
}

static int p_idle_timeout(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_u32(c, a, 0, 0, 86400 * 365, &s->idle_timeout);
}

static int p_connect_timeout(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_u32(c, a, 0, 0, 3600, &s->connect_timeout);
}

static int p_max_connections(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_u32(c, a, 0, 1, 1u << 24, &c->max_connections);
}

static int p_rpc_number(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        ConfRare *r = attr_rare(c, s);

        return r ? p_u32(c, a, 0, 0, UINT32_MAX, &r->rpc_number) : -ENOMEM;
}

static int p_rpc_version(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        const char *v = a->values[0].s, *dash = strchr(v, '-');
        uint64_t lo, hi;
        char buf[32];

        if (dash) {
                size_t n = (size_t) (dash - v);
                if (n >= sizeof(buf))
                        goto bad;
                memcpy(buf, v, n);
                buf[n] = 0;
                if (value_uint(buf, UINT32_MAX, &lo) < 0 ||
                    value_uint(dash + 1, UINT32_MAX, &hi) < 0 || hi < lo)
                        goto bad;
        } else {
                if (value_uint(v, UINT32_MAX, &lo) < 0)
                        goto bad;
                hi = lo;
        }
        ConfRare *r = attr_rare(c, s);

        if (!r)
                return -ENOMEM;
        r->rpc_version_min = (uint32_t) lo;
        r->rpc_version_max = (uint32_t) hi;
        return 0;
bad:
        return VERR(c, a, 0, "rpc_version: expected N or N-M, not '%s'", v);
}

static int p_max_load(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        double v;
        if (value_double(a->values[0].s, 0, 1e6, &v) < 0)
                return VERR(c, a, 0, "max_load: expected a load average such as 2.5, not '%s'",
                            a->values[0].s);
        s->max_load = v;
        return 0;
}

static int p_nice(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        int64_t v;
        if (value_int(a->values[0].s, -1000, 1000, &v) < 0)
                return VERR(c, a, 0, "nice: expected a number from -20 to 19, not '%s'",
                            a->values[0].s);
        if (v < -20 || v > 19) {
                conf_warn(c, a->line, a->values[0].col,
                          "nice: %lld is out of -20..19, using %d", (long long) v,
                          v < -20 ? -20 : 19);
                v = v < -20 ? -20 : 19;
        }
        s->has_nice = true;
        s->nice = (int) v;
        return 0;
}

static int p_umask(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        unsigned v;
        if (value_octal(a->values[0].s, 0777, &v) < 0)
                return VERR(c, a, 0, "umask: expected an octal mode from 0 to 777, not '%s'",
                            a->values[0].s);
        s->umask = (int) v;
        return 0;
}

static int p_port(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        uint64_t v;
        if (value_uint(a->values[0].s, 65535, &v) < 0)
                return VERR(c, a, 0, "port: expected a number from 0 to 65535, not '%s'",
                            a->values[0].s);
        if (v == 0)
                conf_warn(c, a->line, a->values[0].col, "port: 0 lets the kernel pick a port "
                          "at each start (xinetd does the same)");
        s->port_set = true;
        s->port = (uint16_t) v;
        return 0;
}

const ConfRare conf_rare_none;

ConfRare *attr_rare(ConfCtx *c, ConfService *s)
{
        ConfRare *r;

        if (s->rare->owner == s)
                return (ConfRare *) s->rare;
        if (!(r = arena_alloc(c->arena, sizeof(*r))))
                return NULL;
        *r = *s->rare;
        r->owner = s;
        s->rare = r;
        return r;
}

static int p_path_field(ConfCtx *c, const ParseAttr *a, const char **field)
{
        return (*field = dup(c, a->values[0].s)) ? 0 : -ENOMEM;
}

static int p_server(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_path_field(c, a, &s->server);
}

static int p_libwrap(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        ConfRare *r = attr_rare(c, s);

        return r ? p_path_field(c, a, &r->libwrap) : -ENOMEM;
}

static int p_banner(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        ConfRare *r = attr_rare(c, s);

        return r ? p_path_field(c, a, &r->banner) : -ENOMEM;
}

static int p_banner_success(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        ConfRare *r = attr_rare(c, s);

        return r ? p_path_field(c, a, &r->banner_success) : -ENOMEM;
}

static int p_banner_fail(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        ConfRare *r = attr_rare(c, s);

        return r ? p_path_field(c, a, &r->banner_fail) : -ENOMEM;
}

static int p_chroot(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        if (a->values[0].s[0] != '/')
                return VERR(c, a, 0, "chroot: '%s' is not an absolute path", a->values[0].s);
        ConfRare *r = attr_rare(c, s);

        return r ? p_path_field(c, a, &r->chroot) : -ENOMEM;
}

/* socket_path = /absolute/path | @abstract: an AF_UNIX listener instead of an IP one. The
 * length bound is sun_path's (108 bytes, with the terminating NUL of a path). */
static int p_socket_path(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        const char *v = a->values[0].s;
        size_t max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;

        if (v[0] != '/' && v[0] != '@')
                return VERR(c, a, 0, "socket_path: '%s' is not an absolute path (or an "
                            "abstract name starting with '@')", v);
        if (strlen(v) > max || (v[0] == '@' && !v[1]))
                return VERR(c, a, 0, "socket_path: '%s' must have 1 to %zu characters "
                            "(sun_path's limit)", v, max);
        ConfRare *r = attr_rare(c, s);

        return r ? p_path_field(c, a, &r->socket_path) : -ENOMEM;
}

/* socket_owner = USER | USER:GROUP | :GROUP, as chown(1) writes it; resolved now (off the
 * event loop). */
static int p_socket_owner(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        const char *v = a->values[0].s, *colon = strchr(v, ':');
        char user[256];
        size_t ulen = colon ? (size_t) (colon - v) : strlen(v);
        uid_t uid = 0;
        gid_t gid = 0, pgid;
        bool has_pgid;
        int r;

        if (ulen >= sizeof(user) || (ulen == 0 && (!colon || !colon[1])))
                return VERR(c, a, 0, "socket_owner: expected USER, USER:GROUP or :GROUP, not "
                            "'%s'", v);
        memcpy(user, v, ulen);
        user[ulen] = '\0';
        if (ulen > 0) {
                r = resolve_user_cached(c->cache, user, &uid, &pgid, &has_pgid);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return VERR(c, a, 0, "socket_owner: unknown user '%s'", user);
        }
        if (colon && colon[1]) {
                r = resolve_group_cached(c->cache, colon + 1, &gid);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return VERR(c, a, 0, "socket_owner: unknown group '%s'", colon + 1);
        }
        ConfRare *rare = attr_rare(c, s);

        if (!rare)
                return -ENOMEM;
        rare->has_socket_uid = ulen > 0;
        rare->socket_uid = uid;
        rare->has_socket_gid = colon && colon[1];
        rare->socket_gid = gid;
        return 0;
}

static int p_socket_mode(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        unsigned v;

        if (value_octal(a->values[0].s, 0777, &v) < 0)
                return VERR(c, a, 0, "socket_mode: expected an octal mode from 0 to 777, not "
                            "'%s'", a->values[0].s);
        ConfRare *r = attr_rare(c, s);

        if (!r)
                return -ENOMEM;
        r->has_socket_mode = true;
        r->socket_mode = v;
        return 0;
}

static int p_server_args(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        if (a->n_values == 0) {
                conf_error(c, a->line, 0, "server_args: no value (xinetd drops such a service)");
                return 1;
        }
        /* argv[0] is reserved; fix_argv fills it in after parsing */
        char **v = arena_allocarray(c->arena, a->n_values + 2, sizeof(char *));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_values; i++)
                if (!(v[i + 1] = dup(c, a->values[i].s)))
                        return -ENOMEM;
        s->argv = v;
        s->argc = a->n_values + 1;
        return 0;
}

static int p_deny_time(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        const char *v = a->values[0].s;
        uint64_t n;
        if (strcasecmp(v, "FOREVER") == 0)
                s->deny_time = CONF_DENY_FOREVER;
        else if (strcasecmp(v, "NEVER") == 0)
                s->deny_time = 0;
        else if (value_uint(v, INT32_MAX / 60, &n) == 0)
                s->deny_time = (int) n;
        else {
                /* portier's extension: "30s", seconds (tests need no minute-long waits). */
                size_t len = strlen(v);
                char num[16];

                if (len < 2 || len > sizeof(num) || (v[len - 1] != 's' && v[len - 1] != 'S'))
                        return VERR(c, a, 0, "deny_time: expected minutes, seconds with 's', "
                                    "FOREVER or NEVER, not '%s'", v);
                memcpy(num, v, len - 1);
                num[len - 1] = '\0';
                if (value_uint(num, INT32_MAX / 60, &n) != 0)
                        return VERR(c, a, 0, "deny_time: expected minutes, seconds with 's', "
                                    "FOREVER or NEVER, not '%s'", v);
                s->deny_time = (int) n;
                s->deny_in_seconds = n > 0;
        }
        return 0;
}

static int p_rlimit(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        ConfRlimit which;
        bool bytes = true;
        uint64_t v;

        switch (attr_lookup(a->name)) {
        case CONF_ATTR_RLIMIT_AS: which = CONF_RLIMIT_AS; break;
        case CONF_ATTR_RLIMIT_CPU: which = CONF_RLIMIT_CPU; bytes = false; break;
        case CONF_ATTR_RLIMIT_DATA: which = CONF_RLIMIT_DATA; break;
        case CONF_ATTR_RLIMIT_RSS: which = CONF_RLIMIT_RSS; break;
        case CONF_ATTR_RLIMIT_STACK: which = CONF_RLIMIT_STACK; break;
        case CONF_ATTR_RLIMIT_NPROC: which = CONF_RLIMIT_NPROC; bytes = false; break;
        default: which = CONF_RLIMIT_FILES; bytes = false; break;
        }
        if (value_size(a->values[0].s, bytes, &v) < 0)
                return VERR(c, a, 0, bytes ? "%s: expected a size (a number with an optional K, M "
                            "or G suffix) or UNLIMITED, not '%s'"
                                           : "%s: expected a number or UNLIMITED, not '%s'",
                            a->name, a->values[0].s);
        ConfRare *r = attr_rare(c, s);

        if (!r)
                return -ENOMEM;
        r->rlimit_set |= 1u << which;
        r->rlimits[which] = v == UINT64_MAX ? RLIM_INFINITY : (rlim_t) v;
        return 0;
}

static const char *const cap_names[CONF_CAP_MAX] = {
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

const char *conf_cap_name(unsigned cap)
{
        return cap < CONF_CAP_MAX ? cap_names[cap] : NULL;
}

/* capabilities = NAME ...: capabilities(7) names, with or without CAP_, in any case. None at
 * all is allowed: the server keeps no capability. */
static int p_capabilities(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        uint64_t caps = 0;

        for (size_t i = 0; i < a->n_values; i++) {
                const char *name = a->values[i].s;
                unsigned cap = 0;

                if (strncasecmp(name, "CAP_", 4) == 0)
                        name += 4;
                while (cap < CONF_CAP_MAX && strcasecmp(name, cap_names[cap]) != 0)
                        cap++;
                if (cap == CONF_CAP_MAX)
                        return VERR(c, a, i, "capabilities: '%s' is not a capability name of "
                                    "capabilities(7)", a->values[i].s);
                caps |= UINT64_C(1) << cap;
        }
        ConfRare *r = attr_rare(c, s);

        if (!r)
                return -ENOMEM;
        r->has_caps = true;
        r->caps = caps;
        return 0;
}

static int p_mount_ns(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        ConfRare *r = attr_rare(c, s);

        if (!r)
                return -ENOMEM;
        return p_bool_field(c, a, attr_lookup(a->name) == CONF_ATTR_PRIVATE_TMP
                                          ? &r->private_tmp : &r->read_only_root);
}

static int p_at_limit(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        if (strcmp(a->values[0].s, "refuse") == 0)
                s->at_limit = CONF_AT_LIMIT_REFUSE;
        else if (strcmp(a->values[0].s, "defer") == 0)
                s->at_limit = CONF_AT_LIMIT_DEFER;
        else
                return VERR(c, a, 0, "at_limit: expected 'refuse' or 'defer', not '%s'",
                            a->values[0].s);
        return 0;
}

static int p_listen_fds(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        int r = p_bool_field(c, a, &s->listen_fds);
        if (r)
                return r;
        if (a->n_values == 2) {
                const char *n = a->values[1].s;
                if (strlen(n) > 255 || strchr(n, ':'))
                        return VERR(c, a, 1, "listen_fds: the name must have at most 255 "
                                    "characters and no ':'");
                ConfRare *rare = attr_rare(c, s);

                if (!rare || !(rare->listen_fds_name = dup(c, n)))
                        return -ENOMEM;
        }
        return 0;
}

/* portier's "redirect = /path" (or "@name"): to a unix stream socket, connected at each
 * connection (nothing to resolve). */
static int p_redirect_unix(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        const char *path = a->values[0].s;

        if (strlen(path) > sizeof(((struct sockaddr_un *)0)->sun_path) - 1 || !path[1])
                return VERR(c, a, 0, "redirect: '%s' must have 1 to %zu characters (sun_path's "
                            "limit)", path, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        s->redirect_port = 0;
        s->redirect_addr_len = 0;
        return (s->redirect_host = dup(c, path)) ? 0 : -ENOMEM;
}

static int p_redirect(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        const char *host = a->values[0].s, *ps;
        uint64_t port;
        uint16_t sp;

        if (a->n_values == 1 && (host[0] == '/' || host[0] == '@'))
                return p_redirect_unix(c, s, a);
        if (a->n_values != 2) {
                /* xinetd's rule for a fixed count: a warning, the attribute ignored */
                conf_warn(c, a->line, a->col, "attribute 'redirect' takes 2 values (host "
                          "port), or a unix socket's path; ignored");
                return 0;
        }
        ps = a->values[1].s;

        if (value_uint(ps, 65535, &port) == 0 && port > 0)
                ;
        else if (resolve_service_cached(c->cache, ps, "tcp", &sp) == 0)
                port = sp;
        else
                return VERR(c, a, 1, "redirect: bad port '%s'", ps);
        s->redirect_port = (uint16_t) port;
        if (!(s->redirect_host = dup(c, host)))
                return -ENOMEM;
        ConfSockaddr addrs[1 + CONF_REDIRECT_MORE];
        socklen_t lens[1 + CONF_REDIRECT_MORE];
        size_t n = 0;
        int r = resolve_addresses(host, s->redirect_port, AF_UNSPEC,
                                  !(c->flags & CONF_LOAD_NO_RESOLVE), addrs, lens,
                                  1 + CONF_REDIRECT_MORE, &n);
        if (r == -EINVAL && (c->flags & CONF_LOAD_NO_RESOLVE)) {
                s->redirect_addr_len = 0;
                return 0;
        }
        if (r < 0)
                return VERR(c, a, 0, "redirect: cannot resolve '%s'", host);
        s->redirect_addr = addrs[0];
        s->redirect_addr_len = lens[0];
        /* a name with several addresses (IPv6 and IPv4, say): the others are tried in turn
         * when a connection to the ones before fails */
        if (n > 1 || s->rare->n_redirect_more) {
                ConfRare *rare = attr_rare(c, s);

                if (!rare)
                        return -ENOMEM;
                rare->n_redirect_more = (uint8_t)(n - 1);
                for (size_t i = 1; i < n; i++) {
                        rare->redirect_more[i - 1] = addrs[i];
                        rare->redirect_more_len[i - 1] = lens[i];
                }
        }
        return 0;
}

static int p_bind(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        const char *host = a->values[0].s;
        int r = resolve_address(host, 0, AF_UNSPEC, !(c->flags & CONF_LOAD_NO_RESOLVE),
                                &s->bind_addr, &s->bind_addr_len);
        if (r == -EINVAL && (c->flags & CONF_LOAD_NO_RESOLVE)) {
                /* a name we may not resolve now: keep it, assume IPv4 */
                memset(&s->bind_addr, 0, sizeof(s->bind_addr));
                s->bind_addr.sa.sa_family = AF_INET;
                s->bind_addr_len = 0;
        } else if (r < 0)
                return VERR(c, a, 0, "%s: cannot resolve '%s'", a->name, host);
        s->has_bind = true;
        return (s->bind_text = dup(c, host)) ? 0 : -ENOMEM;
}

/* --- words and sets ---------------------------------------------------------------------- */

typedef struct Word {
        const char *name;
        unsigned bit;
} Word;

static const Word type_words[] = {
        { "RPC", CONF_TYPE_RPC }, { "INTERNAL", CONF_TYPE_INTERNAL },
        { "TCPMUX", CONF_TYPE_TCPMUX }, { "TCPMUXPLUS", CONF_TYPE_TCPMUXPLUS },
        { "UNLISTED", CONF_TYPE_UNLISTED }, { "SPECIAL", CONF_TYPE_SPECIAL }, { NULL, 0 },
};
static const Word flag_words[] = {
        { "INTERCEPT", CONF_FLAG_INTERCEPT }, { "NORETRY", CONF_FLAG_NORETRY },
        { "IDONLY", CONF_FLAG_IDONLY }, { "NAMEINARGS", CONF_FLAG_NAMEINARGS },
        { "NODELAY", CONF_FLAG_NODELAY }, { "KEEPALIVE", CONF_FLAG_KEEPALIVE },
        { "NOLIBWRAP", CONF_FLAG_NOLIBWRAP }, { "SENSOR", CONF_FLAG_SENSOR },
        { "IPv4", CONF_FLAG_IPV4 }, { "IPv6", CONF_FLAG_IPV6 },
        { "LABELED", CONF_FLAG_LABELED }, { "REUSE", CONF_FLAG_REUSE }, { NULL, 0 },
};
static const Word success_words[] = {
        { "PID", CONF_LOG_PID }, { "HOST", CONF_LOG_HOST }, { "USERID", CONF_LOG_USERID },
        { "EXIT", CONF_LOG_EXIT }, { "DURATION", CONF_LOG_DURATION },
        { "TRAFFIC", CONF_LOG_TRAFFIC }, { NULL, 0 },
};
static const Word failure_words[] = {
        { "HOST", CONF_LOG_HOST }, { "USERID", CONF_LOG_USERID },
        { "ATTEMPT", CONF_LOG_ATTEMPT }, { NULL, 0 },
};

static int word_lookup(const Word *w, const char *s, unsigned *ret)
{
        for (; w->name; w++)
                if (strcmp(w->name, s) == 0) {
                        *ret = w->bit;
                        return 0;
                }
        /* xinetd compares exactly; accept other cases too, they are unambiguous */
        return -ENOENT;
}

static int word_lookup_ci(const Word *w, const char *s, unsigned *ret)
{
        if (word_lookup(w, s, ret) == 0)
                return 0;
        for (; w->name; w++)
                if (strcasecmp(w->name, s) == 0) {
                        *ret = w->bit;
                        return 0;
                }
        return -ENOENT;
}

static int p_words(ConfCtx *c, const ParseAttr *a, const Word *w, unsigned *mask,
                   const char *what)
{
        unsigned m = 0;
        for (size_t i = 0; i < a->n_values; i++) {
                unsigned bit;
                if (word_lookup_ci(w, a->values[i].s, &bit) < 0) {
                        char list[256] = "";
                        for (const Word *x = w; x->name; x++) {
                                strcat(list, x->name);
                                if (x[1].name)
                                        strcat(list, ", ");
                        }
                        return VERR(c, a, i, "%s: unknown %s '%s' (known: %s)", a->name, what,
                                    a->values[i].s, list);
                }
                m |= bit;
        }
        switch (a->op) {
        case CONF_OP_SET: *mask = m; break;
        case CONF_OP_ADD: *mask |= m; break;
        case CONF_OP_REMOVE: *mask &= ~m; break;
        }
        return 0;
}

static int p_type(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        int r = p_words(c, a, type_words, &s->type, "type");
        if (r == 0 && (s->type & CONF_TYPE_SPECIAL)) {
                conf_warn(c, a->line, 0, "type: SPECIAL is internal to xinetd, ignored");
                s->type &= ~CONF_TYPE_SPECIAL;
        }
        return r;
}

static int p_flags(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        int r = p_words(c, a, flag_words, &s->flags, "flag");
        if (r)
                return r;
        if (s->flags & CONF_FLAG_LABELED) {
                conf_warn(c, a->line, 0, "flags: LABELED (SELinux labeled networking) is not "
                          "supported, ignored");
                s->flags &= ~CONF_FLAG_LABELED;
        }
        return 0;
}

static int p_log_on_success(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return p_words(c, a, success_words, &s->log_on_success, "value");
}

static int p_log_on_failure(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        /* RECORD was removed from xinetd long ago: accept it with a warning */
        for (size_t i = 0; i < a->n_values; i++)
                if (strcasecmp(a->values[i].s, "RECORD") == 0) {
                        conf_warn(c, a->line, a->values[i].col,
                                  "log_on_failure: RECORD is obsolete, ignored");
                        ParseAttr b = *a;
                        LexTok *v = arena_allocarray(c->arena, a->n_values, sizeof(*v));
                        if (!v)
                                return -ENOMEM;
                        size_t k = 0;
                        for (size_t j = 0; j < a->n_values; j++)
                                if (strcasecmp(a->values[j].s, "RECORD") != 0)
                                        v[k++] = a->values[j];
                        b.values = v;
                        b.n_values = k;
                        return p_words(c, &b, failure_words, &s->log_on_failure, "value");
                }
        return p_words(c, a, failure_words, &s->log_on_failure, "value");
}

/*
 * Set operations on lists. A list may be shared with the defaults (and a Config is immutable
 * once built), so a list is copied before its first change in a service; after that the
 * service owns it (its capacity is kept in the context) and '+=' appends in place, amortized.
 * '-=' compares every entry with every value: the comparisons of one load are bounded, so
 * that a hostile file of '-=' lines cannot take quadratic time. No real configuration comes
 * near the bound.
 */
#define LIST_WORK_MAX (16ull << 20)

static int list_budget(ConfCtx *c, const ParseAttr *a, size_t nold, size_t nv)
{
        c->list_work += (uint64_t) nv + (a->op == CONF_OP_REMOVE ? (uint64_t) nold * nv : 0);
        if (c->list_work > LIST_WORK_MAX) {
                conf_error(c, a->line, a->col, "%s: too many list operations in this "
                           "configuration (more than %llu comparisons); ignored", a->name,
                           (unsigned long long) LIST_WORK_MAX);
                return 1;
        }
        return 0;
}

/* Make room for @extra more elements in an owned array (*cap > 0) or a copy of a shared one. */
static void *list_reserve(ConfCtx *c, void *v, size_t n, size_t extra, size_t elem, size_t *cap)
{
        if (*cap && n + extra <= *cap)
                return v;
        size_t want = n + extra + 1;
        size_t m = *cap * 2 > want ? *cap * 2 : want;
        if (m < 4)
                m = 4;
        void *nv = arena_allocarray(c->arena, m, elem);
        if (!nv)
                return NULL;
        if (n)
                memcpy(nv, v, n * elem);
        *cap = m;
        return nv;
}

/* Apply a set operation to a NULL-terminated string list. */
static int strlist_op(ConfCtx *c, const ParseAttr *a, char ***list, size_t *n, size_t *cap)
{
        size_t nv = a->n_values;
        size_t nold = a->op == CONF_OP_SET ? 0 : *n;
        char **v;

        if (list_budget(c, a, nold, nv))
                return 1;
        if (a->op == CONF_OP_SET)
                *cap = 0;
        /* reserve one more for the NULL terminator */
        v = list_reserve(c, a->op == CONF_OP_SET ? NULL : *list, nold,
                         a->op == CONF_OP_REMOVE ? 1 : nv + 1, sizeof(char *), cap);
        if (!v)
                return -ENOMEM;
        size_t k = nold;
        if (a->op == CONF_OP_REMOVE) {
                k = 0;
                for (size_t i = 0; i < nold; i++) {
                        bool drop = false;
                        for (size_t j = 0; j < nv && !drop; j++)
                                drop = strcmp(v[i], a->values[j].s) == 0;
                        if (!drop)
                                v[k++] = v[i];
                }
        } else
                for (size_t j = 0; j < nv; j++)
                        if (!(v[k++] = dup(c, a->values[j].s)))
                                return -ENOMEM;
        v[k] = NULL;
        *list = v;
        *n = k;
        return 0;
}

static int p_passenv(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        for (size_t i = 0; i < a->n_values; i++)
                if (!a->values[i].s[0] || strchr(a->values[i].s, '='))
                        return VERR(c, a, i, "passenv: '%s' is not a variable name",
                                    a->values[i].s);
        return strlist_op(c, a, &s->passenv, &s->n_passenv, &c->cap_passenv);
}

static int p_env(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        if (a->op == CONF_OP_REMOVE) {
                conf_warn(c, a->line, 0, "env: operator '-=' is not supported, ignored");
                return 0;
        }
        for (size_t i = 0; i < a->n_values; i++) {
                const char *eq = strchr(a->values[i].s, '=');
                if (!eq || eq == a->values[i].s)
                        return VERR(c, a, i, "env: '%s' is not of the form NAME=value",
                                    a->values[i].s);
        }
        return strlist_op(c, a, &s->env, &s->n_env, &c->cap_env);
}

/* enabled/disabled: defaults only, kept in the context for the loader */
static int p_enabled(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        c->enabled_set = true;
        return strlist_op(c, a, &c->enabled, &c->n_enabled, &c->cap_enabled);
}

static int p_disabled(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return strlist_op(c, a, &c->disabled, &c->n_disabled, &c->cap_disabled);
}

/*
 * Host and network names are looked up once per load: 10,000 services with
 * "only_from = localhost" resolve it once. Bounded; past the bound, names are looked up
 * each time.
 */
#define ADDR_MEMO_MAX 1024
#define ADDR_MEMO_SLOTS 2048    /* a power of two, twice ADDR_MEMO_MAX */

typedef struct AddrMemo {
        char *word;
        ConfAddr *v;            /* in the Config's arena */
        size_t n;
        int r;
        const char *err;
} AddrMemo;

static int addr_parse_memo(ConfCtx *c, const char *word, ConfAddr **ret, size_t *ret_n,
                           const char **ret_err)
{
        bool name = word[0] != '.' && !strchr(word, ':') && !strchr(word, '{') &&
                    strspn(word, "0123456789./") != strlen(word);
        if (!name)
                return addr_parse(c->arena, word, !(c->flags & CONF_LOAD_NO_RESOLVE), ret,
                                  ret_n, ret_err);
        /* open addressing over ADDR_MEMO_SLOTS, at most half full */
        uint64_t h = 14695981039346656037ull;
        for (const char *p = word; *p; p++)
                h = (h ^ (unsigned char) *p) * 1099511628211ull;
        size_t i = (size_t) h & (ADDR_MEMO_SLOTS - 1);
        if (c->addr_memo)
                for (; c->addr_memo[i].word; i = (i + 1) & (ADDR_MEMO_SLOTS - 1))
                        if (strcmp(c->addr_memo[i].word, word) == 0) {
                                *ret = c->addr_memo[i].v;
                                *ret_n = c->addr_memo[i].n;
                                *ret_err = c->addr_memo[i].err;
                                return c->addr_memo[i].r;
                        }
        int r = addr_parse(c->arena, word, !(c->flags & CONF_LOAD_NO_RESOLVE), ret, ret_n,
                           ret_err);
        if (r == -ENOMEM || c->n_addr_memo >= ADDR_MEMO_MAX)
                return r;
        if (!c->addr_memo) {
                c->addr_memo = calloc(ADDR_MEMO_SLOTS, sizeof(AddrMemo));
                if (!c->addr_memo)
                        return r;
                i = (size_t) h & (ADDR_MEMO_SLOTS - 1);
        }
        char *w = strdup(word);
        if (!w)
                return r;
        c->addr_memo[i] = (AddrMemo) {
                .word = w, .v = r == 0 ? *ret : NULL, .n = r == 0 ? *ret_n : 0, .r = r,
                .err = *ret_err,
        };
        c->n_addr_memo++;
        return r;
}

void attr_end(ConfCtx *c)
{
        if (c->addr_memo)
                for (size_t i = 0; i < ADDR_MEMO_SLOTS; i++)
                        free(c->addr_memo[i].word);
        free(c->addr_memo);
        c->addr_memo = NULL;
        c->n_addr_memo = 0;
        free(c->strings);
        c->strings = NULL;
        c->strings_size = c->n_strings = 0;
}

/*
 * "uid:USER" and "gid:GROUP" entries of only_from and no_access: the SO_PEERCRED identity
 * of a unix-socket client (socket_path). Unlike an address that does not parse (xinetd
 * drops it with a warning), an unknown user or group is an error: dropped from only_from it
 * would narrow the list, from no_access it would let that client in.
 * Return: 0 (an entry in *ret), 1 (error reported), -ENOMEM, or -ENOENT: not such an entry.
 */
static int peer_entry(ConfCtx *c, const ParseAttr *a, size_t i, ConfAddr **ret, size_t *ret_n)
{
        const char *w = a->values[i].s;
        bool uid = strncasecmp(w, "uid:", 4) == 0;
        uid_t u;
        gid_t g;
        bool has_g;
        int r;

        if (!uid && strncasecmp(w, "gid:", 4) != 0)
                return -ENOENT;
        r = uid ? resolve_user_cached(c->cache, w + 4, &u, &g, &has_g)
                : resolve_group_cached(c->cache, w + 4, &g);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !w[4])
                return VERR(c, a, i, "%s: unknown %s '%s'", a->name, uid ? "user" : "group",
                            w + 4);
        ConfAddr *x = arena_alloc(c->arena, sizeof(*x));

        if (!x)
                return -ENOMEM;
        memset(x, 0, sizeof(*x));
        x->kind = uid ? CONF_ADDR_UID : CONF_ADDR_GID;
        x->id = uid ? (uint32_t) u : (uint32_t) g;
        if (!(x->text = dup(c, w)))
                return -ENOMEM;
        *ret = x;
        *ret_n = 1;
        return 0;
}

static int addrlist_op(ConfCtx *c, const ParseAttr *a, ConfAddrList *l, size_t *cap)
{
        ConfAddr *parsed = NULL;
        size_t np = 0, pcap = 0;

        for (size_t i = 0; i < a->n_values; i++) {
                ConfAddr *v;
                size_t n;
                const char *err = NULL;
                int r = peer_entry(c, a, i, &v, &n);

                if (r == 1)
                        return 1;
                if (r == 0)
                        goto add;
                r = addr_parse_memo(c, a->values[i].s, &v, &n, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        /* xinetd logs "failed to parse" and keeps the service without the
                           entry: so does portier, saying what that means */
                        conf_warn(c, a->line, a->values[i].col, "%s: '%s': %s; entry ignored%s",
                                  a->name, a->values[i].s, err ? err : "bad address",
                                  strcmp(a->name, "no_access") == 0
                                  ? " (it denies nobody)" : "");
                        continue;
                }
add:
                if (np + n > pcap) {
                        size_t m = (np + n) * 2;
                        ConfAddr *nv = arena_allocarray(c->arena, m, sizeof(*nv));
                        if (!nv)
                                return -ENOMEM;
                        if (np)
                                memcpy(nv, parsed, np * sizeof(*nv));
                        parsed = nv;
                        pcap = m;
                }
                memcpy(parsed + np, v, n * sizeof(*v));
                np += n;
        }

        size_t nold = a->op == CONF_OP_SET ? 0 : l->n_addrs;
        if (list_budget(c, a, nold, np))
                return 1;
        if (a->op == CONF_OP_SET)
                *cap = 0;
        ConfAddr *v = list_reserve(c, a->op == CONF_OP_SET ? NULL : l->addrs, nold,
                                   a->op == CONF_OP_REMOVE ? 0 : np, sizeof(*v), cap);
        if (!v)
                return -ENOMEM;
        size_t k = nold;
        if (a->op == CONF_OP_REMOVE) {
                k = 0;
                for (size_t i = 0; i < nold; i++) {
                        bool drop = false;
                        for (size_t j = 0; j < np && !drop; j++)
                                drop = addr_equal(&v[i], &parsed[j]);
                        if (!drop)
                                v[k++] = v[i];
                }
        } else {
                if (np)
                        memcpy(v + k, parsed, np * sizeof(*v));
                k += np;
        }
        l->addrs = v;
        l->n_addrs = k;
        l->set = true;
        return 0;
}

static int p_only_from(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return addrlist_op(c, a, &s->only_from, &c->cap_only_from);
}

static int p_no_access(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        return addrlist_op(c, a, &s->no_access, &c->cap_no_access);
}

static int p_access_times(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        ConfTimeRange *v = a->n_values ? arena_allocarray(c->arena, a->n_values, sizeof(*v))
                                       : NULL;
        if (a->n_values && !v)
                return -ENOMEM;
        for (size_t i = 0; i < a->n_values; i++) {
                int r = value_time_range(a->values[i].s, &v[i]);
                if (r < 0)
                        return VERR(c, a, i, "access_times: '%s' is not a range hh:mm-hh:mm "
                                    "(hours 0-23, minutes 0-59)", a->values[i].s);
        }
        s->access_times = v;
        s->n_access_times = a->n_values;
        return 0;
}

static int p_log_type(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        ConfLogType t = { .kind = CONF_LOG_NONE };
        const char *k = a->values[0].s;

        if (strcasecmp(k, "SYSLOG") == 0) {
                if (a->n_values < 2 || a->n_values > 3)
                        return VERR(c, a, 0, "log_type: SYSLOG takes a facility and an optional "
                                    "level");
                t.kind = CONF_LOG_SYSLOG;
                t.level = LOG_INFO;
                if (value_facility(a->values[1].s, &t.facility) < 0)
                        return VERR(c, a, 1, "log_type: unknown syslog facility '%s'",
                                    a->values[1].s);
                if (a->n_values == 3 && value_level(a->values[2].s, &t.level) < 0)
                        return VERR(c, a, 2, "log_type: unknown syslog level '%s'",
                                    a->values[2].s);
        } else if (strcasecmp(k, "FILE") == 0) {
                uint64_t soft = 0, hard = 0;
                if (a->n_values < 2 || a->n_values > 4)
                        return VERR(c, a, 0, "log_type: FILE takes a path and optional soft and "
                                    "hard limits");
                t.kind = CONF_LOG_FILE;
                if (a->values[1].s[0] != '/')
                        return VERR(c, a, 1, "log_type: '%s' is not an absolute path",
                                    a->values[1].s);
                if (a->n_values >= 3 &&
                    (value_size(a->values[2].s, true, &soft) < 0 || soft == UINT64_MAX))
                        return VERR(c, a, 2, "log_type: bad soft limit '%s' (a size such as "
                                    "5M)", a->values[2].s);
                if (a->n_values == 4 &&
                    (value_size(a->values[3].s, true, &hard) < 0 || hard == UINT64_MAX))
                        return VERR(c, a, 3, "log_type: bad hard limit '%s' (a size such as "
                                    "6M)", a->values[3].s);
                if (a->n_values == 4 && hard < soft)
                        return VERR(c, a, 3, "log_type: the hard limit is below the soft "
                                    "limit");
                if (a->n_values == 3) {
                        /* xinetd: soft + 1%, at least 5K and at most 20K above soft */
                        uint64_t extra = soft / 100;
                        if (extra < 5 * 1024)
                                extra = 5 * 1024;
                        if (extra > 20 * 1024)
                                extra = 20 * 1024;
                        hard = soft + extra;
                }
                t.soft_limit = soft;
                t.hard_limit = hard;
                if (!(t.path = dup(c, a->values[1].s)))
                        return -ENOMEM;
        } else
                return VERR(c, a, 0, "log_type: expected SYSLOG or FILE, not '%s'", k);
        s->log_type = t;
        return 0;
}

static int p_ignored(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        if (strcmp(a->name, "mdns") == 0)
                conf_warn(c, a->line, a->col, "attribute 'mdns' is obsolete (removed in xinetd "
                          "2.3.15.1), ignored");
        else
                conf_warn(c, a->line, a->col, "attribute '%s' is not supported by portier, "
                          "ignored", a->name);
        return 0;
}

/* --- the table (sorted by name for bsearch) -------------------------------------------- */

#define S IN_SERVICE
#define D IN_DEFAULTS
static const AttrDef attrs[] = {
        { "access_times",   CONF_ATTR_ACCESS_TIMES,   0, -1, false, false, S, p_access_times },
        { "at_limit",       CONF_ATTR_AT_LIMIT,       1, 1, true, false, S | D, p_at_limit },
        { "backlog",        CONF_ATTR_BACKLOG,        1, 1, true, false, S | D, p_backlog },
        { "banner",         CONF_ATTR_BANNER,         1, 1, true, false, S | D, p_banner },
        { "banner_fail",    CONF_ATTR_BANNER_FAIL,    1, 1, true, false, S | D, p_banner_fail },
        { "banner_success", CONF_ATTR_BANNER_SUCCESS, 1, 1, true, false, S | D, p_banner_success },
        { "bind",           CONF_ATTR_BIND,           1, 1, true, false, S | D, p_bind },
        { "capabilities",   CONF_ATTR_CAPABILITIES,   0, -1, false, false, S, p_capabilities },
        { "chroot",         CONF_ATTR_CHROOT,         1, 1, true, false, S, p_chroot },
        { "connect_timeout", CONF_ATTR_CONNECT_TIMEOUT, 1, 1, true, false, S | D, p_connect_timeout },
        { "cps",            CONF_ATTR_CPS,            2, 2, true, false, S | D, p_cps },
        { "deny_time",      CONF_ATTR_DENY_TIME,      1, 1, true, false, S, p_deny_time },
        { "disable",        CONF_ATTR_DISABLE,        1, 1, true, false, S, p_disable },
        { "disabled",       CONF_ATTR_DISABLED,       0, -1, false, true, D, p_disabled },
        { "enabled",        CONF_ATTR_ENABLED,        0, -1, false, true, D, p_enabled },
        { "env",            CONF_ATTR_ENV,            0, -1, false, true, S, p_env },
        { "flags",          CONF_ATTR_FLAGS,          0, -1, false, false, S, p_flags },
        { "group",          CONF_ATTR_GROUP,          1, 1, true, false, S, p_group },
        { "groups",         CONF_ATTR_GROUPS,         1, 1, true, false, S | D, p_groups },
        { "id",             CONF_ATTR_ID,             1, 1, true, false, S, p_id },
        { "idle_timeout",   CONF_ATTR_IDLE_TIMEOUT,   1, 1, true, false, S | D, p_idle_timeout },
        { "instances",      CONF_ATTR_INSTANCES,      1, 1, true, false, S | D, p_instances },
        { "interface",      CONF_ATTR_BIND,           1, 1, true, false, S | D, p_bind },
        { "leaky_bucket",   CONF_ATTR_LEAKY_BUCKET,   4, 4, true, false, S | D, p_ignored },
        { "libwrap",        CONF_ATTR_LIBWRAP,        1, 1, true, false, S, p_libwrap },
        { "listen_fds",     CONF_ATTR_LISTEN_FDS,     1, 2, false, false, S, p_listen_fds },
        { "log_on_failure", CONF_ATTR_LOG_ON_FAILURE, 0, -1, false, true, S | D, p_log_on_failure },
        { "log_on_success", CONF_ATTR_LOG_ON_SUCCESS, 0, -1, false, true, S | D, p_log_on_success },
        { "log_type",       CONF_ATTR_LOG_TYPE,       1, 4, false, false, S | D, p_log_type },
        { "max_connections", CONF_ATTR_MAX_CONNECTIONS, 1, 1, true, false, D, p_max_connections },
        { "max_load",       CONF_ATTR_MAX_LOAD,       1, 1, true, false, S | D, p_max_load },
        { "mdns",           CONF_ATTR_MDNS,           0, -1, false, false, S | D, p_ignored },
        { "nice",           CONF_ATTR_NICE,           1, 1, true, false, S, p_nice },
        { "no_access",      CONF_ATTR_NO_ACCESS,      0, -1, false, true, S | D, p_no_access },
        { "no_new_privs",   CONF_ATTR_NO_NEW_PRIVS,   1, 1, true, false, S | D, p_no_new_privs },
        { "only_from",      CONF_ATTR_ONLY_FROM,      0, -1, false, true, S | D, p_only_from },
        { "passenv",        CONF_ATTR_PASSENV,        0, -1, false, true, S | D, p_passenv },
        { "per_source",     CONF_ATTR_PER_SOURCE,     1, 1, true, false, S | D, p_per_source },
        { "per_source_cps", CONF_ATTR_PER_SOURCE_CPS, 2, 2, true, false, S | D, p_per_source_cps },
        { "port",           CONF_ATTR_PORT,           1, 1, true, false, S, p_port },
        { "private_tmp",    CONF_ATTR_PRIVATE_TMP,    1, 1, true, false, S | D, p_mount_ns },
        { "protocol",       CONF_ATTR_PROTOCOL,       1, 1, true, false, S, p_protocol },
        { "read_only_root", CONF_ATTR_READ_ONLY_ROOT, 1, 1, true, false, S | D, p_mount_ns },
        { "redirect",       CONF_ATTR_REDIRECT,       1, -1, true, false, S, p_redirect },
        { "rlimit_as",      CONF_ATTR_RLIMIT_AS,      1, 1, true, false, S, p_rlimit },
        { "rlimit_cpu",     CONF_ATTR_RLIMIT_CPU,     1, 1, true, false, S, p_rlimit },
        { "rlimit_data",    CONF_ATTR_RLIMIT_DATA,    1, 1, true, false, S, p_rlimit },
        { "rlimit_files",   CONF_ATTR_RLIMIT_FILES,   1, 1, true, false, S, p_rlimit },
        { "rlimit_nproc",   CONF_ATTR_RLIMIT_NPROC,   1, 1, true, false, S, p_rlimit },
        { "rlimit_rss",     CONF_ATTR_RLIMIT_RSS,     1, 1, true, false, S, p_rlimit },
        { "rlimit_stack",   CONF_ATTR_RLIMIT_STACK,   1, 1, true, false, S, p_rlimit },
        { "rpc_number",     CONF_ATTR_RPC_NUMBER,     1, 1, true, false, S, p_rpc_number },
        { "rpc_version",    CONF_ATTR_RPC_VERSION,    1, 1, true, false, S, p_rpc_version },
        { "server",         CONF_ATTR_SERVER,         1, 1, true, false, S, p_server },
        { "server_args",    CONF_ATTR_SERVER_ARGS,    0, -1, false, false, S, p_server_args },
        { "socket_mode",    CONF_ATTR_SOCKET_MODE,    1, 1, true, false, S, p_socket_mode },
        { "socket_owner",   CONF_ATTR_SOCKET_OWNER,   1, 1, true, false, S, p_socket_owner },
        { "socket_path",    CONF_ATTR_SOCKET_PATH,    1, 1, true, false, S, p_socket_path },
        { "socket_type",    CONF_ATTR_SOCKET_TYPE,    1, 1, true, false, S, p_socket_type },
        { "type",           CONF_ATTR_TYPE,           1, -1, false, false, S, p_type },
        { "umask",          CONF_ATTR_UMASK,          1, 1, true, false, S | D, p_umask },
        { "user",           CONF_ATTR_USER,           1, 1, true, false, S, p_user },
        { "v6only",         CONF_ATTR_V6ONLY,         1, 1, true, false, S | D, p_v6only },
        { "wait",           CONF_ATTR_WAIT,           1, 1, true, false, S, p_wait },
};
#undef S
#undef D
#define N_ATTRS (sizeof(attrs) / sizeof(attrs[0]))

static int cmp_name(const void *k, const void *e)
{
        return strcmp(k, ((const AttrDef *) e)->name);
}

static const AttrDef *find(const char *name)
{
        return bsearch(name, attrs, N_ATTRS, sizeof(attrs[0]), cmp_name);
}

int attr_lookup(const char *name)
{
        const AttrDef *d = find(name);
        return d ? (int) d->id : -1;
}

const char *conf_attr_name(ConfAttrId id)
{
        for (size_t i = 0; i < N_ATTRS; i++)
                if (attrs[i].id == id && strcmp(attrs[i].name, "interface") != 0)
                        return attrs[i].name;
        return "?";
}

/* Damerau-free Levenshtein distance, bounded (names are short). */
static unsigned distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        unsigned row[64];

        if (la >= 63 || lb >= 63)
                return 99;
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned) j;
        for (size_t i = 1; i <= la; i++) {
                unsigned prev = row[0];
                row[0] = (unsigned) i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned cur = row[j];
                        unsigned sub = prev + (a[i - 1] != b[j - 1]);
                        unsigned del = row[j] + 1, ins = row[j - 1] + 1;
                        row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
                        prev = cur;
                }
        }
        return row[lb];
}

static const char *suggest(const char *name, unsigned scope)
{
        const char *best = NULL;
        unsigned bd = 3;
        for (size_t i = 0; i < N_ATTRS; i++) {
                if (!(attrs[i].scope & scope))
                        continue;
                unsigned d = distance(name, attrs[i].name);
                if (d < bd) {
                        bd = d;
                        best = attrs[i].name;
                }
        }
        return best;
}

int attr_apply(ConfCtx *c, ConfService *s, const ParseAttr *a)
{
        const AttrDef *d = find(a->name);
        unsigned scope = c->in_defaults ? IN_DEFAULTS : IN_SERVICE;
        ParseAttr b = *a;
        int r;

        if (!d) {
                const char *sug = suggest(a->name, scope);
                if (sug)
                        conf_warn(c, a->line, a->col, "unknown attribute '%s' (did you mean "
                                  "'%s'?), ignored", a->name, sug);
                else
                        conf_warn(c, a->line, a->col, "unknown attribute '%s', ignored", a->name);
                return 0;
        }
        if (!(d->scope & scope)) {
                if (c->in_defaults)
                        conf_warn(c, a->line, a->col, "attribute '%s' is not allowed in "
                                  "'defaults', ignored", a->name);
                else
                        conf_warn(c, a->line, a->col, "attribute '%s' is only allowed in "
                                  "'defaults', ignored", a->name);
                return 0;
        }
        if (!d->cumulative) {
                unsigned first = s->attr_set & CONF_ATTR_BIT(d->id) ? c->lines[d->id] : 0;
                if (first && c->in_defaults && d->id == CONF_ATTR_LOG_TYPE) {
                        conf_error(c, a->line, a->col, "log_type already set at line %u; this "
                                   "one is ignored (xinetd refuses to start)", first);
                        return 1;
                }
                if (first) {
                        conf_warn(c, a->line, a->col, "attribute '%s' already set at line %u; "
                                  "this one is ignored (the first value is kept)", a->name,
                                  first);
                        return 0;
                }
                if (a->op != CONF_OP_SET) {
                        conf_warn(c, a->line, a->col, "operator '%s' cannot be used with "
                                  "attribute '%s', ignored", parser_op_name(a->op), a->name);
                        return 0;
                }
        } else if (c->in_defaults && a->op == CONF_OP_SET)
                b.op = CONF_OP_ADD;

        if ((int) a->n_values < d->min || (d->max >= 0 && (int) a->n_values > d->max)) {
                if (d->fixed) {
                        conf_warn(c, a->line, a->col, "attribute '%s' takes %d value%s, not "
                                  "%zu; ignored%s", a->name, d->min, d->min == 1 ? "" : "s",
                                  a->n_values,
                                  a->n_values > (size_t) d->min ?
                                  " ('#' starts a comment only at the start of a line)" : "");
                        return 0;
                }
                if (d->max < 0)
                        conf_error(c, a->line, a->col, "attribute '%s' needs a value", a->name);
                else
                        conf_error(c, a->line, a->col, "attribute '%s' takes %d to %d values, "
                                   "not %zu", a->name, d->min, d->max, a->n_values);
                return 1;
        }

        r = d->parse(c, s, &b);
        if (r < 0)
                return r;
        if (!(s->attr_set & CONF_ATTR_BIT(d->id))) {
                s->attr_set |= CONF_ATTR_BIT(d->id);
                c->lines[d->id] = a->line;
        }
        return r;
}

int attr_finish(ConfCtx *c, ConfService *s)
{
        uint32_t *lines = arena_allocarray(c->arena, (size_t)__builtin_popcountll(s->attr_set) + 1,
                                           sizeof(uint32_t));
        size_t n = 0;

        if (!lines)
                return -ENOMEM;
        for (unsigned id = 0; id < _CONF_ATTR_MAX; id++)
                if (s->attr_set & CONF_ATTR_BIT(id))
                        lines[n++] = c->lines[id];
        s->attr_lines = lines;
        return 0;
}

void attr_begin(ConfCtx *c)
{
        c->cap_only_from = c->cap_no_access = c->cap_env = c->cap_passenv = 0;
        c->error = NULL;
}

void attr_service_init(ConfService *s)
{
        s->rare = &conf_rare_none;
        s->instances = CONF_UNLIMITED;
        s->per_source = CONF_UNLIMITED;
        s->cps_rate = CONF_DEFAULT_CPS_RATE;    /* xinetd's DEFAULT_LOOP_RATE */
        s->cps_wait = CONF_DEFAULT_CPS_WAIT;    /* and DEFAULT_LOOP_TIME */
        s->v6only = -1;
        s->umask = -1;
        s->family = AF_INET;
        s->idle_timeout = CONF_DEFAULT_IDLE_TIMEOUT;
        s->connect_timeout = CONF_DEFAULT_CONNECT_TIMEOUT;
}

void attr_prefill(ConfService *s, const ConfService *def)
{
        if (def->attr_set & CONF_ATTR_BIT(CONF_ATTR_LOG_ON_SUCCESS))
                s->log_on_success = def->log_on_success;
        if (def->attr_set & CONF_ATTR_BIT(CONF_ATTR_LOG_ON_FAILURE))
                s->log_on_failure = def->log_on_failure;
        if (def->attr_set & CONF_ATTR_BIT(CONF_ATTR_ONLY_FROM))
                s->only_from = def->only_from;
        if (def->attr_set & CONF_ATTR_BIT(CONF_ATTR_NO_ACCESS))
                s->no_access = def->no_access;
        if (def->attr_set & CONF_ATTR_BIT(CONF_ATTR_PASSENV)) {
                s->passenv = def->passenv;
                s->n_passenv = def->n_passenv;
        }
}

int attr_inherit(ConfCtx *c, ConfService *s, const ConfService *def)
{
#define INHERIT(id) (!(s->attr_set & CONF_ATTR_BIT(id)) && (def->attr_set & CONF_ATTR_BIT(id)))
        if (INHERIT(CONF_ATTR_LOG_TYPE))
                s->log_type = def->log_type;
        if (INHERIT(CONF_ATTR_INSTANCES))
                s->instances = def->instances;
        if (INHERIT(CONF_ATTR_PER_SOURCE))
                s->per_source = def->per_source;
        if (INHERIT(CONF_ATTR_GROUPS))
                s->groups = def->groups;
        if (INHERIT(CONF_ATTR_CPS)) {
                s->cps_rate = def->cps_rate;
                s->cps_wait = def->cps_wait;
        }
        if (INHERIT(CONF_ATTR_MAX_LOAD))
                s->max_load = def->max_load;
        if (INHERIT(CONF_ATTR_BIND)) {
                s->has_bind = def->has_bind;
                s->bind_addr = def->bind_addr;
                s->bind_addr_len = def->bind_addr_len;
                s->bind_text = def->bind_text;
        }
        if (INHERIT(CONF_ATTR_V6ONLY))
                s->v6only = def->v6only;
        if (INHERIT(CONF_ATTR_UMASK))
                s->umask = def->umask;
        if (INHERIT(CONF_ATTR_BANNER) || INHERIT(CONF_ATTR_BANNER_SUCCESS) ||
            INHERIT(CONF_ATTR_BANNER_FAIL)) {
                ConfRare *r = attr_rare(c, s);

                if (!r)
                        return -ENOMEM;
                if (INHERIT(CONF_ATTR_BANNER))
                        r->banner = def->rare->banner;
                if (INHERIT(CONF_ATTR_BANNER_SUCCESS))
                        r->banner_success = def->rare->banner_success;
                if (INHERIT(CONF_ATTR_BANNER_FAIL))
                        r->banner_fail = def->rare->banner_fail;
        }
        if (INHERIT(CONF_ATTR_BACKLOG))
                s->backlog = def->backlog;
        if (INHERIT(CONF_ATTR_IDLE_TIMEOUT))
                s->idle_timeout = def->idle_timeout;
        if (INHERIT(CONF_ATTR_CONNECT_TIMEOUT))
                s->connect_timeout = def->connect_timeout;
        if (INHERIT(CONF_ATTR_PER_SOURCE_CPS)) {
                s->per_source_cps_rate = def->per_source_cps_rate;
                s->per_source_cps_seconds = def->per_source_cps_seconds;
        }
        if (INHERIT(CONF_ATTR_AT_LIMIT))
                s->at_limit = def->at_limit;
        if (INHERIT(CONF_ATTR_NO_NEW_PRIVS))
                s->no_new_privs = def->no_new_privs;
        if (INHERIT(CONF_ATTR_PRIVATE_TMP) || INHERIT(CONF_ATTR_READ_ONLY_ROOT)) {
                ConfRare *r = attr_rare(c, s);

                if (!r)
                        return -ENOMEM;
                if (INHERIT(CONF_ATTR_PRIVATE_TMP))
                        r->private_tmp = def->rare->private_tmp;
                if (INHERIT(CONF_ATTR_READ_ONLY_ROOT))
                        r->read_only_root = def->rare->read_only_root;
        }
#undef INHERIT
        return 0;
}
