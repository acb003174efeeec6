/* SPDX-License-Identifier: MIT */
/*
 * test-logline.c — xinetd's per-connection lines, byte for byte (xinetd-reference.md §1.6),
 * and the FILE destination's stamp, buffering and limits.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/logline.h"

#define ALL_SUCCESS (CONF_LOG_PID | CONF_LOG_HOST | CONF_LOG_EXIT | CONF_LOG_DURATION)

static void test_start(void **state)
{
        char buf[256];

        logline_start(buf, sizeof(buf), "echo-stream", ALL_SUCCESS, 7050, "127.0.0.1");
        assert_string_equal(buf, "START: echo-stream pid=7050 from=127.0.0.1");
        logline_start(buf, sizeof(buf), "daytime", CONF_LOG_PID | CONF_LOG_HOST, 0, "::1");
        assert_string_equal(buf, "START: daytime pid=0 from=::1");
        logline_start(buf, sizeof(buf), "bare", CONF_LOG_EXIT, 12, "127.0.0.1");
        assert_string_equal(buf, "START: bare");
        logline_start(buf, sizeof(buf), "udp", CONF_LOG_HOST, 1, NULL);
        assert_string_equal(buf, "START: udp from=<no address>");
}

static void test_exit(void **state)
{
        char buf[256];

        logline_exit(buf, sizeof(buf), "mycat", ALL_SUCCESS, 3 << 8, 7083, 0);
        assert_string_equal(buf, "EXIT: mycat status=3 pid=7083 duration=0(sec)");
        logline_exit(buf, sizeof(buf), "limited", ALL_SUCCESS, SIGTERM, 9209, 4);
        assert_string_equal(buf, "EXIT: limited signal=15 pid=9209 duration=4(sec)");
        logline_exit(buf, sizeof(buf), "d", CONF_LOG_DURATION, 0, 1, 61);
        assert_string_equal(buf, "EXIT: d duration=61(sec)");
        assert_true(logline_wants_exit(CONF_LOG_EXIT));
        assert_true(logline_wants_exit(CONF_LOG_DURATION));
        assert_false(logline_wants_exit(CONF_LOG_PID | CONF_LOG_HOST));
        assert_false(logline_wants_start(0));
        assert_true(logline_wants_start(CONF_LOG_USERID));
}

static void test_fail(void **state)
{
        char buf[256];

        logline_fail(buf, sizeof(buf), "limited", "service_limit", CONF_LOG_HOST, "127.0.0.1");
        assert_string_equal(buf, "FAIL: limited service_limit from=127.0.0.1");
        logline_fail(buf, sizeof(buf), "limited", "connections per second",
                     CONF_LOG_HOST | CONF_LOG_ATTEMPT, "10.1.2.3");
        assert_string_equal(buf, "FAIL: limited connections per second from=10.1.2.3");
        logline_fail(buf, sizeof(buf), "x", "fork", CONF_LOG_ATTEMPT, "10.1.2.3");
        assert_string_equal(buf, "FAIL: x fork");
        assert_false(logline_wants_fail(0));
}

/* The observed xinetd line: "TRAFFIC: redir in=9(bytes) out=9(bytes)". */
static void test_traffic(void **state)
{
        char buf[256];
        size_t n = logline_traffic(buf, sizeof(buf), "redir", 9, 9);

        assert_string_equal(buf, "TRAFFIC: redir in=9(bytes) out=9(bytes)");
        assert_int_equal(n, strlen(buf));
        logline_traffic(buf, sizeof(buf), "big", 0, 53687091200ULL);
        assert_string_equal(buf, "TRAFFIC: big in=0(bytes) out=53687091200(bytes)");
        n = logline_traffic(buf, 12, "truncated", 1, 2);
        assert_int_equal(n, 11);
        assert_string_equal(buf, "TRAFFIC: tr");
}

static void test_truncation_is_safe(void **state)
{
        char buf[16];
        size_t n = logline_start(buf, sizeof(buf), "a-very-long-service-id", ALL_SUCCESS, 1,
                                 "127.0.0.1");

        assert_int_equal(n, strlen(buf));
        assert_true(n < sizeof(buf));
}

static void test_file_stamp(void **state)
{
        struct tm tm = { .tm_year = 126, .tm_mon = 10, .tm_mday = 2, .tm_hour = 3,
                         .tm_min = 4, .tm_sec = 5, .tm_isdst = -1 };
        char buf[64];

        setenv("TZ", "UTC", 1);
        tzset();
        logline_file_stamp(buf, sizeof(buf), timegm(&tm));
        assert_string_equal(buf, "26/11/2@03:04:05: ");
}

static char *read_file(const char *path)
{
        static char buf[65536];
        int fd = open(path, O_RDONLY);
        ssize_t n = fd < 0 ? 0 : read(fd, buf, sizeof(buf) - 1);

        buf[n < 0 ? 0 : n] = '\0';
        if (fd >= 0)
                close(fd);
        return buf;
}

static void test_file_buffered_until_flush_and_limits(void **state)
{
        char dir[] = "/tmp/portier-test-logline.XXXXXX", path[PATH_MAX];
        ConfLogType t = { .kind = CONF_LOG_FILE };
        LogTarget target;
        LogSet *set = NULL;
        PortierLog *log = NULL;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/svc.log", dir);
        t.path = path;
        t.soft_limit = 100;
        t.hard_limit = 160;
        assert_int_equal(portier_log_new(&log, "t", LOG_DAEMON), 0);
        assert_int_equal(portier_log_set_target(log, PORTIER_LOG_FILE, "/dev/null"), 0);
        assert_int_equal(logset_new(&set, log, log), 0);
        assert_int_equal(logset_target(set, &t, &target), 0);
        assert_int_equal(target.kind, CONF_LOG_FILE);

        logset_write(set, &target, "START: a", 8);
        assert_string_equal(read_file(path), "");               /* not on the accept path */
        logset_flush(set);
        assert_non_null(strstr(read_file(path), ": START: a\n"));

        /* Past the hard limit, lines are dropped: the file never grows beyond it. */
        for (int i = 0; i < 20; i++)
                logset_write(set, &target, "EXIT: a status=0 pid=1", 22);
        logset_flush(set);
        assert_true(strlen(read_file(path)) <= 160);
        assert_true(strlen(read_file(path)) > 100);

        /* The same path is one destination. */
        LogTarget again;

        assert_int_equal(logset_target(set, &t, &again), 0);
        assert_ptr_equal(again.file, target.file);
        logset_free(set);
        portier_log_free(log);
        unlink(path);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_start),
                cmocka_unit_test(test_exit),
                cmocka_unit_test(test_fail),
                cmocka_unit_test(test_traffic),
                cmocka_unit_test(test_truncation_is_safe),
                cmocka_unit_test(test_file_stamp),
                cmocka_unit_test(test_file_buffered_until_flush_and_limits),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
