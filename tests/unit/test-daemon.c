/* SPDX-License-Identifier: MIT */
/*
 * test-daemon.c — the pieces of detaching that can be checked in-process: closing every
 * descriptor but an except-list, and resetting signal dispositions and the mask. Each runs in
 * a forked child (it closes descriptors the test runner may own) that reports by exit code.
 * The detaching itself is tested end to end in tests/e2e.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <portier/daemon.h>

static int run_in_child(int (*fn)(void))
{
        int status;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0)
                _exit(fn());
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static bool is_open(int fd)
{
        return fcntl(fd, F_GETFD) >= 0;
}

/* Returns 0 when right, else the number of the first check that failed. */
static int close_with_exceptions(void)
{
        int null = open("/dev/null", O_RDONLY);
        /* Spread descriptors out, one far above the usual range. */
        static const int fds[] = { 5, 6, 7, 9, 10, 200, 1000 };
        static const int keep[] = { 1000, 7, 9, 2, -1 };
        struct rlimit rl = { 2048, 2048 };

        setrlimit(RLIMIT_NOFILE, &rl);
        for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
                if (dup2(null, fds[i]) != fds[i])
                        return 1;
        if (portier_close_fds(keep, sizeof(keep) / sizeof(keep[0])) < 0)
                return 2;
        if (!is_open(0) || !is_open(1) || !is_open(2))
                return 3;
        if (!is_open(7) || !is_open(9) || !is_open(1000))
                return 4;
        if (is_open(null) || is_open(5) || is_open(6) || is_open(10) || is_open(200))
                return 5;
        return 0;
}

static void test_close_fds_keeps_except_list(void **state)
{
        assert_int_equal(run_in_child(close_with_exceptions), 0);
}

static int close_all(void)
{
        int p[2];

        if (pipe(p) < 0 || portier_close_fds(NULL, 0) < 0)
                return 1;
        return is_open(p[0]) || is_open(p[1]) || !is_open(2) ? 2 : 0;
}

static void test_close_fds_without_exceptions(void **state)
{
        assert_int_equal(run_in_child(close_all), 0);
}

static int reset(void)
{
        struct sigaction sa;
        sigset_t set;

        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGTERM);
        sigprocmask(SIG_BLOCK, &set, NULL);
        if (portier_reset_signals() < 0)
                return 1;
        sigaction(SIGHUP, NULL, &sa);
        if (sa.sa_handler != SIG_DFL)
                return 2;
        sigaction(SIGPIPE, NULL, &sa);
        if (sa.sa_handler != SIG_DFL)
                return 3;
        sigprocmask(SIG_SETMASK, NULL, &set);
        if (sigismember(&set, SIGUSR1) || sigismember(&set, SIGTERM))
                return 4;
        return 0;
}

static void test_reset_signals(void **state)
{
        assert_int_equal(run_in_child(reset), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_close_fds_keeps_except_list),
                cmocka_unit_test(test_close_fds_without_exceptions),
                cmocka_unit_test(test_reset_signals),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
