/* SPDX-License-Identifier: MIT */
/*
 * lexer — one line at a time, words split on blanks in place. Blanks are space, tab, CR, VT
 * and FF, so CRLF files read like LF ones.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/lexer.h"

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

void lexer_init(Lexer *lx, char *buf, size_t size)
{
        *lx = (Lexer) { .buf = buf, .size = size };
}

void lexer_deinit(Lexer *lx)
{
        free(lx->toks);
        lx->toks = NULL;
        lx->allocated = 0;
}

static int push(Lexer *lx, size_t *n, char *s, unsigned col)
{
        if (*n == lx->allocated) {
                size_t m = lx->allocated ? lx->allocated * 2 : 16;
                LexTok *t = realloc(lx->toks, m * sizeof(*t));
                if (!t)
                        return -ENOMEM;
                lx->toks = t;
                lx->allocated = m;
        }
        lx->toks[(*n)++] = (LexTok) { .s = s, .col = col };
        return 0;
}

int lexer_next(Lexer *lx, LexLine *ret)
{
        while (lx->pos < lx->size) {
                char *start = lx->buf + lx->pos;
                size_t rest = lx->size - lx->pos;
                char *nl = memchr(start, '\n', rest);
                size_t len = nl ? (size_t) (nl - start) : rest;

                lx->line++;
                lx->pos += len + (nl ? 1 : 0);
                ret->line = lx->line;
                ret->n_toks = 0;
                ret->toks = NULL;

                if (len > CONF_MAX_LINE)
                        return LEXER_E_LONG;
                if (memchr(start, '\0', len))
                        return LEXER_E_NUL;

                size_t i = 0, n = 0;
                while (i < len && is_blank(start[i]))
                        i++;
                if (i == len || start[i] == '#')
                        continue;
                while (i < len) {
                        size_t b = i;
                        while (i < len && !is_blank(start[i]))
                                i++;
                        int r = push(lx, &n, start + b, (unsigned) b + 1);
                        if (r < 0)
                                return r;
                        start[i] = '\0';        /* a blank, the '\n', or past the end */
                        i++;
                        while (i < len && is_blank(start[i]))
                                i++;
                }
                ret->toks = lx->toks;
                ret->n_toks = n;
                return 1;
        }
        return 0;
}
