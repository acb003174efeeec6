/* SPDX-License-Identifier: MIT */
/*
 * privmsg.c — the monitor's messages: wire form, checked decoding, SCM_RIGHTS transport.
 *
 * Wire form: a 32-bit type, a 32-bit payload length, then the payload: the bytes of the
 * type's member of PrivMsg.u. Both ends are the same binary (the network process is a fork
 * of the monitor), so native byte order and layout are the protocol; the sizes are still
 * checked on every message, since the point of the split is not to trust the sender.
 */

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/privmsg.h"

#define HEADER_SIZE 8

#define MEMBER_SIZE(m) sizeof(((PrivMsg *)0)->u.m)

static const struct {
        const char *name;
        size_t size;
} types[_PRIVMSG_MAX] = {
        [PRIVMSG_HELLO] = { "hello", 0 },
        [PRIVMSG_BIND] = { "bind", MEMBER_SIZE(bind) },
        [PRIVMSG_SPAWN] = { "spawn", MEMBER_SIZE(spawn) },
        [PRIVMSG_SIGNAL] = { "signal", MEMBER_SIZE(signal) },
        [PRIVMSG_OPEN_LOG] = { "open log", MEMBER_SIZE(open_log) },
        [PRIVMSG_RELOAD] = { "reload", 0 },
        [PRIVMSG_RELOADED] = { "reloaded", MEMBER_SIZE(reloaded) },
        [PRIVMSG_OPEN_DUMP] = { "open dump", 0 },
        [PRIVMSG_STATUS] = { "status", MEMBER_SIZE(status) },
        [PRIVMSG_REMOVE_FILE] = { "remove file", MEMBER_SIZE(remove_file) },
        [PRIVMSG_RESULT] = { "result", MEMBER_SIZE(result) },
        [PRIVMSG_BOUND] = { "bound", MEMBER_SIZE(bound) },
        [PRIVMSG_SPAWNED] = { "spawned", MEMBER_SIZE(spawned) },
        [PRIVMSG_OPENED] = { "opened", MEMBER_SIZE(opened) },
        [PRIVMSG_EXITED] = { "exited", MEMBER_SIZE(exited) },
        [PRIVMSG_NEWCONF] = { "new configuration", MEMBER_SIZE(newconf) },
        [PRIVMSG_CONFSTREAM] = { "configuration stream", MEMBER_SIZE(confstream) },
        [PRIVMSG_CONFDONE] = { "configuration loaded", MEMBER_SIZE(confdone) },
        [PRIVMSG_REEXEC] = { "re-exec", MEMBER_SIZE(reexec) },
        [PRIVMSG_REEXEC_FAILED] = { "re-exec failed", MEMBER_SIZE(reexec_failed) },
};

const char *privmsg_type_name(uint32_t type)
{
        return type > 0 && type < _PRIVMSG_MAX ? types[type].name : "unknown";
}

size_t privmsg_fds(const PrivMsg *m)
{
        switch (m->type) {
        case PRIVMSG_SPAWN:
        case PRIVMSG_NEWCONF:
        case PRIVMSG_CONFSTREAM:
        case PRIVMSG_REEXEC:
                return 1;
        case PRIVMSG_BOUND:
                return m->u.bound.result == 0;
        case PRIVMSG_OPENED:
                return m->u.opened.result == 0;
        case PRIVMSG_SPAWNED:
                return m->u.spawned.n == 1 && m->u.spawned.e[0].has_fd;
        default:
                return 0;
        }
}

static bool terminated(const char *s, size_t size)
{
        return memchr(s, '\0', size) != NULL;
}

/* A batch of one to PRIVMSG_SPAWNED_MAX results. A descriptor only in a batch of one: a
 * started server's libwrap report pipe, or the connection back after a failed fork (step
 * none), for the network process to retry. */
static bool spawned_valid(const PrivMsg *m)
{
        uint32_t n = m->u.spawned.n;

        if (n < 1 || n > PRIVMSG_SPAWNED_MAX)
                return false;
        for (uint32_t i = 0; i < n; i++) {
                const typeof(m->u.spawned.e[0]) *e = &m->u.spawned.e[i];

                if (e->result > 0 || (e->has_fd & ~1) != 0 ||
                    (e->result == 0 && e->pid <= 0) || (e->has_fd && n != 1) ||
                    (e->has_fd && e->result < 0 && e->step != 0))
                        return false;
        }
        return true;
}

/* The checks of the fields a type has beyond its size. */
static bool fields_valid(const PrivMsg *m)
{
        switch (m->type) {
        case PRIVMSG_SPAWN: {
                uint16_t f = m->u.spawn.peer.family;

                return (f == 0 || f == AF_INET || f == AF_INET6) &&
                       (m->u.spawn.flags & ~(PRIVMSG_SPAWN_FIRST_TRY | PRIVMSG_SPAWN_HOLD)) == 0;
        }
        case PRIVMSG_OPEN_LOG:
                return terminated(m->u.open_log.path, sizeof(m->u.open_log.path)) &&
                       m->u.open_log.path[0] == '/';
        case PRIVMSG_STATUS:
                return terminated(m->u.status.text, sizeof(m->u.status.text)) &&
                       strncmp(m->u.status.text, "STATUS=", 7) == 0 &&
                       !strchr(m->u.status.text, '\n');
        case PRIVMSG_BOUND:
                return terminated(m->u.bound.text, sizeof(m->u.bound.text)) &&
                       m->u.bound.result <= 0 && m->u.bound.file.set <= 1;
        case PRIVMSG_REMOVE_FILE:
                return m->u.remove_file.file.set == 1;
        case PRIVMSG_SPAWNED:
                return spawned_valid(m);
        case PRIVMSG_OPENED:
                return m->u.opened.result <= 0;
        case PRIVMSG_EXITED:
                return m->u.exited.n >= 1 && m->u.exited.n <= PRIVMSG_EXITED_MAX;
        case PRIVMSG_RESULT:
                return m->u.result.result <= 0;
        case PRIVMSG_CONFDONE:
                return m->u.confdone.held <= 1;
        case PRIVMSG_REEXEC_FAILED:
                return m->u.reexec_failed.result < 0 &&
                       terminated(m->u.reexec_failed.text, sizeof(m->u.reexec_failed.text));
        default:
                return true;
        }
}

int privmsg_encode(const PrivMsg *m, void *buf, size_t size)
{
        uint32_t len;

        if (m->type == 0 || m->type >= _PRIVMSG_MAX || !fields_valid(m))
                return -EINVAL;
        len = (uint32_t)types[m->type].size;
        if (size < HEADER_SIZE + len)
                return -ENOBUFS;
        memcpy(buf, &m->type, 4);
        memcpy((char *)buf + 4, &len, 4);
        memcpy((char *)buf + HEADER_SIZE, &m->u, len);
        return (int)(HEADER_SIZE + len);
}

int privmsg_decode(const void *buf, size_t len, size_t n_fds, PrivMsg *ret)
{
        uint32_t type, plen;

        *ret = (PrivMsg){ 0 };
        if (len < HEADER_SIZE)
                return -EBADMSG;
        memcpy(&type, buf, 4);
        memcpy(&plen, (const char *)buf + 4, 4);
        if (type == 0 || type >= _PRIVMSG_MAX || plen != types[type].size ||
            len != HEADER_SIZE + plen)
                return -EBADMSG;
        ret->type = type;
        memcpy(&ret->u, (const char *)buf + HEADER_SIZE, plen);
        if (!fields_valid(ret))
                return -EBADMSG;
        if (n_fds != privmsg_fds(ret))
                return -EPROTO;
        return 0;
}

int privmsg_send(int sock, const PrivMsg *m, int fd)
{
        char buf[PRIVMSG_SIZE_MAX];
        union {
                struct cmsghdr h;
                char space[CMSG_SPACE(sizeof(int))];
        } ctl;
        int len = privmsg_encode(m, buf, sizeof(buf));
        struct iovec iov;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (len < 0)
                return len;
        if ((privmsg_fds(m) == 1) != (fd >= 0))
                return -EINVAL;
        iov = (struct iovec){ .iov_base = buf, .iov_len = (size_t)len };
        if (fd >= 0) {
                memset(&ctl, 0, sizeof(ctl));
                mh.msg_control = ctl.space;
                mh.msg_controllen = sizeof(ctl.space);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        do
                n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        return n == len ? 0 : -EIO;
}

/* Take the descriptors out of the control data; more than the one a message may carry
 * are closed and counted. Return: how many came. */
static size_t take_fds(struct msghdr *mh, int *ret_fd)
{
        size_t n = 0;

        *ret_fd = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                for (size_t i = 0; i < k; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (n++ == 0)
                                *ret_fd = fd;
                        else
                                (void)close(fd);
                }
        }
        return n;
}

int privmsg_recv(int sock, PrivMsg *ret, int *ret_fd, int flags)
{
        char buf[PRIVMSG_SIZE_MAX];
        union {
                struct cmsghdr h;
                char space[CMSG_SPACE(4 * sizeof(int))];
        } ctl;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                             .msg_controllen = sizeof(ctl.space) };
        ssize_t n;
        size_t n_fds;
        int r;

        *ret_fd = -1;
        do
                n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        n_fds = take_fds(&mh, ret_fd);
        if (n == 0 && n_fds == 0)
                return -EPIPE;
        if (mh.msg_flags & MSG_TRUNC)
                r = -EBADMSG;
        else if (mh.msg_flags & MSG_CTRUNC) {
                /* The descriptor was sent but could not be installed (out of descriptors):
                 * the message is good, its descriptor lost. */
                r = privmsg_decode(buf, (size_t)n, 1, ret);
                if (r == 0 && n_fds == 0 && privmsg_fds(ret) == 1)
                        return -EMFILE;
                r = r == 0 ? -EPROTO : r;
        } else
                r = privmsg_decode(buf, (size_t)n, n_fds, ret);
        if (r < 0 && *ret_fd >= 0) {
                (void)close(*ret_fd);
                *ret_fd = -1;
        }
        return r;
}

void privmsg_addr_from_sockaddr(const struct sockaddr *sa, PrivMsgAddr *ret)
{
        *ret = (PrivMsgAddr){ 0 };
        if (sa && sa->sa_family == AF_INET) {
                const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

                ret->family = AF_INET;
                ret->port = ntohs(in->sin_port);
                memcpy(ret->addr, &in->sin_addr, 4);
        } else if (sa && sa->sa_family == AF_INET6) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

                ret->family = AF_INET6;
                ret->port = ntohs(in6->sin6_port);
                memcpy(ret->addr, &in6->sin6_addr, 16);
        }
}

bool privmsg_addr_to_sockaddr(const PrivMsgAddr *a, struct sockaddr_storage *ret)
{
        memset(ret, 0, sizeof(*ret));
        if (a->family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)ret;

                in->sin_family = AF_INET;
                in->sin_port = htons(a->port);
                memcpy(&in->sin_addr, a->addr, 4);
                return true;
        }
        if (a->family == AF_INET6) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;

                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(a->port);
                memcpy(&in6->sin6_addr, a->addr, 16);
                return true;
        }
        return false;
}
