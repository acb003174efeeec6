/* SPDX-License-Identifier: MIT */
/*
 * test-loadavg.c — /proc/loadavg's first field parsed from given strings, the one-second
 * cache with synthetic time (a file rewritten under it), "at or above", an unreadable file
 * refusing nothing (as xinetd), and the real /proc/loadavg.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/loadavg.h"

#define SEC 1000000ull
#define T0 (100 * SEC)

static double parse_ok(const char *s)
{
        double v = -1;

        assert_int_equal(loadavg_parse(s, strlen(s), &v), 0);
        return v;
}

static void parse_bad(const char *s, size_t len)
{
        double v = 42;

        assert_int_equal(loadavg_parse(s, len, &v), -EINVAL);
        assert_true(v == 42);
}

static void test_parse(void **state)
{
        assert_true(parse_ok("0.42 0.30 0.25 1/123 4567\n") == 0.42);
        assert_true(parse_ok("6.94 6.57 4.90 8/1177 30488\n") == 6.94);
        assert_true(parse_ok("12 1 1 1/1 1") == 12.0);
        assert_true(parse_ok("0.00 0.00 0.00 1/50 7\n") == 0.0);
        assert_true(parse_ok("2.50\n") == 2.5);
        assert_true(parse_ok("  1.5 x") == 1.5);        /* leading blanks; rest ignored */
        assert_true(parse_ok("3.") == 3.0);
        assert_true(parse_ok(".5 1 1") == 0.5);
        /* the same conversion as the parser's max_load: equal strings compare equal */
        assert_true(parse_ok("0.30 1 1") == strtod("0.3", NULL));
        assert_true(parse_ok("0.70 1 1") == 0.7);
        assert_true(parse_ok("1.10 1 1") == 1.1);

        /* not NUL-terminated: only len bytes are read */
        double v;
        assert_int_equal(loadavg_parse("1.25XYZ", 4, &v), 0);
        assert_true(v == 1.25);

        parse_bad("", 0);
        parse_bad("   \n", 4);
        parse_bad("-1.0 0 0", 8);
        parse_bad("+1.0 0 0", 8);
        parse_bad("1e3 0 0", 7);
        parse_bad("0x10 0 0", 8);
        parse_bad("inf 0 0", 7);
        parse_bad("nan 0 0", 7);
        parse_bad("1.2.3 0", 7);
        parse_bad(". 0 0", 5);
        parse_bad("1,5 0 0", 7);
        parse_bad("123456789012345678901234567890123 1", 35);
}

static char *tmpfile_with(const char *text)
{
        char *path = strdup("/tmp/test-loadavg-XXXXXX");
        int fd;

        assert_non_null(path);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        return path;
}

static void rewrite(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_cache_one_second(void **state)
{
        char *path = tmpfile_with("1.50 1.00 1.00 1/100 99\n");
        Loadavg l = LOADAVG_NULL;

        l.path = path;
        assert_true(loadavg_get(&l, T0) == 1.5);
        rewrite(path, "3.00 1.00 1.00 1/100 99\n");
        assert_true(loadavg_get(&l, T0 + SEC - 1) == 1.5);     /* cached */
        assert_true(loadavg_get(&l, T0 + SEC) == 3.0);         /* read again */
        rewrite(path, "0.25 1.00 1.00 1/100 99\n");
        assert_true(loadavg_get(&l, T0 + SEC + 10) == 3.0);
        /* a clock that went back reads again rather than trusting the cache forever */
        assert_true(loadavg_get(&l, T0) == 0.25);
        unlink(path);
        free(path);
}

static void test_over_at_or_above(void **state)
{
        char *path = tmpfile_with("2.50 1.00 1.00 1/100 99\n");
        Loadavg l = LOADAVG_NULL;

        l.path = path;
        assert_false(loadavg_over(&l, 0.0, T0));                /* no max_load */
        assert_true(loadavg_over(&l, 2.5, T0));                 /* at: refused (xinetd: >=) */
        assert_true(loadavg_over(&l, 2.0, T0));
        assert_false(loadavg_over(&l, 2.51, T0));
        assert_false(loadavg_over(&l, 3.0, T0));
        unlink(path);
        free(path);
}

static void test_unreadable_refuses_nothing(void **state)
{
        Loadavg l = LOADAVG_NULL;

        l.path = "/nonexistent/loadavg";
        assert_true(loadavg_get(&l, T0) < 0);
        assert_int_equal(l.error, -ENOENT);
        assert_false(loadavg_over(&l, 0.01, T0));

        char *path = tmpfile_with("garbage\n");
        Loadavg g = LOADAVG_NULL;
        g.path = path;
        assert_true(loadavg_get(&g, T0) < 0);
        assert_int_equal(g.error, -EINVAL);
        assert_false(loadavg_over(&g, 0.01, T0));
        /* the failure is cached for the second too, then read again */
        rewrite(path, "5.00 1 1 1/1 1\n");
        assert_false(loadavg_over(&g, 0.01, T0 + 1));
        assert_true(loadavg_over(&g, 0.01, T0 + SEC));
        assert_int_equal(g.error, 0);
        unlink(path);
        free(path);
}

static void test_proc(void **state)
{
        Loadavg l = LOADAVG_NULL;

        if (access(LOADAVG_PATH, R_OK) != 0)
                skip();
        assert_true(loadavg_get(&l, T0) >= 0.0);
        assert_int_equal(l.error, 0);
        assert_true(loadavg_over(&l, 0.0000001, T0) == (l.value >= 0.0000001));
        assert_false(loadavg_over(&l, 1e9, T0));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_cache_one_second),
                cmocka_unit_test(test_over_at_or_above),
                cmocka_unit_test(test_unreadable_refuses_nothing),
                cmocka_unit_test(test_proc),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
