/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_ARENA_H
#define PORTIER_CONF_ARENA_H

/*
 * arena — a bump allocator owning everything inside one Config (or one load's syntax tree).
 * Nothing is freed individually: arena_free() releases every chunk at once, which makes an
 * immutable Config cheap to build and to drop, and impossible to leak piecemeal.
 */

#include <stddef.h>

typedef struct ArenaChunk ArenaChunk;

typedef struct Arena {
        ArenaChunk *head;
        size_t used;            /* bytes handed out, for statistics */
} Arena;

Arena *arena_new(void);
Arena *arena_free(Arena *a);
void *arena_alloc(Arena *a, size_t size);                       /* zeroed, max-aligned */
void *arena_alloc_raw(Arena *a, size_t size);                   /* not zeroed */
void *arena_allocarray(Arena *a, size_t n, size_t size);        /* overflow-checked */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
