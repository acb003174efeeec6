/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_RESOLVE_H
#define PORTIER_CONF_RESOLVE_H

/*
 * resolve — re-entrant name lookups for the configuration (users, groups, services,
 * protocols, addresses). Each may block on NSS or DNS: call them off the event loop. No
 * static buffers: safe on any thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "conf/conf.h"

/** conf_strerror() - strerror() without its static buffer (safe on any thread). */
const char *conf_strerror(int err, char *buf, size_t size);

/** resolve_user() - uid and primary gid of a name or number. Return: 0, -ENOENT, -errno. */
int resolve_user(const char *name, uid_t *ret_uid, gid_t *ret_gid, bool *ret_has_gid);
/** resolve_group() - gid of a name or number. Return: 0, -ENOENT, -errno. */
int resolve_group(const char *name, gid_t *ret_gid);
/** resolve_service() - port (host order) of @name/@proto in /etc/services. -ENOENT if none. */
int resolve_service(const char *name, const char *proto, uint16_t *ret_port);
/** resolve_protocol() - number of a protocol name from /etc/protocols. -ENOENT if none. */
int resolve_protocol(const char *name, int *ret_proto);
/**
 * resolve_address() - a numeric address, or a host name when @allow_dns, to a sockaddr with
 * @port. @family is AF_UNSPEC or a preference. Return: 0, -EINVAL, -ENOENT.
 */
int resolve_address(const char *host, uint16_t port, int family, bool allow_dns,
                    ConfSockaddr *ret, socklen_t *ret_len);
/**
 * resolve_addresses() - resolve_address(), keeping up to @max addresses of the name, in the
 * resolver's order (RFC 6724: the preferred first). *@ret_n: how many.
 */
int resolve_addresses(const char *host, uint16_t port, int family, bool allow_dns,
                      ConfSockaddr *ret, socklen_t *ret_len, size_t max, size_t *ret_n);

/*
 * A per-load memo of the lookups above (users, groups, protocols, services, server paths):
 * 10,000 services naming the same user read /etc/passwd once. Bounded (RESOLVE_CACHE_MAX
 * entries; past it, lookups are simply not memoized). Not shared between threads.
 */
#define RESOLVE_CACHE_MAX 256

typedef struct ResolveCache ResolveCache;

ResolveCache *resolve_cache_new(void);
ResolveCache *resolve_cache_free(ResolveCache *c);
struct ConfBundle;
void resolve_cache_set_bundle(ResolveCache *c, struct ConfBundle *record,
                              const struct ConfBundle *replay);
int resolve_user_cached(ResolveCache *c, const char *name, uid_t *ret_uid, gid_t *ret_gid,
                        bool *ret_has_gid);
int resolve_group_cached(ResolveCache *c, const char *name, gid_t *ret_gid);
int resolve_service_cached(ResolveCache *c, const char *name, const char *proto,
                           uint16_t *ret_port);
int resolve_protocol_cached(ResolveCache *c, const char *name, int *ret_proto);
/** resolve_executable_cached() - 0 for an executable regular file, else -errno (-EACCES when
 * not executable). */
int resolve_executable_cached(ResolveCache *c, const char *path);
/** resolve_readable_cached() - 0 for a readable regular file, else -errno. */
int resolve_readable_cached(ResolveCache *c, const char *path);
/** resolve_socket_cached() - whether socket(@family, @type, @proto) can be created: 0 or
 * -errno (EPERM/EACCES, e.g. raw sockets without privileges, are reported as 0). */
int resolve_socket_cached(ResolveCache *c, int family, int type, int proto);

#endif
