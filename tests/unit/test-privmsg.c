/* SPDX-License-Identifier: MIT */
/*
 * test-privmsg.c — the messages of privilege separation (src/daemon/privmsg.c): round trips
 * of every type, and every way a message is refused (short, unknown type, a payload length
 * that is not the type's, a string without its NUL, fields out of range, the wrong number of
 * descriptors); then the transport over a real SOCK_SEQPACKET pair, with descriptors,
 * oversized datagrams and extra descriptors; the re-exec's request and reply.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/privmsg.h"
#include "daemon/spawn.h"

static char buf[PRIVMSG_SIZE_MAX];

static void round_trip(const PrivMsg *m)
{
        PrivMsg back;
        int n = privmsg_encode(m, buf, sizeof(buf));

        assert_true(n >= 8);
        assert_int_equal(privmsg_decode(buf, (size_t)n, privmsg_fds(m), &back), 0);
        assert_int_equal(back.type, m->type);
        assert_memory_equal(&back.u, &m->u, (size_t)n - 8);
}

static void test_round_trips(void **state)
{
        PrivMsg m = { .type = PRIVMSG_HELLO };

        round_trip(&m);
        m = (PrivMsg){ .type = PRIVMSG_BIND, .u.bind = { 3, 7 } };
        round_trip(&m);
        m = (PrivMsg){ .type = PRIVMSG_SPAWN, .u.spawn = { 3, 7, 1, { AF_INET, 80, { 127, 0, 0, 1 } } } };
        round_trip(&m);
        m = (PrivMsg){ .type = PRIVMSG_SIGNAL, .u.signal = { 1234, 15 } };
        round_trip(&m);
        m = (PrivMsg){ .type = PRIVMSG_OPEN_LOG };
        strcpy(m.u.open_log.path, "/var/log/x");
        round_trip(&m);
        m = (PrivMsg){ .type = PRIVMSG_SPAWNED, .u.spawned = { 1, { { 5, 0, 99, 0, 0, 1 } } } };
        assert_int_equal(privmsg_fds(&m), 1);
        round_trip(&m);
        /* a batch: results without descriptors, a failure among them */
        m = (PrivMsg){ .type = PRIVMSG_SPAWNED,
                       .u.spawned = { 3, { { 1, 0, 99, 0, 0, 0 }, { 2, -EAGAIN, 0, 0, 0, 0 },
                                           { 3, 0, 100, 0, 0, 0 } } } };
        assert_int_equal(privmsg_fds(&m), 0);
        round_trip(&m);
        /* a report pipe only travels alone; a batch of none or of more than fit */
        m.u.spawned.e[2].has_fd = 1;
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        m.u.spawned.e[2].has_fd = 0;
        m.u.spawned.n = 0;
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        m.u.spawned.n = PRIVMSG_SPAWNED_MAX + 1;
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        /* a failed fork (step none) hands the connection back; a failed step does not */
        m = (PrivMsg){ .type = PRIVMSG_SPAWNED, .u.spawned = { 1, { { 7, -EAGAIN, 0, 0, 0, 1 } } } };
        assert_int_equal(privmsg_fds(&m), 1);
        round_trip(&m);
        m.u.spawned.e[0].step = SPAWN_STEP_EXEC;
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        m = (PrivMsg){ .type = PRIVMSG_BOUND, .u.bound.result = -EADDRINUSE };
        strcpy(m.u.bound.text, "cannot bind");
        assert_int_equal(privmsg_fds(&m), 0);
        round_trip(&m);
        m = (PrivMsg){ .type = PRIVMSG_NEWCONF, .u.newconf = { 4, 100 } };
        round_trip(&m);
        m = (PrivMsg){ .type = PRIVMSG_EXITED, .u.exited = { 2, { { 55, 256 }, { 56, 9 } } } };
        round_trip(&m);
        /* an EXITED batch of none, or of more than fit */
        m.u.exited.n = 0;
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        m.u.exited.n = PRIVMSG_EXITED_MAX + 1;
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void test_refused(void **state)
{
        PrivMsg m = { .type = PRIVMSG_BIND, .u.bind = { 1, 2 } }, back;
        int n = privmsg_encode(&m, buf, sizeof(buf));
        uint32_t v;

        /* short, truncated, too long */
        assert_int_equal(privmsg_decode(buf, 7, 0, &back), -EBADMSG);
        assert_int_equal(privmsg_decode(buf, (size_t)n - 1, 0, &back), -EBADMSG);
        assert_int_equal(privmsg_decode(buf, (size_t)n + 1, 0, &back), -EBADMSG);
        /* a payload length that is not the type's, even when the datagram agrees */
        v = 4;
        memcpy(buf + 4, &v, 4);
        assert_int_equal(privmsg_decode(buf, 12, 0, &back), -EBADMSG);
        /* unknown types */
        for (uint32_t t = 0; t < 2; t++) {
                v = t == 0 ? 0 : _PRIVMSG_MAX;
                memcpy(buf, &v, 4);
                assert_int_equal(privmsg_decode(buf, (size_t)n, 0, &back), -EBADMSG);
        }
        /* a descriptor where none belongs, none where one does */
        n = privmsg_encode(&m, buf, sizeof(buf));
        assert_int_equal(privmsg_decode(buf, (size_t)n, 1, &back), -EPROTO);
        m = (PrivMsg){ .type = PRIVMSG_SPAWN };
        n = privmsg_encode(&m, buf, sizeof(buf));
        assert_int_equal(privmsg_decode(buf, (size_t)n, 0, &back), -EPROTO);
        assert_int_equal(privmsg_decode(buf, (size_t)n, 2, &back), -EPROTO);
        /* a peer of another family, a flag that is none */
        m.u.spawn.peer.family = AF_UNIX;
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        memcpy(buf + 8, &m.u.spawn, sizeof(m.u.spawn));
        assert_int_equal(privmsg_decode(buf, (size_t)n, 1, &back), -EBADMSG);
        m.u.spawn.peer.family = 0;
        m.u.spawn.flags = 4;
        memcpy(buf + 8, &m.u.spawn, sizeof(m.u.spawn));
        assert_int_equal(privmsg_decode(buf, (size_t)n, 1, &back), -EBADMSG);
        /* a path without its NUL, a relative path */
        m = (PrivMsg){ .type = PRIVMSG_OPEN_LOG };
        strcpy(m.u.open_log.path, "/x");
        n = privmsg_encode(&m, buf, sizeof(buf));
        memset(buf + 8, 'a', PRIVMSG_PATH_MAX);
        buf[8] = '/';
        assert_int_equal(privmsg_decode(buf, (size_t)n, 0, &back), -EBADMSG);
        strcpy(buf + 8, "etc/shadow");
        assert_int_equal(privmsg_decode(buf, (size_t)n, 0, &back), -EBADMSG);
        /* a reply claiming success with a bad pid, a positive result */
        m = (PrivMsg){ .type = PRIVMSG_SPAWNED, .u.spawned = { 1, { { 7, 0, 0, 0, 0, 0 } } } };
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        m.u.spawned.e[0] = (typeof(m.u.spawned.e[0])){ 7, 1, 0, 0, 0, 0 };
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        m = (PrivMsg){ .type = PRIVMSG_RESULT, .u.result.result = 1 };
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
        /* no room */
        m = (PrivMsg){ .type = PRIVMSG_BIND };
        assert_int_equal(privmsg_encode(&m, buf, 9), -ENOBUFS);
}

/* The live re-exec's request (with its memfd) and its reply (a failure, with its reason). */
static void test_reexec_messages(void **state)
{
        PrivMsg m = { .type = PRIVMSG_REEXEC, .u.reexec.size = 4096 }, back;
        int n;

        assert_int_equal(privmsg_fds(&m), 1);
        round_trip(&m);
        n = privmsg_encode(&m, buf, sizeof(buf));
        assert_int_equal(privmsg_decode(buf, (size_t)n, 0, &back), -EPROTO);
        m = (PrivMsg){ .type = PRIVMSG_REEXEC_FAILED, .u.reexec_failed.result = -EAGAIN };
        strcpy(m.u.reexec_failed.text, "servers exited meanwhile; try again");
        assert_int_equal(privmsg_fds(&m), 0);
        round_trip(&m);
        /* a reason without its NUL; a "failure" that is none */
        n = privmsg_encode(&m, buf, sizeof(buf));
        memset(buf + 12, 'a', PRIVMSG_TEXT_MAX);
        assert_int_equal(privmsg_decode(buf, (size_t)n, 0, &back), -EBADMSG);
        m.u.reexec_failed.result = 0;
        assert_int_equal(privmsg_encode(&m, buf, sizeof(buf)), -EINVAL);
}

static void test_transport(void **state)
{
        int sp[2], fd, got;
        PrivMsg m = { .type = PRIVMSG_SPAWN, .u.spawn = { 1, 0, 1, { 0 } } }, back;
        char big[PRIVMSG_SIZE_MAX + 100];

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(privmsg_send(sp[0], &m, fd), 0);
        assert_int_equal(privmsg_recv(sp[1], &back, &got, 0), 0);
        assert_int_equal(back.type, PRIVMSG_SPAWN);
        assert_true(got >= 0);
        assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
        close(got);
        /* the sender's own check: a descriptor the message does not carry */
        assert_int_equal(privmsg_send(sp[0], &m, -1), -EINVAL);
        /* an oversized datagram is refused as truncated */
        memset(big, 0, sizeof(big));
        assert_int_equal(send(sp[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
        assert_int_equal(privmsg_recv(sp[1], &back, &got, 0), -EBADMSG);
        assert_int_equal(got, -1);
        /* a message with a descriptor it must not carry: refused, the descriptor closed */
        {
                PrivMsg h = { .type = PRIVMSG_HELLO };
                int n = privmsg_encode(&h, buf, sizeof(buf));
                union {
                        struct cmsghdr c;
                        char space[CMSG_SPACE(2 * sizeof(int))];
                } ctl = { 0 };
                struct iovec iov = { buf, (size_t)n };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                                     .msg_controllen = sizeof(ctl.space) };
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                int two[2] = { fd, fd };

                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(two));
                memcpy(CMSG_DATA(c), two, sizeof(two));
                assert_int_equal(sendmsg(sp[0], &mh, 0), n);
                assert_int_equal(privmsg_recv(sp[1], &back, &got, 0), -EPROTO);
                assert_int_equal(got, -1);
        }
        /* end of stream */
        close(sp[0]);
        assert_int_equal(privmsg_recv(sp[1], &back, &got, 0), -EPIPE);
        close(sp[1]);
        close(fd);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trips),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_transport),
                cmocka_unit_test(test_reexec_messages),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
