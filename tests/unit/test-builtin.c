/* SPDX-License-Identifier: MIT */
/*
 * test-builtin.c — the pure parts of the built-ins and of tcpmux: chargen's RFC 864 stream at
 * any offset, the daytime and time answers, the UDP source-port rule, and the TCPMUX name
 * line parser (CR handling, control characters, bounds).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/builtin.h"
#include "daemon/tcpmux.h"

#define LINE 74

static void test_chargen_first_lines(void **state)
{
        char buf[2 * LINE];

        builtin_chargen_fill(buf, sizeof(buf), 0);
        assert_memory_equal(buf, "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            "[\\]^_`abcdefgh\r\n", LINE);
        assert_int_equal(buf[LINE], '"');
        assert_int_equal(buf[LINE + 71], 'i');
        assert_memory_equal(buf + 2 * LINE - 2, "\r\n", 2);
}

static void test_chargen_rotation_and_offsets(void **state)
{
        enum { LINES = 200 };
        char *whole = malloc(LINES * LINE), part[333];

        assert_non_null(whole);
        builtin_chargen_fill(whole, LINES * LINE, 0);
        for (int l = 0; l < LINES; l++) {
                const char *p = whole + l * LINE;

                /* each line starts one character further, over the 95 printable ones */
                assert_int_equal(p[0], ' ' + (l + 1) % 95);
                for (int i = 0; i < 72; i++)
                        assert_true(p[i] >= ' ' && p[i] <= '~');
                assert_memory_equal(p + 72, "\r\n", 2);
        }
        /* any offset continues the same stream */
        for (size_t off = 0; off + sizeof(part) <= LINES * LINE; off += 97) {
                builtin_chargen_fill(part, sizeof(part), off);
                assert_memory_equal(part, whole + off, sizeof(part));
        }
        free(whole);
}

static void test_daytime_form(void **state)
{
        char buf[64];
        size_t n;

        setenv("TZ", "UTC", 1);
        tzset();
        n = builtin_daytime(buf, sizeof(buf), 1795330982);      /* 2026-11-22 07:03:02 UTC */
        assert_string_equal(buf, "22 NOV 2026 07:03:02 UTC\r\n");
        assert_int_equal(n, strlen(buf));
        n = builtin_daytime(buf, sizeof(buf), 0);
        assert_string_equal(buf, "01 JAN 1970 00:00:00 UTC\r\n");
        /* a short buffer is cut, still terminated */
        n = builtin_daytime(buf, 8, 0);
        assert_int_equal(n, 7);
        assert_string_equal(buf, "01 JAN ");
}

static void test_time_answer(void **state)
{
        unsigned char b[4];

        builtin_time(b, 0);
        assert_int_equal(((uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]), 2208988800u);
        builtin_time(b, 1795330982);
        assert_int_equal(((uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]),
                         (uint32_t)(1795330982u + 2208988800u));
        assert_memory_equal(b, "\xee\xad\x12\x26", 4);          /* as xinetd answered */
}

static void test_udp_source_ports(void **state)
{
        static const unsigned refused[] = { 0, 1, 7, 9, 13, 19, 37, 53, 123, 1023 };
        static const unsigned answered[] = { 1024, 1025, 4000, 40000, 65535 };

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
                assert_true(builtin_udp_source_refused((uint16_t)refused[i]));
        for (size_t i = 0; i < sizeof(answered) / sizeof(answered[0]); i++)
                assert_false(builtin_udp_source_refused((uint16_t)answered[i]));
}

static void test_tcpmux_names(void **state)
{
        char name[TCPMUX_NAME_MAX + 1], line[TCPMUX_LINE_MAX + 8];

        assert_int_equal(tcpmux_parse_name("echo\r", 5, name, sizeof(name)), 0);
        assert_string_equal(name, "echo");
        assert_int_equal(tcpmux_parse_name("Help", 4, name, sizeof(name)), 0);
        assert_string_equal(name, "Help");
        assert_int_equal(tcpmux_parse_name("\r", 1, name, sizeof(name)), TCPMUX_E_EMPTY);
        assert_int_equal(tcpmux_parse_name("", 0, name, sizeof(name)), TCPMUX_E_EMPTY);
        assert_int_equal(tcpmux_parse_name("a b", 3, name, sizeof(name)), TCPMUX_E_BADCHAR);
        assert_int_equal(tcpmux_parse_name("a\x1b[2J", 5, name, sizeof(name)), TCPMUX_E_BADCHAR);
        assert_int_equal(tcpmux_parse_name("a\rb", 3, name, sizeof(name)), TCPMUX_E_BADCHAR);
        assert_int_equal(tcpmux_parse_name("a\0b", 3, name, sizeof(name)), TCPMUX_E_BADCHAR);
        assert_int_equal(tcpmux_parse_name("caf\xc3\xa9", 5, name, sizeof(name)),
                         TCPMUX_E_BADCHAR);
        assert_int_equal(tcpmux_parse_name("x\x7f", 2, name, sizeof(name)), TCPMUX_E_BADCHAR);
        /* the bound: TCPMUX_NAME_MAX characters pass, one more does not */
        memset(line, 'n', sizeof(line));
        assert_int_equal(tcpmux_parse_name(line, TCPMUX_NAME_MAX, name, sizeof(name)), 0);
        assert_int_equal(strlen(name), TCPMUX_NAME_MAX);
        assert_int_equal(tcpmux_parse_name(line, TCPMUX_NAME_MAX + 1, name, sizeof(name)),
                         TCPMUX_E_TOO_LONG);
        /* and the caller's buffer */
        assert_int_equal(tcpmux_parse_name("abcdef", 6, name, 6), TCPMUX_E_TOO_LONG);
        assert_int_equal(tcpmux_parse_name("abcde", 5, name, 6), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_chargen_first_lines),
                cmocka_unit_test(test_chargen_rotation_and_offsets),
                cmocka_unit_test(test_daytime_form),
                cmocka_unit_test(test_time_answer),
                cmocka_unit_test(test_udp_source_ports),
                cmocka_unit_test(test_tcpmux_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
