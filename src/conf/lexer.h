/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_LEXER_H
#define PORTIER_CONF_LEXER_H

/*
 * lexer — xinetd's configuration is line-oriented: a line is a list of words separated by
 * blanks, with no quoting. A line whose first non-blank character is '#' is a comment ('#'
 * elsewhere is an ordinary character, as in xinetd). Blank lines are skipped. The lexer
 * splits one line at a time, in place (the buffer is modified), and bounds the line length.
 */

#include <stddef.h>

typedef struct LexTok {
        char *s;                /* NUL-terminated, inside the buffer */
        unsigned col;           /* 1-based byte column */
} LexTok;

typedef struct LexLine {
        unsigned line;          /* 1-based */
        LexTok *toks;           /* valid until the next lexer_next() */
        size_t n_toks;
} LexLine;

typedef struct Lexer {
        char *buf;
        size_t size;
        size_t pos;
        unsigned line;
        LexTok *toks;
        size_t allocated;
} Lexer;

/* Positive outcomes of lexer_next() besides 1 (a line) and 0 (end of input). */
enum {
        LEXER_E_LONG = 2,       /* the line is longer than CONF_MAX_LINE: skipped */
        LEXER_E_NUL = 3,        /* the line contains a NUL byte: skipped */
};

/* @buf must have room for @size + 1 bytes: a NUL may be written after the last byte. */
void lexer_init(Lexer *lx, char *buf, size_t size);
void lexer_deinit(Lexer *lx);

/**
 * lexer_next() - the next non-blank, non-comment line.
 * Return: 1 and @ret filled; 0 at the end; LEXER_E_LONG or LEXER_E_NUL with @ret->line set
 * (the line is skipped); -ENOMEM.
 */
int lexer_next(Lexer *lx, LexLine *ret);

#endif
