/* SPDX-License-Identifier: MIT */
/*
 * test-pidfile-adopt.c — portier_pidfile_adopt(): a re-executed daemon takes over the locked
 * descriptor its previous image left it. The lock stays held throughout (a second instance is
 * refused), the adopted handle removes the file as the writer would, and a descriptor that is
 * not a regular file is refused.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <portier/pidfile.h>

static char dir[PATH_MAX], path[PATH_MAX + 16];

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/portier-test-adopt.XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(path, sizeof(path), "%s/test.pid", dir);
        return 0;
}

static int teardown(void **state)
{
        (void)unlink(path);
        return rmdir(dir);
}

static void test_adopt_keeps_lock_and_removes(void **state)
{
        PortierPidfile *pf = NULL, *adopted = NULL, *other = NULL;
        pid_t holder = 0;
        int fd;

        assert_int_equal(portier_pidfile_open(path, 0644, &pf, NULL), 0);
        assert_int_equal(portier_pidfile_write(pf), 0);
        /* what a re-exec does: the descriptor outlives the handle of the old image */
        fd = dup(portier_pidfile_fd(pf));
        assert_true(fd >= 0);
        assert_int_equal(portier_pidfile_adopt(fd, path, &adopted), 0);
        assert_int_equal(portier_pidfile_fd(adopted), fd);
        assert_string_equal(portier_pidfile_path(adopted), path);
        /* the old handle goes (its descriptor closed): the lock stays with the shared
         * open file description */
        pf = portier_pidfile_free(pf);
        assert_int_equal(portier_pidfile_open(path, 0644, &other, &holder), -EEXIST);
        assert_int_equal(holder, getpid());
        assert_int_equal(portier_pidfile_remove(adopted), 0);
        assert_int_equal(access(path, F_OK), -1);
        portier_pidfile_free(adopted);
}

static void test_adopt_refuses_non_files(void **state)
{
        PortierPidfile *pf = NULL;
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(portier_pidfile_adopt(fd, dir, &pf), -EINVAL);
        assert_null(pf);
        close(fd);
        assert_int_equal(portier_pidfile_adopt(-1, path, &pf), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_adopt_keeps_lock_and_removes, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_adopt_refuses_non_files, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
