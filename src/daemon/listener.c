/* SPDX-License-Identifier: MIT */
/*
 * listener.c — open a service's listening socket.
 *
 * The address is the service's `bind` (its family decides IPv4 or IPv6), else the wildcard
 * of the service's family (IPv4 unless flags = IPv6, as in xinetd). An IPv6 socket is
 * dual-stack unless `v6only = yes` (xinetd sets IPV6_V6ONLY whenever the attribute is
 * present, whatever its value: DESIGN.md decision 9). SO_REUSEADDR is always set.
 *
 * TCP_NODELAY and SO_KEEPALIVE are set on the listening socket: Linux copies them to every
 * accepted connection, which saves two system calls per connection.
 *
 * A socket the daemon accepts on (`wait = no` stream, stream SENSOR) is non-blocking (the
 * loop accepts until EAGAIN). Every other socket is handed to servers, and shares its file
 * status flags with them: it stays blocking, and the daemon peeks at or drains it with MSG_DONTWAIT (DESIGN.md decision 7).
 */

#include "daemon/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/spawn.h"
#include "util.h"

/**
 * listener_accepts() - does the daemon accept the connections itself (rather than hand the
 * socket to a server)? A `wait = no` stream service, and any stream SENSOR or INTERNAL
 * service (a built-in has no server to hand the socket to).
 * @cs: the service
 *
 * Return: true for those; their socket is non-blocking.
 */
bool listener_accepts(const ConfService *cs)
{
        return cs->socket_type == SOCK_STREAM &&
               (!cs->wait || cs->kind == CONF_KIND_SENSOR || cs->kind == CONF_KIND_INTERNAL);
}

/**
 * listener_address() - the address a service binds, port included
 * @cs: the service
 * @ret: the address
 * @ret_len: its length
 */
void listener_address(const ConfService *cs, struct sockaddr_storage *ret, socklen_t *ret_len)
{
        memset(ret, 0, sizeof(*ret));
        if (cs->has_bind) {
                memcpy(ret, &cs->bind_addr, cs->bind_addr_len);
                *ret_len = cs->bind_addr_len;
        } else if (cs->family == AF_INET6) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;

                in6->sin6_family = AF_INET6;
                in6->sin6_addr = in6addr_any;
                *ret_len = sizeof(*in6);
        } else {
                struct sockaddr_in *in = (struct sockaddr_in *)ret;

                in->sin_family = AF_INET;
                in->sin_addr.s_addr = htonl(INADDR_ANY);
                *ret_len = sizeof(*in);
        }
        if (ret->ss_family == AF_INET6)
                ((struct sockaddr_in6 *)ret)->sin6_port = htons(cs->port);
        else
                ((struct sockaddr_in *)ret)->sin_port = htons(cs->port);
}

/**
 * listener_key() - what identifies a service's socket across reloads
 * @cs: the service
 * @buf: receives "id/protocol/address/port"
 * @size: its size
 *
 * Return: the length, or -ENOBUFS.
 */
int listener_key(const ConfService *cs, char *buf, size_t size)
{
        struct sockaddr_storage ss;
        socklen_t len;
        char host[INET6_ADDRSTRLEN] = "?";
        int n;

        listener_address(cs, &ss, &len);
        if (ss.ss_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
        else
                inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
        n = snprintf(buf, size, "%s/%s/%s/%u", cs->id, cs->protocol_name ? cs->protocol_name : "",
                     host, cs->port);
        return n < 0 || (size_t)n >= size ? -ENOBUFS : n;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
        const unsigned char *b = p;

        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 1099511628211ULL;
        return h;
}

/* The key's parts: the address bytes and port of listener_address(). */
static size_t key_address(const ConfService *cs, unsigned char out[18])
{
        struct sockaddr_storage ss;
        socklen_t len;

        listener_address(cs, &ss, &len);
        if (ss.ss_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

                memcpy(out, &in6->sin6_addr, 16);
                memcpy(out + 16, &in6->sin6_port, 2);
                return 18;
        }
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

        memcpy(out, &in->sin_addr, 4);
        memcpy(out + 4, &in->sin_port, 2);
        return 6;
}

/**
 * listener_key_hash() - a hash of listener_key(), without formatting it
 * @cs: the service
 *
 * Services are matched across reloads by key; a Service keeps this hash, not the string
 * (with 10,000 services the strings cost half a megabyte), and listener_same_key() decides.
 *
 * Return: the hash.
 */
uint64_t listener_key_hash(const ConfService *cs)
{
        unsigned char a[18];
        size_t n = key_address(cs, a);
        uint64_t h = 1469598103934665603ULL;
        const char *proto = cs->protocol_name ? cs->protocol_name : "";

        h = fnv(h, cs->id, strlen(cs->id) + 1);
        h = fnv(h, proto, strlen(proto) + 1);
        return fnv(h, a, n);
}

/**
 * listener_same_key() - do two definitions have the same listener_key()?
 * @a: a definition
 * @b: another
 *
 * Return: true when id, protocol name, address and port are the same.
 */
bool listener_same_key(const ConfService *a, const ConfService *b)
{
        unsigned char x[18], y[18];
        size_t nx, ny;

        if (strcmp(a->id, b->id) != 0 ||
            strcmp(a->protocol_name ? a->protocol_name : "",
                   b->protocol_name ? b->protocol_name : "") != 0)
                return false;
        nx = key_address(a, x);
        ny = key_address(b, y);
        return nx == ny && memcmp(x, y, nx) == 0;
}

/**
 * listener_open() - create, bind and (for streams) listen
 * @cs: the service
 * @fd_max: 0, or the lowest descriptor the socket may not have: then nothing is bound, and
 *          -EMFILE is returned without a message (the caller says why)
 * @err: receives a message on failure ("cannot bind 0.0.0.0:7: Address already in use")
 * @errsize: its size
 *
 * Return: the socket, or -errno.
 */
int listener_open(const ConfService *cs, int fd_max, char *err, size_t errsize)
{
        struct sockaddr_storage ss;
        socklen_t len;
        char host[INET6_ADDRSTRLEN] = "?";
        const char *step = "create a socket for";
        int flags = SOCK_CLOEXEC, one = 1, fd, r;

        listener_address(cs, &ss, &len);
        (void)spawn_format_addr((struct sockaddr *)&ss, host, sizeof(host), NULL);
        if (listener_accepts(cs))
                flags |= SOCK_NONBLOCK;

        fd = socket(ss.ss_family, cs->socket_type | flags, cs->protocol);
        if (fd < 0)
                goto fail;
        if (fd_max > 0 && fd >= fd_max) {
                (void)close(fd);
                return -EMFILE;
        }
        step = "set options on";
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                goto fail;
        if (ss.ss_family == AF_INET6) {
                int v6only = cs->v6only > 0;

                if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
                        goto fail;
        }
        if (cs->socket_type == SOCK_STREAM) {
                if ((cs->flags & CONF_FLAG_NODELAY) &&
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
                        goto fail;
                if ((cs->flags & CONF_FLAG_KEEPALIVE) &&
                    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0)
                        goto fail;
        }
        step = "bind";
        if (bind(fd, (struct sockaddr *)&ss, len) < 0)
                goto fail;
        step = "listen on";
        if (cs->socket_type == SOCK_STREAM || cs->socket_type == SOCK_SEQPACKET)
                if (listen(fd, cs->backlog > 0 ? cs->backlog : SOMAXCONN) < 0)
                        goto fail;
        return fd;
fail:
        r = -errno;
        snprintf(err, errsize, ss.ss_family == AF_INET6 ? "cannot %s [%s]:%u: %s"
                                                          : "cannot %s %s:%u: %s",
                 step, host, cs->port, strerror(-r));
        (void)safe_close(fd);
        return r;
}

/**
 * listener_set_blocking() - the file status the service's kind needs: non-blocking for a
 * `wait = no` stream socket (the loop accepts until EAGAIN), blocking otherwise (a server
 * gets it)
 * @fd: the socket
 * @cs: the service
 *
 * Return: 0 or -errno.
 */
int listener_set_blocking(int fd, const ConfService *cs)
{
        int fl = fcntl(fd, F_GETFL);
        int want = listener_accepts(cs) ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;

        if (fl < 0 || (want != fl && fcntl(fd, F_SETFL, want) < 0))
                return -errno;
        return 0;
}

/**
 * listener_update() - bring an open socket in line with a reloaded definition
 * @fd: the socket
 * @old: the definition it was opened for
 * @cs: the new one (same protocol, address and port)
 * @server_has_it: a wait = yes server holds the socket now: leave its file status alone
 *                 (call listener_set_blocking() once that server has exited)
 *
 * The backlog, TCP_NODELAY, SO_KEEPALIVE and `wait` change in place, so no connection in the
 * queue is lost; what did not change is not touched. IPV6_V6ONLY cannot change once a socket is bound.
 *
 * Return: 0, -EAGAIN when only a new socket can carry the change, or -errno.
 */
int listener_update(int fd, const ConfService *old, const ConfService *cs, bool server_has_it)
{
        int v;

        if (old->v6only != cs->v6only || old->socket_type != cs->socket_type)
                return -EAGAIN;
        if (cs->socket_type == SOCK_STREAM) {
                if (old->backlog != cs->backlog &&
                    listen(fd, cs->backlog > 0 ? cs->backlog : SOMAXCONN) < 0)
                        return -errno;
                v = !!(cs->flags & CONF_FLAG_NODELAY);
                if (v != !!(old->flags & CONF_FLAG_NODELAY) &&
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)) < 0)
                        return -errno;
                v = !!(cs->flags & CONF_FLAG_KEEPALIVE);
                if (v != !!(old->flags & CONF_FLAG_KEEPALIVE) &&
                    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)) < 0)
                        return -errno;
        }
        /* Unchanged definitions cost no system call: reloads of thousands of services. */
        if (server_has_it || old->wait == cs->wait)
                return 0;
        return listener_set_blocking(fd, cs);
}

/**
 * listener_same_socket() - could one socket serve both definitions (same protocol,
 * address, port and family options)? For a reload that renames a service or moves ports
 * between services: the new one takes the old one's socket.
 * @a: a definition
 * @b: another
 *
 * Return: true when they bind the same socket.
 */
bool listener_same_socket(const ConfService *a, const ConfService *b)
{
        struct sockaddr_storage x, y;
        socklen_t lx, ly;

        if (a->socket_type != b->socket_type || a->protocol != b->protocol ||
            a->v6only != b->v6only)
                return false;
        listener_address(a, &x, &lx);
        listener_address(b, &y, &ly);
        return lx == ly && memcmp(&x, &y, lx) == 0;
}
