/* SPDX-License-Identifier: MIT */
/*
 * arena — chunked bump allocation. Chunks grow geometrically up to 1 MiB; a request larger
 * than half a chunk gets a chunk of its own, so waste stays bounded. Allocation failure
 * returns NULL and leaves the arena usable.
 */

#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/arena.h"

struct ArenaChunk {
        ArenaChunk *next;
        size_t size;
        size_t used;
        alignas(max_align_t) unsigned char data[];
};

#define ARENA_MIN_CHUNK (4u << 10)
#define ARENA_MAX_CHUNK (1u << 20)

Arena *arena_new(void)
{
        return calloc(1, sizeof(Arena));
}

Arena *arena_free(Arena *a)
{
        if (!a)
                return NULL;
        for (ArenaChunk *c = a->head, *next; c; c = next) {
                next = c->next;
                free(c);
        }
        free(a);
        return NULL;
}

static void *alloc(Arena *a, size_t size, size_t align, bool zero);

void *arena_alloc(Arena *a, size_t size)
{
        return alloc(a, size, alignof(max_align_t), true);
}

void *arena_alloc_raw(Arena *a, size_t size)
{
        return alloc(a, size, alignof(max_align_t), false);
}

/* @align: a power of two; strings take 1 (a configuration is mostly short strings). */
static void *alloc(Arena *a, size_t size, size_t align, bool zero)
{
        ArenaChunk *c = a->head;
        size_t off;

        if (size == 0)
                size = 1;
        if (size > SIZE_MAX / 2)
                return NULL;
        if (c) {
                off = (c->used + align - 1) & ~(align - 1);
                if (off <= c->size && c->size - off >= size) {
                        c->used = off + size;
                        a->used += size;
                        return zero ? memset(c->data + off, 0, size) : c->data + off;
                }
        }

        size_t csize = c ? c->size * 2 : ARENA_MIN_CHUNK;
        if (csize > ARENA_MAX_CHUNK)
                csize = ARENA_MAX_CHUNK;
        if (size > csize / 2)
                csize = size;
        ArenaChunk *n = malloc(sizeof(*n) + csize);
        if (!n)
                return NULL;
        n->size = csize;
        n->used = size;
        if (c && size == csize && c->size - c->used > 64) {
                /* a big private chunk: keep filling the current one afterwards */
                n->next = c->next;
                c->next = n;
        } else {
                n->next = c;
                a->head = n;
        }
        a->used += size;
        return zero ? memset(n->data, 0, size) : n->data;
}

void *arena_allocarray(Arena *a, size_t n, size_t size)
{
        if (size && n > SIZE_MAX / size)
                return NULL;
        return arena_alloc(a, n * size);
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
        char *r = n < SIZE_MAX ? alloc(a, n + 1, 1, false) : NULL;
        if (r) {
                memcpy(r, s, n);
                r[n] = '\0';
        }
        return r;
}

char *arena_strdup(Arena *a, const char *s)
{
        return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
        va_list ap;
        char buf[256];
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                return NULL;
        if ((size_t) n < sizeof(buf))
                return arena_strndup(a, buf, (size_t) n);

        char *r = alloc(a, (size_t) n + 1, 1, false);
        if (!r)
                return NULL;
        va_start(ap, fmt);
        vsnprintf(r, (size_t) n + 1, fmt, ap);
        va_end(ap);
        return r;
}
