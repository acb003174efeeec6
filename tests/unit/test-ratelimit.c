/* SPDX-License-Identifier: MIT */
/*
 * test-ratelimit.c — cps with xinetd's arithmetic, per_source_cps and per_source on the
 * per-source table, with synthetic CLOCK_MONOTONIC times (no sleeping): refusal, blocks and
 * their end, IPv4/v4-mapped/IPv6 /64 keys, a full table (what is evicted, what is refused),
 * and a randomized run against a model that checks no live count is ever lost.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "conf/conf.h"
#include "daemon/ratelimit.h"
#include "sockaddr-util.h"

#define SEC RATELIMIT_USEC_PER_SEC
#define MS (SEC / 1000)
#define T0 (1000 * SEC)         /* an arbitrary monotonic start, on a second boundary */

static AccessAddr key_of(const RatelimitTable *t, const char *text)
{
        struct sockaddr_storage ss = sa_of(text);
        AccessAddr k;

        assert_int_equal(ratelimit_table_key(t, (struct sockaddr *)&ss, &k), 0);
        return k;
}

static RatelimitTable *table(size_t capacity)
{
        RatelimitTable *t = NULL;

        assert_int_equal(ratelimit_table_new(capacity, RATELIMIT_V6_PREFIX_DEFAULT, &t), 0);
        return t;
}

/* --- cps --------------------------------------------------------------------------------- */

static void test_cps_no_limit(void **state)
{
        RatelimitCps c = RATELIMIT_CPS_NULL;

        for (int i = 0; i < 100000; i++)
                assert_int_equal(ratelimit_cps_hit(&c, 0, 10, T0), RATELIMIT_OK);
        assert_false(ratelimit_cps_is_off(&c, T0));
}

static void test_cps_observed(void **state)
{
        /* xinetd with "cps = 2 3": two served, the third refused, off 3 s, then served */
        RatelimitCps c = RATELIMIT_CPS_NULL;
        uint64_t t = T0 + 100 * MS;

        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, t), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, t + 8 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, t + 10 * MS), RATELIMIT_TRIPPED);
        assert_true(ratelimit_cps_is_off(&c, t + 10 * MS));
        assert_int_equal(ratelimit_cps_until(&c), t + 10 * MS + 3 * SEC);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, t + 11 * MS), RATELIMIT_OFF);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, t + 3 * SEC), RATELIMIT_OFF);
        assert_true(ratelimit_cps_is_off(&c, t + 10 * MS + 3 * SEC - 1));
        assert_false(ratelimit_cps_is_off(&c, t + 10 * MS + 3 * SEC));
        /* back: a fresh window */
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, t + 4 * SEC), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_until(&c), 0);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, t + 4 * SEC), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, t + 4 * SEC), RATELIMIT_TRIPPED);
}

static void test_cps_whole_seconds(void **state)
{
        /* xinetd counts in whole seconds of the clock: 0.999 and 1.000 are two seconds, and
         * count / max(1, elapsed) > rate trips: 2 in second 0 and 1 in second 1 is 3 / 1 */
        RatelimitCps c = RATELIMIT_CPS_NULL;

        assert_int_equal(ratelimit_cps_hit(&c, 2, 1, T0 + 998 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 1, T0 + 999 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 1, T0 + 1000 * MS), RATELIMIT_TRIPPED);

        /* the window lasts <rate> seconds: at 2 s past its start a new one opens */
        c = RATELIMIT_CPS_NULL;
        assert_int_equal(ratelimit_cps_hit(&c, 2, 1, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 1, T0 + 1), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 1, T0 + 2 * SEC), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 1, T0 + 2 * SEC + 1), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 1, T0 + 2 * SEC + 2), RATELIMIT_TRIPPED);
}

static void test_cps_average_over_window(void **state)
{
        /* cps = 50: 50 in the first second pass, the 51st trips */
        RatelimitCps c = RATELIMIT_CPS_NULL;

        for (int i = 0; i < 50; i++)
                assert_int_equal(ratelimit_cps_hit(&c, 50, 10, T0 + (uint64_t)i), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 50, 10, T0 + 50), RATELIMIT_TRIPPED);

        /* 10 in second 0, then in second 5 up to 254 in all: count / 5 > 50 in integer
         * arithmetic first at 255 */
        c = RATELIMIT_CPS_NULL;
        for (int i = 0; i < 10; i++)
                assert_int_equal(ratelimit_cps_hit(&c, 50, 10, T0), RATELIMIT_OK);
        for (int i = 10; i < 254; i++)
                assert_int_equal(ratelimit_cps_hit(&c, 50, 10, T0 + 5 * SEC), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 50, 10, T0 + 5 * SEC), RATELIMIT_TRIPPED);

        /* xinetd's arithmetic trips a steady rate equal to the limit at the first connection
         * of the second second (count 51 / 1 elapsed): observed with "cps = 2 3" and
         * connections 0.5 s apart, the third was refused */
        c = RATELIMIT_CPS_NULL;
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, T0 + 50 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, T0 + 550 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 2, 3, T0 + 1050 * MS), RATELIMIT_TRIPPED);

        /* half the limit, steadily, never trips */
        c = RATELIMIT_CPS_NULL;
        for (uint64_t s = 0; s < 200; s++)
                for (int i = 0; i < 25; i++)
                        assert_int_equal(ratelimit_cps_hit(&c, 50, 10,
                                                           T0 + s * SEC + (uint64_t)i * 20 * MS),
                                         RATELIMIT_OK);
}

static void test_cps_wait_zero_and_reset(void **state)
{
        RatelimitCps c = RATELIMIT_CPS_NULL;

        assert_int_equal(ratelimit_cps_hit(&c, 1, 0, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_cps_hit(&c, 1, 0, T0), RATELIMIT_TRIPPED);
        assert_false(ratelimit_cps_is_off(&c, T0));
        assert_int_equal(ratelimit_cps_hit(&c, 1, 0, T0), RATELIMIT_OK);

        assert_int_equal(ratelimit_cps_hit(&c, 1, 9, T0), RATELIMIT_TRIPPED);
        assert_true(ratelimit_cps_is_off(&c, T0 + SEC));
        ratelimit_cps_reset(&c);
        assert_false(ratelimit_cps_is_off(&c, T0 + SEC));
        assert_int_equal(ratelimit_cps_hit(&c, 1, 9, T0 + SEC), RATELIMIT_OK);
}

/* --- keys and table creation ------------------------------------------------------------- */

static void test_keys(void **state)
{
        RatelimitTable *t = table(8);
        AccessAddr a = key_of(t, "192.0.2.1"), b = key_of(t, "::ffff:192.0.2.1");
        AccessAddr c = key_of(t, "2001:db8:1:2::1"), d = key_of(t, "2001:db8:1:2:ffff:1:2:3");
        AccessAddr e = key_of(t, "2001:db8:1:3::1");

        assert_memory_equal(&a, &b, sizeof(a));         /* v4-mapped is IPv4 */
        assert_memory_equal(&c, &d, sizeof(c));         /* one /64 */
        assert_memory_not_equal(&c, &e, sizeof(c));
        AccessAddr f = key_of(t, "192.0.2.2");
        assert_memory_not_equal(&a, &f, sizeof(a));     /* /32 for IPv4 */
        ratelimit_table_free(t);

        struct sockaddr_storage ss = sa_of("2001:db8::1");
        struct sockaddr_storage ss2 = sa_of("2001:db8::2");
        AccessAddr k1, k2;
        assert_int_equal(ratelimit_key((struct sockaddr *)&ss, 128, &k1), 0);
        assert_int_equal(ratelimit_key((struct sockaddr *)&ss2, 128, &k2), 0);
        assert_memory_not_equal(&k1, &k2, sizeof(k1));
        assert_int_equal(ratelimit_key((struct sockaddr *)&ss, 129, &k1), -EINVAL);
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        assert_int_equal(ratelimit_key((struct sockaddr *)&un, 64, &k1), -EAFNOSUPPORT);
}

static void test_table_new(void **state)
{
        RatelimitTable *t = NULL;
        RatelimitStats st;

        assert_int_equal(ratelimit_table_new(0, 64, &t), -EINVAL);
        assert_int_equal(ratelimit_table_new(RATELIMIT_MAX_CAPACITY + 1ul, 64, &t), -EINVAL);
        assert_int_equal(ratelimit_table_new(4, 129, &t), -EINVAL);
        assert_null(t);
        assert_int_equal(ratelimit_table_new(1, 64, &t), 0);
        ratelimit_table_stats(t, &st);
        assert_int_equal(st.capacity, 1);
        assert_int_equal(st.used, 0);
        assert_null(ratelimit_table_free(t));
        assert_null(ratelimit_table_free(NULL));
}

/* --- per_source -------------------------------------------------------------------------- */

static void test_per_source_limit(void **state)
{
        RatelimitTable *t = table(16);
        AccessAddr a = key_of(t, "10.0.0.1"), b = key_of(t, "10.0.0.2");
        AccessAddr m = key_of(t, "::ffff:10.0.0.1");

        assert_int_equal(ratelimit_source_acquire(t, &a, 2, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_acquire(t, &m, 2, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_acquire(t, &a, 2, T0), RATELIMIT_OVER);
        assert_int_equal(ratelimit_source_active(t, &a), 2);
        assert_int_equal(ratelimit_source_acquire(t, &b, 2, T0), RATELIMIT_OK);   /* another */
        ratelimit_source_release(t, &a, T0 + SEC);
        assert_int_equal(ratelimit_source_active(t, &a), 1);
        assert_int_equal(ratelimit_source_acquire(t, &a, 2, T0 + SEC), RATELIMIT_OK);
        /* a lowered limit (reload) applies to the slots already held */
        assert_int_equal(ratelimit_source_acquire(t, &b, 1, T0 + SEC), RATELIMIT_OVER);
        ratelimit_source_release(t, &a, T0);
        ratelimit_source_release(t, &a, T0);
        ratelimit_source_release(t, &a, T0);            /* one too many: ignored */
        assert_int_equal(ratelimit_source_active(t, &a), 0);
        AccessAddr z = key_of(t, "10.9.9.9");
        ratelimit_source_release(t, &z, T0);            /* never seen: ignored */
        assert_int_equal(ratelimit_source_active(t, &z), 0);

        RatelimitStats st;
        ratelimit_table_stats(t, &st);
        assert_int_equal(st.live, 1);                   /* b */
        ratelimit_table_free(t);
}

static void test_per_source_zero_and_unlimited(void **state)
{
        RatelimitTable *t = table(4);
        AccessAddr a = key_of(t, "10.0.0.1");

        assert_int_equal(ratelimit_source_acquire(t, &a, 0, T0), RATELIMIT_OVER);
        for (int i = 0; i < 1000; i++)
                assert_int_equal(ratelimit_source_acquire(t, &a, CONF_UNLIMITED, T0),
                                 RATELIMIT_OK);
        assert_int_equal(ratelimit_source_active(t, &a), 1000);
        ratelimit_table_free(t);
}

static void test_per_source_ipv6_prefix(void **state)
{
        RatelimitTable *t = table(4);
        AccessAddr a = key_of(t, "2001:db8:0:1::10"), b = key_of(t, "2001:db8:0:1:8000::11");
        AccessAddr c = key_of(t, "2001:db8:0:2::10");

        assert_int_equal(ratelimit_source_acquire(t, &a, 1, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_acquire(t, &b, 1, T0), RATELIMIT_OVER);
        assert_int_equal(ratelimit_source_acquire(t, &c, 1, T0), RATELIMIT_OK);
        ratelimit_table_free(t);
}

/* --- per_source_cps ---------------------------------------------------------------------- */

static void test_source_rate(void **state)
{
        RatelimitTable *t = table(16);
        AccessAddr a = key_of(t, "10.0.0.1"), b = key_of(t, "10.0.0.2");

        for (int i = 0; i < 3; i++)
                assert_int_equal(ratelimit_source_rate(t, &a, 3, 10 * SEC, T0 + (uint64_t)i * MS),
                                 RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &a, 3, 10 * SEC, T0 + 500 * MS),
                         RATELIMIT_TRIPPED);
        assert_true(ratelimit_source_is_blocked(t, &a, T0 + 500 * MS));
        /* other sources are not concerned */
        assert_int_equal(ratelimit_source_rate(t, &b, 3, 10 * SEC, T0 + 600 * MS), RATELIMIT_OK);
        /* blocked for 10 s from the trip; refused attempts do not extend it */
        assert_int_equal(ratelimit_source_rate(t, &a, 3, 10 * SEC, T0 + 2 * SEC),
                         RATELIMIT_BLOCKED);
        assert_int_equal(ratelimit_source_rate(t, &a, 3, 10 * SEC, T0 + 10 * SEC + 499 * MS),
                         RATELIMIT_BLOCKED);
        assert_false(ratelimit_source_is_blocked(t, &a, T0 + 10 * SEC + 500 * MS));
        assert_int_equal(ratelimit_source_rate(t, &a, 3, 10 * SEC, T0 + 10 * SEC + 500 * MS),
                         RATELIMIT_OK);
        ratelimit_table_free(t);
}

static void test_source_rate_window(void **state)
{
        RatelimitTable *t = table(4);
        AccessAddr a = key_of(t, "10.0.0.1");

        /* a one-second window opened by the first connection */
        assert_int_equal(ratelimit_source_rate(t, &a, 2, SEC, T0 + 300 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &a, 2, SEC, T0 + 1299 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &a, 2, SEC, T0 + 1300 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &a, 2, SEC, T0 + 1400 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &a, 2, SEC, T0 + 2299 * MS),
                         RATELIMIT_TRIPPED);
        /* rate 0: no limit, nothing recorded */
        AccessAddr b = key_of(t, "10.0.0.2");
        for (int i = 0; i < 100; i++)
                assert_int_equal(ratelimit_source_rate(t, &b, 0, SEC, T0), RATELIMIT_OK);
        RatelimitStats st;
        ratelimit_table_stats(t, &st);
        assert_int_equal(st.used, 1);
        ratelimit_table_free(t);
}

static void test_source_rate_ipv6_grouping(void **state)
{
        RatelimitTable *t = table(8);

        /* one client hopping addresses inside its /64 is one source */
        AccessAddr k1 = key_of(t, "2001:db8:5:6::1"), k2 = key_of(t, "2001:db8:5:6::2");
        AccessAddr k3 = key_of(t, "2001:db8:5:6:abcd::3"), k4 = key_of(t, "2001:db8:5:7::1");

        assert_int_equal(ratelimit_source_rate(t, &k1, 2, 5 * SEC, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &k2, 2, 5 * SEC, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &k3, 2, 5 * SEC, T0), RATELIMIT_TRIPPED);
        assert_int_equal(ratelimit_source_rate(t, &k1, 2, 5 * SEC, T0 + SEC), RATELIMIT_BLOCKED);
        assert_int_equal(ratelimit_source_rate(t, &k4, 2, 5 * SEC, T0 + SEC), RATELIMIT_OK);
        ratelimit_table_free(t);

        /* with /128, each address is a source */
        assert_int_equal(ratelimit_table_new(8, 128, &t), 0);
        k1 = key_of(t, "2001:db8:5:6::1");
        k2 = key_of(t, "2001:db8:5:6::2");
        assert_int_equal(ratelimit_source_rate(t, &k1, 1, 5 * SEC, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &k2, 1, 5 * SEC, T0), RATELIMIT_OK);
        ratelimit_table_free(t);
}

/* --- a full table ------------------------------------------------------------------------ */

static void test_full_refuses_new_sources_keeps_live(void **state)
{
        RatelimitTable *t = table(4);
        AccessAddr k[6];
        char text[32];
        RatelimitStats st;

        for (int i = 0; i < 6; i++) {
                snprintf(text, sizeof(text), "10.0.0.%d", i + 1);
                k[i] = key_of(t, text);
        }
        for (int i = 0; i < 4; i++)
                assert_int_equal(ratelimit_source_acquire(t, &k[i], 5, T0), RATELIMIT_OK);
        /* every entry live: a new source is refused, by both operations */
        assert_int_equal(ratelimit_source_acquire(t, &k[4], 5, T0), RATELIMIT_FULL);
        assert_int_equal(ratelimit_source_rate(t, &k[4], 5, SEC, T0), RATELIMIT_FULL);
        /* known sources still work */
        assert_int_equal(ratelimit_source_acquire(t, &k[0], 5, T0), RATELIMIT_OK);
        ratelimit_table_stats(t, &st);
        assert_int_equal(st.used, 4);
        assert_int_equal(st.live, 4);
        assert_int_equal(st.full, 2);
        assert_int_equal(st.evicted, 0);

        /* one source ends its connections: its entry is idle and can be reused */
        ratelimit_source_release(t, &k[2], T0 + SEC);
        assert_int_equal(ratelimit_source_acquire(t, &k[4], 5, T0 + SEC), RATELIMIT_OK);
        ratelimit_table_stats(t, &st);
        assert_int_equal(st.evicted, 1);
        assert_int_equal(ratelimit_source_active(t, &k[2]), 0);
        for (int i = 0; i < 5; i++)
                if (i != 2)
                        assert_true(ratelimit_source_active(t, &k[i]) >= 1);
        assert_int_equal(ratelimit_source_active(t, &k[0]), 2);
        assert_int_equal(ratelimit_source_acquire(t, &k[5], 5, T0 + SEC), RATELIMIT_FULL);
        ratelimit_table_free(t);
}

static void test_full_keeps_blocks(void **state)
{
        RatelimitTable *t = table(2);
        AccessAddr a = key_of(t, "10.0.0.1"), b = key_of(t, "10.0.0.2"), c = key_of(t, "10.0.0.3");

        assert_int_equal(ratelimit_source_rate(t, &a, 1, 10 * SEC, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &a, 1, 10 * SEC, T0), RATELIMIT_TRIPPED);
        assert_int_equal(ratelimit_source_rate(t, &b, 1, 20 * SEC, T0 + SEC), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &b, 1, 20 * SEC, T0 + SEC), RATELIMIT_TRIPPED);
        /* both blocked: a new source gets no entry, the blocks are not cut short */
        assert_int_equal(ratelimit_source_rate(t, &c, 1, SEC, T0 + 2 * SEC), RATELIMIT_FULL);
        assert_int_equal(ratelimit_source_acquire(t, &c, 1, T0 + 9 * SEC), RATELIMIT_FULL);
        assert_int_equal(ratelimit_source_rate(t, &a, 1, 10 * SEC, T0 + 9 * SEC),
                         RATELIMIT_BLOCKED);
        /* a's block is over at T0 + 10 s: its entry is reused for c */
        assert_int_equal(ratelimit_source_rate(t, &c, 1, SEC, T0 + 10 * SEC), RATELIMIT_OK);
        assert_true(ratelimit_source_is_blocked(t, &b, T0 + 10 * SEC));
        assert_false(ratelimit_source_is_blocked(t, &a, T0 + 10 * SEC));
        ratelimit_table_free(t);
}

static void test_full_evicts_least_recently_used_idle(void **state)
{
        RatelimitTable *t = table(3);
        AccessAddr a = key_of(t, "10.0.0.1"), b = key_of(t, "10.0.0.2");
        AccessAddr c = key_of(t, "10.0.0.3"), d = key_of(t, "10.0.0.4");

        assert_int_equal(ratelimit_source_rate(t, &a, 2, SEC, T0), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &b, 2, SEC, T0 + 1 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &c, 2, SEC, T0 + 2 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &a, 2, SEC, T0 + 3 * MS), RATELIMIT_OK);
        /* d takes b's entry (least recently used): b's count is lost, a's is kept */
        assert_int_equal(ratelimit_source_rate(t, &d, 2, SEC, T0 + 4 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &a, 2, SEC, T0 + 5 * MS), RATELIMIT_TRIPPED);
        assert_int_equal(ratelimit_source_rate(t, &b, 2, SEC, T0 + 6 * MS), RATELIMIT_OK);
        assert_int_equal(ratelimit_source_rate(t, &b, 2, SEC, T0 + 7 * MS), RATELIMIT_OK);
        RatelimitStats st;
        ratelimit_table_stats(t, &st);
        assert_int_equal(st.evicted, 2);                /* b, then c for b again */
        assert_int_equal(st.full, 0);
        ratelimit_table_free(t);
}

/* Random operations on many sources: live counts never lost, the table never over capacity,
 * lookups right after many backward-shift deletions. */
static void test_random_against_model(void **state)
{
        enum { CAP = 256, LIVE_SOURCES = 200, RATE_SOURCES = 5000, STEPS = 300000 };
        RatelimitTable *t = table(CAP);
        static uint32_t model[LIVE_SOURCES];
        uint64_t now = T0;
        uint32_t seed = 12345;
        RatelimitStats st;

        memset(model, 0, sizeof(model));
        for (int step = 0; step < STEPS; step++) {
                seed = seed * 1103515245u + 12345u;
                uint32_t r = seed >> 8;
                AccessAddr k;
                char text[64];

                now += r % 3 * MS;
                if (r % 4 == 0) {
                        uint32_t i = (r >> 4) % LIVE_SOURCES;

                        snprintf(text, sizeof(text), "2001:db8:%x::1", i);
                        k = key_of(t, text);
                        if ((r >> 12) % 2 == 0) {
                                int x = ratelimit_source_acquire(t, &k, 8, now);

                                if (x == RATELIMIT_FULL) {
                                        /* only a new source, and only when no entry is free */
                                        ratelimit_table_stats(t, &st);
                                        assert_int_equal(model[i], 0);
                                        assert_int_equal(st.used, CAP);
                                } else if (model[i] < 8)
                                        assert_int_equal(x, RATELIMIT_OK);
                                else
                                        assert_int_equal(x, RATELIMIT_OVER);
                                if (x == RATELIMIT_OK)
                                        model[i]++;
                        } else {
                                ratelimit_source_release(t, &k, now);
                                if (model[i] > 0)
                                        model[i]--;
                        }
                        assert_int_equal(ratelimit_source_active(t, &k), model[i]);
                } else {
                        uint32_t i = (r >> 4) % RATE_SOURCES;

                        snprintf(text, sizeof(text), "10.%u.%u.%u", i >> 16, (i >> 8) & 255,
                                 i & 255);
                        k = key_of(t, text);
                        int x = ratelimit_source_rate(t, &k, 3, 50 * MS, now);
                        assert_true(x == RATELIMIT_OK || x == RATELIMIT_TRIPPED ||
                                    x == RATELIMIT_BLOCKED || x == RATELIMIT_FULL);
                }
                if (step % 10007 == 0) {
                        for (uint32_t i = 0; i < LIVE_SOURCES; i++) {
                                snprintf(text, sizeof(text), "2001:db8:%x::99", i);
                                k = key_of(t, text);
                                assert_int_equal(ratelimit_source_active(t, &k), model[i]);
                        }
                }
                ratelimit_table_stats(t, &st);
                assert_true(st.used <= CAP);
        }
        ratelimit_table_stats(t, &st);
        assert_true(st.evicted > 0);
        size_t live = 0;
        for (uint32_t i = 0; i < LIVE_SOURCES; i++)
                live += model[i] > 0;
        assert_int_equal(st.live, live);
        ratelimit_table_free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cps_no_limit),
                cmocka_unit_test(test_cps_observed),
                cmocka_unit_test(test_cps_whole_seconds),
                cmocka_unit_test(test_cps_average_over_window),
                cmocka_unit_test(test_cps_wait_zero_and_reset),
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_table_new),
                cmocka_unit_test(test_per_source_limit),
                cmocka_unit_test(test_per_source_zero_and_unlimited),
                cmocka_unit_test(test_per_source_ipv6_prefix),
                cmocka_unit_test(test_source_rate),
                cmocka_unit_test(test_source_rate_window),
                cmocka_unit_test(test_source_rate_ipv6_grouping),
                cmocka_unit_test(test_full_refuses_new_sources_keeps_live),
                cmocka_unit_test(test_full_keeps_blocks),
                cmocka_unit_test(test_full_evicts_least_recently_used_idle),
                cmocka_unit_test(test_random_against_model),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
