/* SPDX-License-Identifier: MIT */
/*
 * test-conf-inetd.c — the inetd.conf reader: the seven fields, BSD extensions, internal
 * services, host prefixes, and xinetd entries shadowing inetd ones.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "conf/conf.h"

typedef struct L {
        Config *c;
        ConfDiag d;
} L;

static L load(const char *xinetd, const char *inetd)
{
        L l = { .d = CONF_DIAG_NULL };
        ConfLoadOptions o = {
                .path = "x.conf", .buffer = xinetd, .buffer_size = strlen(xinetd),
                .inetd_path = "inetd.conf", .inetd_buffer = inetd,
                .inetd_buffer_size = strlen(inetd),
                .flags = CONF_LOAD_NO_RESOLVE | CONF_LOAD_NO_FS_CHECKS | CONF_LOAD_NO_INCLUDE,
        };
        assert_int_equal(conf_load(&o, &l.c, &l.d), 0);
        return l;
}

static void done(L *l)
{
        config_free(l->c);
        conf_diag_deinit(&l->d);
}

static const ConfService *svc(const L *l, const char *id)
{
        const ConfService *s = config_find(l->c, id);
        if (!s)
                fail_msg("no service '%s'", id);
        return s;
}

static void test_classic(void **state)
{
        L l = load("", "# comment\n"
                       "ftp\tstream\ttcp\tnowait\troot\t/usr/sbin/tcpd\tin.ftpd -l\n"
                       "tftp dgram udp wait nobody /bin/cat in.tftpd -s /srv/tftp\n"
                       "echo stream tcp nowait root internal\n"
                       "echo dgram udp wait root internal\n"
                       "discard stream tcp nowait root internal\n"
                       "daytime stream tcp6 nowait root internal\n");
        for (size_t i = 0; i < l.d.n_entries; i++)
                print_message("%u: %s\n", l.d.entries[i].line, l.d.entries[i].message);
        assert_int_equal(l.d.n_errors, 0);
        assert_int_equal(l.c->n_active, 6);
        const ConfService *f = svc(&l, "ftp");
        assert_true(f->from_inetd);
        assert_int_equal(f->pos.line, 2);
        assert_string_equal(f->pos.file, "inetd.conf");
        assert_int_equal(f->port, 21);
        assert_string_equal(f->server, "/usr/sbin/tcpd");
        assert_true(f->flags & CONF_FLAG_NAMEINARGS);
        assert_true(f->flags & CONF_FLAG_NOLIBWRAP);
        assert_true(f->groups);
        assert_int_equal(f->argc, 2);
        assert_string_equal(f->argv[0], "in.ftpd");
        assert_string_equal(f->argv[1], "-l");
        const ConfService *t = svc(&l, "tftp");
        assert_true(t->wait);
        assert_int_equal(t->socket_type, SOCK_DGRAM);
        assert_int_equal(t->argc, 3);
        assert_int_equal(svc(&l, "echo-stream")->kind, CONF_KIND_INTERNAL);
        assert_int_equal(svc(&l, "echo-dgram")->socket_type, SOCK_DGRAM);
        assert_string_equal(svc(&l, "discard-stream")->builtin, "discard");  /* xinetd refuses */
        const ConfService *d = svc(&l, "daytime-stream");
        assert_int_equal(d->family, AF_INET6);
        assert_int_equal(d->v6only, 1);
        done(&l);
}

static void test_extensions(void **state)
{
        L l = load("", "127.0.0.1:ssh stream tcp nowait.600 root:root /bin/cat sshd -i\n"
                       "::1:telnet stream tcp46 nowait/10/120/2 nobody.nogroup /bin/cat telnetd\n"
                       "smtp stream tcp4,sndbuf=64k nowait root/daemon /bin/cat\n"
                       "127.0.0.2:\n"
                       "finger stream tcp nowait root /bin/cat fingerd\n"
                       "*:\n"
                       "2222 stream tcp nowait root /bin/cat x\n"
                       "2223 stream tcp nowait root /\n");
        assert_int_equal(l.d.n_errors, 0);
        const ConfService *s = svc(&l, "ssh");
        assert_true(s->has_bind);
        assert_string_equal(s->bind_text, "127.0.0.1");
        assert_int_equal(s->cps_rate, 10);              /* 600 per minute */
        assert_int_equal(s->cps_wait, 600);
        assert_string_equal(s->group, "root");
        const ConfService *t = svc(&l, "telnet");
        assert_int_equal(t->family, AF_INET6);
        assert_int_equal(t->v6only, 0);
        assert_int_equal(t->instances, 10);
        assert_int_equal(t->per_source_cps_rate, 2);
        assert_int_equal(t->per_source_cps_seconds, 60);
        assert_int_equal(t->per_source, 2);
        assert_string_equal(t->group, "nogroup");
        const ConfService *m = svc(&l, "smtp");
        assert_int_equal(m->family, AF_INET);
        assert_string_equal(m->argv[0], "cat");         /* no args: argv[0] from the path */
        assert_string_equal(svc(&l, "finger")->bind_text, "127.0.0.2");
        const ConfService *n = svc(&l, "2222");
        assert_false(n->has_bind);
        assert_int_equal(n->port, 2222);
        assert_true(n->type & CONF_TYPE_UNLISTED);
        assert_string_equal(svc(&l, "2223")->argv[0], "/");    /* never an empty argv[0] */
        assert_true(l.d.n_warnings >= 2);               /* sndbuf, login class */
        done(&l);
}

static void test_tcpmux(void **state)
{
        L l = load("", "tcpmux/+date stream tcp nowait root /bin/date date\n"
                       "tcpmux/sysinfo stream tcp nowait nobody /bin/uname uname -a\n"
                       "tcpmux stream tcp nowait root internal\n");
        assert_int_equal(l.d.n_errors, 0);
        const ConfService *d = svc(&l, "date");
        assert_true(d->type & CONF_TYPE_TCPMUXPLUS);
        assert_true(d->type & CONF_TYPE_UNLISTED);
        assert_int_equal(d->port, 0);
        assert_true(svc(&l, "sysinfo")->type & CONF_TYPE_TCPMUX);
        const ConfService *t = svc(&l, "tcpmux-stream");
        assert_string_equal(t->builtin, "tcpmux");
        assert_int_equal(t->port, 1);
        done(&l);
}

static void test_errors(void **state)
{
        L l = load("", "short line only\n"
                       "x stream tcp sometimes root /bin/cat x\n"
                       "rstatd/1-3 dgram rpc/udp wait root /bin/cat rpc.rstatd\n"
                       "sock stream unix nowait root /bin/cat x\n"
                       "nosuch stream tcp nowait root /bin/cat x\n"
                       "echo stream tcp nowait nosuchuserxyz internal\n"
                       "127.0.0.1: stream tcp nowait root /bin/cat cat\n"
                       "tcpmux/+ stream tcp nowait root /bin/cat cat\n"
                       "tcpmux/7 stream rpc/tcp nowait root internal\n");  /* 5 types */
        assert_int_equal(l.d.n_entries >= 6, 1);
        assert_int_equal(l.d.entries[0].line, 1);
        assert_non_null(strstr(l.d.entries[0].message, "has 3 fields"));
        assert_int_equal(svc(&l, "x")->state, CONF_SERVICE_SKIPPED);
        assert_int_equal(svc(&l, "rstatd")->state, CONF_SERVICE_SKIPPED);
        assert_non_null(strstr(svc(&l, "rstatd")->reason, "RPC"));
        assert_int_equal(svc(&l, "sock")->state, CONF_SERVICE_SKIPPED);
        assert_int_equal(svc(&l, "nosuch")->state, CONF_SERVICE_SKIPPED);
        assert_int_equal(svc(&l, "echo-stream")->state, CONF_SERVICE_SKIPPED);
        assert_int_equal(l.c->n_services, 6);           /* no service without a name */
        assert_int_equal(svc(&l, "7-stream")->state, CONF_SERVICE_SKIPPED);      /* RPC */
        size_t named = 0;
        for (size_t i = 0; i < l.d.n_entries; i++)
                if (strstr(l.d.entries[i].message, "no service name in the first field"))
                        named++;
        assert_int_equal(named, 2);
        done(&l);
}

static void test_xinetd_wins(void **state)
{
        L l = load("service echo\n{\n id = echo-stream\n type = INTERNAL\n socket_type = stream\n"
                   " wait = no\n disable = yes\n}\n",
                   "echo stream tcp nowait root internal\n"
                   "chargen stream tcp nowait root internal\n");
        assert_int_equal(l.c->n_services, 2);
        const ConfService *e = svc(&l, "echo-stream");
        assert_false(e->from_inetd);
        assert_int_equal(e->state, CONF_SERVICE_DISABLED);
        assert_true(svc(&l, "chargen-stream")->from_inetd);
        assert_int_equal(l.d.n_errors, 0);
        done(&l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classic),
                cmocka_unit_test(test_extensions),
                cmocka_unit_test(test_tcpmux),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_xinetd_wins),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
