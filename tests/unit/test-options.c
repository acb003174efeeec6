/* SPDX-License-Identifier: MIT */
/*
 * test-options.c — portierd's command line: xinetd's single-dash words matched whole, GNU
 * long forms, bounded numbers, and errors for anything unknown.
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

#include "daemon/options.h"

static char errbuf[4096];

/* Parse a NULL-terminated list of words; messages land in errbuf. */
static int parse(Options *o, ...)
{
        char *argv[32] = { "portierd" };
        int argc = 1, r;
        va_list ap;
        FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");

        va_start(ap, o);
        for (char *a; argc < 31 && (a = va_arg(ap, char *));)
                argv[argc++] = a;
        va_end(ap);
        r = options_parse(o, argc, argv, err);
        fclose(err);
        return r;
}

static void test_defaults(void **state)
{
        Options o;

        unsetenv("PORTIER_SOCKET");
        assert_int_equal(parse(&o, NULL), 0);
        assert_int_equal(o.action, OPTIONS_RUN);
        assert_string_equal(o.config_path, OPTIONS_DEFAULT_CONFIG);
        assert_null(o.pidfile_path);
        assert_false(o.debug || o.dontfork || o.stayalive || o.inetd_compat);
}

static void test_xinetd_flags(void **state)
{
        Options o;

        assert_int_equal(parse(&o, "-f", "/etc/xinetd.conf", "-pidfile", "/run/x.pid",
                               "-dontfork", "-inetd_compat", "-limit", "40", "-logprocs", "5",
                               "-syslog", "local0", "-cc", "60", "-reuse", "-shutdownprocs",
                               "-inetd_ipv6", NULL), 0);
        assert_string_equal(o.config_path, "/etc/xinetd.conf");
        assert_string_equal(o.pidfile_path, "/run/x.pid");
        assert_true(o.dontfork && o.stayalive && o.inetd_compat);
        assert_int_equal(o.limit, 40);
        assert_int_equal(o.logprocs, 5);
        assert_int_equal(o.cc_interval, 60);
        assert_string_equal(o.syslog_facility, "local0");
}

static void test_long_forms(void **state)
{
        Options o;

        setenv("PORTIER_SOCKET", "/tmp/env.sock", 1);
        assert_int_equal(parse(&o, "--config=/a.conf", "--log-ident", "xinetd", "--foreground",
                               NULL), 0);
        assert_string_equal(o.config_path, "/a.conf");
        assert_string_equal(o.log_ident, "xinetd");
        assert_string_equal(o.control_socket, "/tmp/env.sock");
        assert_int_equal(parse(&o, "--control-socket", "/tmp/opt.sock", NULL), 0);
        assert_string_equal(o.control_socket, "/tmp/opt.sock");
        unsetenv("PORTIER_SOCKET");

        assert_int_equal(parse(&o, "-n", NULL), 0);
        assert_int_equal(o.action, OPTIONS_CHECK);
        assert_int_equal(parse(&o, "--dump-config", NULL), 0);
        assert_int_equal(o.action, OPTIONS_DUMP_CONFIG);
        assert_int_equal(parse(&o, "-version", NULL), 0);
        assert_int_equal(o.action, OPTIONS_VERSION);
        assert_int_equal(parse(&o, "--help", NULL), 0);
        assert_int_equal(o.action, OPTIONS_HELP);

        /* privilege separation: off unless a user is named; --no-privsep wins */
        assert_int_equal(parse(&o, NULL), 0);
        assert_null(o.privsep_user);
        assert_false(o.no_privsep);
        assert_int_equal(parse(&o, "--privsep-user", "nobody", NULL), 0);
        assert_string_equal(o.privsep_user, "nobody");
        assert_int_equal(parse(&o, "--privsep-user=portier", "--no-privsep", NULL), 0);
        assert_string_equal(o.privsep_user, "portier");
        assert_true(o.no_privsep);
}

static void test_no_bundling_and_unknown(void **state)
{
        Options o;

        assert_int_equal(parse(&o, "-df", "x", NULL), -EINVAL);
        assert_non_null(strstr(errbuf, "unknown option '-df'"));
        assert_int_equal(parse(&o, "--bogus", NULL), -EINVAL);
        assert_non_null(strstr(errbuf, "unknown option '--bogus'"));
        assert_int_equal(parse(&o, "--bogus=1", NULL), -EINVAL);
        assert_non_null(strstr(errbuf, "unknown option '--bogus'"));
        assert_int_equal(parse(&o, "stray", NULL), -EINVAL);
        assert_non_null(strstr(errbuf, "unexpected argument 'stray'"));
}

static void test_bad_arguments(void **state)
{
        Options o;

        assert_int_equal(parse(&o, "-f", NULL), -EINVAL);
        assert_non_null(strstr(errbuf, "option '-f' needs an argument"));
        assert_int_equal(parse(&o, "-limit", "-3", NULL), -EINVAL);
        assert_int_equal(parse(&o, "-limit", "12x", NULL), -EINVAL);
        assert_int_equal(parse(&o, "-limit", "99999999999", NULL), -EINVAL);
        assert_non_null(strstr(errbuf, "-limit"));
        assert_int_equal(parse(&o, "-syslog", "nosuch", NULL), -EINVAL);
        assert_non_null(strstr(errbuf, "unknown syslog facility 'nosuch'"));
        assert_int_equal(parse(&o, "-filelog", "/tmp/l", "-syslog", "daemon", NULL), -EINVAL);
        assert_int_equal(parse(&o, "--check=yes", NULL), -EINVAL);
        assert_int_equal(parse(&o, "--log-ident", "", NULL), -EINVAL);
        assert_int_equal(parse(&o, "--privsep-user", "", NULL), -EINVAL);
        assert_non_null(strstr(errbuf, "privilege separation user cannot be empty"));
        assert_int_equal(parse(&o, "--privsep-user", NULL), -EINVAL);
        assert_int_equal(parse(&o, "--no-privsep=1", NULL), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_xinetd_flags),
                cmocka_unit_test(test_long_forms),
                cmocka_unit_test(test_no_bundling_and_unknown),
                cmocka_unit_test(test_bad_arguments),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
