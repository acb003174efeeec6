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
 * An AF_UNIX listener (socket_path) binds a file, or an abstract name ('@name'). What is at the
 * path is looked at first (lstat): a socket — left by an earlier run — is removed; anything
 * else (a regular file, a directory, a symbolic link, ...) is never removed, and the service
 * does not listen. The socket is bound with mode 0 (fchmod before bind: the file is created
 * with the socket inode's mode), so that nobody but root can connect before the owner
 * (socket_owner) and the mode (socket_mode; 0600 by default, 0660 when socket_owner names a
 * group) are set — both through an O_PATH descriptor of the file just bound, never following a
 * symbolic link someone put in its place. Its device, inode and change time are kept
 * (ListenerFile): when the service is removed by a reload, or the daemon stops, the file is
 * removed only if it is still that one. A re-exec keeps the sockets and their files.
 *
 * Everything that touches the file system is here, in listener_open() and
 * listener_remove_file(), so that it stays with the process that binds sockets (DESIGN.md
 * decision 10).
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
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/spawn.h"
#include "util.h"

/**
 * listener_accepts() - does the daemon accept the connections itself (rather than hand the
 * socket to a server)? A `wait = no` stream service (unix seqpacket too: it has
 * connections), and any stream SENSOR or INTERNAL service (a built-in has no server to hand
 * the socket to).
 * @cs: the service
 *
 * Return: true for those; their socket is non-blocking.
 */
bool listener_accepts(const ConfService *cs)
{
        bool connections = cs->socket_type == SOCK_STREAM ||
                           (cs->family == AF_UNIX && cs->socket_type == SOCK_SEQPACKET);

        return connections &&
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
        if (cs->family == AF_UNIX) {
                struct sockaddr_un *un = (struct sockaddr_un *)ret;
                const char *path = cs->rare->socket_path;
                size_t n = strlen(path);

                /* '@name': the abstract namespace, a NUL first and no NUL after the name */
                un->sun_family = AF_UNIX;
                memcpy(un->sun_path, path, n);
                if (path[0] == '@')
                        un->sun_path[0] = '\0';
                *ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                                       (path[0] != '@'));
                return;
        }
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

        if (cs->family == AF_UNIX) {
                n = snprintf(buf, size, "%s/unix/%s", cs->id, cs->rare->socket_path);
                return n < 0 || (size_t)n >= size ? -ENOBUFS : n;
        }
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
        if (cs->family == AF_UNIX)
                return fnv(h, cs->rare->socket_path, strlen(cs->rare->socket_path));
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
        if (a->family == AF_UNIX || b->family == AF_UNIX)
                return a->family == b->family &&
                       strcmp(a->rare->socket_path, b->rare->socket_path) == 0;
        nx = key_address(a, x);
        ny = key_address(b, y);
        return nx == ny && memcmp(x, y, nx) == 0;
}

/**
 * listener_socket_mode() - the mode of a socket_path's file: socket_mode, else 0600, or 0660
 * when socket_owner names a group (that group is why it was named)
 * @cs: a unix service
 *
 * Return: the mode.
 */
unsigned listener_socket_mode(const ConfService *cs)
{
        if (cs->rare->has_socket_mode)
                return cs->rare->socket_mode;
        return cs->rare->has_socket_gid ? 0660 : 0600;
}

/* Would the file of @a serve @b unchanged (same owner and mode)? */
static bool same_file_attrs(const ConfService *a, const ConfService *b)
{
        const ConfRare *x = a->rare, *y = b->rare;

        return x->has_socket_uid == y->has_socket_uid && x->has_socket_gid == y->has_socket_gid &&
               (!x->has_socket_uid || x->socket_uid == y->socket_uid) &&
               (!x->has_socket_gid || x->socket_gid == y->socket_gid) &&
               listener_socket_mode(a) == listener_socket_mode(b);
}

static const char *file_kind(mode_t m)
{
        switch (m & S_IFMT) {
        case S_IFREG: return "a regular file";
        case S_IFDIR: return "a directory";
        case S_IFLNK: return "a symbolic link";
        case S_IFIFO: return "a FIFO";
        case S_IFCHR: return "a character device";
        case S_IFBLK: return "a block device";
        default: return "not a socket";
        }
}

/* The config position of a unix service's socket_path, for messages. */
static void where(const ConfService *cs, char *buf, size_t size)
{
        unsigned line = conf_attr_line(cs, CONF_ATTR_SOCKET_PATH);

        snprintf(buf, size, "%s:%u", cs->pos.file ? cs->pos.file : "?",
                 line ? line : cs->pos.line);
}

/* Before bind: an old socket at the path goes; anything else stays, and so does the error. */
static int clear_path(const ConfService *cs, char *err, size_t errsize)
{
        const char *path = cs->rare->socket_path;
        char pos[512];
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode)) {
                where(cs, pos, sizeof(pos));
                snprintf(err, errsize, "%s: socket_path '%s' is %s, not a socket: left alone, "
                         "service not started", pos, path, file_kind(st.st_mode));
                return -EEXIST;
        }
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/*
 * After bind: owner and mode, through an O_PATH descriptor of what is at the path now — a
 * socket, or nothing is changed — so that a symbolic link swapped in meanwhile is not
 * followed. Records the file's identity in @ret.
 */
static int set_file_attrs(const ConfService *cs, ListenerFile *ret)
{
        const ConfRare *r = cs->rare;
        char proc[64];
        struct stat st;
        int pfd, e = 0;

        pfd = open(r->socket_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (pfd < 0)
                return -errno;
        if (fstat(pfd, &st) < 0) {
                e = errno;
                goto out;
        }
        if (!S_ISSOCK(st.st_mode)) {
                e = EEXIST;     /* replaced since bind: not ours to change */
                goto out;
        }
        ret->set = true;
        ret->dev = st.st_dev;
        ret->ino = st.st_ino;
        ret->ctime = st.st_ctim;
        if ((r->has_socket_uid || r->has_socket_gid) &&
            fchownat(pfd, "", r->has_socket_uid ? r->socket_uid : (uid_t)-1,
                     r->has_socket_gid ? r->socket_gid : (gid_t)-1, AT_EMPTY_PATH) < 0) {
                e = errno;
                goto out;
        }
        /* chmod(2) has no AT_EMPTY_PATH: the descriptor's /proc link names the same inode. */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
        if (chmod(proc, listener_socket_mode(cs)) < 0 || fstat(pfd, &st) < 0)
                e = errno;
        else
                ret->ctime = st.st_ctim;        /* as the owner and mode left it */
out:
        (void)close(pfd);
        return -e;
}

/**
 * listener_open() - create, bind and (for streams) listen
 * @cs: the service
 * @fd_max: 0, or the lowest descriptor the socket may not have: then nothing is bound, and
 *          -EMFILE is returned without a message (the caller says why)
 * @ret_file: NULL, or receives the identity of a socket_path's file (->set false otherwise)
 * @err: receives a message on failure ("cannot bind 0.0.0.0:7: Address already in use")
 * @errsize: its size
 *
 * Return: the socket, or -errno.
 */
int listener_open(const ConfService *cs, int fd_max, ListenerFile *ret_file, char *err,
                  size_t errsize)
{
        struct sockaddr_storage ss;
        socklen_t len;
        char host[INET6_ADDRSTRLEN] = "?";
        const char *step = "create a socket for";
        bool unix_file = cs->family == AF_UNIX && cs->rare->socket_path[0] == '/';
        int flags = SOCK_CLOEXEC, one = 1, fd, r;

        if (ret_file)
                *ret_file = (ListenerFile){ 0 };
        listener_address(cs, &ss, &len);
        if (cs->family != AF_UNIX)
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
        /* A datagram's sender: its credentials come with it (service.c peeks at them). */
        if (cs->family == AF_UNIX && cs->socket_type == SOCK_DGRAM &&
            setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                goto fail;
        if (cs->family == AF_UNIX)
                goto bind;
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
bind:
        if (unix_file) {
                /* The file is created with the socket's mode: none until set_file_attrs(). */
                step = "set the mode of";
                if (fchmod(fd, 0) < 0)
                        goto fail;
                if ((r = clear_path(cs, err, errsize)) == -EEXIST) {
                        (void)close(fd);
                        return r;
                } else if (r < 0) {
                        errno = -r;
                        step = "look at the path of";
                        goto fail;
                }
        }
        step = "bind";
        if (bind(fd, (struct sockaddr *)&ss, len) < 0)
                goto fail;
        if (unix_file) {
                ListenerFile f = { 0 };

                step = "set the owner and mode of";
                r = set_file_attrs(cs, &f);
                if (f.set && r < 0)
                        listener_remove_file(cs, &f);
                if (r < 0) {
                        errno = -r;
                        goto fail;
                }
                if (ret_file)
                        *ret_file = f;
        }
        step = "listen on";
        if (cs->socket_type == SOCK_STREAM || cs->socket_type == SOCK_SEQPACKET)
                if (listen(fd, cs->backlog > 0 ? cs->backlog : SOMAXCONN) < 0)
                        goto fail;
        return fd;
fail:
        r = -errno;
        if (cs->family == AF_UNIX) {
                char pos[512];

                where(cs, pos, sizeof(pos));
                snprintf(err, errsize, "%s: cannot %s unix socket '%s': %s", pos, step,
                         cs->rare->socket_path, strerror(-r));
        } else
                snprintf(err, errsize, ss.ss_family == AF_INET6 ? "cannot %s [%s]:%u: %s"
                                                                  : "cannot %s %s:%u: %s",
                         step, host, cs->port, strerror(-r));
        if (ret_file && ret_file->set)
                listener_remove_file(cs, ret_file);
        (void)safe_close(fd);
        return r;
}

/**
 * listener_identify_file() - the identity of the file now at a unix service's socket_path,
 * for a socket this process did not bind (handed over by a re-exec): the file there is taken
 * to be its own if it is a socket
 * @cs: the service
 * @ret: receives it (->set false: none, or not a socket)
 */
void listener_identify_file(const ConfService *cs, ListenerFile *ret)
{
        struct stat st;

        *ret = (ListenerFile){ 0 };
        if (cs->family != AF_UNIX || cs->rare->socket_path[0] != '/' ||
            lstat(cs->rare->socket_path, &st) < 0 || !S_ISSOCK(st.st_mode))
                return;
        *ret = (ListenerFile){ .set = true, .dev = st.st_dev, .ino = st.st_ino,
                               .ctime = st.st_ctim };
}

/**
 * listener_remove_file() - remove a unix service's socket file, if it is still the one it
 * created (another process, or a later generation, may have put its own there)
 * @cs: the service
 * @f: the file's identity from listener_open(); cleared
 */
void listener_remove_file(const ConfService *cs, ListenerFile *f)
{
        struct stat st;

        if (!f->set)
                return;
        f->set = false;
        if (lstat(cs->rare->socket_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
            st.st_dev == f->dev && st.st_ino == f->ino &&
            st.st_ctim.tv_sec == f->ctime.tv_sec && st.st_ctim.tv_nsec == f->ctime.tv_nsec)
                (void)unlink(cs->rare->socket_path);
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

        if (old->v6only != cs->v6only || old->socket_type != cs->socket_type ||
            (cs->family == AF_UNIX && !same_file_attrs(old, cs)))
                return -EAGAIN;
        if ((cs->socket_type == SOCK_STREAM || cs->socket_type == SOCK_SEQPACKET) &&
            old->backlog != cs->backlog &&
            listen(fd, cs->backlog > 0 ? cs->backlog : SOMAXCONN) < 0)
                return -errno;
        if (cs->socket_type == SOCK_STREAM && cs->family != AF_UNIX) {
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
            a->v6only != b->v6only || a->family != b->family)
                return false;
        if (a->family == AF_UNIX)
                return strcmp(a->rare->socket_path, b->rare->socket_path) == 0 &&
                       same_file_attrs(a, b);
        listener_address(a, &x, &lx);
        listener_address(b, &y, &ly);
        return lx == ly && memcmp(&x, &y, lx) == 0;
}
