/* SPDX-License-Identifier: MIT */
/*
 * test-sensor.c — the SENSOR deny list with synthetic time: NEVER, minutes, FOREVER, a hit
 * again (expiry only moves later), exact expiry, v4-mapped clients, IPv6 prefixes, the bound
 * (10240 as xinetd) and what happens when full, sensor_expire() after many deletions.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "conf/conf.h"
#include "daemon/sensor.h"
#include "sockaddr-util.h"

#define SEC 1000000ull
#define MIN (60 * SEC)
#define T0 (5000 * SEC)

static int add(SensorList *l, const char *text, uint64_t duration, uint64_t now)
{
        struct sockaddr_storage ss = sa_of(text);

        return sensor_add(l, (struct sockaddr *)&ss, duration, now);
}

static bool listed(const SensorList *l, const char *text, uint64_t now)
{
        struct sockaddr_storage ss = sa_of(text);

        return sensor_check(l, (struct sockaddr *)&ss, now);
}

static SensorList *list(size_t capacity, unsigned prefix)
{
        SensorList *l = NULL;

        assert_int_equal(sensor_list_new(capacity, prefix, &l), 0);
        return l;
}

static void test_new_and_durations(void **state)
{
        SensorList *l = NULL;

        assert_int_equal(sensor_list_new(0, 128, &l), -EINVAL);
        assert_int_equal(sensor_list_new(SENSOR_MAX_CAPACITY + 1ul, 128, &l), -EINVAL);
        assert_int_equal(sensor_list_new(10, 129, &l), -EINVAL);
        assert_null(l);
        assert_null(sensor_list_free(NULL));
        assert_false(sensor_check(NULL, NULL, T0));
        assert_int_equal(sensor_count(NULL), 0);

        assert_int_equal(sensor_duration(0, MIN), 0);                   /* NEVER */
        assert_true(sensor_duration(CONF_DENY_FOREVER, MIN) == SENSOR_FOREVER);
        assert_true(sensor_duration(1, MIN) == MIN);
        assert_true(sensor_duration(60, MIN) == 60 * MIN);
        assert_true(sensor_duration(5, SEC) == 5 * SEC);                /* seconds, for tests */
        assert_true(sensor_duration(INT32_MAX, UINT64_MAX / 2) == SENSOR_FOREVER);
}

static void test_add_check_expire(void **state)
{
        SensorList *l = list(SENSOR_CAPACITY_DEFAULT, 128);

        assert_false(listed(l, "127.0.0.5", T0));
        assert_int_equal(add(l, "127.0.0.5", 1 * MIN, T0), SENSOR_ADDED);
        assert_true(listed(l, "127.0.0.5", T0));
        assert_true(listed(l, "::ffff:127.0.0.5", T0));         /* v4-mapped: the same */
        assert_false(listed(l, "127.0.0.6", T0));
        assert_true(listed(l, "127.0.0.5", T0 + MIN - 1));
        assert_false(listed(l, "127.0.0.5", T0 + MIN));         /* exact expiry */
        assert_int_equal(sensor_count(l), 1);                   /* until removed */
        assert_true(sensor_next_expiry(l) == T0 + MIN);
        assert_int_equal(sensor_expire(l, T0 + MIN - 1), 0);
        assert_int_equal(sensor_expire(l, T0 + MIN), 1);
        assert_int_equal(sensor_count(l), 0);
        assert_true(sensor_next_expiry(l) == UINT64_MAX);
        sensor_list_free(l);
}

static void test_never_and_forever(void **state)
{
        SensorList *l = list(16, 128);
        struct sockaddr_un un = { .sun_family = AF_UNIX };

        assert_int_equal(add(l, "10.0.0.1", 0, T0), SENSOR_NEVER);
        assert_false(listed(l, "10.0.0.1", T0));
        assert_int_equal(sensor_count(l), 0);

        assert_int_equal(add(l, "10.0.0.2", SENSOR_FOREVER, T0), SENSOR_ADDED);
        assert_true(listed(l, "10.0.0.2", UINT64_MAX - 1));
        assert_int_equal(sensor_expire(l, UINT64_MAX - 1), 0);
        assert_true(sensor_next_expiry(l) == UINT64_MAX);
        /* a FOREVER entry stays FOREVER when hit with a shorter time */
        assert_int_equal(add(l, "10.0.0.2", MIN, T0 + SEC), SENSOR_KEPT);
        assert_true(listed(l, "10.0.0.2", T0 + 100 * MIN));

        assert_int_equal(sensor_add(l, (struct sockaddr *)&un, MIN, T0), -EAFNOSUPPORT);
        assert_false(sensor_check(l, (struct sockaddr *)&un, T0));
        sensor_list_free(l);
}

static void test_hit_again_extends(void **state)
{
        SensorList *l = list(16, 128);

        assert_int_equal(add(l, "10.0.0.1", 10 * MIN, T0), SENSOR_ADDED);
        /* later expiry: moved */
        assert_int_equal(add(l, "10.0.0.1", 10 * MIN, T0 + 5 * MIN), SENSOR_KEPT);
        assert_true(listed(l, "10.0.0.1", T0 + 14 * MIN));
        assert_false(listed(l, "10.0.0.1", T0 + 15 * MIN));
        /* earlier expiry (a shorter deny_time of another sensor): not moved back */
        assert_int_equal(add(l, "10.0.0.1", 1 * MIN, T0 + 6 * MIN), SENSOR_KEPT);
        assert_true(listed(l, "10.0.0.1", T0 + 14 * MIN));
        /* hit after expiry, before removal: listed anew (and logged again) */
        assert_int_equal(add(l, "10.0.0.1", 1 * MIN, T0 + 20 * MIN), SENSOR_ADDED);
        assert_true(listed(l, "10.0.0.1", T0 + 20 * MIN + 59 * SEC));
        assert_int_equal(sensor_count(l), 1);
        sensor_list_free(l);
}

static void test_ipv6_prefix(void **state)
{
        SensorList *l = list(16, 128);

        assert_int_equal(add(l, "2001:db8::1", MIN, T0), SENSOR_ADDED);
        assert_true(listed(l, "2001:db8::1", T0));
        assert_false(listed(l, "2001:db8::2", T0));             /* the address, as xinetd */
        sensor_list_free(l);

        l = list(16, 64);
        assert_int_equal(add(l, "2001:db8::1", MIN, T0), SENSOR_ADDED);
        assert_true(listed(l, "2001:db8::ffff:2", T0));         /* the whole /64 */
        assert_false(listed(l, "2001:db8:0:1::1", T0));
        assert_int_equal(add(l, "2001:db8::77", MIN, T0), SENSOR_KEPT);
        assert_int_equal(add(l, "10.1.1.1", MIN, T0), SENSOR_ADDED);   /* IPv4 whole */
        assert_false(listed(l, "10.1.1.2", T0));
        sensor_list_free(l);
}

static void test_bound_xinetd(void **state)
{
        /* 10240 addresses, then "Maximum global_no_access count reached." */
        SensorList *l = list(SENSOR_CAPACITY_DEFAULT, 128);
        char text[32];

        for (unsigned i = 0; i < SENSOR_CAPACITY_DEFAULT; i++) {
                snprintf(text, sizeof(text), "127.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
                assert_int_equal(add(l, text, MIN + i * SEC / 100, T0), SENSOR_ADDED);
        }
        assert_int_equal(sensor_count(l), SENSOR_CAPACITY_DEFAULT);
        assert_int_equal(add(l, "10.0.0.1", MIN, T0), SENSOR_FULL);
        assert_false(listed(l, "10.0.0.1", T0));
        /* known addresses are still extended when full */
        assert_int_equal(add(l, "127.0.0.0", 10 * MIN, T0), SENSOR_KEPT);
        for (unsigned i = 0; i < SENSOR_CAPACITY_DEFAULT; i += 97) {
                snprintf(text, sizeof(text), "127.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
                assert_true(listed(l, text, T0 + MIN - 1));
        }
        /* once some have expired, a new address takes their place (they are removed first) */
        assert_int_equal(add(l, "10.0.0.1", MIN, T0 + MIN + 5 * SEC), SENSOR_ADDED);
        assert_true(listed(l, "10.0.0.1", T0 + MIN + 5 * SEC));
        assert_true(sensor_count(l) < SENSOR_CAPACITY_DEFAULT);
        /* entries not expired are all still there, and findable after the deletions */
        for (unsigned i = 0; i < SENSOR_CAPACITY_DEFAULT; i++) {
                uint64_t exp = T0 + MIN + i * SEC / 100;

                if (i == 0)
                        exp = T0 + 10 * MIN;
                snprintf(text, sizeof(text), "127.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
                assert_true(listed(l, text, T0 + MIN + 5 * SEC) == (exp > T0 + MIN + 5 * SEC));
        }
        sensor_list_free(l);
}

static void test_expire_many(void **state)
{
        SensorList *l = list(1000, 128);
        char text[32];
        size_t removed = 0;

        for (unsigned i = 0; i < 1000; i++) {
                snprintf(text, sizeof(text), "10.0.%u.%u", i >> 8, i & 255);
                assert_int_equal(add(l, text, (1 + i % 10) * SEC, T0), SENSOR_ADDED);
        }
        for (unsigned s = 1; s <= 10; s++) {
                size_t n = sensor_expire(l, T0 + s * SEC);

                assert_int_equal(n, 100);
                removed += n;
                assert_int_equal(sensor_count(l), 1000 - removed);
                if (s < 10)
                        assert_true(sensor_next_expiry(l) == T0 + (s + 1) * SEC);
                for (unsigned i = 0; i < 1000; i++) {
                        snprintf(text, sizeof(text), "10.0.%u.%u", i >> 8, i & 255);
                        assert_true(listed(l, text, T0 + s * SEC) == (1 + i % 10 > s));
                }
        }
        assert_int_equal(sensor_count(l), 0);
        sensor_list_free(l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_new_and_durations),
                cmocka_unit_test(test_add_check_expire),
                cmocka_unit_test(test_never_and_forever),
                cmocka_unit_test(test_hit_again_extends),
                cmocka_unit_test(test_ipv6_prefix),
                cmocka_unit_test(test_bound_xinetd),
                cmocka_unit_test(test_expire_many),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
