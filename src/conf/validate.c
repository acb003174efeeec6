/* SPDX-License-Identifier: MIT */
/*
 * validate — the whole-service checks that run once every attribute of a service is known
 * (xinetd's service_fill, service_attr_check and check_entry), and the cross-service checks
 * (two services on one address, port and protocol). Each failed check is an error naming the
 * service; the service is then skipped. xinetd's bugs listed in DESIGN.md decision 9 are not
 * reproduced: a redirect service needs neither 'user' nor 'server', a SENSOR needs no
 * 'server'.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/resolve.h"
#include "conf/validate.h"

#define ERR(...) (conf_error(c, s->pos.line, 0, __VA_ARGS__), failed = true)

static const char *const builtins_stream[] = {
        "echo", "discard", "daytime", "time", "chargen", "tcpmux", NULL,
};
static const char *const builtins_dgram[] = {
        "echo", "discard", "daytime", "time", "chargen", NULL,
};

static const char *sock_name(int t)
{
        switch (t) {
        case SOCK_STREAM: return "stream";
        case SOCK_DGRAM: return "dgram";
        case SOCK_RAW: return "raw";
        default: return "seqpacket";
        }
}

static const char *find_builtin(const char *name, int socket_type)
{
        const char *const *v = socket_type == SOCK_STREAM ? builtins_stream :
                               socket_type == SOCK_DGRAM ? builtins_dgram : NULL;
        for (; v && *v; v++)
                if (strcmp(*v, name) == 0)
                        return *v;
        return NULL;
}

static void fix_argv(ConfCtx *c, ConfService *s)
{
        if (s->flags & CONF_FLAG_NAMEINARGS) {
                /* server_args holds argv[0] too: drop the reserved slot */
                if (s->argv && s->argc > 1) {
                        s->argv++;
                        s->argc--;
                }
                return;
        }
        if (!s->server)
                return;
        const char *base = strrchr(s->server, '/');
        base = base ? base + 1 : s->server;
        if (!s->argv) {
                s->argv = arena_allocarray(c->arena, 2, sizeof(char *));
                if (!s->argv)
                        return;
                s->argc = 1;
        }
        s->argv[0] = (char *) base;
}

static bool check_server(ConfCtx *c, ConfService *s)
{
        char path[4096], ebuf[128];
        if (s->server[0] != '/') {
                conf_error(c, conf_attr_line(s, CONF_ATTR_SERVER), 0,
                           "server '%s' is not an absolute path", s->server);
                return false;
        }
        if (c->flags & CONF_LOAD_NO_FS_CHECKS)
                return true;
        if ((size_t) snprintf(path, sizeof(path), "%s%s", s->rare->chroot ? s->rare->chroot : "",
                              s->server) >= sizeof(path)) {
                conf_error(c, conf_attr_line(s, CONF_ATTR_SERVER), 0, "server path too long");
                return false;
        }
        int r = resolve_executable_cached(c->cache, path);
        if (r == -EACCES) {
                conf_error(c, conf_attr_line(s, CONF_ATTR_SERVER), 0,
                           "server '%s' is not an executable file", path);
                return false;
        }
        if (r < 0) {
                conf_error(c, conf_attr_line(s, CONF_ATTR_SERVER), 0, "server '%s': %s", path,
                           conf_strerror(-r, ebuf, sizeof(ebuf)));
                return false;
        }
        return true;
}

/*
 * The protections of a server (DESIGN.md decision 10) protect nothing in a service portierd
 * serves itself: no server is started. Said once per attribute set in the service's block
 * (from defaults they are meant for the exec'd services), so that nobody believes an
 * internal service or a redirect runs chrooted.
 */
static void warn_unprotectable(ConfCtx *c, const ConfService *s)
{
        static const ConfAttrId ids[] = {
                CONF_ATTR_CHROOT, CONF_ATTR_NO_NEW_PRIVS, CONF_ATTR_CAPABILITIES,
                CONF_ATTR_PRIVATE_TMP, CONF_ATTR_READ_ONLY_ROOT, CONF_ATTR_RLIMIT_NPROC,
        };
        const char *what = s->kind == CONF_KIND_REDIRECT ? "a redirect" : "an internal service";

        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                unsigned line = conf_attr_line(s, ids[i]);

                if (line)
                        conf_warn(c, line, 0, "%s has no effect on %s (portierd serves it "
                                  "itself and starts no server); ignored",
                                  conf_attr_name(ids[i]), what);
        }
}

static bool peer_entry(const ConfAddr *a)
{
        return a->kind == CONF_ADDR_UID || a->kind == CONF_ADDR_GID;
}

/*
 * only_from and no_access hold address entries for IP services and uid:/gid: entries for
 * unix ones (socket_path). Entries of the other kind written in the service's own block are
 * errors; those it inherits from 'defaults' do not apply to it and are dropped (a defaults
 * "only_from = 127.0.0.1" does not shut every unix service). A list that loses every entry
 * that way is as if not set; an empty one ("only_from =", nobody) stays.
 */
static bool check_rule_kinds(ConfCtx *c, ConfService *s, ConfAddrList *l, ConfAttrId id,
                             bool unix_svc)
{
        unsigned line = conf_attr_line(s, id);
        size_t k = 0;

        for (size_t i = 0; i < l->n_addrs; i++)
                if (peer_entry(&l->addrs[i]) != unix_svc && line) {
                        conf_error(c, line, 0, unix_svc
                                   ? "%s: '%s' is an address, but a unix service (socket_path) "
                                     "is reached by local processes: use uid:USER or gid:GROUP "
                                     "entries (an address may come from 'defaults' through '+=')"
                                   : "%s: '%s' is for unix services (socket_path) only",
                                   conf_attr_name(id), l->addrs[i].text);
                        return false;
                }
        if (line || !l->n_addrs)
                return true;
        ConfAddr *v = arena_allocarray(c->arena, l->n_addrs, sizeof(*v));

        if (!v)
                return false;
        for (size_t i = 0; i < l->n_addrs; i++)
                if (peer_entry(&l->addrs[i]) == unix_svc)
                        v[k++] = l->addrs[i];
        l->addrs = v;
        l->set = l->set && k > 0;
        l->n_addrs = k;
        return true;
}

/* What is at a socket_path now: nothing, or an old socket (replaced at bind); anything else
 * is never removed, and the service cannot listen (listener.c checks again at bind). */
static bool check_socket_path(ConfCtx *c, ConfService *s)
{
        const char *path = s->rare->socket_path;
        const char *what = NULL;
        struct stat st;

        if (lstat(path, &st) < 0 || S_ISSOCK(st.st_mode))
                return true;
        switch (st.st_mode & S_IFMT) {
        case S_IFREG: what = "a regular file"; break;
        case S_IFDIR: what = "a directory"; break;
        case S_IFLNK: what = "a symbolic link"; break;
        default: what = "not a socket"; break;
        }
        conf_error(c, conf_attr_line(s, CONF_ATTR_SOCKET_PATH), 0, "socket_path '%s' is %s, "
                   "not a socket: left alone, service not started", path, what);
        return false;
}

/*
 * A unix service (socket_path): what does not apply to an AF_UNIX socket is an error when
 * written in the block, and ignored when it comes from 'defaults'. Sets the family, and the
 * protocol name "unix" (for listings and keys; socket(2) gets protocol 0).
 */
static bool validate_unix(ConfCtx *c, ConfService *s)
{
        static const ConfAttrId ip_only[] = {
                CONF_ATTR_PORT, CONF_ATTR_BIND, CONF_ATTR_V6ONLY, CONF_ATTR_PROTOCOL,
        };
        const ConfRare *r = s->rare;
        unsigned path_line = conf_attr_line(s, CONF_ATTR_SOCKET_PATH);
        bool failed = false;

        for (size_t i = 0; i < sizeof(ip_only) / sizeof(ip_only[0]); i++)
                if (conf_attr_line(s, ip_only[i]))
                        conf_error(c, conf_attr_line(s, ip_only[i]), 0, "%s cannot be used "
                                   "with socket_path (line %u): an AF_UNIX socket has no %s",
                                   conf_attr_name(ip_only[i]), path_line,
                                   ip_only[i] == CONF_ATTR_PROTOCOL ? "IP protocol"
                                                                    : "IP address or port"),
                                failed = true;
        if ((s->flags & (CONF_FLAG_IPV4 | CONF_FLAG_IPV6)) && conf_attr_line(s, CONF_ATTR_FLAGS))
                conf_error(c, conf_attr_line(s, CONF_ATTR_FLAGS), 0, "flags IPv4 and IPv6 "
                           "cannot be used with socket_path (line %u)", path_line),
                        failed = true;
        if (s->type & (CONF_TYPE_TCPMUX | CONF_TYPE_TCPMUXPLUS))
                conf_error(c, conf_attr_line(s, CONF_ATTR_TYPE), 0, "a TCPMUX service cannot "
                           "have a socket_path (it is reached through the tcpmux port)"),
                        failed = true;
        if (s->flags & (CONF_FLAG_SENSOR | CONF_FLAG_IDONLY))
                conf_error(c, conf_attr_line(s, CONF_ATTR_FLAGS), 0, "flags %s cannot be used "
                           "with socket_path (%s)", s->flags & CONF_FLAG_SENSOR ? "SENSOR"
                           : "IDONLY", s->flags & CONF_FLAG_SENSOR
                           ? "it denies client addresses" : "ident (RFC 1413) is for TCP"),
                        failed = true;
        if (s->socket_type == SOCK_RAW)
                conf_error(c, conf_attr_line(s, CONF_ATTR_SOCKET_TYPE), 0, "socket_type raw "
                           "cannot be used with socket_path (stream, dgram or seqpacket)"),
                        failed = true;
        if (r->socket_path[0] == '@' && (r->has_socket_mode || r->has_socket_uid ||
                                         r->has_socket_gid))
                conf_error(c, conf_attr_line(s, r->has_socket_mode ? CONF_ATTR_SOCKET_MODE
                                                                   : CONF_ATTR_SOCKET_OWNER), 0,
                           "an abstract socket ('%s') has no file: socket_owner and "
                           "socket_mode cannot be used (check the client's uid with "
                           "only_from = uid:...)", r->socket_path),
                        failed = true;
        if ((s->log_on_success | s->log_on_failure) & CONF_LOG_USERID) {
                conf_warn(c, s->pos.line, 0, "USERID cleared from log_on_success and "
                          "log_on_failure: ident (RFC 1413) is for TCP; the client's uid is "
                          "logged in from=");
                s->log_on_success &= ~CONF_LOG_USERID;
                s->log_on_failure &= ~CONF_LOG_USERID;
        }
        if (!(c->flags & CONF_LOAD_NO_FS_CHECKS) && r->socket_path[0] == '/' &&
            !check_socket_path(c, s))
                failed = true;
        s->has_bind = false;            /* from 'defaults': not for this socket */
        s->v6only = -1;
        s->port = 0;
        s->port_set = false;
        s->family = AF_UNIX;
        s->protocol = 0;
        s->protocol_name = "unix";
        return !failed;
}

/* socket_owner and socket_mode describe the file of a socket_path. */
static bool check_socket_file_attrs(ConfCtx *c, ConfService *s)
{
        static const ConfAttrId file_attrs[] = { CONF_ATTR_SOCKET_OWNER, CONF_ATTR_SOCKET_MODE };

        for (size_t i = 0; i < 2; i++)
                if (conf_attr_line(s, file_attrs[i])) {
                        conf_error(c, conf_attr_line(s, file_attrs[i]), 0, "%s needs "
                                   "socket_path (it sets the socket file's %s)",
                                   conf_attr_name(file_attrs[i]),
                                   i == 0 ? "owner" : "mode");
                        return false;
                }
        return true;
}

int validate_service(ConfCtx *c, ConfService *s)
{
        char ebuf[128];
        bool failed = false;

        if (s->type & CONF_TYPE_RPC) {
                ERR("RPC services are not supported yet (type = RPC); service skipped");
                return 1;
        }
        if (s->flags & CONF_FLAG_INTERCEPT) {
                conf_error(c, conf_attr_line(s, CONF_ATTR_FLAGS), 0,
                           "flags = INTERCEPT is not supported; service skipped");
                return 1;
        }

        bool unix_svc = s->rare->socket_path != NULL;

        if (!check_rule_kinds(c, s, &s->only_from, CONF_ATTR_ONLY_FROM, unix_svc) ||
            !check_rule_kinds(c, s, &s->no_access, CONF_ATTR_NO_ACCESS, unix_svc))
                failed = true;
        if (unix_svc ? !validate_unix(c, s) : !check_socket_file_attrs(c, s))
                failed = true;
        if (failed)
                return 1;

        /* socket_type and protocol imply each other (xinetd's service_fill) */
        if (!s->protocol_name && conf_attr_line(s, CONF_ATTR_SOCKET_TYPE)) {
                if (s->socket_type == SOCK_STREAM)
                        s->protocol_name = "tcp", s->protocol = IPPROTO_TCP;
                else if (s->socket_type == SOCK_DGRAM)
                        s->protocol_name = "udp", s->protocol = IPPROTO_UDP;
        }
        if (s->protocol_name && !conf_attr_line(s, CONF_ATTR_SOCKET_TYPE)) {
                if (strcmp(s->protocol_name, "tcp") == 0)
                        s->socket_type = SOCK_STREAM;
                else if (strcmp(s->protocol_name, "udp") == 0)
                        s->socket_type = SOCK_DGRAM;
        }

        bool sensor = s->flags & CONF_FLAG_SENSOR;
        bool internal = (s->type & CONF_TYPE_INTERNAL) || sensor;
        bool redirect = s->redirect_host != NULL;
        bool mux = s->type & (CONF_TYPE_TCPMUX | CONF_TYPE_TCPMUXPLUS);

        if (internal && redirect) {
                conf_warn(c, conf_attr_line(s, CONF_ATTR_REDIRECT), 0,
                          "redirect is ignored for an internal service");
                redirect = false;
                s->redirect_host = NULL;
        }
        s->kind = sensor ? CONF_KIND_SENSOR : internal ? CONF_KIND_INTERNAL :
                  redirect ? CONF_KIND_REDIRECT : CONF_KIND_SERVER;
        if (s->kind != CONF_KIND_SERVER)
                warn_unprotectable(c, s);

        /* required attributes */
        struct { ConfAttrId id; bool need; } req[] = {
                { CONF_ATTR_SOCKET_TYPE, !s->socket_type },
                { CONF_ATTR_PROTOCOL, !s->protocol_name && (s->type & CONF_TYPE_UNLISTED) },
                { CONF_ATTR_WAIT, !conf_attr_line(s, CONF_ATTR_WAIT) },
                { CONF_ATTR_USER, s->kind == CONF_KIND_SERVER && !s->has_user },
                { CONF_ATTR_SERVER, s->kind == CONF_KIND_SERVER && !s->server },
                { CONF_ATTR_PORT, (s->type & CONF_TYPE_UNLISTED) && !mux && !s->port_set &&
                                  !unix_svc },
        };
        for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
                if (req[i].need)
                        ERR("missing attribute '%s'", conf_attr_name(req[i].id));
        if (failed)
                return 1;
        if (!s->protocol_name) {
                ERR("missing attribute 'protocol' (socket_type %s does not imply one)",
                    s->socket_type == SOCK_RAW ? "raw" : "seqpacket");
                return 1;
        }

        if (unix_svc && s->kind == CONF_KIND_INTERNAL && s->socket_type != SOCK_STREAM)
                ERR("a built-in on a unix socket must have socket_type stream (a datagram "
                    "client of a unix socket usually has no address to answer to)");
        else if (unix_svc && s->kind == CONF_KIND_INTERNAL && strcmp(s->name, "tcpmux") == 0)
                ERR("the tcpmux built-in cannot listen on a unix socket");
        if (s->kind == CONF_KIND_INTERNAL) {
                s->builtin = find_builtin(s->name, s->socket_type);
                if (!s->builtin) {
                        if (!strcmp(s->name, "servers") || !strcmp(s->name, "services") ||
                            !strcmp(s->name, "xadmin"))
                                ERR("no internal service '%s' (xinetd removed it in 2.3.12)",
                                    s->name);
                        else
                                ERR("no internal service '%s' for socket_type %s (internal "
                                    "services: echo, discard, daytime, time, chargen; tcpmux "
                                    "on stream)", s->name,
                                    s->socket_type == SOCK_STREAM ? "stream" :
                                    s->socket_type == SOCK_DGRAM ? "dgram" : "raw/seqpacket");
                }
        } else if (s->kind == CONF_KIND_SENSOR)
                s->builtin = "sensor";

        if (mux) {
                if (!(s->type & CONF_TYPE_UNLISTED))
                        ERR("a TCPMUX service must also have 'type = UNLISTED'");
                if (strcmp(s->protocol_name, "tcp") != 0)
                        ERR("a TCPMUX service must use protocol tcp");
        } else if (!(s->type & CONF_TYPE_UNLISTED) && !unix_svc) {
                uint16_t port;
                if (resolve_service_cached(c->cache, s->name, s->protocol_name, &port) < 0)
                        ERR("'%s/%s' is not in /etc/services (use 'type = UNLISTED' and a "
                            "'port')", s->name, s->protocol_name);
                else if (s->port_set && s->port != port)
                        conf_error(c, conf_attr_line(s, CONF_ATTR_PORT), 0,
                                   "expects port %u (from /etc/services), not %u", port,
                                   s->port), failed = true;
                else
                        s->port = port;
        }

        if (s->kind == CONF_KIND_REDIRECT) {
                if (unix_svc && conf_redirect_unix(s) &&
                    strcmp(s->redirect_host, s->rare->socket_path) == 0)
                        conf_error(c, conf_attr_line(s, CONF_ATTR_REDIRECT), 0, "redirect: "
                                   "'%s' is this service's own socket_path (a loop)",
                                   s->redirect_host), failed = true;
                if (s->socket_type != SOCK_STREAM)
                        ERR("a redirect service must have socket_type stream");
                if (s->wait)
                        ERR("a redirect service must have 'wait = no'");
                if (s->flags & CONF_FLAG_NAMEINARGS)
                        ERR("a redirect service cannot have flags NAMEINARGS");
        } else if (s->log_on_success & CONF_LOG_TRAFFIC)
                ERR("log_on_success TRAFFIC is only for redirect services");
        if (s->flags & CONF_FLAG_NAMEINARGS) {
                if (s->kind != CONF_KIND_SERVER)
                        ERR("flags NAMEINARGS is only for services with a 'server'");
                else if (!s->argv)
                        ERR("flags NAMEINARGS needs 'server_args' (its first word is argv[0])");
        }
        if (s->listen_fds && !s->wait)
                ERR("listen_fds needs 'wait = yes'");

        /* address family: flags, then the bind address; IPv4 by default (as xinetd) */
        if (unix_svc)
                ;               /* AF_UNIX: validate_unix() */
        else if (s->has_bind) {
                int bf = s->bind_addr.sa.sa_family;
                if ((s->flags & CONF_FLAG_IPV6) && !(s->flags & CONF_FLAG_IPV4) && bf == AF_INET)
                        ERR("bind address '%s' is IPv4 but flags has IPv6", s->bind_text);
                else if ((s->flags & CONF_FLAG_IPV4) && !(s->flags & CONF_FLAG_IPV6) &&
                         bf == AF_INET6)
                        ERR("bind address '%s' is IPv6 but flags has IPv4", s->bind_text);
                s->family = bf;
        } else if (s->flags & CONF_FLAG_IPV6)
                s->family = AF_INET6;
        else
                s->family = AF_INET;

        if (s->kind == CONF_KIND_SERVER && s->server && !check_server(c, s))
                failed = true;
        if (!failed && !(c->flags & CONF_LOAD_NO_FS_CHECKS)) {
                /* what the daemon will ask of socket(2): xinetd finds out only then */
                int r = resolve_socket_cached(c->cache, s->family, s->socket_type, s->protocol);
                if (r == -EPROTONOSUPPORT || r == -EPROTOTYPE || r == -ESOCKTNOSUPPORT ||
                    r == -EAFNOSUPPORT || r == -EINVAL)
                        ERR("socket_type %s with protocol %s: %s", sock_name(s->socket_type),
                            s->protocol_name, conf_strerror(-r, ebuf, sizeof(ebuf)));
        }

        if (!(c->flags & CONF_LOAD_NO_FS_CHECKS)) {
                /* xinetd finds a missing banner at each connection; say it once, now */
                const struct { ConfAttrId id; const char *path; } b[] = {
                        { CONF_ATTR_BANNER, s->rare->banner },
                        { CONF_ATTR_BANNER_SUCCESS, s->rare->banner_success },
                        { CONF_ATTR_BANNER_FAIL, s->rare->banner_fail },
                };
                for (size_t i = 0; i < 3; i++) {
                        int r = b[i].path ? resolve_readable_cached(c->cache, b[i].path) : 0;
                        if (r < 0)
                                conf_warn(c, conf_attr_line(s, b[i].id) ?: s->pos.line, 0,
                                          "%s '%s': %s; nothing will be sent",
                                          conf_attr_name(b[i].id), b[i].path,
                                          r == -EINVAL ? "not a regular file"
                                                       : conf_strerror(-r, ebuf, sizeof(ebuf)));
                }
        }
        if ((s->flags & CONF_FLAG_IDONLY) &&
            !((s->log_on_success | s->log_on_failure) & CONF_LOG_USERID))
                conf_warn(c, conf_attr_line(s, CONF_ATTR_FLAGS), 0,
                          "flags IDONLY without USERID in log_on_success or log_on_failure");
        if (s->port == 113 && s->protocol == IPPROTO_TCP &&
            ((s->log_on_success | s->log_on_failure) & CONF_LOG_USERID)) {
                conf_warn(c, s->pos.line, 0, "USERID cleared from log_on_success and "
                          "log_on_failure of the ident service (it would loop)");
                s->log_on_success &= ~CONF_LOG_USERID;
                s->log_on_failure &= ~CONF_LOG_USERID;
        }
        fix_argv(c, s);
        return failed ? 1 : 0;
}

/*
 * Open-addressing hash sets of service indices, so that the checks across services stay
 * linear however many services share a port.
 */
typedef struct KeyTable {
        size_t *slot;           /* SIZE_MAX: empty */
        size_t mask;
} KeyTable;

static int table_init(KeyTable *t, size_t n)
{
        size_t size = 16;
        while (size < 2 * n + 1)
                size *= 2;
        t->slot = malloc(size * sizeof(size_t));
        if (!t->slot)
                return -ENOMEM;
        for (size_t i = 0; i < size; i++)
                t->slot[i] = SIZE_MAX;
        t->mask = size - 1;
        return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
        const unsigned char *b = p;
        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 1099511628211ull;
        return h;
}

/* The listening key: port, protocol, family and address (all zero for a wildcard). */
typedef struct ListenKey {
        uint16_t port;
        int protocol;
        int family;
        uint8_t addr[16];
} ListenKey;

static ListenKey listen_key(const ConfService *s)
{
        ListenKey k = { .port = s->port, .protocol = s->protocol, .family = s->family };
        if (s->has_bind && s->family == AF_INET)
                memcpy(k.addr, &s->bind_addr.in.sin_addr, 4);
        else if (s->has_bind)
                memcpy(k.addr, &s->bind_addr.in6.sin6_addr, 16);
        return k;
}

static uint64_t key_hash(const ListenKey *k)
{
        uint64_t h = 14695981039346656037ull;
        h = fnv(h, &k->port, sizeof(k->port));
        h = fnv(h, &k->protocol, sizeof(k->protocol));
        h = fnv(h, &k->family, sizeof(k->family));
        return fnv(h, k->addr, sizeof(k->addr));
}

static bool key_equal(const ListenKey *a, const ListenKey *b)
{
        return a->port == b->port && a->protocol == b->protocol && a->family == b->family &&
               memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

/* The index of the service with key @k, or SIZE_MAX; *ret_slot: where to insert it. */
static size_t key_find(const KeyTable *t, ConfService **v, const ListenKey *k, size_t *ret_slot)
{
        size_t i = (size_t) key_hash(k) & t->mask;
        for (; t->slot[i] != SIZE_MAX; i = (i + 1) & t->mask) {
                ListenKey o = listen_key(v[t->slot[i]]);
                if (key_equal(&o, k))
                        return t->slot[i];
        }
        if (ret_slot)
                *ret_slot = i;
        return SIZE_MAX;
}

static size_t id_find(const KeyTable *t, ConfService **v, const char *id, size_t *ret_slot)
{
        size_t i = (size_t) fnv(14695981039346656037ull, id, strlen(id)) & t->mask;
        for (; t->slot[i] != SIZE_MAX; i = (i + 1) & t->mask)
                if (strcmp(v[t->slot[i]]->id, id) == 0)
                        return t->slot[i];
        if (ret_slot)
                *ret_slot = i;
        return SIZE_MAX;
}

/* The unix services by socket_path, as id_find() does by id. */
static size_t path_find(const KeyTable *t, ConfService **v, const char *path, size_t *ret_slot)
{
        size_t i = (size_t) fnv(14695981039346656037ull, path, strlen(path)) & t->mask;
        for (; t->slot[i] != SIZE_MAX; i = (i + 1) & t->mask)
                if (strcmp(v[t->slot[i]]->rare->socket_path, path) == 0)
                        return t->slot[i];
        if (ret_slot)
                *ret_slot = i;
        return SIZE_MAX;
}

static void skip_duplicate(ConfCtx *c, ConfService *s, const ConfService *o)
{
        char what[160];

        c->error = NULL;
        c->severity = CONF_ERROR;
        if (s->family == AF_UNIX)
                snprintf(what, sizeof(what), "same socket_path '%s'", s->rare->socket_path);
        else
                snprintf(what, sizeof(what), "same address, port (%u) and protocol (%s)",
                         s->port, s->protocol_name);
        conf_error(c, s->pos.line, 0, "%s as service '%s' at %s:%u; service skipped", what,
                   o->id, o->pos.file, o->pos.line);
        s->state = CONF_SERVICE_SKIPPED;
        s->reason = c->error;
}

int validate_duplicates(ConfCtx *c, ConfService **v, size_t n)
{
        KeyTable keys = { 0 }, ids = { 0 }, paths = { 0 };

        if (table_init(&keys, n) < 0 || table_init(&ids, n) < 0 || table_init(&paths, n) < 0) {
                free(keys.slot);
                free(ids.slot);
                free(paths.slot);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                ConfService *s = v[i];
                size_t slot = 0, j;

                if (s->state != CONF_SERVICE_ACTIVE)
                        continue;
                c->file = s->pos.file;
                c->label = s->id;
                if ((j = id_find(&ids, v, s->id, &slot)) != SIZE_MAX)
                        conf_warn(c, s->pos.line, 0, "id '%s' is also used by the service at "
                                  "%s:%u; their log lines cannot be told apart (give each an "
                                  "'id')", s->id, v[j]->pos.file, v[j]->pos.line);
                else
                        ids.slot[slot] = i;
                if (s->family == AF_UNIX) {
                        if ((j = path_find(&paths, v, s->rare->socket_path, &slot)) != SIZE_MAX)
                                skip_duplicate(c, s, v[j]);
                        else
                                paths.slot[slot] = i;
                        continue;
                }
                if ((s->type & CONF_TYPE_MUX_ANY) || !s->port)
                        continue;       /* port 0: the kernel picks a free one */

                ListenKey k = listen_key(s);
                if ((j = key_find(&keys, v, &k, &slot)) != SIZE_MAX) {
                        skip_duplicate(c, s, v[j]);
                        continue;
                }
                keys.slot[slot] = i;

                /* an IPv6 wildcard without V6ONLY also takes the IPv4 wildcard of its port */
                ListenKey w = { .port = s->port, .protocol = s->protocol,
                                .family = s->family == AF_INET ? AF_INET6 : AF_INET };
                bool wild = true;
                for (size_t b = 0; b < sizeof(k.addr); b++)
                        wild = wild && !k.addr[b];
                if (!wild || (j = key_find(&keys, v, &w, NULL)) == SIZE_MAX)
                        continue;
                const ConfService *v6 = s->family == AF_INET6 ? s : v[j];
                if (v6->v6only != 1)
                        conf_warn(c, s->pos.line, 0, "an IPv6 dual-stack socket and an IPv4 one "
                                  "on port %u/%s (with service '%s' at %s:%u): the second to "
                                  "bind fails; set 'v6only = yes' on the IPv6 one", s->port,
                                  s->protocol_name, v[j]->id, v[j]->pos.file, v[j]->pos.line);
        }
        free(keys.slot);
        free(ids.slot);
        free(paths.slot);
        return 0;
}
