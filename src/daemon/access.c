/* SPDX-License-Identifier: MIT */
/*
 * access.c — only_from / no_access decided on the parser's ConfAddr values: the best match of
 * each list, the more specific one wins, ties refused (the rule and its evidence are in
 * access.h). Owns no state; every function is pure, allocates nothing and never blocks, so the
 * accept path may call it for every connection. Host names are never looked up here: a
 * decision that needs the client's name says so (ACCESS_NEEDS_NAME) and is taken again when
 * the caller has it.
 */

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "daemon/access.h"

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static const uint8_t unix_prefix[4] = { 0x01, 0x00, 'u', 'x' };

int access_unix_peer_of(int fd, AccessUnixPeer *ret)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);

        *ret = (AccessUnixPeer){ .family = AF_UNIX };
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        /* a socketpair() peer, or one from another user namespace, may report -1/overflow ids:
         * they are logged as they are and match no uid: entry but the overflow uid's */
        ret->has_cred = 1;
        ret->uid = cred.uid;
        ret->gid = cred.gid;
        ret->pid = cred.pid;
        return 0;
}

ssize_t access_unix_datagram_peer(int fd, AccessUnixPeer *ret)
{
        union {
                char buf[CMSG_SPACE(sizeof(struct ucred))];
                struct cmsghdr align;
        } ctl;
        char c;
        struct iovec iov = { .iov_base = &c, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf) };
        ssize_t n = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);

        *ret = (AccessUnixPeer){ .family = AF_UNIX };
        if (n < 0)
                return -errno;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
                    cm->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                        struct ucred u;

                        memcpy(&u, CMSG_DATA(cm), sizeof(u));
                        *ret = (AccessUnixPeer){ .family = AF_UNIX, .has_cred = 1,
                                                 .uid = u.uid, .gid = u.gid, .pid = u.pid };
                }
        return n;
}

void access_unix_peer_format(const AccessUnixPeer *p, char *buf, size_t size)
{
        if (!p->has_cred)
                snprintf(buf, size, "unix");
        else
                snprintf(buf, size, "uid:%" PRIu32 ",gid:%" PRIu32 ",pid:%" PRId32, p->uid,
                         p->gid, p->pid);
}

static bool has_gid_entry(const ConfAddrList *l)
{
        for (size_t i = 0; l && i < l->n_addrs; i++)
                if (l->addrs[i].kind == CONF_ADDR_GID)
                        return true;
        return false;
}

static bool names_a_group(const ConfAddrList *l, const gid_t *g, size_t n)
{
        for (size_t i = 0; l && i < l->n_addrs; i++)
                for (size_t j = 0; l->addrs[i].kind == CONF_ADDR_GID && j < n; j++)
                        if (l->addrs[i].id == g[j])
                                return true;
        return false;
}

void access_unix_peer_groups(int fd, const ConfAddrList *only_from, const ConfAddrList *no_access,
                             AccessUnixPeer *p)
{
        gid_t g[ACCESS_UNIX_GROUPS_MAX];
        socklen_t len = sizeof(g);

        p->groups = 0;
        if (!p->has_cred || (!has_gid_entry(only_from) && !has_gid_entry(no_access)))
                return;
        if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
                if (has_gid_entry(no_access))
                        p->groups = ACCESS_UNIX_NA_GROUP;       /* unknown: fail closed */
                return;
        }
        if (names_a_group(only_from, g, len / sizeof(gid_t)))
                p->groups |= ACCESS_UNIX_OF_GROUP;
        if (names_a_group(no_access, g, len / sizeof(gid_t)))
                p->groups |= ACCESS_UNIX_NA_GROUP;
}

bool access_addr_unix(const AccessAddr *a, uint32_t *uid, uint32_t *gid)
{
        if (memcmp(a->addr, unix_prefix, sizeof(unix_prefix)) != 0)
                return false;
        memcpy(uid, a->addr + 4, 4);
        memcpy(gid, a->addr + 8, 4);
        return true;
}

int access_addr_from_sockaddr(const struct sockaddr *sa, AccessAddr *ret)
{
        if (!sa)
                return -EAFNOSUPPORT;
        if (sa->sa_family == AF_UNIX) {
                const AccessUnixPeer *p = (const AccessUnixPeer *)sa;

                if (!p->has_cred)
                        return -EAFNOSUPPORT;
                memset(ret->addr, 0, sizeof(ret->addr));
                memcpy(ret->addr, unix_prefix, sizeof(unix_prefix));
                memcpy(ret->addr + 4, &p->uid, 4);
                memcpy(ret->addr + 8, &p->gid, 4);
                ret->addr[12] = p->groups;
                return 0;
        }
        if (sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

                memcpy(ret->addr, v4mapped_prefix, 12);
                memcpy(ret->addr + 12, &in->sin_addr, 4);
                return 0;
        }
        if (sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

                memcpy(ret->addr, &in6->sin6_addr, 16);
                return 0;
        }
        return -EAFNOSUPPORT;
}

bool access_addr_is_v4(const AccessAddr *a)
{
        return memcmp(a->addr, v4mapped_prefix, 12) == 0;
}

void access_addr_mask(AccessAddr *a, unsigned v6_prefix)
{
        if (access_addr_is_v4(a))
                return;
        for (unsigned i = 0; i < 16; i++) {
                unsigned bits = v6_prefix > i * 8 ? v6_prefix - i * 8 : 0;

                if (bits < 8)
                        a->addr[i] &= (uint8_t)(0xff00u >> bits);
        }
}

/* --- SipHash-2-4 of 16 bytes ----------------------------------------------------------- */

static inline uint64_t rotl(uint64_t x, int b)
{
        return (x << b) | (x >> (64 - b));
}

static inline uint64_t load64(const uint8_t *p)
{
        uint64_t v = 0;

        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

#define SIPROUND                                                                       \
        do {                                                                           \
                v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);              \
                v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                 \
                v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                 \
                v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);              \
        } while (0)

uint64_t access_addr_hash(const uint64_t k[2], const AccessAddr *a)
{
        uint64_t v0 = 0x736f6d6570736575ull ^ k[0], v1 = 0x646f72616e646f6dull ^ k[1];
        uint64_t v2 = 0x6c7967656e657261ull ^ k[0], v3 = 0x7465646279746573ull ^ k[1];
        uint64_t m, b = (uint64_t)16 << 56;

        for (int i = 0; i < 2; i++) {
                m = load64(a->addr + 8 * i);
                v3 ^= m;
                SIPROUND;
                SIPROUND;
                v0 ^= m;
        }
        v3 ^= b;
        SIPROUND;
        SIPROUND;
        v0 ^= b;
        v2 ^= 0xff;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}

void access_addr_hash_key(uint64_t ret[2])
{
        if (getrandom(ret, 2 * sizeof(uint64_t), GRND_NONBLOCK) != 2 * sizeof(uint64_t)) {
                struct timespec ts;

                /* No entropy yet (early boot): the clock, still not known from outside. */
                (void)clock_gettime(CLOCK_MONOTONIC, &ts);
                ret[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uintptr_t)ret;
                ret[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4full ^ (uint64_t)ts.tv_nsec;
        }
}

/* Whether the first @prefix bits of @x and @y are equal. */
static bool same_prefix(const uint8_t *x, const uint8_t *y, unsigned prefix)
{
        unsigned bytes = prefix / 8, bits = prefix % 8;

        if (memcmp(x, y, bytes) != 0)
                return false;
        if (bits == 0)
                return true;
        uint8_t mask = (uint8_t)(0xff00u >> bits);
        return (x[bytes] & mask) == (y[bytes] & mask);
}

/* The entry as a network of the IPv6 space (IPv4 as ::ffff:a.b.c.d/96+p). */
static bool entry_network(const ConfAddr *e, uint8_t net[16], unsigned *prefix)
{
        if (e->family == AF_INET) {
                memcpy(net, v4mapped_prefix, 12);
                memcpy(net + 12, e->addr, 4);
                *prefix = 96u + (e->prefix > 32 ? 32u : e->prefix);
                return true;
        }
        if (e->family == AF_INET6) {
                memcpy(net, e->addr, 16);
                *prefix = e->prefix > 128 ? 128u : e->prefix;
                return true;
        }
        return false;
}

/* The length of @s without one trailing dot. */
static size_t name_len(const char *s)
{
        size_t n = strlen(s);

        return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

/* The number of labels of ".a.b.c" (3). */
static int domain_labels(const char *dom, size_t len)
{
        int n = 0;

        for (size_t i = 0; i < len; i++)
                if (dom[i] == '.' && i + 1 < len)
                        n++;
        return n;
}

/* The specificity a name entry would have if it matched (its best case), -1 for others. */
static int name_entry_potential(const ConfAddr *e)
{
        if (e->kind == CONF_ADDR_DOMAIN && e->text)
                return ACCESS_SPEC_DOMAIN_BASE + domain_labels(e->text, name_len(e->text));
        if (e->kind == CONF_ADDR_HOST && e->text)
                return ACCESS_SPEC_HOST;
        return -1;
}

static int match_name(const ConfAddr *e, const char *name)
{
        size_t nl, el;

        if (!name || !*name || !e->text)
                return -1;
        nl = name_len(name);
        el = name_len(e->text);
        if (e->kind == CONF_ADDR_DOMAIN) {
                /* ".example.org" matches "x.example.org", not "example.org" */
                if (el < 2 || nl <= el || strncasecmp(name + nl - el, e->text, el) != 0)
                        return -1;
                return ACCESS_SPEC_DOMAIN_BASE + domain_labels(e->text, el);
        }
        if (nl == el && nl > 0 && strncasecmp(name, e->text, nl) == 0)
                return ACCESS_SPEC_HOST;
        return -1;
}

/*
 * uid: and gid: entries match unix clients only (and address entries IP clients only: a unix
 * client's AccessAddr is in no network an entry can name — validate.c refuses them on unix
 * services). One user is as specific as one host; a group, a little less.
 */
static int match_peer(const ConfAddr *e, const AccessAddr *client)
{
        uint32_t uid, gid;

        if (!client || !access_addr_unix(client, &uid, &gid))
                return -1;
        if (e->kind == CONF_ADDR_UID)
                return e->id == uid ? ACCESS_SPEC_HOST : -1;
        return e->id == gid ? ACCESS_SPEC_GROUP : -1;
}

int access_entry_specificity(const ConfAddr *e, const AccessAddr *client, const char *name)
{
        uint8_t net[16];
        unsigned prefix;

        if (e->kind == CONF_ADDR_UID || e->kind == CONF_ADDR_GID)
                return match_peer(e, client);
        if (client && access_addr_unix(client, &(uint32_t){ 0 }, &(uint32_t){ 0 }))
                return -1;
        if (e->kind != CONF_ADDR_NET)
                return match_name(e, name);
        if (!client || !entry_network(e, net, &prefix) || !same_prefix(net, client->addr, prefix))
                return -1;
        return prefix == 128 ? ACCESS_SPEC_HOST : (int)prefix;
}

typedef struct ListMatch {
        int best;               /* best specificity that matches, -1: none */
        int potential;          /* best specificity a name could still add, -1: none */
} ListMatch;

static ListMatch list_match(const ConfAddrList *l, const AccessAddr *client, const char *name)
{
        ListMatch m = { -1, -1 };

        if (!l)
                return m;
        for (size_t i = 0; i < l->n_addrs; i++) {
                const ConfAddr *e = &l->addrs[i];
                int s = access_entry_specificity(e, client, name);

                if (s > m.best)
                        m.best = s;
                if (!name && e->kind != CONF_ADDR_NET) {
                        int p = name_entry_potential(e);

                        if (p > m.potential)
                                m.potential = p;
                }
        }
        return m;
}

static AccessVerdict verdict(bool only_from_set, int of, int na)
{
        if (na < 0)
                return !only_from_set || of >= 0 ? ACCESS_ALLOW : ACCESS_DENY;
        if (of < 0)
                return ACCESS_DENY;
        return of > na ? ACCESS_ALLOW : ACCESS_DENY;       /* a tie is refused */
}

static int max_int(int a, int b)
{
        return a > b ? a : b;
}

AccessVerdict access_check_addr(const ConfAddrList *only_from, const ConfAddrList *no_access,
                                const AccessAddr *client, const char *name)
{
        bool of_set = only_from && (only_from->set || only_from->n_addrs > 0);
        ListMatch of = list_match(only_from, client, name);
        ListMatch na = list_match(no_access, client, name);
        AccessVerdict lo, hi;
        uint32_t uid, gid;

        /* a unix client's supplementary groups, as matched when it connected */
        if (client && access_addr_unix(client, &uid, &gid)) {
                if ((client->addr[12] & ACCESS_UNIX_OF_GROUP) && of.best < ACCESS_SPEC_GROUP)
                        of.best = ACCESS_SPEC_GROUP;
                if ((client->addr[12] & ACCESS_UNIX_NA_GROUP) && na.best < ACCESS_SPEC_GROUP)
                        na.best = ACCESS_SPEC_GROUP;
        }

        /* Without a name: the verdict if no name entry matches, and if all that could do. */
        lo = verdict(of_set, of.best, max_int(na.best, na.potential));
        hi = verdict(of_set, max_int(of.best, of.potential), na.best);
        if (lo != hi)
                return ACCESS_NEEDS_NAME;
        return hi;
}

AccessVerdict access_check(const ConfAddrList *only_from, const ConfAddrList *no_access,
                           const struct sockaddr *client, const char *name)
{
        AccessAddr a;

        if (access_addr_from_sockaddr(client, &a) < 0)
                return access_check_addr(only_from, no_access, NULL, name);
        return access_check_addr(only_from, no_access, &a, name);
}

const char *access_verdict_name(AccessVerdict v)
{
        switch (v) {
        case ACCESS_ALLOW:
                return "allow";
        case ACCESS_DENY:
                return "deny";
        case ACCESS_NEEDS_NAME:
                return "needs name";
        }
        return "?";
}
