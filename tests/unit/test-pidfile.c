/* SPDX-License-Identifier: MIT */
/*
 * test-pidfile.c — the locked pid file: single instance, stale files, safe removal.
 *
 * OFD locks conflict between open file descriptions even inside one process, so a second
 * "instance" can be played by a second portier_pidfile_open() call.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <portier/pidfile.h>

static char dir[PATH_MAX], path[PATH_MAX + 16];

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/portier-test-pidfile.XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(path, sizeof(path), "%s/test.pid", dir);
        return 0;
}

static int teardown(void **state)
{
        char other[PATH_MAX + 16];

        unlink(path);
        snprintf(other, sizeof(other), "%s/other", dir);
        unlink(other);
        rmdir(dir);
        return 0;
}

static void read_file(const char *p, char *buf, size_t size)
{
        int fd = open(p, O_RDONLY);
        ssize_t n;

        assert_true(fd >= 0);
        n = read(fd, buf, size - 1);
        assert_true(n >= 0);
        buf[n] = '\0';
        close(fd);
}

static void write_file(const char *p, const char *s)
{
        FILE *f = fopen(p, "w");

        assert_non_null(f);
        fputs(s, f);
        fclose(f);
}

static void test_write_pid_with_newline(void **state)
{
        PortierPidfile *pf = NULL;
        char buf[64], want[32];

        assert_int_equal(portier_pidfile_open(path, 0600, &pf, NULL), 0);
        assert_int_equal(portier_pidfile_write(pf), 0);
        read_file(path, buf, sizeof(buf));
        snprintf(want, sizeof(want), "%d\n", (int)getpid());
        assert_string_equal(buf, want);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(portier_pidfile_remove(pf), 0);
        portier_pidfile_free(pf);
        assert_int_equal(access(path, F_OK), -1);
}

static void test_second_instance_refused_with_pid(void **state)
{
        PortierPidfile *a = NULL, *b = NULL;
        pid_t other = -1, running = -1;

        assert_int_equal(portier_pidfile_open(path, 0, &a, NULL), 0);
        assert_int_equal(portier_pidfile_write(a), 0);
        assert_int_equal(portier_pidfile_open(path, 0, &b, &other), -EEXIST);
        assert_null(b);
        assert_int_equal(other, getpid());
        assert_int_equal(portier_pidfile_running(path, &running), 1);
        assert_int_equal(running, getpid());

        /* Probing did not steal the lock: still refused. */
        assert_int_equal(portier_pidfile_open(path, 0, &b, NULL), -EEXIST);
        portier_pidfile_remove(a);
        portier_pidfile_free(a);
        assert_int_equal(portier_pidfile_running(path, &running), 0);
}

static void test_stale_file_taken_over(void **state)
{
        PortierPidfile *pf = NULL;
        pid_t running = -1;
        char buf[64], want[32];

        /* A longer stale pid than ours, then garbage: both are rewritten cleanly. */
        write_file(path, "2147483646\nleftover\n");
        assert_int_equal(portier_pidfile_running(path, &running), 0);
        assert_int_equal(portier_pidfile_open(path, 0, &pf, NULL), 0);
        assert_int_equal(portier_pidfile_write(pf), 0);
        read_file(path, buf, sizeof(buf));
        snprintf(want, sizeof(want), "%d\n", (int)getpid());
        assert_string_equal(buf, want);
        portier_pidfile_remove(pf);
        portier_pidfile_free(pf);

        write_file(path, "not a pid");
        assert_int_equal(portier_pidfile_open(path, 0, &pf, NULL), 0);
        portier_pidfile_free(pf);
}

static void test_lock_survives_fork(void **state)
{
        PortierPidfile *pf = NULL;
        int go[2];
        char c = 0;
        pid_t child;

        assert_int_equal(portier_pidfile_open(path, 0, &pf, NULL), 0);
        assert_int_equal(pipe(go), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                /* The child keeps the inherited descriptor until told to exit. */
                close(go[1]);
                if (read(go[0], &c, 1) < 0)
                        _exit(1);
                _exit(0);
        }
        close(go[0]);
        /* The parent lets go of its copy: the child's copy still holds the lock. */
        portier_pidfile_free(pf);
        assert_int_equal(portier_pidfile_running(path, NULL), 1);
        assert_int_equal(portier_pidfile_open(path, 0, &pf, NULL), -EEXIST);
        close(go[1]);
        assert_int_equal(waitpid(child, NULL, 0), child);
        assert_int_equal(portier_pidfile_running(path, NULL), 0);
}

static void test_remove_spares_a_replaced_file(void **state)
{
        PortierPidfile *pf = NULL;
        char other[PATH_MAX + 16];

        assert_int_equal(portier_pidfile_open(path, 0, &pf, NULL), 0);
        assert_int_equal(portier_pidfile_write(pf), 0);
        snprintf(other, sizeof(other), "%s/other", dir);
        write_file(other, "12345\n");
        assert_int_equal(rename(other, path), 0);
        assert_int_equal(portier_pidfile_remove(pf), -ESTALE);
        assert_int_equal(access(path, F_OK), 0);
        portier_pidfile_free(pf);
}

static void test_remove_refused_in_forked_child(void **state)
{
        PortierPidfile *pf = NULL;
        int status;
        pid_t child;

        assert_int_equal(portier_pidfile_open(path, 0, &pf, NULL), 0);
        assert_int_equal(portier_pidfile_write(pf), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(portier_pidfile_remove(pf) == -EPERM ? 0 : 1);
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(access(path, F_OK), 0);
        assert_int_equal(portier_pidfile_remove(pf), 0);
        portier_pidfile_free(pf);
}

static void test_symlink_and_directory_refused(void **state)
{
        PortierPidfile *pf = NULL;
        char other[PATH_MAX + 16];

        snprintf(other, sizeof(other), "%s/other", dir);
        write_file(other, "");
        assert_int_equal(symlink(other, path), 0);
        assert_int_equal(portier_pidfile_open(path, 0, &pf, NULL), -ELOOP);
        unlink(path);
        assert_int_not_equal(portier_pidfile_open(dir, 0, &pf, NULL), 0);
        assert_null(pf);
        assert_int_equal(portier_pidfile_open("", 0, &pf, NULL), -EINVAL);
}

static void test_running_without_file(void **state)
{
        pid_t pid = 7;

        assert_int_equal(portier_pidfile_running(path, &pid), 0);
        assert_int_equal(pid, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_write_pid_with_newline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_second_instance_refused_with_pid, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_stale_file_taken_over, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lock_survives_fork, setup, teardown),
                cmocka_unit_test_setup_teardown(test_remove_spares_a_replaced_file, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_remove_refused_in_forked_child, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_symlink_and_directory_refused, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_running_without_file, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
