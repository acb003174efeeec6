/* SPDX-License-Identifier: MIT */
/*
 * test-conf-dump.c — conf_dump() writes every effective attribute, and what it writes reads
 * back to the same services, field by field (a kitchen-sink service, defaults, disabled and
 * skipped services, inetd.conf entries).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

#define FLAGS (CONF_LOAD_NO_RESOLVE | CONF_LOAD_NO_FS_CHECKS | CONF_LOAD_NO_INCLUDE)

static const char kitchen[] =
        "defaults\n{\n log_type = FILE /var/log/portier.log 5M\n log_on_success = PID HOST\n"
        " log_on_failure = HOST ATTEMPT\n instances = 40\n per_source = 5\n cps = 30 7\n"
        " max_load = 4.5\n umask = 027\n groups = yes\n passenv = PATH\n max_connections = 900\n"
        " backlog = 99\n per_source_cps = 3 30\n at_limit = defer\n no_new_privs = yes\n private_tmp = yes\n"
        " banner = /etc/issue\n only_from = 10.0.0.0 ::1\n no_access = 10.1.2.3\n}\n"
        "service sink\n{\n type = UNLISTED\n id = kitchen-sink\n socket_type = stream\n"
        " protocol = tcp\n port = 4000\n wait = no\n user = nobody\n group = nogroup\n"
        " server = /usr/bin/env\n server_args = -i A=1 /bin/cat\n"
        " flags = NODELAY KEEPALIVE NORETRY IDONLY\n log_on_success += USERID EXIT DURATION\n"
        " log_on_failure += USERID\n only_from += 192.168.{1,2} .example.org\n"
        " access_times = 08:00-12:30 22:00-02:00\n env = LANG=C X=a=b\n passenv += HOME\n"
        " nice = -3\n rlimit_as = 64M\n rlimit_cpu = 30\n rlimit_data = UNLIMITED\n"
        " rlimit_rss = 8K\n rlimit_stack = 1M\n rlimit_files = 256\n rlimit_nproc = 20\n libwrap = sinkd\n"
        " banner_success = /etc/motd\n banner_fail = /etc/issue.net\n deny_time = 15\n"
        " bind = 127.0.0.9\n chroot = /srv/jail\n capabilities = net_bind_service CAP_KILL\n read_only_root = yes\n}\n"
        "service v6\n{\n type = UNLISTED\n socket_type = dgram\n port = 4001\n wait = yes\n"
        " user = root\n server = /bin/cat\n flags = IPv6 NAMEINARGS\n server_args = cat -u\n"
        " v6only = yes\n listen_fds = yes sock\n rpc_number = 5\n deny_time = FOREVER\n}\n"
        "service redir\n{\n type = UNLISTED\n socket_type = stream\n port = 4002\n wait = no\n"
        " redirect = 127.0.0.1 4003\n log_on_success = TRAFFIC\n only_from =\n}\n"
        "service sensor\n{\n type = UNLISTED\n socket_type = stream\n port = 4004\n wait = no\n"
        " flags = SENSOR\n deny_time = NEVER\n cps = 0 0\n}\n"
        "service sensor_s\n{\n type = UNLISTED\n socket_type = stream\n port = 4005\n wait = no\n"
        " flags = SENSOR\n deny_time = 30s\n}\n"
        "service echo\n{\n type = INTERNAL\n socket_type = stream\n wait = no\n disable = yes\n}\n"
        "service broken\n{\n socket_type = stream\n wait = no\n instances = lots\n}\n";

static const char inetd[] = "ftp stream tcp nowait root /bin/cat in.ftpd -l\n"
                            "daytime stream tcp6 nowait root internal\n";

typedef struct L {
        Config *c;
        ConfDiag d;
        char *text;
        size_t len;
} L;

static L load(const char *text, size_t len, const char *inetd_text)
{
        L l = { .d = CONF_DIAG_NULL };
        ConfLoadOptions o = { .path = "t.conf", .buffer = text, .buffer_size = len,
                              .inetd_path = inetd_text ? "inetd.conf" : NULL,
                              .inetd_buffer = inetd_text,
                              .inetd_buffer_size = inetd_text ? strlen(inetd_text) : 0,
                              .flags = FLAGS };
        assert_int_equal(conf_load(&o, &l.c, &l.d), 0);
        FILE *f = open_memstream(&l.text, &l.len);
        assert_non_null(f);
        assert_int_equal(conf_dump(l.c, f), 0);
        fclose(f);
        return l;
}

static void done(L *l)
{
        config_free(l->c);
        conf_diag_deinit(&l->d);
        free(l->text);
}

static void same_strv(char **a, size_t na, char **b, size_t nb)
{
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++)
                assert_string_equal(a[i], b[i]);
}

static void same_addrs(const ConfAddrList *a, const ConfAddrList *b)
{
        assert_int_equal(a->set, b->set);
        assert_int_equal(a->n_addrs, b->n_addrs);
        for (size_t i = 0; i < a->n_addrs; i++) {
                assert_int_equal(a->addrs[i].kind, b->addrs[i].kind);
                assert_int_equal(a->addrs[i].prefix, b->addrs[i].prefix);
                assert_memory_equal(a->addrs[i].addr, b->addrs[i].addr, 16);
        }
}

#define EQ(f) assert_true(a->f == b->f)
#define STR(f) do { if (a->f || b->f) { assert_non_null(a->f); assert_non_null(b->f); \
                assert_string_equal(a->f, b->f); } } while (0)

static void same_service(const ConfService *a, const ConfService *b)
{
        STR(name); STR(id); EQ(state); EQ(from_inetd); EQ(kind); STR(builtin); EQ(type);
        EQ(flags); EQ(socket_type); EQ(protocol); STR(protocol_name); EQ(wait); EQ(port);
        EQ(family); EQ(has_bind); EQ(bind_addr_len); EQ(v6only); EQ(has_user); EQ(uid);
        EQ(gid); STR(user); STR(group); EQ(groups); EQ(instances); EQ(per_source);
        EQ(cps_rate); EQ(cps_wait); EQ(max_load); EQ(has_nice); EQ(nice); STR(server);
        same_strv(a->argv, a->argc, b->argv, b->argc); STR(rare->libwrap);
        same_addrs(&a->only_from, &b->only_from); same_addrs(&a->no_access, &b->no_access);
        EQ(n_access_times);
        for (size_t i = 0; i < a->n_access_times; i++) {
                EQ(access_times[i].start);
                EQ(access_times[i].end);
        }
        EQ(log_type.kind); EQ(log_type.facility); EQ(log_type.level); STR(log_type.path);
        EQ(log_type.soft_limit); EQ(log_type.hard_limit); EQ(log_on_success);
        EQ(log_on_failure); same_strv(a->env, a->n_env, b->env, b->n_env);
        same_strv(a->passenv, a->n_passenv, b->passenv, b->n_passenv); EQ(redirect_port);
        EQ(redirect_addr_len); STR(rare->banner); STR(rare->banner_success); STR(rare->banner_fail); EQ(umask);
        EQ(rare->rlimit_set); EQ(rare->rpc_version_min); EQ(rare->rpc_version_max);
        EQ(rare->rpc_number);
        for (int i = 0; i < _CONF_RLIMIT_MAX; i++)
                EQ(rare->rlimits[i]);
        EQ(deny_time); EQ(deny_in_seconds); EQ(backlog); EQ(per_source_cps_rate); EQ(per_source_cps_seconds);
        EQ(at_limit); EQ(listen_fds); STR(rare->listen_fds_name); EQ(no_new_privs); STR(rare->chroot);
        EQ(rare->has_caps); EQ(rare->caps);
        EQ(rare->private_tmp); EQ(rare->read_only_root);
}

/* drop the lines starting with "# " (in place) */
static void strip_comments(char *t)
{
        char *w = t;
        for (char *r = t; *r;) {
                char *nl = strchr(r, '\n');
                size_t n = nl ? (size_t) (nl - r) + 1 : strlen(r);
                if (strncmp(r, "# ", 2) != 0) {
                        memmove(w, r, n);
                        w += n;
                }
                r += n;
        }
        *w = '\0';
}

static void test_round_trip(void **state)
{
        L a = load(kitchen, sizeof(kitchen) - 1, inetd);
        for (size_t i = 0; i < a.d.n_entries; i++)
                if (a.d.entries[i].severity == CONF_ERROR)
                        print_message("%u: %s\n", a.d.entries[i].line, a.d.entries[i].message);
        assert_int_equal(a.d.n_errors, 1);              /* broken: instances = lots */
        assert_int_equal(a.c->n_active, 7);
        assert_int_equal(a.c->n_disabled, 1);
        assert_int_equal(a.c->n_skipped, 1);

        L b = load(a.text, a.len, NULL);
        if (b.d.n_errors)
                print_message("%s", a.text);
        assert_int_equal(b.d.n_errors, 0);
        assert_int_equal(b.c->n_active, a.c->n_active);
        assert_int_equal(b.c->n_disabled, a.c->n_disabled);
        assert_int_equal(b.c->n_skipped, 0);            /* commented out in the dump */
        assert_int_equal(b.c->max_connections, 900);
        size_t j = 0;
        for (size_t i = 0; i < a.c->n_services; i++) {
                const ConfService *x = a.c->services[i];
                if (x->state == CONF_SERVICE_SKIPPED)
                        continue;
                const ConfService *y = b.c->services[j++];
                ConfService tmp = *y;
                tmp.from_inetd = x->from_inetd;         /* the dump is xinetd syntax */
                same_service(x, &tmp);
        }
        assert_int_equal(j, b.c->n_services);

        /* a dump of the dump is the same text, but for the '# file:line' comments */
        L c = load(b.text, b.len, NULL);
        strip_comments(b.text);
        strip_comments(c.text);
        assert_string_equal(b.text, c.text);
        done(&c);
        done(&b);

        assert_non_null(strstr(a.text, "# skipped: "));
        assert_non_null(strstr(a.text, "#\tinstances = lots\n"));
        assert_non_null(strstr(a.text, "# disabled: disable = yes (t.conf:"));
        assert_non_null(strstr(a.text, "(inetd.conf)"));
        done(&a);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
