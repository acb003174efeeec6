/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_ACCESS_H
#define PORTIERD_ACCESS_H

/*
 * access — only_from / no_access: may this client address use this service?
 *
 * Pure functions over the ConfAddrList values the parser built (src/conf/addr.c); nothing is
 * allocated, nothing blocks, nothing is logged. A decision that depends on the client's host
 * name (a ".domain" entry, or a host name the parser kept unresolved) is not taken here: the
 * first call answers ACCESS_NEEDS_NAME, the caller looks the name up off the event loop
 * (getnameinfo(NI_NAMEREQD), asynchronously), and a second call with that name decides.
 *
 * The rule (xinetd.conf(5): "If both are specified for a service, the one that is the better
 * match for the address of the remote host determines if the service is available to that
 * host"; DESIGN.md decision 9):
 *
 *   1. Neither list matches: allowed if only_from is not set, denied if it is set (an empty
 *      set only_from — "only_from =" — therefore means nobody).
 *   2. Only no_access matches: denied. Only only_from matches: allowed.
 *   3. Both match: the best (most specific) match of each list is taken — whatever the order
 *      of the entries — and the more specific one wins. A tie is denied (xinetd's original
 *      rule: "match equally" was an error in the service entry, and refused).
 *
 * History, from xinetd's source: the 1992 access.c compared the masks of the first match of
 * each list ("The greater match wins. If the matches are equal, this is an error in the
 * service entry and we cannot allow a server to start"); 2.3.15's addrlist_match() returns
 * only the position of the first match, and remote_address_check() refuses any client that
 * both lists match, still logging "match equally". portier implements the manual's rule,
 * with the best match of each list instead of the first.
 *
 * Where an entry matches, and how specific it is. Every address is put in the IPv6 space:
 * an IPv4 client, and a v4-mapped IPv6 client (::ffff:a.b.c.d, as seen on a dual-stack
 * socket), is ::ffff:a.b.c.d; an IPv4 entry a.b.c.d/p (dotted with its ".0" wildcards, CIDR,
 * factorized, network name) is ::ffff:a.b.c.d/(96 + p). An address entry matches when the
 * client is inside it, and its specificity is that prefix length, 0 to 127, a /128 ranking
 * as one host:
 *
 *      ::/0 (0)  <  0.0.0.0 (96)  <  10.0.0.0 = 10.0.0.0/8 (104)  <  10.1.2.0/24 (120)
 *                <  a .domain entry  <  one host: 10.1.2.3, 10.1.2.3/32, ::1, ::1/128,
 *                                       ::ffff:10.1.2.3, a host name (128)
 *
 * So the same client gets the same answer on an IPv4 socket and on a dual-stack one, ::/0
 * matches everyone (as observed with xinetd, whose Debian build listens dual-stack), an IPv4
 * entry never matches a native IPv6 client, and ::1/128 matches ::1 (xinetd 2.3.15 turns a
 * /128 into a host-name entry that never matches: a bug not reproduced).
 *
 * A ".domain" entry matches a client whose name ends with ".domain" (case-insensitive, one
 * trailing dot ignored; the domain itself does not match "domain"). It ranks above every
 * network (a prefix shorter than 128) and below one host, and between two domains the one
 * with more labels is more specific (.dialup.example.org beats .example.org). So
 * "no_access = .badisp.net" with "only_from = 0.0.0.0" shuts that domain out, and
 * "only_from = .example.org" with "no_access = 10.1.2.3" shuts one of its hosts out. A host
 * name the parser resolved is an address entry (128); one kept unresolved (CONF_ADDR_HOST,
 * from CONF_LOAD_NO_RESOLVE) matches a client whose name is that name, and also ranks 128.
 *
 * ACCESS_NEEDS_NAME is answered only when a name could change the outcome: when the verdict
 * with no name entry matching differs from the verdict with every name entry that could match
 * matching (the verdict is monotone in the matches of each list, so these two extremes
 * bound every outcome).
 *
 * xinetd 2.3.15.3, observed on loopback (Debian's build, dual-stack sockets):
 *   only_from = 127.0.0.0/8,  no_access = 127.0.0.1 : 127.0.0.1 refused (here: refused),
 *   only_from = 127.0.0.1,    no_access = 127.0.0.0/8: 127.0.0.1 refused (here: ALLOWED —
 *       xinetd refuses whenever both lists match, logging "Service=s2: only_from list and
 *       no_access list match equally the address ::ffff:127.0.0.1"; its manual says allowed),
 *   only_from = ::1/128: ::1 refused (here: allowed); only_from = ::1: ::1 allowed,
 *   only_from = ::ffff:127.0.0.1, = 127.0.0.1, = ::/0: an IPv4 client allowed,
 *   only_from = :: : nobody (here too: "::" is ::/128).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"

/* The verdict of access_check(). */
typedef enum AccessVerdict {
        ACCESS_ALLOW,
        ACCESS_DENY,
        ACCESS_NEEDS_NAME,      /* call again with the client's host name */
} AccessVerdict;

/*
 * A client address in the form every module of issue 5 keys on: IPv4 and v4-mapped IPv6
 * clients are ::ffff:a.b.c.d, others their IPv6 address. 16 bytes, no padding.
 */
typedef struct AccessAddr {
        uint8_t addr[16];       /* network byte order */
} AccessAddr;

/*
 * A client of a unix-socket service (socket_path), as the admission pipeline carries it where
 * it carries an IP client's socket address: the peer's SO_PEERCRED (the credentials it had
 * when it connected) in a record of family AF_UNIX. It is never given to the kernel; the
 * sockaddr_un that accept() returns says nothing (clients rarely bind a name).
 *
 * As an AccessAddr (per_source keys, the servers' clients), it is 0100:7578:UUUU:UUUU:
 * GGGG:GGGG:: — in 0100::/8, which the IETF reserves and no client has — so per_source, which
 * keys on the first 64 bits of an IPv6 client, counts per uid.
 */
typedef struct AccessUnixPeer {
        sa_family_t family;     /* AF_UNIX */
        uint8_t has_cred;       /* 0: none known (a datagram without SCM_CREDENTIALS) */
        uint8_t groups;         /* ACCESS_UNIX_*_GROUP: its supplementary groups and the rules */
        uint32_t uid;
        uint32_t gid;           /* effective */
        int32_t pid;
} AccessUnixPeer;

/*
 * A gid: entry matches a client whose effective gid or one of whose supplementary groups
 * (SO_PEERGROUPS) it names. The supplementary groups are compared with the service's rules
 * when the client connects (access_unix_peer_groups()); what matched is kept in two bits,
 * which the AccessAddr carries too (byte 12), so that a reload re-checks a running server's
 * client against the group matches seen at connect time.
 */
#define ACCESS_UNIX_OF_GROUP    0x1     /* a supplementary group is in a gid: of only_from */
#define ACCESS_UNIX_NA_GROUP    0x2     /* ... of no_access */
#define ACCESS_UNIX_GROUPS_MAX  256     /* more groups than this: see access_unix_peer_groups() */

_Static_assert(sizeof(AccessUnixPeer) == 16, "carried where a sockaddr_in fits");

/**
 * access_unix_peer_of() - the SO_PEERCRED of a connected unix socket
 * @fd: the connection
 * @ret: receives the client (has_cred 0 when the kernel has none)
 *
 * Return: 0, or -errno.
 */
int access_unix_peer_of(int fd, AccessUnixPeer *ret);

/**
 * access_unix_datagram_peer() - the sender of the datagram waiting on a unix dgram socket:
 * the credentials the kernel attached to it (SO_PASSCRED, listener.c), peeked at so that the
 * server still reads the datagram
 * @fd: the socket
 * @ret: receives the sender (has_cred 0 when none came with it)
 *
 * Return: the datagram's length, or -errno (-EAGAIN: none is waiting).
 */
ssize_t access_unix_datagram_peer(int fd, AccessUnixPeer *ret);

/**
 * access_unix_peer_format() - a unix client as text: "uid:U,gid:G,pid:P" (at most 41
 * characters: it fits where an IPv6 address does), "unix" without credentials
 * @p: the client
 * @buf: receives it
 * @size: its size
 */
void access_unix_peer_format(const AccessUnixPeer *p, char *buf, size_t size);

/**
 * access_unix_peer_groups() - compare a unix client's supplementary groups with the gid:
 * entries of a service's rules, into @p->groups
 * @fd: the connection (SO_PEERGROUPS); -1 for a datagram's sender (no groups known)
 * @only_from: the service's only_from
 * @no_access: its no_access
 * @p: the client (from access_unix_peer_of())
 *
 * Nothing is asked of the kernel when neither list has a gid: entry. When the groups cannot
 * be had (a datagram, an error, more than ACCESS_UNIX_GROUPS_MAX of them), the answer fails
 * closed: as if every no_access gid: entry matched and no only_from one did.
 */
void access_unix_peer_groups(int fd, const ConfAddrList *only_from, const ConfAddrList *no_access,
                             AccessUnixPeer *p);

/** access_addr_unix() - whether @a is a unix client's (its uid and gid in *@uid, *@gid). */
bool access_addr_unix(const AccessAddr *a, uint32_t *uid, uint32_t *gid);

/**
 * access_addr_from_sockaddr() - the AccessAddr of a socket address
 * @sa: an AF_INET or AF_INET6 address (the port is ignored), or an AccessUnixPeer
 * @ret: receives the address, v4 and v4-mapped clients as ::ffff:a.b.c.d
 *
 * Return: 0, or -EAFNOSUPPORT for another family (or a NULL @sa, or a unix client without
 * credentials).
 */
int access_addr_from_sockaddr(const struct sockaddr *sa, AccessAddr *ret);

/** access_addr_is_v4() - whether @a is an IPv4 client (::ffff:a.b.c.d). */
bool access_addr_is_v4(const AccessAddr *a);

/**
 * access_addr_mask() - keep the first @v6_prefix bits of an IPv6 @a (an IPv4 one is kept
 * whole): the per-source grouping of IPv6 clients (/64 by default, DESIGN.md decision 8).
 */
void access_addr_mask(AccessAddr *a, unsigned v6_prefix);

/**
 * access_addr_hash() - SipHash-2-4 of @a under @key, for the tables keyed by client address
 * (ratelimit.c, sensor.c): with a random key, clients cannot choose addresses that collide.
 */
uint64_t access_addr_hash(const uint64_t key[2], const AccessAddr *a);

/** access_addr_hash_key() - a random key for access_addr_hash() (getrandom(), non-blocking). */
void access_addr_hash_key(uint64_t ret[2]);

/**
 * access_entry_specificity() - how specifically one list entry matches a client
 * @e: the entry (as the parser built it)
 * @client: the client's address
 * @name: the client's host name; NULL when not looked up, "" when it has none
 *
 * Return: -1 when @e does not match (or cannot tell without a name), else the specificity on
 * the scale described at the top of this file: the prefix length 0..127 in the IPv6 space for
 * a network (IPv4 networks 96..127), ACCESS_SPEC_DOMAIN_BASE + its number of labels for a
 * .domain, ACCESS_SPEC_HOST for one host (a /128, an IPv4 /32, a host name).
 */
int access_entry_specificity(const ConfAddr *e, const AccessAddr *client, const char *name);

/* The specificity scale (see access_entry_specificity()). */
#define ACCESS_SPEC_DOMAIN_BASE 1000
#define ACCESS_SPEC_HOST        2000    /* /128, IPv4 /32, host name; a uid: entry */
#define ACCESS_SPEC_GROUP       1999    /* a gid: entry */

/**
 * access_check() - apply a service's only_from and no_access to a client
 * @only_from: the service's only_from (not set: everyone; set and empty: nobody)
 * @no_access: the service's no_access
 * @client: the client's socket address (AF_INET or AF_INET6, v4-mapped treated as IPv4)
 * @name: the client's host name: NULL before any lookup, "" when the lookup found none
 *
 * Linear in the length of the lists; allocates nothing; never blocks.
 *
 * Return: ACCESS_ALLOW or ACCESS_DENY; ACCESS_NEEDS_NAME only when @name is NULL and a
 * .domain or unresolved host-name entry could change the verdict. A client of another
 * family (or a NULL one) is decided as if no address entry matched it.
 */
AccessVerdict access_check(const ConfAddrList *only_from, const ConfAddrList *no_access,
                           const struct sockaddr *client, const char *name);

/**
 * access_check_addr() - access_check() for a client already in AccessAddr form
 */
AccessVerdict access_check_addr(const ConfAddrList *only_from, const ConfAddrList *no_access,
                                const AccessAddr *client, const char *name);

/** access_verdict_name() - "allow", "deny" or "needs name". */
const char *access_verdict_name(AccessVerdict v);

#endif
