/* SPDX-License-Identifier: MIT */
/*
 * parser — entries and attribute lines. Recovery follows xinetd where it is sensible (a block
 * whose header is bad is skipped up to its '}') and does better where xinetd loses more than
 * it must: a 'service' line inside an unterminated block closes that block (reported) and
 * starts the next one, instead of swallowing it.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf/parser.h"

typedef struct Parser {
        Arena *arena;
        ConfDiag *diag;
        const char *file;
        Lexer lx;
        LexLine cur;
        int have;               /* cur holds an unconsumed line (1), none (0) */
        ParseResult *res;
} Parser;

const char *parser_op_name(ConfOp op)
{
        switch (op) {
        case CONF_OP_ADD: return "+=";
        case CONF_OP_REMOVE: return "-=";
        default: return "=";
        }
}

/* The next line into p->cur; 1, 0 at end, <0 on error. Long/NUL lines are reported here. */
static int next_line(Parser *p)
{
        if (p->have)
                return 1;
        for (;;) {
                int r = lexer_next(&p->lx, &p->cur);
                if (r == LEXER_E_LONG) {
                        conf_diag_add(p->diag, CONF_ERROR, p->file, p->cur.line, 0, NULL,
                                      "line longer than %u bytes, ignored", CONF_MAX_LINE);
                        continue;
                }
                if (r == LEXER_E_NUL) {
                        conf_diag_add(p->diag, CONF_ERROR, p->file, p->cur.line, 0, NULL,
                                      "line contains a NUL byte, ignored");
                        continue;
                }
                if (r == 1)
                        p->have = 1;
                return r;
        }
}

static void consume(Parser *p)
{
        p->have = 0;
}

static bool line_is(const LexLine *l, const char *s)
{
        return l->n_toks >= 1 && strcmp(l->toks[0].s, s) == 0;
}

static bool is_keyword(const char *s)
{
        return strcmp(s, "service") == 0 || strcmp(s, "defaults") == 0 ||
               strcmp(s, "include") == 0 || strcmp(s, "includedir") == 0;
}

ParseItem *parser_new_item(ParseResult *r)
{
        if (r->n_items == r->allocated) {
                size_t n = r->allocated ? r->allocated * 2 : 64;
                ParseItem *v = realloc(r->items, n * sizeof(*v));
                if (!v)
                        return NULL;
                r->items = v;
                r->allocated = n;
        }
        ParseItem *it = &r->items[r->n_items++];
        *it = (ParseItem) { 0 };
        return it;
}

static ParseItem *new_item(Parser *p, ParseItemKind kind, unsigned line, unsigned col)
{
        ParseItem *it = parser_new_item(p->res);
        if (it)
                *it = (ParseItem) { .kind = kind, .file = p->file, .line = line, .col = col };
        return it;
}

/* Skip lines up to and including a '}' line (xinetd's skip_entry). */
static int skip_block(Parser *p)
{
        int r;
        while ((r = next_line(p)) == 1) {
                bool end = line_is(&p->cur, "}");
                consume(p);
                if (end)
                        return 1;
        }
        return r;
}

/*
 * Split an attribute line into name, operator and values. Accepts what xinetd accepts
 * ("name = v", "name =v") and, leniently, "name=v" and "name= v".
 */
static int parse_attr_line(Parser *p, const LexLine *l, ParseAttr *ret, const char **ret_err)
{
        LexTok *t = l->toks;
        size_t nt = l->n_toks, vi;
        char *name = t[0].s, *eq = strchr(name, '='), *first = NULL;
        unsigned first_col = 0;
        ConfOp op = CONF_OP_SET;

        if (eq) {
                char *opstart = eq;
                if (eq > name && (eq[-1] == '+' || eq[-1] == '-')) {
                        op = eq[-1] == '+' ? CONF_OP_ADD : CONF_OP_REMOVE;
                        opstart = eq - 1;
                }
                if (eq[1]) {
                        first = eq + 1;
                        first_col = t[0].col + (unsigned) (first - name);
                }
                *opstart = '\0';
                vi = 1;
        } else if (nt >= 2 && (t[1].s[0] == '=' || ((t[1].s[0] == '+' || t[1].s[0] == '-') &&
                                                     t[1].s[1] == '='))) {
                char *o = t[1].s;
                if (o[0] != '=')
                        op = o[0] == '+' ? CONF_OP_ADD : CONF_OP_REMOVE;
                char *rest = o + (o[0] == '=' ? 1 : 2);
                if (*rest) {
                        first = rest;
                        first_col = t[1].col + (unsigned) (rest - o);
                }
                vi = 2;
        } else {
                *ret_err = "expected '=', '+=' or '-=' after the attribute name";
                return -EINVAL;
        }
        if (!*name) {
                *ret_err = "missing attribute name before the operator";
                return -EINVAL;
        }
        for (const char *c = name; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '_')) {
                        *ret_err = "bad character in attribute name";
                        return -EINVAL;
                }

        size_t n = (nt - vi) + (first ? 1 : 0);
        LexTok *v = n ? arena_allocarray(p->arena, n, sizeof(*v)) : NULL;
        if (n && !v)
                return -ENOMEM;
        size_t k = 0;
        if (first)
                v[k++] = (LexTok) { .s = first, .col = first_col };
        for (size_t i = vi; i < nt; i++)
                v[k++] = t[i];
        *ret = (ParseAttr) {
                .name = name, .op = op, .values = v, .n_values = n,
                .line = l->line, .col = t[0].col,
        };
        return 0;
}

static int push_attr(Parser *p, ParseItem *it, const ParseAttr *a, size_t *allocated)
{
        if (it->n_attrs == *allocated) {
                size_t n = *allocated ? *allocated * 2 : 16;
                ParseAttr *v = arena_allocarray(p->arena, n, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                if (it->n_attrs)
                        memcpy(v, it->attrs, it->n_attrs * sizeof(*v));
                it->attrs = v;
                *allocated = n;
        }
        it->attrs[it->n_attrs++] = *a;
        return 0;
}

/* Parse the body of a block whose '{' was consumed. */
static int parse_block(Parser *p, ParseItem *it, const char *what)
{
        size_t allocated = 0;
        int r;

        while ((r = next_line(p)) == 1) {
                LexLine *l = &p->cur;
                const char *err = NULL;
                ParseAttr a;

                if (strcmp(l->toks[0].s, "}") == 0) {
                        if (l->n_toks > 1)
                                conf_diag_add(p->diag, CONF_WARNING, p->file, l->line,
                                              l->toks[1].col, NULL,
                                              "text after '}' ignored");
                        it->close_line = l->line;
                        consume(p);
                        return 0;
                }
                if (is_keyword(l->toks[0].s) && !strchr(l->toks[0].s, '=') &&
                    (l->n_toks < 2 || !strchr("=+-", l->toks[1].s[0]))) {
                        /* the '}' was forgotten: close here, leave the line for the caller */
                        conf_diag_add(p->diag, CONF_ERROR, p->file, it->line, 0, NULL,
                                      "%s: missing '}' before line %u", what, l->line);
                        if (!it->broken)
                                it->broken = arena_printf(p->arena, "missing '}' before line %u",
                                                          l->line);
                        return 0;
                }
                if (strcmp(l->toks[0].s, "{") == 0) {
                        conf_diag_add(p->diag, CONF_ERROR, p->file, l->line, l->toks[0].col,
                                      NULL, "%s: unexpected '{'", what);
                        if (!it->broken)
                                it->broken = arena_printf(p->arena, "unexpected '{' at line %u",
                                                          l->line);
                        consume(p);
                        continue;
                }
                r = parse_attr_line(p, l, &a, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        conf_diag_add(p->diag, CONF_ERROR, p->file, l->line, l->toks[0].col,
                                      NULL, "%s: %s", what, err);
                        if (!it->broken)
                                it->broken = arena_printf(p->arena, "line %u: %s", l->line, err);
                        consume(p);
                        continue;
                }
                consume(p);
                r = push_attr(p, it, &a, &allocated);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        conf_diag_add(p->diag, CONF_ERROR, p->file, it->line, 0, NULL,
                      "%s: missing '}' at end of file", what);
        if (!it->broken)
                it->broken = "missing '}' at end of file";
        return 0;
}

static int parse_entry(Parser *p)
{
        LexLine *l = &p->cur;
        const char *kw = l->toks[0].s;
        unsigned line = l->line, col = l->toks[0].col;
        ParseItem *it;
        int r;

        if (strcmp(kw, "include") == 0 || strcmp(kw, "includedir") == 0) {
                if (l->n_toks < 2) {
                        conf_diag_add(p->diag, CONF_ERROR, p->file, line, 0, NULL,
                                      "'%s' needs a path", kw);
                        consume(p);
                        return 0;
                }
                if (l->n_toks > 2)
                        conf_diag_add(p->diag, CONF_WARNING, p->file, line, l->toks[2].col,
                                      NULL, "text after the path of '%s' ignored", kw);
                it = new_item(p, kw[7] ? PARSE_INCLUDEDIR : PARSE_INCLUDE, line, col);
                if (!it)
                        return -ENOMEM;
                it->name = l->toks[1].s;
                consume(p);
                return 0;
        }

        bool service = strcmp(kw, "service") == 0;
        if (!service && strcmp(kw, "defaults") != 0) {
                conf_diag_add(p->diag, CONF_ERROR, p->file, line, col, NULL,
                              "expected 'service', 'defaults', 'include' or 'includedir', "
                              "found '%s'", kw);
                consume(p);
                /* a block that follows belongs to this bad header: skip it */
                r = next_line(p);
                if (r == 1 && line_is(&p->cur, "{")) {
                        consume(p);
                        r = skip_block(p);
                }
                return r < 0 ? r : 0;
        }

        size_t nargs = l->n_toks - 1;
        bool brace = nargs >= 1 && strcmp(l->toks[l->n_toks - 1].s, "{") == 0;
        if (brace)
                nargs--;
        if (service && nargs == 0) {
                conf_diag_add(p->diag, CONF_ERROR, p->file, line, 0, NULL,
                              "service name missing after 'service'");
                consume(p);
                r = next_line(p);
                if (r == 1 && line_is(&p->cur, "{")) {
                        consume(p);
                        r = skip_block(p);
                } else if (brace)
                        r = skip_block(p);
                return r < 0 ? r : 0;
        }
        size_t extra = service ? 2 : 1;
        if (nargs + 1 > extra)
                conf_diag_add(p->diag, CONF_WARNING, p->file, line, l->toks[extra].col, NULL,
                              "text after '%s%s%s' ignored", kw, service ? " " : "",
                              service ? l->toks[1].s : "");

        it = new_item(p, service ? PARSE_SERVICE : PARSE_DEFAULTS, line, col);
        if (!it)
                return -ENOMEM;
        it->name = service ? l->toks[1].s : "defaults";
        const char *what = service ? arena_printf(p->arena, "service '%s'", it->name)
                                   : "defaults";
        if (!what)
                return -ENOMEM;
        consume(p);

        if (brace) {
                it->open_line = line;
        } else {
                r = next_line(p);
                if (r < 0)
                        return r;
                if (r == 0 || !line_is(&p->cur, "{") || p->cur.n_toks != 1) {
                        conf_diag_add(p->diag, CONF_ERROR, p->file, line, 0, NULL,
                                      "%s: expected '{' on the line after '%s'", what, kw);
                        it->broken = "missing '{'";
                        /* xinetd skips to the next '}' */
                        r = skip_block(p);
                        return r < 0 ? r : 0;
                }
                it->open_line = p->cur.line;
                consume(p);
        }
        return parse_block(p, it, what);
}

int parser_parse(Arena *a, ConfDiag *diag, const char *file, char *buf, size_t size,
                 ParseResult *ret)
{
        Parser p = { .arena = a, .diag = diag, .file = file, .res = ret };
        int r;

        /* a UTF-8 byte-order mark, as some editors write: blanks, not a word */
        if (size >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
                memset(buf, ' ', 3);
        lexer_init(&p.lx, buf, size);
        while ((r = next_line(&p)) == 1) {
                if (strcmp(p.cur.toks[0].s, "}") == 0 || strcmp(p.cur.toks[0].s, "{") == 0) {
                        conf_diag_add(diag, CONF_ERROR, file, p.cur.line, p.cur.toks[0].col,
                                      NULL, "unexpected '%s' outside a block",
                                      p.cur.toks[0].s);
                        bool open = p.cur.toks[0].s[0] == '{';
                        consume(&p);
                        if (open && (r = skip_block(&p)) < 0)
                                break;
                        continue;
                }
                r = parse_entry(&p);
                if (r < 0)
                        break;
        }
        lexer_deinit(&p.lx);
        return r < 0 ? r : 0;
}
