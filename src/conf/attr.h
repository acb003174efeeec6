/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_ATTR_H
#define PORTIER_CONF_ATTR_H

/*
 * attr — the attribute table: for each attribute name, where it may appear (service,
 * defaults), how many values it takes, whether it accepts += and -= (and may repeat), and its
 * value parser. attr_apply() applies one parsed line to a service (or to the defaults) with
 * xinetd's rules, reporting through the context.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/arena.h"
#include "conf/conf.h"
#include "conf/parser.h"

typedef struct ConfCtx {
        Arena *arena;           /* the Config's arena: everything kept is copied here */
        ConfDiag *diag;
        struct ResolveCache *cache;  /* memoized lookups for this load, may be NULL */
        unsigned flags;         /* CONF_LOAD_* */
        const char *file;       /* of the item being applied (arena string) */
        const char *label;      /* service id for diagnostics, NULL for defaults */
        bool in_defaults;
        unsigned lines[_CONF_ATTR_MAX]; /* while a block is applied, the lines of the
                                           attributes it sets (attr_set says which) */
        ConfSeverity severity;  /* of value errors: ERROR, or WARNING in a disabled service */
        bool quiet;             /* report nothing (filling in a disabled service) */
        const char *error;      /* first error in the current service: its skip reason */
        uint64_t list_work;     /* entries handled by list operations in this load */
        /* names already looked up in this load (only_from/no_access), to share the result */
        struct AddrMemo *addr_memo;
        size_t n_addr_memo;
        /* the strings kept in the Config, each once: 10,000 services naming the same user,
           server and address share one copy (open addressing, at most half full) */
        char **strings;
        size_t strings_size, n_strings;
        /* capacities of the lists the current service (or defaults) owns; 0: shared */
        size_t cap_only_from, cap_no_access, cap_env, cap_passenv, cap_enabled, cap_disabled;

        /* defaults-only attributes, read by the loader */
        uint32_t max_connections;
        bool enabled_set;
        char **enabled;
        size_t n_enabled;
        char **disabled;
        size_t n_disabled;
} ConfCtx;

/**
 * attr_rare() - @s's own ConfRare, to write to: allocated on first use (copy on write, so
 * that a struct copy of a ConfService never shares one it then changes).
 * Return: it, or NULL when out of memory.
 */
ConfRare *attr_rare(ConfCtx *c, ConfService *s);

/**
 * attr_finish() - keep the attribute lines of the block just applied to @s (in c->lines) in
 * the Config, compactly. Call it after the block's last attr_apply(), before reading them
 * with conf_attr_line().
 * Return: 0, -ENOMEM.
 */
int attr_finish(ConfCtx *c, ConfService *s);

/**
 * attr_apply() - apply one attribute line to @s.
 * Return: 0 (applied, or ignored with a warning), 1 (a value error, reported; the service
 * cannot run), -ENOMEM.
 */
int attr_apply(ConfCtx *c, ConfService *s, const ParseAttr *a);

/** attr_lookup() - the id of an attribute name (either spelling), -1 if unknown. */
int attr_lookup(const char *name);

/** attr_end() - free what the context allocated for the whole load. */
void attr_end(ConfCtx *c);

/** attr_begin() - reset the per-block state of @c before applying a block's attributes. */
void attr_begin(ConfCtx *c);

/** attr_prefill() - copy the defaults' cumulative attributes into a new service (xinetd). */
void attr_prefill(ConfService *s, const ConfService *def);

/** attr_inherit() - after parsing: take from @def every attribute @s does not set. */
int attr_inherit(ConfCtx *c, ConfService *s, const ConfService *def);

/** attr_service_init() - the built-in defaults of a fresh service. */
void attr_service_init(ConfService *s);

/** conf_error() - report an error at @line/@col for the current service; records the reason. */
void conf_error(ConfCtx *c, unsigned line, unsigned col, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/** conf_warn() - report a warning at @line/@col for the current service. */
void conf_warn(ConfCtx *c, unsigned line, unsigned col, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
