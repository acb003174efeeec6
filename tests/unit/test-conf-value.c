/* SPDX-License-Identifier: MIT */
/*
 * test-conf-value.c — the scalar value parsers and the address forms of only_from/no_access.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "conf/addr.h"
#include "conf/value.h"

static void test_uint(void **state)
{
        uint64_t v = 7;
        assert_int_equal(value_uint("0", 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(value_uint("65535", 65535, &v), 0);
        assert_int_equal(v, 65535);
        assert_int_equal(value_uint("65536", 65535, &v), -ERANGE);
        assert_int_equal(v, 65535);
        assert_int_equal(value_uint("18446744073709551616", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(value_uint("", 10, &v), -EINVAL);
        assert_int_equal(value_uint("+1", 10, &v), -EINVAL);
        assert_int_equal(value_uint("-1", 10, &v), -EINVAL);
        assert_int_equal(value_uint(" 1", 10, &v), -EINVAL);
        assert_int_equal(value_uint("1 ", 10, &v), -EINVAL);
        assert_int_equal(value_uint("0x10", 100, &v), -EINVAL);
        assert_int_equal(value_uint("5#", 100, &v), -EINVAL);
}

static void test_int(void **state)
{
        int64_t v;
        assert_int_equal(value_int("-20", -20, 19, &v), 0);
        assert_int_equal(v, -20);
        assert_int_equal(value_int("-21", -20, 19, &v), -ERANGE);
        assert_int_equal(value_int("19", -20, 19, &v), 0);
        assert_int_equal(value_int("--1", -20, 19, &v), -EINVAL);
        assert_int_equal(value_int("-", -20, 19, &v), -EINVAL);
}

static void test_bool_limit(void **state)
{
        bool b = false;
        uint32_t l;
        assert_int_equal(value_bool("yes", &b), 0);
        assert_true(b);
        assert_int_equal(value_bool("NO", &b), 0);
        assert_false(b);
        assert_int_equal(value_bool("true", &b), -EINVAL);
        assert_int_equal(value_bool("", &b), -EINVAL);
        assert_int_equal(value_limit("UNLIMITED", &l), 0);
        assert_int_equal(l, UINT32_MAX);
        assert_int_equal(value_limit("unlimited", &l), 0);
        assert_int_equal(value_limit("30", &l), 0);
        assert_int_equal(l, 30);
        assert_int_equal(value_limit("2147483648", &l), -ERANGE);
        assert_int_equal(value_limit("-1", &l), -EINVAL);
}

static void test_size(void **state)
{
        uint64_t v;
        assert_int_equal(value_size("10", true, &v), 0);
        assert_int_equal(v, 10);
        assert_int_equal(value_size("10K", true, &v), 0);
        assert_int_equal(v, 10240);
        assert_int_equal(value_size("2m", true, &v), 0);
        assert_int_equal(v, 2 << 20);
        assert_int_equal(value_size("1G", true, &v), 0);
        assert_int_equal(v, 1u << 30);
        assert_int_equal(value_size("10K", false, &v), -EINVAL);
        assert_int_equal(value_size("10KB", true, &v), -EINVAL);
        assert_int_equal(value_size("UNLIMITED", false, &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(value_size("99999999999999999999G", true, &v), -ERANGE);
        assert_int_equal(value_size("17179869184G", true, &v), -ERANGE);
        assert_int_equal(value_size("K", true, &v), -EINVAL);
}

static void test_octal_double(void **state)
{
        unsigned u;
        double d;
        assert_int_equal(value_octal("022", 0777, &u), 0);
        assert_int_equal(u, 022);
        assert_int_equal(value_octal("777", 0777, &u), 0);
        assert_int_equal(value_octal("1000", 0777, &u), -ERANGE);
        assert_int_equal(value_octal("8", 0777, &u), -EINVAL);
        assert_int_equal(value_octal("", 0777, &u), -EINVAL);
        assert_int_equal(value_double("2.5", 0, 100, &d), 0);
        assert_true(d == 2.5);
        assert_int_equal(value_double("3", 0, 100, &d), 0);
        assert_int_equal(value_double("1e3", 0, 1e6, &d), -EINVAL);
        assert_int_equal(value_double("nan", 0, 1e6, &d), -EINVAL);
        assert_int_equal(value_double("1.2.3", 0, 1e6, &d), -EINVAL);
        assert_int_equal(value_double(".", 0, 1e6, &d), -EINVAL);
        assert_int_equal(value_double("-1", 0, 1e6, &d), -EINVAL);
}

static void test_time_range(void **state)
{
        ConfTimeRange t;
        assert_int_equal(value_time_range("08:00-17:30", &t), 0);
        assert_int_equal(t.start, 8 * 60);
        assert_int_equal(t.end, 17 * 60 + 30);
        assert_int_equal(value_time_range("22:00-02:00", &t), 0);   /* wraps: accepted */
        assert_int_equal(t.start, 22 * 60);
        assert_int_equal(t.end, 2 * 60);
        assert_int_equal(value_time_range("8:05-9:00", &t), 0);
        assert_int_equal(value_time_range("24:00-01:00", &t), -ERANGE);
        assert_int_equal(value_time_range("10:60-11:00", &t), -ERANGE);
        assert_int_equal(value_time_range("10:00", &t), -EINVAL);
        assert_int_equal(value_time_range("10:0-11:00", &t), -EINVAL);
        assert_int_equal(value_time_range("10:00-11:00x", &t), -EINVAL);
        assert_int_equal(value_time_range("-", &t), -EINVAL);
}

static void test_syslog_names(void **state)
{
        int v;
        assert_int_equal(value_facility("daemon", &v), 0);
        assert_int_equal(v, LOG_DAEMON);
        assert_int_equal(value_facility("local7", &v), 0);
        assert_int_equal(v, LOG_LOCAL7);
        assert_int_equal(value_facility("local8", &v), -EINVAL);
        assert_int_equal(value_level("warning", &v), 0);
        assert_int_equal(v, LOG_WARNING);
        assert_int_equal(value_level("loud", &v), -EINVAL);
        assert_string_equal(value_facility_name(LOG_AUTHPRIV), "authpriv");
        assert_string_equal(value_level_name(LOG_NOTICE), "notice");
}

/* --- addresses --- */

static ConfAddr *parse1(Arena *a, const char *w, size_t *n, int expect)
{
        ConfAddr *v = NULL;
        const char *err = NULL;
        int r = addr_parse(a, w, false, &v, n, &err);
        assert_int_equal(r, expect);
        if (r < 0)
                assert_non_null(err);
        return v;
}

static void check_net(const ConfAddr *x, int family, const char *addr, unsigned prefix)
{
        uint8_t want[16] = { 0 };
        assert_int_equal(x->kind, CONF_ADDR_NET);
        assert_int_equal(x->family, family);
        assert_int_equal(inet_pton(family, addr, want), 1);
        assert_memory_equal(x->addr, want, family == AF_INET ? 4 : 16);
        assert_int_equal(x->prefix, prefix);
}

static void test_addr_forms(void **state)
{
        Arena *a = arena_new();
        size_t n;
        ConfAddr *v;

        v = parse1(a, "192.168.1.7", &n, 0);
        assert_int_equal(n, 1);
        check_net(v, AF_INET, "192.168.1.7", 32);
        v = parse1(a, "10.0.0.0", &n, 0);          /* trailing .0 are wildcards */
        check_net(v, AF_INET, "10.0.0.0", 8);
        v = parse1(a, "128.138.0.0", &n, 0);
        check_net(v, AF_INET, "128.138.0.0", 16);
        v = parse1(a, "0.0.0.0", &n, 0);
        check_net(v, AF_INET, "0.0.0.0", 0);
        v = parse1(a, "10.1.2.0/23", &n, 0);       /* explicit prefix, masked */
        check_net(v, AF_INET, "10.1.2.0", 23);
        v = parse1(a, "10.1.3.9/23", &n, 0);
        check_net(v, AF_INET, "10.1.2.0", 23);
        v = parse1(a, "10.0.0.0/32", &n, 0);       /* explicit prefix wins over wildcards */
        check_net(v, AF_INET, "10.0.0.0", 32);
        v = parse1(a, "192.168.{1,2,10}", &n, 0);  /* factorized */
        assert_int_equal(n, 3);
        check_net(&v[0], AF_INET, "192.168.1.0", 24);
        check_net(&v[2], AF_INET, "192.168.10.0", 24);
        v = parse1(a, "10.1.2.{3,4}", &n, 0);
        assert_int_equal(n, 2);
        check_net(&v[1], AF_INET, "10.1.2.4", 32);
        v = parse1(a, "::1", &n, 0);
        check_net(v, AF_INET6, "::1", 128);
        v = parse1(a, "::1/128", &n, 0);
        check_net(v, AF_INET6, "::1", 128);
        v = parse1(a, "2001:db8::17/32", &n, 0);
        check_net(v, AF_INET6, "2001:db8::", 32);
        v = parse1(a, ".example.org", &n, 0);
        assert_int_equal(v->kind, CONF_ADDR_DOMAIN);
        assert_string_equal(v->text, ".example.org");
        v = parse1(a, "some-host.example", &n, 0);   /* not resolved: kept as a name */
        assert_int_equal(v->kind, CONF_ADDR_HOST);

        parse1(a, "10.0.0.1/33", &n, -EINVAL);
        parse1(a, "::1/129", &n, -EINVAL);
        parse1(a, "1.2.3.4.5", &n, -EINVAL);
        parse1(a, "256.1.1.1", &n, -EINVAL);
        parse1(a, "192.168.{1,256}", &n, -EINVAL);
        parse1(a, "192.168.{1,2", &n, -EINVAL);
        parse1(a, "192.168.{}", &n, -EINVAL);
        parse1(a, "{1,2}.3", &n, -EINVAL);
        parse1(a, "1.2.3.4.{5}", &n, -EINVAL);
        parse1(a, "1.2.3}", &n, -EINVAL);              /* found by fuzz-conf */
        parse1(a, "}", &n, -EINVAL);
        parse1(a, "1.{2}}", &n, -EINVAL);
        parse1(a, "fe80::zz", &n, -EINVAL);
        parse1(a, ".", &n, -EINVAL);
        parse1(a, "bad!name", &n, -EINVAL);
        parse1(a, "", &n, -EINVAL);
        arena_free(a);
}

static void test_addr_equal_format(void **state)
{
        Arena *a = arena_new();
        size_t n;
        char buf[128];
        ConfAddr *x = parse1(a, "10.0.0.0", &n, 0), *y = parse1(a, "10.0.0.0/8", &n, 0);
        assert_true(addr_equal(x, y));
        addr_format(x, buf, sizeof(buf));
        assert_string_equal(buf, "10.0.0.0/8");
        y = parse1(a, "10.0.0.0/9", &n, 0);
        assert_false(addr_equal(x, y));
        x = parse1(a, ".Example.org", &n, 0);
        y = parse1(a, ".example.org", &n, 0);
        assert_true(addr_equal(x, y));
        arena_free(a);
}

static void test_addr_resolve(void **state)
{
        Arena *a = arena_new();
        ConfAddr *v;
        size_t n;
        const char *err;
        /* localhost resolves from /etc/hosts without DNS */
        assert_int_equal(addr_parse(a, "localhost", true, &v, &n, &err), 0);
        assert_true(n >= 1);
        assert_int_equal(v[0].kind, CONF_ADDR_NET);
        arena_free(a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_uint),
                cmocka_unit_test(test_int),
                cmocka_unit_test(test_bool_limit),
                cmocka_unit_test(test_size),
                cmocka_unit_test(test_octal_double),
                cmocka_unit_test(test_time_range),
                cmocka_unit_test(test_syslog_names),
                cmocka_unit_test(test_addr_forms),
                cmocka_unit_test(test_addr_equal_format),
                cmocka_unit_test(test_addr_resolve),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
