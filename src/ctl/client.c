/* SPDX-License-Identifier: MIT */
/*
 * client.c — portierctl's side of the control socket: one connection per request, the
 * request frame out, DATA frames copied to a stream, the END frame's status and message back.
 * Every wait is bounded by the caller's timeout.
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "proto/proto.h"
#include "util.h"

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/**
 * ctl_connect() - connect to the daemon's control socket
 * @path: the socket
 * @ret_fd: the connection
 *
 * Return: 0, or -errno (-ENOENT/-ECONNREFUSED: no daemon; -EACCES: not allowed).
 */
int ctl_connect(const char *path, int *ret_fd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/**
 * ctl_request() - send one request and read the whole answer
 * @path: the control socket
 * @type: PROTO_REQ_*
 * @flags: PROTO_F_*
 * @arg: the argument ("" for none)
 * @timeout_ms: the longest wait for the answer
 * @out: where the DATA goes
 * @ret_status: the END status
 * @message: the END message (PROTO_MESSAGE_MAX + 1 bytes)
 *
 * Return: 0 when an END frame was read, or -errno (connect errors as ctl_connect(); -ETIMEDOUT;
 * -EBADMSG for a broken answer; -ECONNRESET when the daemon closed without an END frame).
 */
int ctl_request(const char *path, int type, unsigned flags, const char *arg, int timeout_ms,
                FILE *out, int *ret_status, char *message)
{
        static uint8_t buf[PROTO_FRAME_MAX];
        _cleanup_close_ int fd = -1;
        long long deadline = now_ms() + timeout_ms;
        int r, n;

        r = ctl_connect(path, &fd);
        if (r < 0)
                return r;
        n = proto_request_encode(buf, sizeof(buf), (uint16_t)type, flags, arg);
        if (n < 0)
                return n;
        /* A daemon that refuses us (credentials, too many clients) answers and closes at
         * once: the send may fail, and the answer is still there to read. */
        if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
                return -errno;
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long long left = deadline - now_ms();
                ProtoFrame f;
                ssize_t got;

                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        continue;
                got = recv(fd, buf, sizeof(buf), MSG_TRUNC);
                if (got < 0)
                        return errno == ECONNRESET ? -ECONNRESET : -errno;
                if (got == 0)
                        return -ECONNRESET;
                r = proto_frame_decode(buf, (size_t)got, &f);
                if (r < 0)
                        return r;
                if (f.type == PROTO_REPLY_DATA) {
                        if (out && fwrite(f.payload, 1, f.length, out) != f.length)
                                return -EIO;
                        continue;
                }
                int32_t st;

                if (proto_end_decode(&f, &st, message) < 0)
                        return -EBADMSG;
                *ret_status = st;
                return 0;
        }
}
