/* SPDX-License-Identifier: MIT */
/*
 * test-timewin.c — access_times: inclusive ends, several ranges, ranges wrapping past
 * midnight, one-minute ranges, the whole day, struct tm input, and ranges as the parser
 * builds them from "hh:mm-hh:mm" words.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "daemon/timewin.h"

#define HM(h, m) ((unsigned)((h) * 60 + (m)))

static void test_no_ranges_no_restriction(void **state)
{
        assert_true(timewin_contains(NULL, 0, 0));
        assert_true(timewin_contains(NULL, 0, HM(23, 59)));
        assert_int_equal(timewin_minutes_to_change(NULL, 0, 5), 0);
}

static void test_inclusive_ends(void **state)
{
        ConfTimeRange r[] = { { HM(9, 0), HM(17, 0) } };

        assert_false(timewin_contains(r, 1, HM(8, 59)));
        assert_true(timewin_contains(r, 1, HM(9, 0)));
        assert_true(timewin_contains(r, 1, HM(12, 30)));
        assert_true(timewin_contains(r, 1, HM(17, 0)));
        assert_false(timewin_contains(r, 1, HM(17, 1)));
        assert_false(timewin_contains(r, 1, 0));
        assert_false(timewin_contains(r, 1, HM(23, 59)));
}

static void test_several_ranges(void **state)
{
        ConfTimeRange r[] = { { HM(8, 0), HM(9, 0) }, { HM(12, 0), HM(12, 0) },
                              { HM(20, 15), HM(21, 45) } };

        assert_true(timewin_contains(r, 3, HM(8, 30)));
        assert_false(timewin_contains(r, 3, HM(11, 59)));
        assert_true(timewin_contains(r, 3, HM(12, 0)));        /* a one-minute range */
        assert_false(timewin_contains(r, 3, HM(12, 1)));
        assert_true(timewin_contains(r, 3, HM(20, 15)));
        assert_true(timewin_contains(r, 3, HM(21, 45)));
        assert_false(timewin_contains(r, 3, HM(21, 46)));
}

static void test_wrap_past_midnight(void **state)
{
        ConfTimeRange r[] = { { HM(22, 0), HM(2, 0) } };

        assert_false(timewin_contains(r, 1, HM(21, 59)));
        assert_true(timewin_contains(r, 1, HM(22, 0)));
        assert_true(timewin_contains(r, 1, HM(23, 59)));
        assert_true(timewin_contains(r, 1, 0));
        assert_true(timewin_contains(r, 1, HM(1, 30)));
        assert_true(timewin_contains(r, 1, HM(2, 0)));
        assert_false(timewin_contains(r, 1, HM(2, 1)));
        assert_false(timewin_contains(r, 1, HM(12, 0)));
}

static void test_whole_day_and_edges(void **state)
{
        ConfTimeRange all[] = { { 0, HM(23, 59) } };
        ConfTimeRange midnight[] = { { 0, 0 } };
        ConfTimeRange last[] = { { HM(23, 59), HM(23, 59) } };
        ConfTimeRange almost[] = { { HM(0, 1), 0 } };       /* wraps: all day */

        for (unsigned m = 0; m < TIMEWIN_MINUTES_PER_DAY; m++) {
                assert_true(timewin_contains(all, 1, m));
                assert_true(timewin_contains(almost, 1, m));
                assert_true(timewin_contains(midnight, 1, m) == (m == 0));
                assert_true(timewin_contains(last, 1, m) == (m == HM(23, 59)));
        }
        /* minutes past a day are taken modulo a day */
        assert_true(timewin_contains(midnight, 1, TIMEWIN_MINUTES_PER_DAY));
}

static void test_struct_tm(void **state)
{
        ConfTimeRange r[] = { { HM(9, 0), HM(17, 0) } };
        struct tm tm;

        memset(&tm, 0, sizeof(tm));
        tm.tm_hour = 17;
        tm.tm_min = 0;
        tm.tm_sec = 59;                                 /* seconds are ignored */
        assert_true(timewin_contains_tm(r, 1, &tm));
        tm.tm_min = 1;
        tm.tm_sec = 0;
        assert_false(timewin_contains_tm(r, 1, &tm));
        tm.tm_hour = 8;
        tm.tm_min = 59;
        tm.tm_sec = 59;
        assert_false(timewin_contains_tm(r, 1, &tm));
}

static void test_minutes_to_change(void **state)
{
        ConfTimeRange r[] = { { HM(9, 0), HM(17, 0) } };
        ConfTimeRange w[] = { { HM(22, 0), HM(2, 0) } };
        ConfTimeRange all[] = { { 0, HM(23, 59) } };

        assert_int_equal(timewin_minutes_to_change(r, 1, HM(8, 0)), 60);    /* opens 9:00 */
        assert_int_equal(timewin_minutes_to_change(r, 1, HM(9, 0)), HM(8, 1)); /* shut 17:01 */
        assert_int_equal(timewin_minutes_to_change(r, 1, HM(17, 0)), 1);
        assert_int_equal(timewin_minutes_to_change(r, 1, HM(17, 1)), HM(15, 59));
        assert_int_equal(timewin_minutes_to_change(w, 1, HM(23, 0)), HM(3, 1));
        assert_int_equal(timewin_minutes_to_change(all, 1, HM(3, 0)), 0);
}

static void test_parser_ranges(void **state)
{
        const char *text = "service echo\n{\n type = INTERNAL\n socket_type = stream\n"
                           " wait = no\n access_times = 08:00-08:30 23:30-00:15\n}\n";
        ConfLoadOptions o = { .path = "t.conf", .buffer = text, .buffer_size = strlen(text),
                              .flags = CONF_LOAD_NO_RESOLVE | CONF_LOAD_NO_INCLUDE };
        ConfDiag d = CONF_DIAG_NULL;
        Config *c;

        assert_int_equal(conf_load(&o, &c, &d), 0);
        const ConfService *s = config_find(c, "echo");
        assert_non_null(s);
        if (s->state != CONF_SERVICE_ACTIVE) {
                /* the parser may refuse wrapping ranges as xinetd does */
                conf_diag_print(&d, stderr);
        } else {
                assert_int_equal(s->n_access_times, 2);
                assert_true(timewin_contains(s->access_times, 2, HM(8, 0)));
                assert_true(timewin_contains(s->access_times, 2, HM(8, 30)));
                assert_false(timewin_contains(s->access_times, 2, HM(8, 31)));
                assert_true(timewin_contains(s->access_times, 2, HM(23, 45)));
                assert_true(timewin_contains(s->access_times, 2, HM(0, 15)));
                assert_false(timewin_contains(s->access_times, 2, HM(0, 16)));
        }
        config_free(c);
        conf_diag_deinit(&d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_ranges_no_restriction),
                cmocka_unit_test(test_inclusive_ends),
                cmocka_unit_test(test_several_ranges),
                cmocka_unit_test(test_wrap_past_midnight),
                cmocka_unit_test(test_whole_day_and_edges),
                cmocka_unit_test(test_struct_tm),
                cmocka_unit_test(test_minutes_to_change),
                cmocka_unit_test(test_parser_ranges),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
