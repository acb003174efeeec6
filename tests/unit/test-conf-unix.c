/* SPDX-License-Identifier: MIT */
/*
 * test-conf-unix.c — AF_UNIX listeners in the configuration: socket_path, socket_owner,
 * socket_mode and the uid:/gid: entries of only_from and no_access, with their errors at
 * FILE:LINE; and the access decision on a unix client's credentials (access.c).
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <grp.h>
#include <unistd.h>

#include "conf/conf.h"
#include "daemon/access.h"

#include "conf-util.h"

static L load(const char *text)
{
        return load_flags(text, CONF_LOAD_NO_FS_CHECKS | CONF_LOAD_NO_INCLUDE);
}

/* line 1 "service u", 2 "{", 3 socket_path, 4 socket_type, 5 wait, 6 user, 7 server, 8... */
#define UNIX(name, path) "service " name "\n{\n socket_path = " path "\n socket_type = stream\n" \
        " wait = no\n user = root\n server = /bin/cat\n"

static void test_unix_service(void **state)
{
        L l = load(UNIX("u", "/run/u.sock") " socket_owner = 0:0\n socket_mode = 0640\n"
                   " only_from = uid:0 gid:0\n no_access = uid:65534\n}\n"
                   UNIX("v", "@abstract") "}\n"
                   UNIX("w", "/run/w.sock") " socket_type = seqpacket\n}\n");
        const ConfService *u = svc(&l, "u"), *v = svc(&l, "v");

        assert_int_equal(l.d.n_errors, 0);
        assert_int_equal(u->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(u->family, AF_UNIX);
        assert_int_equal(u->protocol, 0);
        assert_string_equal(u->protocol_name, "unix");
        assert_string_equal(u->rare->socket_path, "/run/u.sock");
        assert_true(u->rare->has_socket_uid && u->rare->has_socket_gid);
        assert_true(u->rare->has_socket_mode);
        assert_int_equal(u->rare->socket_mode, 0640);
        assert_int_equal(u->only_from.n_addrs, 2);
        assert_int_equal(u->only_from.addrs[0].kind, CONF_ADDR_UID);
        assert_int_equal(u->only_from.addrs[0].id, 0);
        assert_int_equal(u->only_from.addrs[1].kind, CONF_ADDR_GID);
        assert_int_equal(u->no_access.addrs[0].id, 65534);
        assert_string_equal(v->rare->socket_path, "@abstract");
        assert_false(v->rare->has_socket_mode);
        assert_int_equal(svc(&l, "w")->state, CONF_SERVICE_ACTIVE);
        done(&l);
}

/* Each case: the text after UNIX(...) up to "}", the message expected, its line. */
static void test_unix_errors(void **state)
{
        static const struct {
                const char *extra;
                const char *msg;
                unsigned line;
        } cases[] = {
                { " port = 7\n", "port cannot be used with socket_path (line 3)", 8 },
                { " bind = 127.0.0.1\n", "bind cannot be used with socket_path", 8 },
                { " interface = 127.0.0.1\n", "bind cannot be used with socket_path", 8 },
                { " v6only = yes\n", "v6only cannot be used with socket_path", 8 },
                { " protocol = tcp\n", "protocol cannot be used with socket_path", 8 },
                { " flags = IPv6\n", "flags IPv4 and IPv6 cannot be used", 8 },
                { " flags = IPv4\n", "flags IPv4 and IPv6 cannot be used", 8 },
                { " only_from = 127.0.0.1\n", "'127.0.0.1' is an address, but a unix", 8 },
                { " no_access = ::1\n", "'::1' is an address, but a unix", 8 },
                { " only_from = uid:no-such-user-here\n", "unknown user 'no-such-user-here'", 8 },
                { " no_access = gid:no-such-group-here\n", "unknown group 'no-such-group-here'",
                  8 },
                { " socket_owner = no-such-user-here\n", "unknown user 'no-such-user-here'", 8 },
                { " socket_owner = root:no-such-group\n", "unknown group 'no-such-group'", 8 },
                { " socket_owner = :\n", "expected USER, USER:GROUP or :GROUP", 8 },
                { " socket_mode = 0999\n", "socket_mode: expected an octal mode", 8 },
                { " flags = SENSOR\n", "flags SENSOR cannot be used with socket_path", 8 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char text[1024];

                snprintf(text, sizeof(text), UNIX("u", "/run/u.sock") "%s}\n", cases[i].extra);
                L l = load(text);
                const ConfDiagEntry *e = find_diag(&l, cases[i].msg);

                assert_int_equal(e->severity, CONF_ERROR);
                assert_string_equal(e->file, "t.conf");
                if (e->line != cases[i].line)
                        fail_msg("case %zu ('%s'): line %u, expected %u", i, cases[i].msg,
                                 e->line, cases[i].line);
                assert_int_equal(svc(&l, "u")->state, CONF_SERVICE_SKIPPED);
                done(&l);
        }
}

static void test_socket_path_values(void **state)
{
        char longp[200];

        memset(longp, 'x', sizeof(longp));
        longp[0] = '/';
        longp[sizeof(((struct sockaddr_un *)0)->sun_path)] = '\0';    /* one too many */
        static const struct {
                const char *path;
                const char *msg;
        } bad[] = {
                { "run/u.sock", "is not an absolute path" },
                { "@", "must have 1 to 107 characters" },
        };
        for (size_t i = 0; i < 2; i++) {
                char text[512];

                snprintf(text, sizeof(text), UNIX("u", "%s") "}\n", bad[i].path);
                L l = load(text);

                assert_int_equal(find_diag(&l, bad[i].msg)->line, 3);
                done(&l);
        }
        char text[1024];

        snprintf(text, sizeof(text), UNIX("u", "%s") "}\n", longp);
        L l = load(text);

        assert_int_equal(find_diag(&l, "must have 1 to 107 characters")->line, 3);
        done(&l);
        longp[sizeof(((struct sockaddr_un *)0)->sun_path) - 1] = '\0';  /* just fits */
        snprintf(text, sizeof(text), UNIX("u", "%s") "}\n", longp);
        l = load(text);
        assert_int_equal(l.d.n_errors, 0);
        done(&l);
}

static void test_file_attrs_need_socket_path(void **state)
{
        L l = load("service t\n{\n type = UNLISTED\n socket_type = stream\n protocol = tcp\n"
                   " port = 4000\n wait = no\n user = root\n server = /bin/cat\n"
                   " socket_mode = 0600\n only_from = uid:root\n}\n");

        assert_int_equal(find_diag(&l, "socket_mode needs socket_path")->line, 10);
        assert_int_equal(find_diag(&l, "'uid:root' is for unix services")->line, 11);
        assert_int_equal(svc(&l, "t")->state, CONF_SERVICE_SKIPPED);
        done(&l);
}

static void test_abstract_has_no_file(void **state)
{
        L l = load(UNIX("u", "@name") " socket_mode = 0666\n}\n");

        assert_int_equal(find_diag(&l, "an abstract socket ('@name') has no file")->line, 8);
        done(&l);
}

static void test_builtins_on_unix(void **state)
{
        L l = load("service echo\n{\n socket_path = /run/e.sock\n socket_type = stream\n"
                   " type = INTERNAL\n wait = no\n}\n"
                   "service discard\n{\n socket_path = /run/d.sock\n socket_type = dgram\n"
                   " type = INTERNAL\n wait = yes\n}\n");

        assert_int_equal(svc(&l, "echo")->state, CONF_SERVICE_ACTIVE);
        assert_string_equal(svc(&l, "echo")->builtin, "echo");
        assert_int_equal(find_diag(&l, "a built-in on a unix socket must have socket_type "
                                       "stream")->line, 8);
        done(&l);
}

static void test_duplicate_path(void **state)
{
        L l = load(UNIX("a", "/run/x.sock") "}\n" UNIX("b", "/run/x.sock") "}\n"
                   UNIX("c", "@x") "}\n");

        assert_int_equal(svc(&l, "a")->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(svc(&l, "b")->state, CONF_SERVICE_SKIPPED);
        assert_int_equal(svc(&l, "c")->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(find_diag(&l, "same socket_path '/run/x.sock' as service 'a'")->line,
                         9);
        done(&l);
}

/* IP rules of 'defaults' do not reach unix services, nor uid: rules IP ones. */
static void test_defaults_rules_filtered(void **state)
{
        L l = load("defaults\n{\n only_from = 127.0.0.1 uid:0\n bind = 127.0.0.1\n}\n"
                   UNIX("u", "/run/u.sock") "}\n"
                   "service t\n{\n type = UNLISTED\n socket_type = stream\n protocol = tcp\n"
                   " port = 4000\n wait = no\n user = root\n server = /bin/cat\n}\n"
                   UNIX("p", "/run/p.sock") " only_from += uid:1\n}\n");
        const ConfService *u = svc(&l, "u"), *t = svc(&l, "t");

        assert_int_equal(u->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(u->only_from.n_addrs, 1);
        assert_int_equal(u->only_from.addrs[0].kind, CONF_ADDR_UID);
        assert_false(u->has_bind);
        assert_int_equal(t->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(t->only_from.n_addrs, 1);
        assert_int_equal(t->only_from.addrs[0].kind, CONF_ADDR_NET);
        /* += in the block: the defaults' address is in the service's own list */
        assert_int_equal(svc(&l, "p")->state, CONF_SERVICE_SKIPPED);
        find_diag(&l, "an address may come from 'defaults' through '+='");
        done(&l);
}

static void test_dump_reads_back(void **state)
{
        L l = load(UNIX("u", "/run/u.sock") " socket_owner = 1:2\n socket_mode = 0640\n"
                   " only_from = uid:0 gid:5\n}\n"
                   "service v\n{\n socket_path = @abs\n socket_type = dgram\n wait = yes\n"
                   " user = root\n server = /bin/cat\n}\n");
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        assert_int_equal(conf_dump(l.c, f), 0);
        fclose(f);
        assert_non_null(strstr(buf, "socket_path     = /run/u.sock\n"));
        assert_non_null(strstr(buf, "socket_owner    = 1:2\n"));
        assert_non_null(strstr(buf, "socket_mode     = 0640\n"));
        assert_non_null(strstr(buf, "only_from       = uid:0 gid:5\n"));
        assert_null(strstr(buf, "protocol"));

        L back = load(buf);

        assert_int_equal(back.d.n_errors, 0);
        assert_int_equal(svc(&back, "u")->rare->socket_mode, 0640);
        assert_int_equal(svc(&back, "u")->rare->socket_gid, 2);
        assert_int_equal(svc(&back, "v")->socket_type, SOCK_DGRAM);
        done(&back);
        free(buf);
        done(&l);
}

/* With file system checks: what is at the path is looked at. */
static void test_path_not_a_socket(void **state)
{
        char dir[] = "/tmp/portier-unit-XXXXXX", text[512], path[256];

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/file", dir);
        FILE *f = fopen(path, "w");

        assert_non_null(f);
        fclose(f);
        snprintf(text, sizeof(text), UNIX("u", "%s") "}\n", path);
        L l = load_flags(text, CONF_LOAD_NO_INCLUDE);
        const ConfDiagEntry *e = find_diag(&l, "is a regular file, not a socket");

        assert_int_equal(e->line, 3);
        done(&l);
        assert_int_equal(unlink(path), 0);
        l = load_flags(text, CONF_LOAD_NO_INCLUDE);     /* nothing there: fine */
        assert_int_equal(l.d.n_errors, 0);
        done(&l);
        assert_int_equal(rmdir(dir), 0);
}

/* portier's redirect = /path (or @name): to a unix socket; xinetd's forms unchanged. */
static void test_redirect_to_unix(void **state)
{
        L l = load("service r\n{\n type = UNLISTED\n socket_type = stream\n protocol = tcp\n"
                   " port = 4000\n wait = no\n redirect = /run/backend.sock\n}\n"
                   "service a\n{\n type = UNLISTED\n socket_type = stream\n protocol = tcp\n"
                   " port = 4001\n wait = no\n redirect = @backend\n}\n"
                   "service x\n{\n type = UNLISTED\n socket_type = stream\n protocol = tcp\n"
                   " port = 4002\n wait = no\n redirect = somehost\n}\n"
                   "service y\n{\n type = UNLISTED\n socket_type = stream\n protocol = tcp\n"
                   " port = 4003\n wait = no\n redirect = @\n}\n");
        const ConfService *r = svc(&l, "r");

        assert_int_equal(r->state, CONF_SERVICE_ACTIVE);
        assert_int_equal(r->kind, CONF_KIND_REDIRECT);
        assert_true(conf_redirect_unix(r));
        assert_string_equal(r->redirect_host, "/run/backend.sock");
        assert_true(conf_redirect_unix(svc(&l, "a")));
        /* one value that is no path: xinetd's wrong count, a warning and the attribute
         * ignored (the service then lacks a server) */
        const ConfDiagEntry *e = find_diag(&l, "attribute 'redirect' takes 2 values");

        assert_int_equal(e->severity, CONF_WARNING);
        assert_int_equal(e->line, 26);
        assert_int_equal(svc(&l, "x")->state, CONF_SERVICE_SKIPPED);
        assert_int_equal(find_diag(&l, "redirect: '@' must have 1 to 107 characters")->line, 35);
        done(&l);
        l = load("service loop\n{\n socket_path = /run/l.sock\n socket_type = stream\n"
                 " wait = no\n redirect = /run/l.sock\n}\n");
        assert_int_equal(find_diag(&l, "is this service's own socket_path (a loop)")->line, 6);
        done(&l);
}

/* --- access.c on unix clients ------------------------------------------------------------ */

static AccessVerdict check(const ConfService *s, uint32_t uid, uint32_t gid)
{
        AccessUnixPeer p = { .family = AF_UNIX, .has_cred = 1, .uid = uid, .gid = gid,
                             .pid = 1 };

        return access_check(&s->only_from, &s->no_access, (const struct sockaddr *)&p, NULL);
}

static void test_access_uid_gid(void **state)
{
        L l = load(UNIX("a", "/a") " only_from = uid:1 gid:10\n}\n"
                   UNIX("b", "/b") " no_access = gid:10\n only_from = uid:1\n}\n"
                   UNIX("c", "/c") " no_access = uid:1\n}\n"
                   UNIX("d", "/d") " only_from =\n}\n");
        const ConfService *a = svc(&l, "a"), *b = svc(&l, "b"), *c = svc(&l, "c");

        assert_int_equal(check(a, 1, 99), ACCESS_ALLOW);
        assert_int_equal(check(a, 2, 10), ACCESS_ALLOW);
        assert_int_equal(check(a, 2, 11), ACCESS_DENY);
        assert_int_equal(check(b, 1, 10), ACCESS_ALLOW);        /* a user beats a group */
        assert_int_equal(check(b, 2, 10), ACCESS_DENY);
        assert_int_equal(check(c, 1, 1), ACCESS_DENY);
        assert_int_equal(check(c, 2, 1), ACCESS_ALLOW);
        assert_int_equal(check(svc(&l, "d"), 0, 0), ACCESS_DENY);

        /* without credentials (a datagram the kernel gave none): no entry matches */
        AccessUnixPeer none = { .family = AF_UNIX };

        assert_int_equal(access_check(&a->only_from, &a->no_access,
                                      (const struct sockaddr *)&none, NULL), ACCESS_DENY);
        assert_int_equal(access_check(&c->only_from, &c->no_access,
                                      (const struct sockaddr *)&none, NULL), ACCESS_ALLOW);
        done(&l);
}

/* Supplementary groups: matched when the client connects, kept in two bits. */
static void test_access_supplementary_groups(void **state)
{
        L l = load(UNIX("a", "/a") " only_from = gid:10\n}\n"
                   UNIX("b", "/b") " no_access = gid:10\n}\n"
                   UNIX("c", "/c") " only_from = uid:5\n}\n");
        const ConfService *a = svc(&l, "a"), *b = svc(&l, "b"), *c = svc(&l, "c");
        AccessUnixPeer p = { .family = AF_UNIX, .has_cred = 1, .uid = 5, .gid = 99 };
        int sv[2];

        p.groups = ACCESS_UNIX_OF_GROUP;
        assert_int_equal(access_check(&a->only_from, &a->no_access,
                                      (const struct sockaddr *)&p, NULL), ACCESS_ALLOW);
        p.groups = ACCESS_UNIX_NA_GROUP;
        assert_int_equal(access_check(&b->only_from, &b->no_access,
                                      (const struct sockaddr *)&p, NULL), ACCESS_DENY);
        p.groups = 0;
        assert_int_equal(access_check(&a->only_from, &a->no_access,
                                      (const struct sockaddr *)&p, NULL), ACCESS_DENY);
        assert_int_equal(access_check(&b->only_from, &b->no_access,
                                      (const struct sockaddr *)&p, NULL), ACCESS_ALLOW);

        /* a datagram (no groups known) fails closed, and only where a gid: rule is */
        access_unix_peer_groups(-1, &b->only_from, &b->no_access, &p);
        assert_int_equal(p.groups, ACCESS_UNIX_NA_GROUP);
        access_unix_peer_groups(-1, &a->only_from, &a->no_access, &p);
        assert_int_equal(p.groups, 0);
        access_unix_peer_groups(-1, &c->only_from, &c->no_access, &p);
        assert_int_equal(p.groups, 0);

        /* a real peer: this process, with a supplementary group of its own (if it has one) */
        char text[256];
        gid_t sup[64];
        int ns = getgroups(64, sup);

        done(&l);
        if (ns < 1 && geteuid() == 0) {
                sup[0] = 4242;          /* root: give this process one */
                assert_int_equal(setgroups(1, sup), 0);
                ns = 1;
        }
        if (ns < 1) {
                print_message("no supplementary group: SO_PEERGROUPS part skipped\n");
                return;
        }
        gid_t me = sup[0];

        snprintf(text, sizeof(text), UNIX("m", "/m") " only_from = gid:%u\n}\n"
                 UNIX("n", "/n") " no_access = gid:%u\n}\n", (unsigned)me, (unsigned)me);
        L l2 = load(text);
        const ConfService *m = svc(&l2, "m"), *n = svc(&l2, "n");

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        assert_int_equal(access_unix_peer_of(sv[0], &p), 0);
        assert_int_equal(p.uid, geteuid());
        assert_int_equal(p.pid, getpid());
        access_unix_peer_groups(sv[0], &m->only_from, &m->no_access, &p);
        assert_int_equal(p.groups, ACCESS_UNIX_OF_GROUP);
        access_unix_peer_groups(sv[0], &n->only_from, &n->no_access, &p);
        assert_int_equal(p.groups, ACCESS_UNIX_NA_GROUP);
        close(sv[0]);
        close(sv[1]);
        done(&l2);
}

static void test_access_addr_of_unix_client(void **state)
{
        AccessUnixPeer p = { .family = AF_UNIX, .has_cred = 1, .uid = 1000, .gid = 100,
                             .pid = 42 };
        AccessAddr a, masked;
        uint32_t uid, gid;
        char text[64];

        assert_int_equal(access_addr_from_sockaddr((const struct sockaddr *)&p, &a), 0);
        assert_true(access_addr_unix(&a, &uid, &gid));
        assert_int_equal(uid, 1000);
        assert_int_equal(gid, 100);
        assert_false(access_addr_is_v4(&a));
        /* per_source keys on the first 64 bits: the uid stays, the gid goes */
        masked = a;
        access_addr_mask(&masked, 64);
        assert_true(access_addr_unix(&masked, &uid, &gid));
        assert_int_equal(uid, 1000);
        assert_int_equal(gid, 0);
        access_unix_peer_format(&p, text, sizeof(text));
        assert_string_equal(text, "uid:1000,gid:100,pid:42");
        p = (AccessUnixPeer){ .family = AF_UNIX, .has_cred = 1, .uid = UINT32_MAX,
                              .gid = UINT32_MAX, .pid = 4194304 };
        access_unix_peer_format(&p, text, 46);  /* INET6_ADDRSTRLEN, the from= buffers */
        assert_string_equal(text, "uid:4294967295,gid:4294967295,pid:4194304");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unix_service),
                cmocka_unit_test(test_unix_errors),
                cmocka_unit_test(test_socket_path_values),
                cmocka_unit_test(test_file_attrs_need_socket_path),
                cmocka_unit_test(test_abstract_has_no_file),
                cmocka_unit_test(test_builtins_on_unix),
                cmocka_unit_test(test_duplicate_path),
                cmocka_unit_test(test_defaults_rules_filtered),
                cmocka_unit_test(test_dump_reads_back),
                cmocka_unit_test(test_path_not_a_socket),
                cmocka_unit_test(test_redirect_to_unix),
                cmocka_unit_test(test_access_uid_gid),
                cmocka_unit_test(test_access_supplementary_groups),
                cmocka_unit_test(test_access_addr_of_unix_client),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
