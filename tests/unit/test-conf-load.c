/* SPDX-License-Identifier: MIT */
/*
 * test-conf-load.c — every attribute through conf_load(): value parsing, the operators and
 * defaults semantics, xinetd's warn-and-keep cases, the required attributes per kind of
 * service, the cross-service checks, includes with their limits.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "conf/conf.h"

#include "conf-util.h"

static L load(const char *text)
{
        return load_flags(text, CONF_LOAD_NO_RESOLVE | CONF_LOAD_NO_FS_CHECKS |
                                CONF_LOAD_NO_INCLUDE);
}

#define ECHO_BASE "service echo\n{\n type = INTERNAL\n socket_type = stream\n wait = no\n"
#define EXT(name, port) "service " name "\n{\n type = UNLISTED\n socket_type = stream\n" \
        " protocol = tcp\n port = " port "\n wait = no\n user = root\n server = /bin/cat\n"
#define EXTNS(name, port) "service " name "\n{\n type = UNLISTED\n socket_type = stream\n" \
        " protocol = tcp\n port = " port "\n wait = no\n user = root\n"

static void test_minimal_services(void **state)
{
        L l = load(ECHO_BASE "}\n" EXT("cat", "2000") "}\n");
        assert_int_equal(l.d.n_errors, 0);
        assert_int_equal(l.d.n_warnings, 0);
        assert_int_equal(l.c->n_services, 2);
        assert_int_equal(l.c->n_active, 2);
        const ConfService *e = svc(&l, "echo");
        assert_int_equal(e->kind, CONF_KIND_INTERNAL);
        assert_string_equal(e->builtin, "echo");
        assert_int_equal(e->port, 7);                   /* from /etc/services */
        assert_string_equal(e->protocol_name, "tcp");   /* implied by socket_type */
        assert_int_equal(e->family, AF_INET);           /* IPv4 by default */
        assert_int_equal(e->instances, CONF_UNLIMITED);
        assert_int_equal(e->cps_rate, 50);             /* xinetd's default cps = 50 10 */
        assert_int_equal(e->cps_wait, 10);
        assert_int_equal(e->v6only, -1);
        assert_int_equal(e->log_type.kind, CONF_LOG_NONE);
        assert_int_equal(e->pos.line, 1);
        assert_int_equal(e->open_line, 2);
        assert_int_equal(e->close_line, 6);
        assert_int_equal(conf_attr_line(e, CONF_ATTR_WAIT), 5);
        assert_int_equal(conf_attr_line(e, CONF_ATTR_USER), 0);
        const ConfService *c = svc(&l, "cat");
        assert_int_equal(c->kind, CONF_KIND_SERVER);
        assert_int_equal(c->port, 2000);
        assert_int_equal(c->uid, 0);
        assert_int_equal(c->gid, 0);
        assert_int_equal(c->argc, 1);
        assert_string_equal(c->argv[0], "cat");
        assert_null(c->argv[1]);
        done(&l);
}

static void test_defaults_cumulative(void **state)
{
        L l = load("defaults\n{\n log_on_success = PID\n log_on_success = HOST\n"
                   " only_from = 10.0.0.0\n only_from = 127.0.0.1\n instances = 7\n"
                   " log_on_failure = HOST\n passenv = PATH\n}\n"
                   ECHO_BASE " id = plus\n log_on_success += EXIT\n only_from += ::1\n}\n"
                   ECHO_BASE " id = set\n port = 7\n bind = 127.0.0.2\n log_on_success = DURATION\n"
                   " only_from = 192.168.1.1\n instances = 3\n log_on_failure -= HOST\n}\n"
                   ECHO_BASE " id = minus\n bind = 127.0.0.3\n only_from -= 10.0.0.0\n"
                   " log_on_success -= PID\n passenv =\n}\n"
                   ECHO_BASE " id = empty\n bind = 127.0.0.4\n only_from =\n}\n");
        assert_int_equal(l.d.n_errors, 0);
        const ConfService *p = svc(&l, "plus"), *s = svc(&l, "set"), *m = svc(&l, "minus"),
                          *e = svc(&l, "empty");
        assert_int_equal(p->log_on_success, CONF_LOG_PID | CONF_LOG_HOST | CONF_LOG_EXIT);
        assert_int_equal(p->only_from.n_addrs, 3);
        assert_int_equal(p->instances, 7);
        assert_int_equal(p->log_on_failure, CONF_LOG_HOST);
        assert_int_equal(p->n_passenv, 1);
        assert_int_equal(s->log_on_success, CONF_LOG_DURATION);
        assert_int_equal(s->only_from.n_addrs, 1);
        assert_int_equal(s->instances, 3);
        assert_int_equal(s->log_on_failure, 0);
        assert_int_equal(m->log_on_success, CONF_LOG_HOST);
        assert_int_equal(m->only_from.n_addrs, 1);
        assert_int_equal(m->only_from.addrs[0].prefix, 32);
        assert_int_equal(m->n_passenv, 0);
        assert_non_null(m->passenv);                    /* given, and empty: pass nothing */
        assert_true(e->only_from.set);
        assert_int_equal(e->only_from.n_addrs, 0);      /* empty only_from: nobody */
        done(&l);
}

static void test_defaults_overridable(void **state)
{
        L l = load("defaults\n{\n cps = 20 5\n per_source = 4\n umask = 027\n groups = yes\n"
                   " max_load = 3.5\n banner = /etc/issue\n v6only = no\n log_type = FILE /var/log/x 1M\n"
                   " backlog = 128\n at_limit = defer\n per_source_cps = 5 30\n no_new_privs = yes\n"
                   " max_connections = 5000\n}\n"
                   ECHO_BASE "}\n" ECHO_BASE " id = own\n bind = 127.0.0.2\n cps = 1 1\n umask = 0\n"
                   " log_type = SYSLOG local3 notice\n}\n");
        assert_int_equal(l.d.n_errors, 0);
        assert_int_equal(l.c->max_connections, 5000);
        const ConfService *e = svc(&l, "echo"), *o = svc(&l, "own");
        assert_int_equal(e->cps_rate, 20);
        assert_int_equal(e->cps_wait, 5);
        assert_int_equal(e->per_source, 4);
        assert_int_equal(e->umask, 027);
        assert_true(e->groups);
        assert_true(e->max_load == 3.5);
        assert_string_equal(e->rare->banner, "/etc/issue");
        assert_int_equal(e->v6only, 0);
        assert_int_equal(e->log_type.kind, CONF_LOG_FILE);
        assert_int_equal(e->log_type.soft_limit, 1 << 20);
        assert_int_equal(e->log_type.hard_limit, (1 << 20) + (1 << 20) / 100);  /* soft + 1% */
        assert_int_equal(e->backlog, 128);
        assert_int_equal(e->at_limit, CONF_AT_LIMIT_DEFER);
        assert_int_equal(e->per_source_cps_rate, 5);
        assert_true(e->no_new_privs);
        assert_int_equal(o->cps_rate, 1);
        assert_int_equal(o->umask, 0);
        assert_int_equal(o->log_type.kind, CONF_LOG_SYSLOG);
        assert_int_equal(o->log_type.facility, LOG_LOCAL3);
        assert_int_equal(o->log_type.level, LOG_NOTICE);
        done(&l);
}

static void test_xinetd_warnings_keep_service(void **state)
{
        L l = load(ECHO_BASE " disable = yes\n disable = no\n sever = x\n instances = 5 # five\n"
                   " nice += 1\n mdns = yes\n leaky_bucket = 1 2 3 4\n}\n"
                   "defaults\n{\n server = /bin/true\n}\n"
                   EXT("x", "2001") " enabled = x\n}\n");
        assert_int_equal(l.d.n_errors, 0);
        const ConfService *e = svc(&l, "echo");
        assert_int_equal(e->state, CONF_SERVICE_DISABLED);      /* the first value is kept */
        assert_int_equal(e->instances, CONF_UNLIMITED);         /* 3 values: ignored */
        const ConfDiagEntry *d = find_diag(&l, "already set at line 6");
        assert_int_equal(d->severity, CONF_WARNING);
        assert_int_equal(d->line, 7);
        d = find_diag(&l, "unknown attribute 'sever' (did you mean 'server'?), ignored");
        assert_string_equal(d->service, "echo");
        assert_int_equal(d->col, 2);
        find_diag(&l, "attribute 'instances' takes 1 value, not 3; ignored");
        find_diag(&l, "operator '+=' cannot be used with attribute 'nice'");
        find_diag(&l, "'mdns' is obsolete");
        find_diag(&l, "'leaky_bucket' is not supported");
        find_diag(&l, "attribute 'server' is not allowed in 'defaults'");
        find_diag(&l, "attribute 'enabled' is only allowed in 'defaults'");
        assert_int_equal(svc(&l, "x")->state, CONF_SERVICE_ACTIVE);
        done(&l);
}

/* one bad attribute line in an otherwise good service: the expected error, service skipped */
static void bad_value(const char *line, const char *message)
{
        char text[1024];
        snprintf(text, sizeof(text), EXT("bad", "2002") " %s\n}\n" EXT("good", "2003") "}\n",
                 line);
        L l = load(text);
        const ConfService *b = svc(&l, "bad");
        if (b->state != CONF_SERVICE_SKIPPED)
                fail_msg("'%s' did not skip the service", line);
        assert_int_equal(svc(&l, "good")->state, CONF_SERVICE_ACTIVE);
        const ConfDiagEntry *d = find_diag(&l, message);
        assert_int_equal(d->severity, CONF_ERROR);
        assert_int_equal(d->line, 10);
        assert_string_equal(d->file, "t.conf");
        assert_int_equal(l.d.n_errors, 1);
        assert_non_null(strstr(b->reason, message));
        done(&l);
}

static void skipped(const char *text, const char *id, const char *message);

static void test_bad_values(void **state)
{
        bad_value("instances = -1", "instances: expected a number");
        bad_value("per_source = lots", "per_source: expected a number");
        bad_value("cps = 10 x", "cps: expected a number from 0 to 2147483647, not 'x'");
        bad_value("max_load = high", "max_load: expected a load average");
        bad_value("nice = x", "nice: expected a number from -20 to 19");
        bad_value("umask = 888", "umask: expected an octal mode");
        bad_value("groups = maybe", "groups: expected 'yes' or 'no', not 'maybe'");
        bad_value("v6only = 1", "v6only: expected 'yes' or 'no'");
        bad_value("flags = FAST", "flags: unknown flag 'FAST'");
        bad_value("log_on_success = PID BYTES", "log_on_success: unknown value 'BYTES'");
        bad_value("log_on_failure = EXIT", "log_on_failure: unknown value 'EXIT'");
        bad_value("log_type = SYSLOG daemons", "unknown syslog facility 'daemons'");
        bad_value("log_type = SYSLOG daemon loud", "unknown syslog level 'loud'");
        bad_value("log_type = FILE relative/path", "is not an absolute path");
        bad_value("log_type = FILE /x 10Q", "bad soft limit '10Q'");
        bad_value("log_type = FILE /x 10M 1M", "hard limit is below the soft limit");
        bad_value("log_type = FILE", "FILE takes a path");
        bad_value("log_type = EMAIL x", "expected SYSLOG or FILE");
        bad_value("access_times = 25:00-26:00", "access_times: '25:00-26:00' is not a range");
        bad_value("rlimit_as = 10X", "rlimit_as: expected a size");
        bad_value("rlimit_files = 10K", "rlimit_files: expected a number or UNLIMITED");
        bad_value("rlimit_cpu = lots", "rlimit_cpu: expected a number");
        bad_value("deny_time = sometimes", "deny_time: expected minutes, seconds with 's', "
                  "FOREVER or NEVER");
        bad_value("deny_time = 5x", "deny_time: expected minutes, seconds with 's'");
        bad_value("deny_time = s", "deny_time: expected minutes, seconds with 's'");
        bad_value("rpc_version = 3-1", "rpc_version: expected N or N-M");
        bad_value("env = NOEQUALS", "env: 'NOEQUALS' is not of the form NAME=value");
        bad_value("passenv = A=B", "passenv: 'A=B' is not a variable name");
        bad_value("redirect = 127.0.0.1 http0", "redirect: bad port 'http0'");
        bad_value("server_args =", "server_args: no value");
        bad_value("at_limit = queue", "at_limit: expected 'refuse' or 'defer'");
        bad_value("per_source_cps = 0 10", "per_source_cps: expected a number from 1");
        bad_value("backlog = 0", "backlog: expected a number from 1");
        bad_value("listen_fds = yes a:b", "listen_fds: the name must have");
        bad_value("chroot = srv", "chroot: 'srv' is not an absolute path");
        bad_value("rlimit_nproc = 2K", "rlimit_nproc: expected a number or UNLIMITED");
        bad_value("capabilities = NET_BIND_SERVICE CAP_FLY",
                  "capabilities: 'CAP_FLY' is not a capability name");
        bad_value("capabilities = CAP_", "capabilities: 'CAP_' is not a capability name");
        bad_value("private_tmp = 1", "private_tmp: expected 'yes' or 'no'");
        bad_value("read_only_root = ro", "read_only_root: expected 'yes' or 'no'");
        bad_value("log_type = SYSLOG daemon info extra", "SYSLOG takes a facility");
}

static void test_bad_words(void **state)
{
        skipped("service a\n{\n type = WEIRD\n}\n", "a", "type: unknown type 'WEIRD'");
        skipped("service a\n{\n protocol = tcpx\n}\n", "a", "protocol: unknown protocol 'tcpx'");
        skipped("service a\n{\n socket_type = streams\n}\n", "a",
                "socket_type: expected stream, dgram, raw or seqpacket, not 'streams'");
        skipped("service a\n{\n wait = perhaps\n}\n", "a", "wait: expected 'yes' or 'no'");
        skipped("service a\n{\n port = 65536\n}\n", "a",
                "port: expected a number from 0 to 65535, not '65536'");
}

static void test_good_values(void **state)
{
        L l = load(EXT("v", "2004")
                   " flags = NODELAY KEEPALIVE IPv6 REUSE NORETRY\n nice = 30\n rlimit_as = 64M\n"
                   " rlimit_cpu = UNLIMITED\n rlimit_files = 1024\n rlimit_stack = 8K\n"
                   " rlimit_data = 1G\n rlimit_rss = 100\n deny_time = FOREVER\n"
                   " access_times = 08:00-12:00 22:00-02:00\n env = A=1 B=x=y\n env += C=3\n"
                   " passenv = PATH LANG\n passenv -= LANG\n banner_success = /s\n banner_fail = /f\n"
                   " libwrap = foo\n listen_fds = no\n no_new_privs = no\n chroot = /srv\n"
                   " rlimit_nproc = 50\n capabilities = cap_net_bind_service KILL CAP_BPF\n"
                   " private_tmp = yes\n read_only_root = no\n"
                   " server_args = -a \"b c\" #d\n log_on_failure = HOST RECORD\n}\n");
        assert_int_equal(l.d.n_errors, 0);
        const ConfService *v = svc(&l, "v");
        assert_int_equal(v->flags, CONF_FLAG_NODELAY | CONF_FLAG_KEEPALIVE | CONF_FLAG_IPV6 |
                                   CONF_FLAG_REUSE | CONF_FLAG_NORETRY);
        assert_int_equal(v->family, AF_INET6);
        assert_int_equal(v->nice, 19);                  /* clamped, with a warning */
        find_diag(&l, "nice: 30 is out of -20..19, using 19");
        find_diag(&l, "RECORD is obsolete");
        assert_true(v->rare->rlimit_set & 1u << CONF_RLIMIT_AS);
        assert_int_equal(v->rare->rlimits[CONF_RLIMIT_AS], 64 << 20);
        assert_true(v->rare->rlimits[CONF_RLIMIT_CPU] == RLIM_INFINITY);
        assert_int_equal(v->rare->rlimits[CONF_RLIMIT_FILES], 1024);
        assert_int_equal(v->rare->rlimits[CONF_RLIMIT_STACK], 8192);
        assert_int_equal(v->rare->rlimits[CONF_RLIMIT_DATA], 1 << 30);
        assert_int_equal(v->deny_time, CONF_DENY_FOREVER);
        assert_int_equal(v->n_access_times, 2);
        assert_int_equal(v->access_times[1].start, 22 * 60);
        assert_int_equal(v->n_env, 3);
        assert_string_equal(v->env[1], "B=x=y");
        assert_null(v->env[3]);
        assert_int_equal(v->n_passenv, 1);
        assert_string_equal(v->passenv[0], "PATH");
        assert_string_equal(v->rare->chroot, "/srv");
        assert_int_equal(v->rare->rlimits[CONF_RLIMIT_NPROC], 50);
        assert_true(v->rare->has_caps);
        assert_true(v->rare->caps == (UINT64_C(1) << 10 | UINT64_C(1) << 5 | UINT64_C(1) << 39));
        assert_true(v->rare->private_tmp);
        assert_false(v->rare->read_only_root);
        assert_int_equal(v->argc, 5);                   /* no quoting, '#' is a value */
        assert_string_equal(v->argv[0], "cat");
        assert_string_equal(v->argv[2], "\"b");
        assert_string_equal(v->argv[4], "#d");
        assert_int_equal(v->log_on_failure, CONF_LOG_HOST);
        done(&l);
}

static void skipped(const char *text, const char *id, const char *message)
{
        L l = load(text);
        const ConfService *s = svc(&l, id);
        if (s->state != CONF_SERVICE_SKIPPED)
                fail_msg("service '%s' not skipped (want '%s')", id, message);
        const ConfDiagEntry *d = find_diag(&l, message);
        assert_int_equal(d->severity, CONF_ERROR);
        assert_string_equal(d->service, id);
        done(&l);
}

static void test_required(void **state)
{
        skipped("service a\n{\n socket_type = stream\n type = UNLISTED\n port = 1\n user = root\n"
                " server = /bin/cat\n}\n", "a", "missing attribute 'wait'");
        skipped("service a\n{\n wait = no\n type = UNLISTED\n port = 1\n protocol = icmp\n"
                " user = root\n server = /bin/cat\n}\n", "a", "missing attribute 'socket_type'");
        skipped("service a\n{\n socket_type = stream\n wait = no\n type = UNLISTED\n"
                " user = root\n server = /bin/cat\n}\n", "a", "missing attribute 'port'");
        skipped("service a\n{\n socket_type = raw\n wait = no\n type = UNLISTED\n port = 5\n"
                " user = root\n server = /bin/cat\n}\n", "a", "missing attribute 'protocol'");
        skipped("service tftp\n{\n socket_type = dgram\n wait = yes\n user = root\n}\n", "tftp",
                "missing attribute 'server'");
        skipped("service tftp\n{\n socket_type = dgram\n wait = yes\n server = /bin/cat\n}\n",
                "tftp", "missing attribute 'user'");
        /* internal: no user or server needed; redirect: neither (xinetd wants user: a bug) */
        L l = load(ECHO_BASE "}\nservice r\n{\n type = UNLISTED\n socket_type = stream\n"
                   " port = 2005\n wait = no\n redirect = 127.0.0.1 22\n}\n"
                   "service s\n{\n type = UNLISTED\n socket_type = stream\n port = 2006\n"
                   " wait = no\n flags = SENSOR\n}\n");
        assert_int_equal(l.d.n_errors, 0);
        const ConfService *r = svc(&l, "r");
        assert_int_equal(r->kind, CONF_KIND_REDIRECT);
        assert_int_equal(r->redirect_port, 22);
        assert_int_equal(r->redirect_addr.sa.sa_family, AF_INET);
        assert_int_equal(svc(&l, "s")->kind, CONF_KIND_SENSOR);
        done(&l);
}

static void test_service_checks(void **state)
{
        skipped("service echo\n{\n type = INTERNAL\n socket_type = stream\n wait = no\n"
                " port = 8\n}\n", "echo", "expects port 7 (from /etc/services), not 8");
        skipped("service nosuch\n{\n socket_type = stream\n wait = no\n user = root\n"
                " server = /bin/cat\n}\n", "nosuch", "'nosuch/tcp' is not in /etc/services");
        skipped("service servers\n{\n type = INTERNAL UNLISTED\n port = 9099\n"
                " socket_type = stream\n wait = no\n}\n", "servers",
                "no internal service 'servers' (xinetd removed it in 2.3.12)");
        skipped("service tcpmux\n{\n type = INTERNAL\n socket_type = dgram\n wait = yes\n}\n",
                "tcpmux", "no internal service 'tcpmux' for socket_type dgram");
        skipped(EXT("t", "2014") " log_on_success = TRAFFIC\n}\n", "t",
                "TRAFFIC is only for redirect services");
        skipped(EXT("n", "2015") " flags = NAMEINARGS\n}\n", "n",
                "flags NAMEINARGS needs 'server_args'");
        skipped("service rpc\n{\n type = RPC UNLISTED\n socket_type = stream\n wait = no\n"
                " rpc_version = 1-2\n rpc_number = 100099\n user = root\n server = /bin/cat\n}\n",
                "rpc", "RPC services are not supported");
        skipped(EXT("i", "2017") " flags = INTERCEPT\n}\n", "i",
                "flags = INTERCEPT is not supported");
        skipped(EXT("lf", "2018") " listen_fds = yes\n}\n", "lf", "listen_fds needs 'wait = yes'");
        skipped("service r\n{\n type = UNLISTED\n socket_type = stream\n port = 2019\n wait = yes\n"
                " redirect = 127.0.0.1 22\n}\n", "r", "a redirect service must have 'wait = no'");
        skipped(EXT("b6", "2020") " flags = IPv6\n bind = 127.0.0.1\n}\n", "b6",
                "bind address '127.0.0.1' is IPv4 but flags has IPv6");
        skipped("service u\n{\n type = UNLISTED\n socket_type = stream\n protocol = tcp\n port = 1\n"
                " wait = no\n user = no-such-user-xyz\n server = /bin/cat\n}\n", "u",
                "user: unknown user 'no-such-user-xyz'");
        skipped("service u\n{\n type = UNLISTED\n socket_type = stream\n protocol = tcp\n port = 1\n"
                " wait = no\n user = root\n group = no-such-group-xyz\n server = /bin/cat\n}\n",
                "u", "group: unknown group 'no-such-group-xyz'");
}

/* Cases xinetd 2.3.15 was run on: it keeps these services, so portier does (warnings). */
static void test_xinetd_keeps(void **state)
{
        L l = load("service d\n{\n type = UNLISTED\n socket_type = dgram\n port = 2080\n"
                   " wait = no\n user = root\n server = /bin/cat\n}\n"
                   EXT("addr", "2081") " only_from = 10.0.0.300 127.0.0.1 10.1.0.0/40\n"
                   " no_access = 1.2.3.4.5\n}\n"
                   "service num\n{\n type = UNLISTED\n socket_type = stream\n port = 2083\n"
                   " wait = no\n user = 4242\n server = /bin/cat\n}\n"
                   "service p0\n{\n type = UNLISTED\n socket_type = stream\n port = 0\n"
                   " wait = no\n user = root\n server = /bin/cat\n}\n"
                   "service p1\n{\n type = UNLISTED\n socket_type = stream\n port = 0\n"
                   " wait = no\n user = root\n server = /bin/cat\n}\n");
        assert_int_equal(l.d.n_errors, 0);
        assert_int_equal(l.c->n_active, l.c->n_services);
        const ConfService *a = svc(&l, "addr");
        assert_int_equal(a->only_from.n_addrs, 1);
        assert_true(a->no_access.set);
        assert_int_equal(a->no_access.n_addrs, 0);
        const ConfDiagEntry *d = find_diag(&l, "only_from: '10.0.0.300': bad IPv4 address; "
                                               "entry ignored");
        assert_int_equal(d->severity, CONF_WARNING);
        find_diag(&l, "only_from: '10.1.0.0/40': bad prefix length (0 to 32); entry ignored");
        find_diag(&l, "no_access: '1.2.3.4.5': bad IPv4 address; entry ignored (it denies nobody)");
        assert_false(svc(&l, "d")->wait);
        const ConfService *n = svc(&l, "num");
        assert_int_equal(n->uid, 4242);
        assert_int_equal(n->gid, 4242);         /* xinetd: gid = uid */
        find_diag(&l, "uid 4242 has no passwd entry");
        assert_true(svc(&l, "p0")->port_set);
        assert_int_equal(svc(&l, "p1")->state, CONF_SERVICE_ACTIVE);  /* port 0: no clash */
        find_diag(&l, "port: 0 lets the kernel pick a port");
        done(&l);
}

static void test_nameinargs_argv(void **state)
{
        L l = load(EXT("n", "2030") " flags = NAMEINARGS\n server_args = in.tftpd -s /srv\n}\n"
                   EXT("m", "2031") " server_args = -s /srv\n}\n");
        const ConfService *n = svc(&l, "n"), *m = svc(&l, "m");
        assert_int_equal(n->argc, 3);
        assert_string_equal(n->argv[0], "in.tftpd");
        assert_null(n->argv[3]);
        assert_int_equal(m->argc, 3);
        assert_string_equal(m->argv[0], "cat");
        assert_string_equal(m->argv[1], "-s");
        done(&l);
}

static void test_disabled(void **state)
{
        L l = load("defaults\n{\n disabled = b\n}\n"
                   "service a\n{\n disable = yes\n type = INTERNAL\n socket_type = stream\n"
                   " instances = lots\n}\n" EXT("b", "2040") "}\n" EXT("c", "2041") "}\n");
        /* errors in a disabled service are warnings: it does not run */
        assert_int_equal(l.d.n_errors, 0);
        const ConfDiagEntry *d = find_diag(&l, "instances: expected a number");
        assert_int_equal(d->severity, CONF_WARNING);
        assert_int_equal(svc(&l, "a")->state, CONF_SERVICE_DISABLED);
        assert_non_null(strstr(svc(&l, "a")->reason, "disable = yes (t.conf:7)"));
        assert_int_equal(svc(&l, "b")->state, CONF_SERVICE_DISABLED);
        assert_string_equal(svc(&l, "b")->reason, "in the 'disabled' list of defaults");
        assert_int_equal(svc(&l, "c")->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(l.c->n_disabled, 2);
        assert_non_null(l.c->defaults);
        assert_int_equal(l.c->defaults->pos.line, 1);
        assert_int_equal(l.c->defaults->close_line, 4);
        assert_int_equal(conf_attr_line(l.c->defaults, CONF_ATTR_DISABLED), 3);
        assert_int_equal(l.c->n_disabled_ids, 1);
        assert_string_equal(l.c->disabled_ids[0], "b");
        assert_false(l.c->enabled_set);
        assert_int_equal(l.c->n_active, 1);
        done(&l);

        /* Debian's disabled 'servers': no diagnostic, implied values filled in */
        l = load("service servers\n{\n type = INTERNAL UNLISTED\n port = 9099\n"
                 " socket_type = stream\n wait = no\n disable = yes\n}\n"
                 "service echo\n{\n type = INTERNAL\n socket_type = stream\n wait = no\n"
                 " disable = yes\n}\n");
        assert_int_equal(l.d.n_entries, 0);
        assert_int_equal(svc(&l, "servers")->state, CONF_SERVICE_DISABLED);
        assert_string_equal(svc(&l, "servers")->protocol_name, "tcp");
        assert_int_equal(svc(&l, "echo")->port, 7);
        assert_int_equal(svc(&l, "echo")->kind, CONF_KIND_INTERNAL);
        done(&l);

        l = load("defaults\n{\n enabled = c\n enabled += d\n}\n"
                 EXT("b", "2040") "}\n" EXT("c", "2041") "}\n");
        assert_int_equal(svc(&l, "b")->state, CONF_SERVICE_DISABLED);
        assert_int_equal(svc(&l, "c")->state, CONF_SERVICE_ACTIVE);
        done(&l);
}

static void test_duplicates(void **state)
{
        L l = load(EXT("a", "2050") "}\n" EXT("b", "2050") "}\n"
                   EXT("c", "2050") " bind = 127.0.0.1\n}\n"
                   "service d\n{\n type = UNLISTED\n socket_type = dgram\n port = 2050\n"
                   " wait = yes\n user = root\n server = /bin/cat\n}\n"
                   EXT("e", "2050") " disable = yes\n}\n" EXT("f", "2050") " flags = IPv6\n}\n");
        assert_int_equal(svc(&l, "a")->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(svc(&l, "b")->state, CONF_SERVICE_SKIPPED);
        const ConfDiagEntry *d = find_diag(&l, "same address, port (2050) and protocol (tcp) as "
                                               "service 'a' at t.conf:1");
        assert_int_equal(d->line, 11);
        assert_int_equal(svc(&l, "c")->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(svc(&l, "d")->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(svc(&l, "e")->state, CONF_SERVICE_DISABLED);
        assert_int_equal(svc(&l, "f")->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(l.d.n_errors, 1);
        done(&l);
}

static void test_dual_stack_warning(void **state)
{
        L l = load(EXT("v4", "2090") "}\n" EXT("v6", "2090") " flags = IPv6\n}\n"
                   EXT("v6only", "2091") " flags = IPv6\n v6only = yes\n}\n"
                   EXT("v4b", "2091") "}\n");
        assert_int_equal(l.d.n_errors, 0);
        assert_int_equal(l.c->n_active, 4);
        const ConfDiagEntry *d = find_diag(&l, "an IPv6 dual-stack socket and an IPv4 one on "
                                               "port 2090/tcp");
        assert_string_equal(d->service, "v6");
        assert_int_equal(l.d.n_warnings, 1);    /* not for v6only = yes */
        done(&l);
}

/* A server's protections on a service portierd serves itself: said, not silently dropped;
 * from defaults (meant for the exec'd services) they are not. */
static void test_protections_on_inprocess_services(void **state)
{
        L l = load("defaults\n{\n no_new_privs = yes\n}\n"
                   "service echo\n{\n type = INTERNAL UNLISTED\n socket_type = stream\n"
                   " protocol = tcp\n wait = no\n port = 2110\n chroot = /srv\n}\n"
                   EXT("r", "2111") " redirect = 127.0.0.1 2110\n read_only_root = yes\n"
                   " private_tmp = yes\n}\n"
                   EXT("s", "2112") " read_only_root = yes\n}\n");
        assert_int_equal(l.d.n_errors, 0);
        assert_int_equal(l.c->n_active, 3);
        const ConfDiagEntry *d = find_diag(&l, "chroot has no effect on an internal service");
        assert_int_equal(d->severity, CONF_WARNING);
        assert_int_equal(d->line, 12);
        d = find_diag(&l, "read_only_root has no effect on a redirect");
        assert_string_equal(d->service, "r");
        (void)find_diag(&l, "private_tmp has no effect on a redirect");
        assert_int_equal(l.d.n_warnings, 3);    /* not no_new_privs, not the server 's' */
        done(&l);
}

static void test_same_id_and_find(void **state)
{
        L l = load(EXT("x", "2100") "}\n" EXT("y", "2101") " id = x\n}\n"
                   EXT("a", "2102") "}\n");
        assert_int_equal(l.d.n_errors, 0);
        assert_int_equal(l.c->n_active, 3);             /* xinetd runs both too */
        const ConfDiagEntry *d = find_diag(&l, "id 'x' is also used by the service at t.conf:1");
        assert_int_equal(d->severity, CONF_WARNING);
        assert_int_equal(config_find(l.c, "x")->port, 2100);    /* the first read */
        assert_string_equal(config_find(l.c, "a")->name, "a");
        assert_null(config_find(l.c, "b"));
        assert_null(config_find(l.c, ""));
        done(&l);
}

static void test_hostile_lists_are_bounded(void **state)
{
        /* 40,000 '-=' lines against a 2,000-entry list: bounded work, an error, no hang */
        size_t size = 8u << 20, len = 0;
        char *t = malloc(size);
        len += (size_t) snprintf(t + len, size - len, ECHO_BASE);
        for (int i = 0; i < 2000; i++)
                len += (size_t) snprintf(t + len, size - len, " only_from += 10.%d.%d.1\n",
                                         i / 256, i % 256);
        for (int i = 0; i < 40000; i++)
                len += (size_t) snprintf(t + len, size - len, " only_from -= 11.0.%d.1\n",
                                         i % 256);
        snprintf(t + len, size - len, "}\n");
        L l = load(t);
        find_diag(&l, "only_from: too many list operations");
        assert_int_equal(svc(&l, "echo")->state, CONF_SERVICE_SKIPPED);
        done(&l);
        free(t);
}

static void test_fs_checks(void **state)
{
        L l = load_flags(EXT("ok", "2060") "}\n" EXTNS("noexec", "2061") " server = /etc/passwd\n}\n"
                         EXTNS("missing", "2062") " server = /nonexistent/x\n}\n"
                         EXTNS("rel", "2063") " server = bin/cat\n}\n"
                         EXT("chrooted", "2064") " chroot = /nonexistent\n}\n"
                         EXT("banners", "2066") " banner = /nonexistent/banner\n"
                         " banner_success = /etc\n banner_fail = /etc/passwd\n}\n"
                         "service sock\n{\n type = UNLISTED\n socket_type = dgram\n"
                         " protocol = tcp\n port = 2065\n wait = yes\n user = root\n"
                         " server = /bin/cat\n}\n",
                         CONF_LOAD_NO_RESOLVE);
        assert_int_equal(svc(&l, "ok")->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(svc(&l, "noexec")->state, CONF_SERVICE_SKIPPED);
        find_diag(&l, "server '/etc/passwd' is not an executable file");
        find_diag(&l, "server '/nonexistent/x': No such file or directory");
        find_diag(&l, "server 'bin/cat' is not an absolute path");
        find_diag(&l, "server '/nonexistent/bin/cat': No such file");
        find_diag(&l, "socket_type dgram with protocol tcp: Protocol not supported");
        const ConfDiagEntry *d = find_diag(&l, "banner '/nonexistent/banner': No such file or "
                                               "directory; nothing will be sent");
        assert_int_equal(d->severity, CONF_WARNING);
        find_diag(&l, "banner_success '/etc': not a regular file");
        assert_int_equal(l.d.n_warnings, 2);            /* /etc/passwd is readable */
        assert_int_equal(svc(&l, "banners")->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(l.d.n_errors, 5);
        done(&l);
}

static void test_syntax_error_skips_one_service(void **state)
{
        L l = load(EXT("a", "2070") " oops\n}\n" EXT("b", "2071") "}\n");
        assert_int_equal(svc(&l, "a")->state, CONF_SERVICE_SKIPPED);
        assert_int_equal(svc(&l, "b")->state, CONF_SERVICE_ACTIVE);
        assert_non_null(svc(&l, "a")->rare->raw);
        assert_int_equal(l.d.n_errors, 1);
        done(&l);
}

static void test_defaults_repeated(void **state)
{
        L l = load("defaults\n{\n instances = 5\n instances = 6\n log_type = SYSLOG daemon\n"
                   " log_type = SYSLOG local0\n}\n" ECHO_BASE "}\n");
        const ConfDiagEntry *d = find_diag(&l, "attribute 'instances' already set at line 3");
        assert_int_equal(d->severity, CONF_WARNING);
        d = find_diag(&l, "log_type already set at line 5; this one is ignored");
        assert_int_equal(d->severity, CONF_ERROR);
        assert_int_equal(l.d.n_errors, 1);
        const ConfService *e = svc(&l, "echo");
        assert_int_equal(e->instances, 5);              /* the first value, as xinetd */
        assert_int_equal(e->log_type.facility, LOG_DAEMON);
        assert_int_equal(e->state, CONF_SERVICE_ACTIVE);
        done(&l);
}

static void test_defaults_errors(void **state)
{
        L l = load("defaults\n{\n instances = many\n}\ndefaults\n{\n}\n");
        assert_int_equal(l.d.n_errors, 1);
        find_diag(&l, "instances: expected a number");
        const ConfDiagEntry *d = find_diag(&l, "only one 'defaults' entry is allowed");
        assert_int_equal(d->severity, CONF_WARNING);
        done(&l);
}

/* --- files ------------------------------------------------------------------------------- */

static char dir[64];

static void put(const char *name, const char *text)
{
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static L load_file(const char *name)
{
        char p[256];
        L l = { .d = CONF_DIAG_NULL };
        snprintf(p, sizeof(p), "%s/%s", dir, name);
        ConfLoadOptions o = { .path = p, .flags = CONF_LOAD_NO_RESOLVE | CONF_LOAD_NO_FS_CHECKS };
        assert_int_equal(conf_load(&o, &l.c, &l.d), 0);
        return l;
}

static void test_includes(void **state)
{
        char p[256];
        strcpy(dir, "/tmp/portier-test-conf-XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(p, sizeof(p), "%s/d", dir);
        assert_int_equal(mkdir(p, 0700), 0);
        snprintf(p, sizeof(p), "%s/d/subdir", dir);
        assert_int_equal(mkdir(p, 0700), 0);
        put("main.conf", "defaults\n{\n instances = 9\n}\nincludedir d\ninclude one.inc\n");
        put("one.inc", EXT("one", "3001") "}\n");
        put("d/b", EXT("b", "3002") "}\n");
        put("d/a", EXT("a", "3003") "}\n");
        put("d/B", EXT("B", "3004") "}\n");
        put("d/c.rpmsave", EXT("skip1", "3005") "}\n");
        put("d/c~", EXT("skip2", "3006") "}\n");
        L l = load_file("main.conf");
        assert_int_equal(l.d.n_errors, 0);
        assert_int_equal(l.c->n_services, 4);
        assert_string_equal(l.c->services[0]->id, "B");        /* C-locale order */
        assert_string_equal(l.c->services[1]->id, "a");
        assert_string_equal(l.c->services[2]->id, "b");
        assert_string_equal(l.c->services[3]->id, "one");
        assert_int_equal(l.c->services[3]->instances, 9);
        assert_int_equal(l.c->n_files, 5);
        assert_non_null(strstr(l.c->services[1]->pos.file, "/d/a"));
        done(&l);

        put("loop.conf", "include loop2.conf\n");
        put("loop2.conf", "include loop.conf\n");
        l = load_file("loop.conf");
        find_diag(&l, "include loop");
        assert_int_equal(l.d.n_errors, 1);
        done(&l);

        put("self.conf", "include self.conf\n");
        l = load_file("self.conf");
        find_diag(&l, "include loop");
        done(&l);

        put("missing.conf", "include nothere.conf\nincludedir /nonexistent-dir\n");
        l = load_file("missing.conf");
        find_diag(&l, "nothere.conf': No such file or directory");
        find_diag(&l, "includedir '/nonexistent-dir'");
        assert_int_equal(l.d.n_errors, 2);
        done(&l);

        /* a chain deeper than the limit stops with one error, no crash */
        for (int i = 0; i < CONF_MAX_INCLUDE_DEPTH + 3; i++) {
                char n[32], t[64];
                snprintf(n, sizeof(n), "deep%d", i);
                snprintf(t, sizeof(t), "include deep%d\n", i + 1);
                put(n, t);
        }
        l = load_file("deep0");
        find_diag(&l, "includes nested more than 16 deep");
        done(&l);

        ConfDiag d = CONF_DIAG_NULL;
        Config *c = NULL;
        snprintf(p, sizeof(p), "%s/absent.conf", dir);
        ConfLoadOptions o = { .path = p };
        assert_int_equal(conf_load(&o, &c, &d), -ENOENT);
        assert_null(c);
        assert_int_equal(d.n_errors, 1);
        conf_diag_deinit(&d);

        snprintf(p, sizeof(p), "%s/d", dir);
        o.path = p;
        assert_int_equal(conf_load(&o, &c, &d), -EINVAL);     /* a directory */
        conf_diag_deinit(&d);

        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

static void test_buffer_limits(void **state)
{
        ConfDiag d = CONF_DIAG_NULL;
        Config *c = NULL;
        ConfLoadOptions o = { .path = "big", .buffer = "", .buffer_size = CONF_MAX_FILE_SIZE + 1,
                              .flags = CONF_LOAD_NO_INCLUDE };
        assert_int_equal(conf_load(&o, &c, &d), -EFBIG);
        conf_diag_deinit(&d);

        L l = load("include /etc/passwd\n");
        find_diag(&l, "'include' is not allowed here");
        done(&l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_minimal_services),
                cmocka_unit_test(test_defaults_cumulative),
                cmocka_unit_test(test_defaults_overridable),
                cmocka_unit_test(test_xinetd_warnings_keep_service),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_bad_words),
                cmocka_unit_test(test_good_values),
                cmocka_unit_test(test_required),
                cmocka_unit_test(test_service_checks),
                cmocka_unit_test(test_xinetd_keeps),
                cmocka_unit_test(test_nameinargs_argv),
                cmocka_unit_test(test_disabled),
                cmocka_unit_test(test_duplicates),
                cmocka_unit_test(test_dual_stack_warning),
                cmocka_unit_test(test_protections_on_inprocess_services),
                cmocka_unit_test(test_same_id_and_find),
                cmocka_unit_test(test_hostile_lists_are_bounded),
                cmocka_unit_test(test_fs_checks),
                cmocka_unit_test(test_syntax_error_skips_one_service),
                cmocka_unit_test(test_defaults_repeated),
                cmocka_unit_test(test_defaults_errors),
                cmocka_unit_test(test_includes),
                cmocka_unit_test(test_buffer_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
