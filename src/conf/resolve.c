/* SPDX-License-Identifier: MIT */
/*
 * resolve — thin wrappers over the _r lookups with bounded, growing buffers (ERANGE is
 * retried up to 1 MiB).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/bundle.h"
#include "conf/resolve.h"
#include "conf/value.h"

#define RESOLVE_BUF_MAX (1u << 20)

const char *conf_strerror(int err, char *buf, size_t size)
{
        return strerror_r(err, buf, size);     /* GNU: returns the message */
}

int resolve_user(const char *name, uid_t *ret_uid, gid_t *ret_gid, bool *ret_has_gid)
{
        struct passwd pw, *res = NULL;
        size_t size = 1024;
        uint64_t num;
        bool numeric = value_uint(name, UINT32_MAX - 1, &num) == 0;
        int r;

        for (;;) {
                char *buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                if (numeric)
                        r = getpwuid_r((uid_t) num, &pw, buf, size, &res);
                else
                        r = getpwnam_r(name, &pw, buf, size, &res);
                if (r == 0 && res) {
                        *ret_uid = pw.pw_uid;
                        *ret_gid = pw.pw_gid;
                        *ret_has_gid = true;
                }
                free(buf);
                if (r == ERANGE && size < RESOLVE_BUF_MAX) {
                        size *= 2;
                        continue;
                }
                break;
        }
        if (res)
                return 0;
        if (numeric) {
                /* no passwd entry: xinetd uses the uid as the gid too */
                *ret_uid = (uid_t) num;
                *ret_gid = (gid_t) num;
                *ret_has_gid = false;
                return 0;
        }
        return r > 0 ? -r : -ENOENT;
}

int resolve_group(const char *name, gid_t *ret_gid)
{
        struct group gr, *res = NULL;
        size_t size = 1024;
        uint64_t num;
        int r;

        if (value_uint(name, UINT32_MAX - 1, &num) == 0) {
                *ret_gid = (gid_t) num;
                return 0;
        }
        for (;;) {
                char *buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                r = getgrnam_r(name, &gr, buf, size, &res);
                if (r == 0 && res)
                        *ret_gid = gr.gr_gid;
                free(buf);
                if (r == ERANGE && size < RESOLVE_BUF_MAX) {
                        size *= 2;
                        continue;
                }
                break;
        }
        if (res)
                return 0;
        return r > 0 ? -r : -ENOENT;
}

int resolve_service(const char *name, const char *proto, uint16_t *ret_port)
{
        struct servent se, *res = NULL;
        char buf[4096];

        if (getservbyname_r(name, proto, &se, buf, sizeof(buf), &res) != 0 || !res)
                return -ENOENT;
        *ret_port = ntohs((uint16_t) se.s_port);
        return 0;
}

int resolve_protocol(const char *name, int *ret_proto)
{
        struct protoent pe, *res = NULL;
        char buf[4096];

        if (getprotobyname_r(name, &pe, buf, sizeof(buf), &res) != 0 || !res)
                return -ENOENT;
        *ret_proto = pe.p_proto;
        return 0;
}

int resolve_addresses(const char *host, uint16_t port, int family, bool allow_dns,
                      ConfSockaddr *ret, socklen_t *ret_len, size_t max, size_t *ret_n)
{
        struct addrinfo hints = {
                .ai_family = family,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_NUMERICSERV | (allow_dns ? 0 : AI_NUMERICHOST),
        };
        struct addrinfo *res = NULL;
        char pbuf[8];
        size_t n = 0;
        int r;

        snprintf(pbuf, sizeof(pbuf), "%u", port);
        r = getaddrinfo(host, pbuf, &hints, &res);
        if (r != 0 || !res) {
                if (r == EAI_NONAME && !allow_dns)
                        return -EINVAL;
                return -ENOENT;
        }
        for (const struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
                if (ai->ai_addrlen > sizeof(*ret))
                        continue;
                memcpy(&ret[n], ai->ai_addr, ai->ai_addrlen);
                ret_len[n++] = ai->ai_addrlen;
        }
        freeaddrinfo(res);
        *ret_n = n;
        return n ? 0 : -EAFNOSUPPORT;
}

int resolve_address(const char *host, uint16_t port, int family, bool allow_dns,
                    ConfSockaddr *ret, socklen_t *ret_len)
{
        size_t n;

        return resolve_addresses(host, port, family, allow_dns, ret, ret_len, 1, &n);
}

typedef enum CacheKind {
        CACHE_USER,
        CACHE_GROUP,
        CACHE_SERVICE,
        CACHE_PROTOCOL,
        CACHE_EXEC,
        CACHE_SOCKET,
        CACHE_READABLE,
} CacheKind;

typedef struct CacheEntry {
        CacheKind kind;
        char *key;
        int r;
        uint32_t a, b;
        bool flag;
} CacheEntry;

struct ResolveCache {
        CacheEntry e[RESOLVE_CACHE_MAX];
        size_t n;
        ConfBundle *record;             /* file checks are recorded here, */
        const ConfBundle *replay;       /* or answered from here (privilege separation) */
};

/**
 * resolve_cache_set_bundle() - record the file checks (is the server executable, is a
 * banner readable) into @record, or answer them from @replay: the network process of
 * privilege separation, which may not see the files, gets the monitor's answers
 * @c: the cache
 * @record: or NULL
 * @replay: or NULL
 */
void resolve_cache_set_bundle(ResolveCache *c, ConfBundle *record, const ConfBundle *replay)
{
        if (c) {
                c->record = record;
                c->replay = replay;
        }
}

/* A file check answered by the bundle (1: *ret set) or recorded into it (0). */
static int check_replayed(ResolveCache *c, ConfBundleKind kind, const char *path, int *ret)
{
        const ConfBundleEntry *e;

        if (!c || !c->replay)
                return 0;
        e = conf_bundle_find(c->replay, kind, path);
        *ret = e ? -e->error : -ENOENT;
        return 1;
}

static int check_record(ResolveCache *c, ConfBundleKind kind, const char *path, int r)
{
        if (c && c->record && conf_bundle_add_check(c->record, kind, path, -r) < 0)
                return -ENOMEM;
        return r;
}

ResolveCache *resolve_cache_new(void)
{
        return calloc(1, sizeof(ResolveCache));
}

ResolveCache *resolve_cache_free(ResolveCache *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                free(c->e[i].key);
        free(c);
        return NULL;
}

static CacheEntry *cache_find(ResolveCache *c, CacheKind kind, const char *key)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                if (c->e[i].kind == kind && strcmp(c->e[i].key, key) == 0)
                        return &c->e[i];
        return NULL;
}

static void cache_put(ResolveCache *c, CacheKind kind, const char *key, int r, uint32_t a,
                      uint32_t b, bool flag)
{
        if (!c || c->n >= RESOLVE_CACHE_MAX || r == -ENOMEM)
                return;
        char *k = strdup(key);
        if (!k)
                return;
        c->e[c->n++] = (CacheEntry) { .kind = kind, .key = k, .r = r, .a = a, .b = b,
                                      .flag = flag };
}

int resolve_user_cached(ResolveCache *c, const char *name, uid_t *ret_uid, gid_t *ret_gid,
                        bool *ret_has_gid)
{
        CacheEntry *e = cache_find(c, CACHE_USER, name);
        uid_t u = 0;
        gid_t g = 0;
        bool has = false;
        int r;

        if (e) {
                r = e->r;
                u = e->a;
                g = e->b;
                has = e->flag;
        } else {
                r = resolve_user(name, &u, &g, &has);
                cache_put(c, CACHE_USER, name, r, u, g, has);
        }
        if (r == 0) {
                *ret_uid = u;
                *ret_gid = g;
                *ret_has_gid = has;
        }
        return r;
}

int resolve_group_cached(ResolveCache *c, const char *name, gid_t *ret_gid)
{
        CacheEntry *e = cache_find(c, CACHE_GROUP, name);
        gid_t g = 0;
        int r;

        if (e) {
                r = e->r;
                g = e->a;
        } else {
                r = resolve_group(name, &g);
                cache_put(c, CACHE_GROUP, name, r, g, 0, false);
        }
        if (r == 0)
                *ret_gid = g;
        return r;
}

int resolve_service_cached(ResolveCache *c, const char *name, const char *proto,
                           uint16_t *ret_port)
{
        char key[512];
        uint16_t p = 0;
        int r;

        if ((size_t) snprintf(key, sizeof(key), "%s/%s", name, proto) >= sizeof(key))
                return resolve_service(name, proto, ret_port);
        CacheEntry *e = cache_find(c, CACHE_SERVICE, key);
        if (e) {
                r = e->r;
                p = (uint16_t) e->a;
        } else {
                r = resolve_service(name, proto, &p);
                cache_put(c, CACHE_SERVICE, key, r, p, 0, false);
        }
        if (r == 0)
                *ret_port = p;
        return r;
}

int resolve_protocol_cached(ResolveCache *c, const char *name, int *ret_proto)
{
        CacheEntry *e = cache_find(c, CACHE_PROTOCOL, name);
        int p = 0, r;

        if (e) {
                r = e->r;
                p = (int) e->a;
        } else {
                r = resolve_protocol(name, &p);
                cache_put(c, CACHE_PROTOCOL, name, r, (uint32_t) p, 0, false);
        }
        if (r == 0)
                *ret_proto = p;
        return r;
}

int resolve_executable_cached(ResolveCache *c, const char *path)
{
        CacheEntry *e = cache_find(c, CACHE_EXEC, path);
        struct stat st;
        int r;

        if (e)
                return e->r;
        if (check_replayed(c, CONF_BUNDLE_EXEC, path, &r))
                ;
        else if (stat(path, &st) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111) || access(path, X_OK) < 0)
                r = -EACCES;
        else
                r = 0;
        r = check_record(c, CONF_BUNDLE_EXEC, path, r);
        cache_put(c, CACHE_EXEC, path, r, 0, 0, false);
        return r;
}

int resolve_socket_cached(ResolveCache *c, int family, int type, int proto)
{
        char key[48];
        int r;

        snprintf(key, sizeof(key), "%d/%d/%d", family, type, proto);
        CacheEntry *e = cache_find(c, CACHE_SOCKET, key);
        if (e)
                return e->r;
        int fd = socket(family, type | SOCK_CLOEXEC, proto);
        if (fd >= 0) {
                close(fd);
                r = 0;
        } else
                r = (errno == EPERM || errno == EACCES || errno == EMFILE || errno == ENFILE ||
                     errno == ENOBUFS || errno == ENOMEM) ? 0 : -errno;
        cache_put(c, CACHE_SOCKET, key, r, 0, 0, false);
        return r;
}

int resolve_readable_cached(ResolveCache *c, const char *path)
{
        CacheEntry *e = cache_find(c, CACHE_READABLE, path);
        struct stat st;
        int r;

        if (e)
                return e->r;
        if (check_replayed(c, CONF_BUNDLE_READABLE, path, &r))
                ;
        else if (stat(path, &st) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode))
                r = -EINVAL;
        else if (access(path, R_OK) < 0)
                r = -errno;
        else
                r = 0;
        r = check_record(c, CONF_BUNDLE_READABLE, path, r);
        cache_put(c, CACHE_READABLE, path, r, 0, 0, false);
        return r;
}
