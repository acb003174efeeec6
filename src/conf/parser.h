/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_PARSER_H
#define PORTIER_CONF_PARSER_H

/*
 * parser — the entry grammar of xinetd.conf, by recursive descent over the lexer's lines:
 *
 *      file      = { entry }
 *      entry     = "service" NAME block | "defaults" block
 *                | "include" PATH | "includedir" DIR
 *      block     = "{" { attribute } "}"          ('{' on its own line or ending the header)
 *      attribute = NAME ( "=" | "+=" | "-=" ) { VALUE }
 *
 * The result is a flat list of items in file order; include items are expanded by the
 * loader. Syntax errors are reported to the ConfDiag; a block with a syntax error is kept,
 * marked broken, so that the service is reported and skipped while the others load.
 */

#include <stdbool.h>
#include <stddef.h>

#include "conf/arena.h"
#include "conf/conf.h"
#include "conf/lexer.h"

typedef enum ConfOp {
        CONF_OP_SET,            /* = */
        CONF_OP_ADD,            /* += */
        CONF_OP_REMOVE,         /* -= */
} ConfOp;

typedef struct ParseAttr {
        const char *name;
        ConfOp op;
        LexTok *values;         /* arena copies */
        size_t n_values;
        unsigned line, col;
} ParseAttr;

typedef enum ParseItemKind {
        PARSE_SERVICE,
        PARSE_DEFAULTS,
        PARSE_INCLUDE,
        PARSE_INCLUDEDIR,
} ParseItemKind;

typedef struct ParseItem {
        ParseItemKind kind;
        const char *name;       /* service name, or include path */
        const char *file;
        unsigned line, col;     /* of the keyword */
        unsigned open_line, close_line;
        ParseAttr *attrs;
        size_t n_attrs;
        const char *broken;     /* syntax error that breaks this block, NULL if none */
        bool inetd;             /* synthesized from an inetd.conf line */
} ParseItem;

typedef struct ParseResult {
        ParseItem *items;
        size_t n_items;
        size_t allocated;
} ParseResult;

/**
 * parser_parse() - parse one file's contents.
 * @a: arena receiving the items (strings point into @buf, which must outlive them)
 * @diag: receives syntax errors
 * @file: the file name for diagnostics (must outlive the items)
 * @buf: the contents, modified in place; room for @size + 1 bytes
 * @size: the contents' length
 * @ret: items are appended here (free ret->items with free())
 * Return: 0 or -ENOMEM.
 */
/** parser_new_item() - append a zeroed item to @r; NULL on ENOMEM. */
ParseItem *parser_new_item(ParseResult *r);

int parser_parse(Arena *a, ConfDiag *diag, const char *file, char *buf, size_t size,
                 ParseResult *ret);

const char *parser_op_name(ConfOp op);

#endif
