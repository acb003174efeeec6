/* SPDX-License-Identifier: MIT */
/*
 * test-listenfds.c — receiving sockets passed with LISTEN_FDS (sd_listen_fds semantics), and
 * telling sockets apart.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <portier/listenfds.h>

static void set_env(const char *pid, const char *fds, const char *names)
{
        char buf[32];

        if (pid && strcmp(pid, "self") == 0) {
                snprintf(buf, sizeof(buf), "%d", (int)getpid());
                pid = buf;
        }
        pid ? setenv("LISTEN_PID", pid, 1) : unsetenv("LISTEN_PID");
        fds ? setenv("LISTEN_FDS", fds, 1) : unsetenv("LISTEN_FDS");
        names ? setenv("LISTEN_FDNAMES", names, 1) : unsetenv("LISTEN_FDNAMES");
}

/* Put two TCP listening sockets on fds 3 and 4 (whatever was there is closed). */
static void plant_sockets(void)
{
        for (int fd = 3; fd <= 4; fd++) {
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                int s = socket(AF_INET, SOCK_STREAM, 0);

                assert_true(s >= 0);
                assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
                assert_int_equal(listen(s, 1), 0);
                if (s != fd) {
                        assert_int_equal(dup2(s, fd), fd);
                        close(s);
                }
        }
}

static void test_none(void **state)
{
        char **names = (char **)1;

        set_env(NULL, NULL, NULL);
        assert_int_equal(portier_listen_fds(false, &names), 0);
        assert_null(names);
        set_env("1", "2", NULL);        /* for another process */
        assert_int_equal(portier_listen_fds(false, NULL), 0);
}

static void test_two_named_sockets(void **state)
{
        char **names = NULL;

        plant_sockets();
        set_env("self", "2", "web:admin");
        assert_int_equal(portier_listen_fds(false, &names), 2);
        assert_non_null(names);
        assert_string_equal(names[0], "web");
        assert_string_equal(names[1], "admin");
        assert_null(names[2]);
        portier_strv_free(names);
        assert_true(fcntl(3, F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(4, F_GETFD) & FD_CLOEXEC);

        set_env("self", "2", NULL);
        assert_int_equal(portier_listen_fds(true, &names), 2);
        assert_string_equal(names[0], "unknown");
        assert_string_equal(names[1], "unknown");
        portier_strv_free(names);
        assert_null(getenv("LISTEN_PID"));
        assert_null(getenv("LISTEN_FDS"));
}

static void test_malformed(void **state)
{
        char **names = NULL;

        plant_sockets();
        set_env("self", "x", NULL);
        assert_int_equal(portier_listen_fds(false, NULL), -EINVAL);
        set_env("self", "-1", NULL);
        assert_int_equal(portier_listen_fds(false, NULL), -EINVAL);
        set_env("12abc", "1", NULL);
        assert_int_equal(portier_listen_fds(false, NULL), -EINVAL);
        set_env("self", "2", "one");
        assert_int_equal(portier_listen_fds(false, &names), -EINVAL);
        set_env("self", "2", "a:b:c");
        assert_int_equal(portier_listen_fds(false, &names), -EINVAL);
        assert_null(names);
        close(4);
        set_env("self", "2", NULL);
        assert_int_equal(portier_listen_fds(true, NULL), -EBADF);
        close(3);
}

static void test_is_socket(void **state)
{
        int p[2];

        plant_sockets();
        assert_int_equal(portier_is_socket(3, AF_INET, SOCK_STREAM, 1), 1);
        assert_int_equal(portier_is_socket(3, 0, 0, -1), 1);
        assert_int_equal(portier_is_socket(3, AF_INET6, 0, -1), 0);
        assert_int_equal(portier_is_socket(3, 0, SOCK_DGRAM, -1), 0);
        assert_int_equal(portier_is_socket(3, 0, 0, 0), 0);
        assert_int_equal(pipe(p), 0);
        assert_int_equal(portier_is_socket(p[0], 0, 0, -1), 0);
        close(p[0]);
        close(p[1]);
        close(3);
        close(4);
        assert_int_equal(portier_is_socket(3, 0, 0, -1), -EBADF);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_none),
                cmocka_unit_test(test_two_named_sockets),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_is_socket),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
