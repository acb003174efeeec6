/* SPDX-License-Identifier: MIT */
/*
 * test-log.c — the log sink: line formats per target, the non-blocking syslog sender (drops
 * counted and told, reconnection), level filtering, errno and "%m".
 *
 * The syslog side is a real AF_UNIX datagram socket bound in a temporary directory.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <portier/log.h>

static char dir[PATH_MAX], sockpath[PATH_MAX + 16], filepath[PATH_MAX + 16];

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/portier-test-log.XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(sockpath, sizeof(sockpath), "%s/log.sock", dir);
        snprintf(filepath, sizeof(filepath), "%s/file.log", dir);
        return 0;
}

static int teardown(void **state)
{
        char rotated[PATH_MAX + 32];

        snprintf(rotated, sizeof(rotated), "%s.1", filepath);
        unlink(sockpath);
        unlink(filepath);
        unlink(rotated);
        rmdir(dir);
        return 0;
}

static int bind_receiver(int rcvbuf)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        if (rcvbuf)
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        strcpy(sa.sun_path, sockpath);
        unlink(sockpath);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* Receive one datagram, or "" when none is waiting. */
static void recv_line(int fd, char *buf, size_t size)
{
        ssize_t n = recv(fd, buf, size - 1, MSG_DONTWAIT);

        buf[n < 0 ? 0 : n] = '\0';
}

static void assert_matches(const char *s, const char *pattern)
{
        regex_t re;

        assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
        if (regexec(&re, s, 0, NULL, 0) != 0)
                fail_msg("'%s' does not match /%s/", s, pattern);
        regfree(&re);
}

static PortierLog *syslog_sink(const char *ident, int facility)
{
        PortierLog *log = NULL;

        assert_int_equal(portier_log_new(&log, ident, facility), 0);
        assert_int_equal(portier_log_set_syslog_socket(log, sockpath), 0);
        assert_int_equal(portier_log_set_target(log, PORTIER_LOG_SYSLOG, NULL), 0);
        return log;
}

static void test_syslog_line_format(void **state)
{
        int rx = bind_receiver(0);
        PortierLog *log = syslog_sink("tester", LOG_DAEMON);
        char buf[8192], pat[256];

        assert_int_equal(portier_log(log, LOG_INFO, "hello %s %d", "world", 42), 0);
        recv_line(rx, buf, sizeof(buf));
        snprintf(pat, sizeof(pat),
                 "^<30>[A-Z][a-z]{2} [ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] "
                 "tester\\[%d\\]: hello world 42$", (int)getpid());
        assert_matches(buf, pat);

        /* local0.notice is <133>, as in xinetd's own lines. */
        portier_log_set_facility(log, LOG_LOCAL0);
        assert_int_equal(portier_log(log, LOG_NOTICE, "START: echo pid=0"), 0);
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, "^<133>.* tester\\[[0-9]+\\]: START: echo pid=0$");

        /* A facility in the level overrides the sink's for that message only. */
        assert_int_equal(portier_log(log, LOG_LOCAL3 | LOG_ERR, "override"), 0);
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, "^<155>.*: override$");
        portier_log_free(log);
        close(rx);
}

static void test_level_filter(void **state)
{
        int rx = bind_receiver(0);
        PortierLog *log = syslog_sink("tester", LOG_DAEMON);
        char buf[512];

        assert_int_equal(portier_log(log, LOG_DEBUG, "hidden"), 0);
        recv_line(rx, buf, sizeof(buf));
        assert_string_equal(buf, "");
        portier_log_set_max_level(log, LOG_DEBUG);
        assert_int_equal(portier_log(log, LOG_DEBUG, "shown"), 0);
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, "^<31>.*: shown$");
        portier_log_free(log);
        close(rx);
}

static void test_errno_kept_and_percent_m(void **state)
{
        int rx = bind_receiver(0);
        PortierLog *log = syslog_sink("tester", LOG_DAEMON);
        char buf[512];

        errno = ENOENT;
        portier_log(log, LOG_ERR, "open: %m");
        assert_int_equal(errno, ENOENT);
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, "^<27>.*: open: No such file or directory$");
        portier_log_free(log);
        close(rx);
}

static void test_drops_counted_never_block(void **state)
{
        int rx = bind_receiver(4096);
        PortierLog *log = syslog_sink("tester", LOG_DAEMON);
        char buf[8192];
        int sent = 0, dropped = 0;

        /* The receiver never reads: the sender must drop, not wait. */
        for (int i = 0; i < 2000 && dropped < 5; i++) {
                if (portier_log(log, LOG_INFO, "message %d", i) == 0)
                        sent++;
                else
                        dropped++;
        }
        assert_true(sent > 0);
        assert_int_equal(dropped, 5);
        assert_int_equal(portier_log_dropped(log), 5);

        /* Once there is room, the next message is preceded by the count of lost ones. */
        while (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                ;
        assert_int_equal(portier_log(log, LOG_INFO, "after"), 0);
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, "^<28>.*: 5 log messages were dropped$");
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, ": after$");
        portier_log_free(log);
        close(rx);
}

static void test_reconnects_after_syslogd_restart(void **state)
{
        int rx = bind_receiver(0);
        PortierLog *log = syslog_sink("tester", LOG_DAEMON);
        char buf[512];

        assert_int_equal(portier_log(log, LOG_INFO, "one"), 0);
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, ": one$");
        close(rx);              /* syslogd stops ... */
        assert_true(portier_log(log, LOG_INFO, "lost") < 0);
        rx = bind_receiver(0);  /* ... and comes back on the same path */
        assert_int_equal(portier_log(log, LOG_INFO, "two"), 0);
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, ": 1 log messages were dropped$");
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, ": two$");
        portier_log_free(log);
        close(rx);
}

static void test_no_syslogd(void **state)
{
        PortierLog *log = syslog_sink("tester", LOG_DAEMON);

        assert_true(portier_log(log, LOG_INFO, "nobody listens") < 0);
        assert_int_equal(portier_log_dropped(log), 1);
        portier_log_free(log);
}

static void read_all(const char *p, char *buf, size_t size)
{
        int fd = open(p, O_RDONLY);
        ssize_t n;

        assert_true(fd >= 0);
        n = read(fd, buf, size - 1);
        buf[n < 0 ? 0 : n] = '\0';
        close(fd);
}

static void test_file_target_and_reopen(void **state)
{
        PortierLog *log = NULL;
        char buf[1024], rotated[PATH_MAX + 32];

        assert_int_equal(portier_log_new(&log, "filer", LOG_DAEMON), 0);
        assert_int_equal(portier_log_set_target(log, PORTIER_LOG_FILE, filepath), 0);
        assert_int_equal(portier_log(log, LOG_INFO, "first"), 0);
        read_all(filepath, buf, sizeof(buf));
        assert_matches(buf, "^[A-Z][a-z]{2} [ 123][0-9] [0-9:]{8} filer\\[[0-9]+\\]: first\n$");

        /* logrotate renames the file; reopen starts a new one. */
        snprintf(rotated, sizeof(rotated), "%s.1", filepath);
        assert_int_equal(rename(filepath, rotated), 0);
        assert_int_equal(portier_log(log, LOG_INFO, "second"), 0);
        assert_int_equal(portier_log_reopen(log), 0);
        assert_int_equal(portier_log(log, LOG_INFO, "third"), 0);
        read_all(rotated, buf, sizeof(buf));
        assert_matches(buf, ": first\n.*: second\n$");
        read_all(filepath, buf, sizeof(buf));
        assert_matches(buf, "^[^\n]*: third\n$");

        assert_int_equal(portier_log_set_target(log, PORTIER_LOG_FILE, "/nonexistent/dir/x"),
                         -ENOENT);
        assert_int_equal(portier_log_get_target(log), PORTIER_LOG_FILE);
        portier_log_free(log);
}

/* Run fn with fd 2 on the write end of a pipe; return what it wrote. */
static void capture_stderr(void (*fn)(void), char *buf, size_t size)
{
        int p[2], saved = dup(STDERR_FILENO);
        ssize_t n;

        assert_int_equal(pipe(p), 0);
        dup2(p[1], STDERR_FILENO);
        close(p[1]);
        fn();
        dup2(saved, STDERR_FILENO);
        close(saved);
        n = read(p[0], buf, size - 1);
        buf[n < 0 ? 0 : n] = '\0';
        close(p[0]);
}

static void log_auto_and_journal(void)
{
        PortierLog *log = NULL;
        struct stat st;
        char js[64];

        portier_log_new(&log, "auto", LOG_DAEMON);
        portier_log(log, LOG_WARNING, "plain");
        fstat(STDERR_FILENO, &st);
        snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_ino);
        setenv("JOURNAL_STREAM", js, 1);
        portier_log(log, LOG_WARNING, "journal");
        unsetenv("JOURNAL_STREAM");
        portier_log_free(log);
}

static void test_stderr_auto_and_journal_prefix(void **state)
{
        char buf[1024];

        capture_stderr(log_auto_and_journal, buf, sizeof(buf));
        assert_string_equal(buf, "auto: plain\n<4>journal\n");
}

static void log_with_devnull_stderr(void)
{
        PortierLog *log = NULL;
        int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);

        /* A detached daemon has fd 2 on /dev/null: AUTO means syslog then. */
        dup2(null, STDERR_FILENO);
        close(null);
        portier_log_new(&log, "auto", LOG_DAEMON);
        portier_log_set_syslog_socket(log, sockpath);
        portier_log(log, LOG_INFO, "to syslog");
        portier_log_free(log);
        dup2(saved, STDERR_FILENO);
        close(saved);
}

static void test_auto_is_syslog_once_detached(void **state)
{
        int rx = bind_receiver(0);
        char buf[512];

        log_with_devnull_stderr();
        recv_line(rx, buf, sizeof(buf));
        assert_matches(buf, "^<30>.* auto\\[[0-9]+\\]: to syslog$");
        close(rx);
}

static void test_long_message_cut(void **state)
{
        int rx = bind_receiver(0);
        PortierLog *log = syslog_sink("tester", LOG_DAEMON);
        char *big = malloc(10000), buf[16384];

        memset(big, 'x', 9999);
        big[9999] = '\0';
        assert_int_equal(portier_log(log, LOG_INFO, "%s", big), 0);
        recv_line(rx, buf, sizeof(buf));
        assert_true(strlen(buf) > 4000 && strlen(buf) < 4300);
        free(big);
        portier_log_free(log);
        close(rx);
}

static void test_names(void **state)
{
        assert_int_equal(portier_log_facility_from_name("daemon"), LOG_DAEMON);
        assert_int_equal(portier_log_facility_from_name("LOCAL7"), LOG_LOCAL7);
        assert_int_equal(portier_log_facility_from_name("nope"), -EINVAL);
        assert_int_equal(portier_log_facility_from_name(NULL), -EINVAL);
        assert_int_equal(portier_log_level_from_name("info"), LOG_INFO);
        assert_int_equal(portier_log_level_from_name("warn"), LOG_WARNING);
        assert_int_equal(portier_log_level_from_name("crit"), LOG_CRIT);
        assert_int_equal(portier_log_level_from_name("loud"), -EINVAL);
        assert_string_equal(portier_log_facility_name(LOG_LOCAL3), "local3");
        assert_string_equal(portier_log_level_name(LOG_NOTICE), "notice");
        assert_null(portier_log_facility_name(12345));
        assert_null(portier_log_level_name(42));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_syslog_line_format, setup, teardown),
                cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
                cmocka_unit_test_setup_teardown(test_errno_kept_and_percent_m, setup, teardown),
                cmocka_unit_test_setup_teardown(test_drops_counted_never_block, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reconnects_after_syslogd_restart, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_no_syslogd, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_target_and_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stderr_auto_and_journal_prefix, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_auto_is_syslog_once_detached, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_long_message_cut, setup, teardown),
                cmocka_unit_test(test_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
