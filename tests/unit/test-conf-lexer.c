/* SPDX-License-Identifier: MIT */
/*
 * test-conf-lexer.c — the line lexer and the entry parser: comments, blanks, CRLF, the
 * operator forms xinetd reads (and the lenient ones), brace placement, recovery from errors.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "conf/lexer.h"
#include "conf/parser.h"

static void test_lexer_lines(void **state)
{
        char buf[] = "# comment\n\n  \t\nservice  foo \r\n   # indented comment\n"
                     "a = b #c\nlast";
        Lexer lx;
        LexLine l;

        lexer_init(&lx, buf, strlen(buf));
        assert_int_equal(lexer_next(&lx, &l), 1);
        assert_int_equal(l.line, 4);
        assert_int_equal(l.n_toks, 2);
        assert_string_equal(l.toks[0].s, "service");
        assert_string_equal(l.toks[1].s, "foo");
        assert_int_equal(l.toks[1].col, 10);
        assert_int_equal(lexer_next(&lx, &l), 1);
        assert_int_equal(l.line, 6);
        assert_int_equal(l.n_toks, 4);          /* '#' mid-line is an ordinary word */
        assert_string_equal(l.toks[3].s, "#c");
        assert_int_equal(lexer_next(&lx, &l), 1);
        assert_int_equal(l.line, 7);
        assert_string_equal(l.toks[0].s, "last");
        assert_int_equal(lexer_next(&lx, &l), 0);
        lexer_deinit(&lx);
}

static void test_lexer_limits(void **state)
{
        size_t n = CONF_MAX_LINE + 10;
        char *buf = malloc(n + 20);
        Lexer lx;
        LexLine l;

        memset(buf, 'x', n);
        memcpy(buf + n, "\nok\n", 4);
        lexer_init(&lx, buf, n + 4);
        assert_int_equal(lexer_next(&lx, &l), LEXER_E_LONG);
        assert_int_equal(l.line, 1);
        assert_int_equal(lexer_next(&lx, &l), 1);
        assert_string_equal(l.toks[0].s, "ok");
        lexer_deinit(&lx);

        char nul[] = "a\0b\nc\n";
        lexer_init(&lx, nul, 6);
        assert_int_equal(lexer_next(&lx, &l), LEXER_E_NUL);
        assert_int_equal(lexer_next(&lx, &l), 1);
        assert_string_equal(l.toks[0].s, "c");
        lexer_deinit(&lx);
        free(buf);
}

typedef struct P {
        Arena *a;
        ConfDiag d;
        ParseResult r;
        char *buf;
} P;

static void parse(P *p, const char *text)
{
        size_t n = strlen(text);
        p->a = arena_new();
        p->d = CONF_DIAG_NULL;
        p->r = (ParseResult) { 0 };
        p->buf = malloc(n + 1);
        memcpy(p->buf, text, n + 1);
        assert_int_equal(parser_parse(p->a, &p->d, "t.conf", p->buf, n, &p->r), 0);
}

static void done(P *p)
{
        free(p->r.items);
        conf_diag_deinit(&p->d);
        arena_free(p->a);
        free(p->buf);
}

static void test_parse_entries(void **state)
{
        P p;
        parse(&p, "defaults\n{\n  instances = 5\n}\n"
                  "include /etc/x\nincludedir /etc/xinetd.d\n"
                  "service a\n{\n  x = 1 2\n  y += 3\n  z -= 4\n  w =5\n  v=6\n  u= 7\n}\n"
                  "service b {\n  q =\n}\n");
        assert_int_equal(p.d.n_errors, 0);
        assert_int_equal(p.r.n_items, 5);
        assert_int_equal(p.r.items[0].kind, PARSE_DEFAULTS);
        assert_int_equal(p.r.items[1].kind, PARSE_INCLUDE);
        assert_string_equal(p.r.items[1].name, "/etc/x");
        assert_int_equal(p.r.items[2].kind, PARSE_INCLUDEDIR);
        ParseItem *a = &p.r.items[3];
        assert_int_equal(a->kind, PARSE_SERVICE);
        assert_string_equal(a->name, "a");
        assert_int_equal(a->line, 7);
        assert_int_equal(a->open_line, 8);
        assert_int_equal(a->close_line, 15);
        assert_int_equal(a->n_attrs, 6);
        assert_string_equal(a->attrs[0].name, "x");
        assert_int_equal(a->attrs[0].n_values, 2);
        assert_int_equal(a->attrs[1].op, CONF_OP_ADD);
        assert_int_equal(a->attrs[2].op, CONF_OP_REMOVE);
        assert_string_equal(a->attrs[3].values[0].s, "5");       /* "w =5" as xinetd */
        assert_int_equal(a->attrs[3].values[0].col, 6);
        assert_string_equal(a->attrs[4].name, "v");              /* lenient "v=6" */
        assert_string_equal(a->attrs[4].values[0].s, "6");
        assert_string_equal(a->attrs[5].values[0].s, "7");
        ParseItem *b = &p.r.items[4];
        assert_string_equal(b->name, "b");
        assert_int_equal(b->open_line, 16);
        assert_int_equal(b->n_attrs, 1);
        assert_int_equal(b->attrs[0].n_values, 0);
        done(&p);
}

static void test_parse_errors(void **state)
{
        P p;
        /* missing '}' before the next service: the first is broken, the second is intact */
        parse(&p, "service a\n{\n  x = 1\nservice b\n{\n  y = 2\n}\n");
        assert_int_equal(p.r.n_items, 2);
        assert_non_null(p.r.items[0].broken);
        assert_null(p.r.items[1].broken);
        assert_int_equal(p.d.n_errors, 1);
        assert_string_equal(p.d.entries[0].message, "service 'a': missing '}' before line 4");
        done(&p);

        /* no operator: the block is broken, parsing goes on */
        parse(&p, "service a\n{\n  x 1\n}\nservice b\n{\n}\n");
        assert_int_equal(p.r.n_items, 2);
        assert_non_null(p.r.items[0].broken);
        assert_int_equal(p.d.entries[0].line, 3);
        done(&p);

        /* missing '{': skipped up to the next '}' as xinetd does */
        parse(&p, "service a\n  x = 1\n}\nservice b\n{\n}\n");
        assert_int_equal(p.r.n_items, 2);
        assert_non_null(p.r.items[0].broken);
        assert_null(p.r.items[1].broken);
        done(&p);

        /* unterminated at end of file */
        parse(&p, "service a\n{\n  x = 1\n");
        assert_int_equal(p.r.n_items, 1);
        assert_string_equal(p.r.items[0].broken, "missing '}' at end of file");
        done(&p);

        /* junk at top level, stray braces, missing service name, include without path */
        parse(&p, "servce a\n{\n x = 1\n}\n}\nservice\n{\n}\ninclude\nservice ok\n{\n}\n");
        assert_int_equal(p.r.n_items, 1);
        assert_string_equal(p.r.items[0].name, "ok");
        assert_int_equal(p.d.n_errors, 4);
        done(&p);

        /* a UTF-8 byte-order mark is not part of the first word */
        parse(&p, "\xef\xbb\xbfservice a\n{\n}\n");
        assert_int_equal(p.d.n_errors, 0);
        assert_int_equal(p.r.n_items, 1);
        assert_string_equal(p.r.items[0].name, "a");
        done(&p);

        /* bad attribute names */
        parse(&p, "service a\n{\n  = 1\n}\nservice b\n{\n  a-b = 1\n}\n");
        assert_non_null(p.r.items[0].broken);
        assert_non_null(p.r.items[1].broken);
        done(&p);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lexer_lines),
                cmocka_unit_test(test_lexer_limits),
                cmocka_unit_test(test_parse_entries),
                cmocka_unit_test(test_parse_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
