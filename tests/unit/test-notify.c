/* SPDX-License-Identifier: MIT */
/*
 * test-notify.c — sd_notify datagrams to a path socket and to an abstract one, and what
 * happens without $NOTIFY_SOCKET.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <portier/notify.h>

static int receiver(const char *name, bool abstract)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        socklen_t len;

        assert_true(fd >= 0);
        strcpy(sa.sun_path + abstract, name);
        len = offsetof(struct sockaddr_un, sun_path) + abstract + strlen(name) + !abstract;
        if (!abstract)
                unlink(name);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
        return fd;
}

static void recv_msg(int fd, char *buf, size_t size)
{
        ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

        buf[n < 0 ? 0 : n] = '\0';
}

static void test_unset_is_zero(void **state)
{
        unsetenv("NOTIFY_SOCKET");
        assert_int_equal(portier_notify(false, "READY=1"), 0);
}

static void test_path_socket(void **state)
{
        char path[64], buf[256];
        int fd;

        snprintf(path, sizeof(path), "/tmp/portier-test-notify.%d", (int)getpid());
        fd = receiver(path, false);
        setenv("NOTIFY_SOCKET", path, 1);
        assert_int_equal(portier_notify(false, "READY=1\nSTATUS=up"), 1);
        recv_msg(fd, buf, sizeof(buf));
        assert_string_equal(buf, "READY=1\nSTATUS=up");
        assert_int_equal(portier_notifyf(true, "STATUS=%d clients", 3), 1);
        recv_msg(fd, buf, sizeof(buf));
        assert_string_equal(buf, "STATUS=3 clients");
        assert_null(getenv("NOTIFY_SOCKET"));
        close(fd);
        unlink(path);
}

static void test_abstract_socket_and_reloading(void **state)
{
        char name[64], env[72], buf[256];
        unsigned long long usec;
        struct timespec ts;
        int fd;

        snprintf(name, sizeof(name), "portier-test-notify-%d", (int)getpid());
        fd = receiver(name, true);
        snprintf(env, sizeof(env), "@%s", name);
        setenv("NOTIFY_SOCKET", env, 1);
        assert_int_equal(portier_notify_reloading(), 1);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        recv_msg(fd, buf, sizeof(buf));
        assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu", &usec), 1);
        unsigned long long now = (unsigned long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        assert_true(usec <= now && now - usec < 5000000);
        unsetenv("NOTIFY_SOCKET");
        close(fd);
}

static void test_unsupported_and_unreachable(void **state)
{
        setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
        assert_int_equal(portier_notify(false, "READY=1"), -EAFNOSUPPORT);
        setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock", 1);
        assert_int_equal(portier_notify(false, "READY=1"), -ENOENT);
        unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unset_is_zero),
                cmocka_unit_test(test_path_socket),
                cmocka_unit_test(test_abstract_socket_and_reloading),
                cmocka_unit_test(test_unsupported_and_unreachable),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
