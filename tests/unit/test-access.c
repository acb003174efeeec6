/* SPDX-License-Identifier: MIT */
/*
 * test-access.c — only_from / no_access on lists built by the real parser (conf_load() of a
 * small configuration): every address form, v4/v6/v4-mapped clients, the "more specific
 * match wins" rule both ways and its ties, empty and unset lists, and the NEEDS_NAME cases.
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
#include "daemon/access.h"

typedef struct Rules {
        Config *c;
        ConfDiag d;
        const ConfService *s;
} Rules;

/* A service with these only_from / no_access lines (NULL: the line is absent). */
static Rules rules_flags(const char *only_from, const char *no_access, unsigned flags)
{
        Rules r = { .d = CONF_DIAG_NULL };
        char text[2048];
        int n = snprintf(text, sizeof(text),
                         "service echo\n{\n type = INTERNAL\n socket_type = stream\n wait = no\n"
                         "%s%s%s%s%s%s}\n",
                         only_from ? " only_from = " : "", only_from ? only_from : "",
                         only_from ? "\n" : "", no_access ? " no_access = " : "",
                         no_access ? no_access : "", no_access ? "\n" : "");
        assert_true(n > 0 && (size_t)n < sizeof(text));
        ConfLoadOptions o = { .path = "t.conf", .buffer = text, .buffer_size = (size_t)n,
                              .flags = flags };

        assert_int_equal(conf_load(&o, &r.c, &r.d), 0);
        if (r.d.n_errors) {
                conf_diag_print(&r.d, stderr);
                fail_msg("configuration errors");
        }
        r.s = config_find(r.c, "echo");
        assert_non_null(r.s);
        return r;
}

static Rules rules(const char *only_from, const char *no_access)
{
        return rules_flags(only_from, no_access, CONF_LOAD_NO_RESOLVE | CONF_LOAD_NO_FS_CHECKS |
                                                     CONF_LOAD_NO_INCLUDE);
}

static void done(Rules *r)
{
        config_free(r->c);
        conf_diag_deinit(&r->d);
}

/* The verdict for a client written as an address ("10.1.2.3", "::1", "::ffff:10.1.2.3"). */
static AccessVerdict check_name(const Rules *r, const char *client, const char *name)
{
        struct sockaddr_storage ss = { 0 };

        if (strchr(client, ':')) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(4242);
                assert_int_equal(inet_pton(AF_INET6, client, &in6->sin6_addr), 1);
        } else {
                struct sockaddr_in *in = (struct sockaddr_in *)&ss;

                in->sin_family = AF_INET;
                in->sin_port = htons(4242);
                assert_int_equal(inet_pton(AF_INET, client, &in->sin_addr), 1);
        }
        return access_check(&r->s->only_from, &r->s->no_access, (struct sockaddr *)&ss, name);
}

static AccessVerdict check(const Rules *r, const char *client)
{
        return check_name(r, client, NULL);
}

#define ALLOW ACCESS_ALLOW
#define DENY ACCESS_DENY
#define NEEDS ACCESS_NEEDS_NAME

#define EXPECT(r, client, v)                                                                  \
        do {                                                                                  \
                AccessVerdict got_ = check(r, client);                                        \
                if (got_ != (v))                                                              \
                        fail_msg("%s: got %s, expected %s", client, access_verdict_name(got_), \
                                 access_verdict_name(v));                                      \
        } while (0)

#define EXPECT_NAME(r, client, name, v)                                                       \
        do {                                                                                  \
                AccessVerdict got_ = check_name(r, client, name);                             \
                if (got_ != (v))                                                              \
                        fail_msg("%s (%s): got %s, expected %s", client, name ? name : "NULL", \
                                 access_verdict_name(got_), access_verdict_name(v));          \
        } while (0)

/* --- lists set or not -------------------------------------------------------------------- */

static void test_unset_lists_allow_everyone(void **state)
{
        Rules r = rules(NULL, NULL);

        assert_false(r.s->only_from.set);
        EXPECT(&r, "10.1.2.3", ALLOW);
        EXPECT(&r, "::1", ALLOW);
        EXPECT(&r, "::ffff:192.0.2.1", ALLOW);
        done(&r);
}

static void test_empty_only_from_means_nobody(void **state)
{
        Rules r = rules("", NULL);

        assert_true(r.s->only_from.set);
        assert_int_equal(r.s->only_from.n_addrs, 0);
        EXPECT(&r, "10.1.2.3", DENY);
        EXPECT(&r, "127.0.0.1", DENY);
        EXPECT(&r, "::1", DENY);
        EXPECT_NAME(&r, "10.1.2.3", "host.example.org", DENY);
        done(&r);
}

static void test_empty_no_access_changes_nothing(void **state)
{
        Rules r = rules(NULL, "");

        EXPECT(&r, "10.1.2.3", ALLOW);
        done(&r);
        r = rules("10.0.0.0/8", "");
        EXPECT(&r, "10.1.2.3", ALLOW);
        EXPECT(&r, "11.1.2.3", DENY);
        done(&r);
}

static void test_no_access_only(void **state)
{
        Rules r = rules(NULL, "10.1.2.3 192.168.0.0/16");

        EXPECT(&r, "10.1.2.3", DENY);
        EXPECT(&r, "10.1.2.4", ALLOW);
        EXPECT(&r, "192.168.77.1", DENY);
        EXPECT(&r, "::1", ALLOW);
        done(&r);
}

static void test_null_lists(void **state)
{
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a010203) };
        ConfAddrList empty_set = { .set = true };

        assert_int_equal(access_check(NULL, NULL, (struct sockaddr *)&in, NULL), ALLOW);
        assert_int_equal(access_check(&empty_set, NULL, (struct sockaddr *)&in, NULL), DENY);
}

/* --- address forms ----------------------------------------------------------------------- */

static void test_dotted_and_wildcards(void **state)
{
        /* "10.1.2.3" is one host; trailing .0 parts are wildcards: "192.168.0.0" is /16 */
        Rules r = rules("10.1.2.3 192.168.0.0 172.16.5.0", NULL);

        assert_int_equal(r.s->only_from.addrs[1].prefix, 16);
        assert_int_equal(r.s->only_from.addrs[2].prefix, 24);
        EXPECT(&r, "10.1.2.3", ALLOW);
        EXPECT(&r, "10.1.2.4", DENY);
        EXPECT(&r, "192.168.200.7", ALLOW);
        EXPECT(&r, "192.169.0.1", DENY);
        EXPECT(&r, "172.16.5.255", ALLOW);
        EXPECT(&r, "172.16.6.1", DENY);
        EXPECT(&r, "::ffff:10.1.2.3", ALLOW);          /* v4-mapped is IPv4 */
        EXPECT(&r, "::ffff:10.1.2.4", DENY);
        done(&r);
}

static void test_zero_address_matches_all_ipv4(void **state)
{
        Rules r = rules("0.0.0.0", NULL);

        assert_int_equal(r.s->only_from.addrs[0].prefix, 0);
        EXPECT(&r, "1.2.3.4", ALLOW);
        EXPECT(&r, "255.255.255.255", ALLOW);
        EXPECT(&r, "::ffff:8.8.8.8", ALLOW);
        EXPECT(&r, "::1", DENY);                        /* an IPv4 entry: not IPv6 clients */
        EXPECT(&r, "2001:db8::1", DENY);
        done(&r);
}

static void test_factorized(void **state)
{
        Rules r = rules("10.1.2.{1,5,9} 172.{16,17}", NULL);

        assert_int_equal(r.s->only_from.n_addrs, 5);
        EXPECT(&r, "10.1.2.1", ALLOW);
        EXPECT(&r, "10.1.2.5", ALLOW);
        EXPECT(&r, "10.1.2.9", ALLOW);
        EXPECT(&r, "10.1.2.2", DENY);
        EXPECT(&r, "172.16.0.1", ALLOW);
        EXPECT(&r, "172.17.255.1", ALLOW);
        EXPECT(&r, "172.18.0.1", DENY);
        done(&r);
}

static void test_cidr_v4(void **state)
{
        Rules r = rules("10.0.0.0/8 192.0.2.128/25 198.51.100.7/32 203.0.113.0/31", NULL);

        EXPECT(&r, "10.255.255.255", ALLOW);
        EXPECT(&r, "11.0.0.0", DENY);
        EXPECT(&r, "192.0.2.128", ALLOW);
        EXPECT(&r, "192.0.2.255", ALLOW);
        EXPECT(&r, "192.0.2.127", DENY);
        EXPECT(&r, "198.51.100.7", ALLOW);
        EXPECT(&r, "198.51.100.6", DENY);
        EXPECT(&r, "203.0.113.1", ALLOW);
        EXPECT(&r, "203.0.113.2", DENY);
        done(&r);
}

static void test_network_name(void **state)
{
        /* /etc/networks' "loopback" (127.0.0.0) if this system has it */
        Rules r = rules("loopback", NULL);

        if (r.s->only_from.n_addrs == 1 && r.s->only_from.addrs[0].kind == CONF_ADDR_NET) {
                EXPECT(&r, "127.0.0.1", ALLOW);
                EXPECT(&r, "127.200.0.1", ALLOW);
                EXPECT(&r, "10.0.0.1", DENY);
        } else {
                /* unknown network: kept as a host name, decided by name */
                EXPECT(&r, "127.0.0.1", NEEDS);
                EXPECT_NAME(&r, "127.0.0.1", "loopback", ALLOW);
        }
        done(&r);
}

static void test_ipv6_forms(void **state)
{
        Rules r = rules("2001:db8::/32 2001:db8:ffff::1 fe80::/10", NULL);

        EXPECT(&r, "2001:db8::1", ALLOW);
        EXPECT(&r, "2001:db8:1234::99", ALLOW);
        EXPECT(&r, "2001:db9::1", DENY);
        EXPECT(&r, "fe80::1", ALLOW);
        EXPECT(&r, "febf::1", ALLOW);
        EXPECT(&r, "fec0::1", DENY);
        EXPECT(&r, "10.0.0.1", DENY);                   /* IPv6 entries: not IPv4 clients */
        done(&r);

        r = rules("2001:db8::1", NULL);                 /* a plain IPv6 address: /128 */
        assert_int_equal(r.s->only_from.addrs[0].prefix, 128);
        EXPECT(&r, "2001:db8::1", ALLOW);
        EXPECT(&r, "2001:db8::2", DENY);
        done(&r);
}

static void test_loopback_128_matches(void **state)
{
        /* xinetd 2.3.15 refuses ::1 for "only_from = ::1/128" (observed); the manual says a
         * /128 is an address like any other. */
        Rules r = rules("::1/128", NULL);

        EXPECT(&r, "::1", ALLOW);
        EXPECT(&r, "::2", DENY);
        EXPECT(&r, "127.0.0.1", DENY);
        done(&r);
        r = rules("::1", NULL);
        EXPECT(&r, "::1", ALLOW);
        done(&r);
}

static void test_v4_mapped_entries_and_clients(void **state)
{
        /* an entry written v4-mapped is the IPv4 entry (observed in xinetd for a mapped client) */
        Rules r = rules("::ffff:127.0.0.1 ::ffff:10.0.0.0/104", NULL);

        EXPECT(&r, "127.0.0.1", ALLOW);
        EXPECT(&r, "::ffff:127.0.0.1", ALLOW);
        EXPECT(&r, "127.0.0.2", DENY);
        EXPECT(&r, "10.9.8.7", ALLOW);
        EXPECT(&r, "::ffff:10.9.8.7", ALLOW);
        EXPECT(&r, "11.0.0.1", DENY);
        done(&r);

        /* ::/0 holds every address, mapped IPv4 included (observed with xinetd's dual-stack
         * sockets); the same client gets the same answer on an IPv4 socket */
        r = rules("::/0", NULL);
        EXPECT(&r, "::1", ALLOW);
        EXPECT(&r, "2001:db8::5", ALLOW);
        EXPECT(&r, "127.0.0.1", ALLOW);
        EXPECT(&r, "::ffff:127.0.0.1", ALLOW);
        done(&r);

        /* "::" is ::/128: nobody (as in xinetd) */
        r = rules("::", NULL);
        EXPECT(&r, "::1", DENY);
        EXPECT(&r, "127.0.0.1", DENY);
        done(&r);
}

static void test_other_family_client(void **state)
{
        Rules r = rules(NULL, "10.0.0.0/8");
        struct sockaddr_un un = { .sun_family = AF_UNIX };

        assert_int_equal(access_check(&r.s->only_from, &r.s->no_access, (struct sockaddr *)&un,
                                      NULL), ALLOW);
        assert_int_equal(access_check(&r.s->only_from, &r.s->no_access, NULL, NULL), ALLOW);
        done(&r);
        r = rules("10.0.0.0/8", NULL);
        assert_int_equal(access_check(&r.s->only_from, &r.s->no_access, (struct sockaddr *)&un,
                                      NULL), DENY);
        done(&r);
}

/* --- specificity ------------------------------------------------------------------------- */

static void test_more_specific_no_access_wins(void **state)
{
        /* the manual's example: only_from 128.138.209.0, no_access 128.138.209.10 */
        Rules r = rules("128.138.209.0", "128.138.209.10");

        EXPECT(&r, "128.138.209.10", DENY);
        EXPECT(&r, "128.138.209.11", ALLOW);
        EXPECT(&r, "128.138.210.1", DENY);
        done(&r);

        r = rules("127.0.0.0/8", "127.0.0.1");          /* checked against xinetd: refused */
        EXPECT(&r, "127.0.0.1", DENY);
        EXPECT(&r, "127.0.0.3", ALLOW);
        done(&r);
}

static void test_more_specific_only_from_wins(void **state)
{
        /* xinetd refuses here ("match equally", observed); its manual says allowed */
        Rules r = rules("127.0.0.1", "127.0.0.0/8");

        EXPECT(&r, "127.0.0.1", ALLOW);
        EXPECT(&r, "127.0.0.2", DENY);
        EXPECT(&r, "10.0.0.1", DENY);
        done(&r);

        r = rules("2001:db8:1::/48", "2001:db8::/32");
        EXPECT(&r, "2001:db8:1::7", ALLOW);
        EXPECT(&r, "2001:db8:2::7", DENY);
        done(&r);

        r = rules("10.1.0.0/16", "0.0.0.0");            /* deny all, allow one network */
        EXPECT(&r, "10.1.9.9", ALLOW);
        EXPECT(&r, "10.2.9.9", DENY);
        EXPECT(&r, "::1", DENY);                        /* only_from set, no match */
        done(&r);
}

static void test_best_match_whatever_the_order(void **state)
{
        /* the best match of each list counts, not the first one */
        Rules r = rules("10.0.0.0/8 10.1.2.3", "10.1.0.0/16");

        EXPECT(&r, "10.1.2.3", ALLOW);                  /* /32 beats /16 */
        EXPECT(&r, "10.1.2.4", DENY);                   /* /16 beats /8 */
        EXPECT(&r, "10.2.0.1", ALLOW);
        done(&r);

        r = rules("10.1.0.0/16", "10.0.0.0/8 10.1.2.0/24");
        EXPECT(&r, "10.1.2.3", DENY);
        EXPECT(&r, "10.1.3.3", ALLOW);
        done(&r);
}

static void test_ties_are_refused(void **state)
{
        Rules r = rules("10.0.0.0/8", "10.0.0.0");      /* same network, two spellings */

        EXPECT(&r, "10.1.2.3", DENY);
        done(&r);

        r = rules("127.0.0.1", "::ffff:127.0.0.1");     /* one host, v4 and mapped */
        EXPECT(&r, "127.0.0.1", DENY);
        done(&r);

        r = rules("::1", "::1/128");
        EXPECT(&r, "::1", DENY);
        done(&r);

        r = rules("0.0.0.0", "0.0.0.0/0");              /* the old xinetd FAQ's example */
        EXPECT(&r, "192.168.1.1", DENY);
        done(&r);

        r = rules(".example.org", ".EXAMPLE.org");
        EXPECT_NAME(&r, "10.0.0.1", "a.example.org", DENY);
        done(&r);
}

static void test_ipv4_beats_ipv6_network_of_same_client(void **state)
{
        /* ::/0 is less specific than any IPv4 entry (0.0.0.0 is ::ffff:0.0.0.0/96) */
        Rules r = rules("0.0.0.0", "::/0");

        EXPECT(&r, "10.0.0.1", ALLOW);
        EXPECT(&r, "::1", DENY);
        done(&r);
}

static void test_specificity_scale(void **state)
{
        Rules r = rules("::/0 0.0.0.0 10.0.0.0 10.1.2.0/24 10.1.2.3 ::ffff:10.1.2.3 .a.b "
                        ".x.a.b somehost", NULL);
        const ConfAddr *e = r.s->only_from.addrs;
        AccessAddr c;
        struct sockaddr_in in = { .sin_family = AF_INET };

        assert_int_equal(r.s->only_from.n_addrs, 9);
        inet_pton(AF_INET, "10.1.2.3", &in.sin_addr);
        assert_int_equal(access_addr_from_sockaddr((struct sockaddr *)&in, &c), 0);
        assert_true(access_addr_is_v4(&c));
        assert_int_equal(access_entry_specificity(&e[0], &c, NULL), 0);
        assert_int_equal(access_entry_specificity(&e[1], &c, NULL), 96);
        assert_int_equal(access_entry_specificity(&e[2], &c, NULL), 104);
        assert_int_equal(access_entry_specificity(&e[3], &c, NULL), 120);
        assert_int_equal(access_entry_specificity(&e[4], &c, NULL), ACCESS_SPEC_HOST);
        assert_int_equal(access_entry_specificity(&e[5], &c, NULL), ACCESS_SPEC_HOST);
        assert_int_equal(access_entry_specificity(&e[6], &c, NULL), -1);   /* no name yet */
        assert_int_equal(access_entry_specificity(&e[6], &c, "h.x.a.b"),
                         ACCESS_SPEC_DOMAIN_BASE + 2);
        assert_int_equal(access_entry_specificity(&e[7], &c, "h.x.a.b"),
                         ACCESS_SPEC_DOMAIN_BASE + 3);
        assert_int_equal(access_entry_specificity(&e[8], &c, "somehost"), ACCESS_SPEC_HOST);
        assert_int_equal(access_entry_specificity(&e[8], &c, "otherhost"), -1);
        assert_true(120 < ACCESS_SPEC_DOMAIN_BASE && ACCESS_SPEC_DOMAIN_BASE + 127 <
                    ACCESS_SPEC_HOST);
        done(&r);
}

/* --- names ------------------------------------------------------------------------------- */

static void test_domain_needs_name(void **state)
{
        Rules r = rules(".example.org", NULL);

        EXPECT(&r, "10.1.2.3", NEEDS);
        EXPECT(&r, "::1", NEEDS);
        EXPECT_NAME(&r, "10.1.2.3", "host.example.org", ALLOW);
        EXPECT_NAME(&r, "10.1.2.3", "a.b.EXAMPLE.ORG", ALLOW);
        EXPECT_NAME(&r, "10.1.2.3", "host.example.org.", ALLOW);   /* trailing dot */
        EXPECT_NAME(&r, "10.1.2.3", "example.org", DENY);           /* the domain itself */
        EXPECT_NAME(&r, "10.1.2.3", "badexample.org", DENY);
        EXPECT_NAME(&r, "10.1.2.3", "host.example.org.evil.net", DENY);
        EXPECT_NAME(&r, "10.1.2.3", "", DENY);                      /* no name */
        done(&r);
}

static void test_name_only_when_it_matters(void **state)
{
        /* an exact address in only_from: no name can change the answer */
        Rules r = rules("10.0.0.1 .example.org", NULL);

        EXPECT(&r, "10.0.0.1", ALLOW);
        EXPECT(&r, "10.0.0.2", NEEDS);
        done(&r);

        /* only_from decides against any name; no_access's domain cannot beat a host */
        r = rules("10.0.0.1", ".bad.org");
        EXPECT(&r, "10.0.0.1", ALLOW);
        EXPECT(&r, "10.0.0.2", DENY);
        done(&r);

        /* no_access has a host: refused whatever the name */
        r = rules(".example.org", "10.1.2.3");
        EXPECT(&r, "10.1.2.3", DENY);
        EXPECT(&r, "10.1.2.4", NEEDS);
        EXPECT_NAME(&r, "10.1.2.4", "a.example.org", ALLOW);
        EXPECT_NAME(&r, "10.1.2.4", "a.example.com", DENY);
        done(&r);

        /* unset only_from, a no_access domain: the name decides */
        r = rules(NULL, ".bad.org");
        EXPECT(&r, "10.1.2.3", NEEDS);
        EXPECT_NAME(&r, "10.1.2.3", "x.bad.org", DENY);
        EXPECT_NAME(&r, "10.1.2.3", "x.good.org", ALLOW);
        EXPECT_NAME(&r, "10.1.2.3", "", ALLOW);
        done(&r);
}

static void test_domain_beats_network(void **state)
{
        Rules r = rules("0.0.0.0", ".badisp.net");

        EXPECT(&r, "10.1.2.3", NEEDS);
        EXPECT_NAME(&r, "10.1.2.3", "dsl-1.badisp.net", DENY);
        EXPECT_NAME(&r, "10.1.2.3", "www.example.org", ALLOW);
        done(&r);

        r = rules(".example.org", "0.0.0.0/0");         /* deny all but one domain */
        EXPECT_NAME(&r, "192.0.2.1", "a.example.org", ALLOW);
        EXPECT_NAME(&r, "192.0.2.1", "a.example.com", DENY);
        done(&r);

        r = rules("192.168.0.0/16", ".dialup.example.org");
        EXPECT(&r, "192.168.1.1", NEEDS);
        EXPECT_NAME(&r, "192.168.1.1", "p1.dialup.example.org", DENY);
        EXPECT_NAME(&r, "192.168.1.1", "ws.example.org", ALLOW);
        EXPECT(&r, "10.0.0.1", DENY);                   /* outside only_from: no lookup */
        done(&r);
}

static void test_longer_domain_wins(void **state)
{
        Rules r = rules(".trusted.example.org", ".example.org");

        EXPECT_NAME(&r, "10.0.0.1", "a.trusted.example.org", ALLOW);
        EXPECT_NAME(&r, "10.0.0.1", "a.example.org", DENY);
        done(&r);

        r = rules(".example.org", ".guest.example.org");
        EXPECT_NAME(&r, "10.0.0.1", "a.guest.example.org", DENY);
        EXPECT_NAME(&r, "10.0.0.1", "a.example.org", ALLOW);
        done(&r);
}

static void test_unresolved_host_name(void **state)
{
        /* with CONF_LOAD_NO_RESOLVE a host name is kept as a name and matched by name */
        Rules r = rules("somehost", NULL);

        assert_int_equal(r.s->only_from.addrs[0].kind, CONF_ADDR_HOST);
        EXPECT(&r, "10.0.0.1", NEEDS);
        EXPECT_NAME(&r, "10.0.0.1", "somehost", ALLOW);
        EXPECT_NAME(&r, "10.0.0.1", "SomeHost.", ALLOW);
        EXPECT_NAME(&r, "10.0.0.1", "somehost.example.org", DENY);
        EXPECT_NAME(&r, "10.0.0.1", "", DENY);
        done(&r);

        /* a host name beats a domain; against an exact address, a tie */
        r = rules("somehost", ".example.org");
        EXPECT_NAME(&r, "10.0.0.1", "somehost", ALLOW);
        done(&r);
        r = rules("somehost", "10.0.0.1");
        EXPECT(&r, "10.0.0.1", DENY);
        EXPECT(&r, "10.0.0.2", NEEDS);
        done(&r);
}

static void test_resolved_host_name(void **state)
{
        /* resolved at load ("localhost" from /etc/hosts): an address entry, no lookup */
        Rules r = rules_flags("localhost", "127.0.0.0/8", CONF_LOAD_NO_FS_CHECKS |
                                                                  CONF_LOAD_NO_INCLUDE);
        bool have_v4 = false;

        for (size_t i = 0; i < r.s->only_from.n_addrs; i++) {
                assert_int_equal(r.s->only_from.addrs[i].kind, CONF_ADDR_NET);
                if (r.s->only_from.addrs[i].family == AF_INET)
                        have_v4 = true;
        }
        if (have_v4) {
                EXPECT(&r, "127.0.0.1", ALLOW);         /* host beats /8 */
                EXPECT(&r, "127.0.0.2", DENY);
        }
        done(&r);
}

static void test_verdict_names(void **state)
{
        assert_string_equal(access_verdict_name(ACCESS_ALLOW), "allow");
        assert_string_equal(access_verdict_name(ACCESS_DENY), "deny");
        assert_string_equal(access_verdict_name(ACCESS_NEEDS_NAME), "needs name");
}

static void test_addr_forms(void **state)
{
        struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
        struct sockaddr_in in = { .sin_family = AF_INET };
        AccessAddr a, b;

        inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
        inet_pton(AF_INET6, "::ffff:192.0.2.7", &in6.sin6_addr);
        assert_int_equal(access_addr_from_sockaddr((struct sockaddr *)&in, &a), 0);
        assert_int_equal(access_addr_from_sockaddr((struct sockaddr *)&in6, &b), 0);
        assert_memory_equal(&a, &b, sizeof(a));
        assert_true(access_addr_is_v4(&a));

        inet_pton(AF_INET6, "2001:db8:1:2:3:4:5:6", &in6.sin6_addr);
        assert_int_equal(access_addr_from_sockaddr((struct sockaddr *)&in6, &b), 0);
        assert_false(access_addr_is_v4(&b));
        access_addr_mask(&b, 64);
        inet_pton(AF_INET6, "2001:db8:1:2::", &in6.sin6_addr);
        assert_memory_equal(b.addr, &in6.sin6_addr, 16);
        access_addr_mask(&a, 64);                       /* IPv4 is kept whole */
        assert_true(access_addr_is_v4(&a));
        assert_int_equal(a.addr[15], 7);

        struct sockaddr_un un = { .sun_family = AF_UNIX };
        assert_int_equal(access_addr_from_sockaddr((struct sockaddr *)&un, &a), -EAFNOSUPPORT);
        assert_int_equal(access_addr_from_sockaddr(NULL, &a), -EAFNOSUPPORT);

        uint64_t k[2] = { 1, 2 }, k2[2] = { 3, 4 };
        assert_true(access_addr_hash(k, &a) == access_addr_hash(k, &a));
        assert_true(access_addr_hash(k, &a) != access_addr_hash(k2, &a));
        assert_true(access_addr_hash(k, &a) != access_addr_hash(k, &b));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unset_lists_allow_everyone),
                cmocka_unit_test(test_empty_only_from_means_nobody),
                cmocka_unit_test(test_empty_no_access_changes_nothing),
                cmocka_unit_test(test_no_access_only),
                cmocka_unit_test(test_null_lists),
                cmocka_unit_test(test_dotted_and_wildcards),
                cmocka_unit_test(test_zero_address_matches_all_ipv4),
                cmocka_unit_test(test_factorized),
                cmocka_unit_test(test_cidr_v4),
                cmocka_unit_test(test_network_name),
                cmocka_unit_test(test_ipv6_forms),
                cmocka_unit_test(test_loopback_128_matches),
                cmocka_unit_test(test_v4_mapped_entries_and_clients),
                cmocka_unit_test(test_other_family_client),
                cmocka_unit_test(test_more_specific_no_access_wins),
                cmocka_unit_test(test_more_specific_only_from_wins),
                cmocka_unit_test(test_best_match_whatever_the_order),
                cmocka_unit_test(test_ties_are_refused),
                cmocka_unit_test(test_ipv4_beats_ipv6_network_of_same_client),
                cmocka_unit_test(test_specificity_scale),
                cmocka_unit_test(test_domain_needs_name),
                cmocka_unit_test(test_name_only_when_it_matters),
                cmocka_unit_test(test_domain_beats_network),
                cmocka_unit_test(test_longer_domain_wins),
                cmocka_unit_test(test_unresolved_host_name),
                cmocka_unit_test(test_resolved_host_name),
                cmocka_unit_test(test_verdict_names),
                cmocka_unit_test(test_addr_forms),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
