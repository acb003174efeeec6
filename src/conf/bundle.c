/* SPDX-License-Identifier: MIT */
/*
 * bundle.c — record the files a configuration load reads; replay them elsewhere.
 *
 * Serialized form: "PCB1" and the number of records (32 bits, so that a bundle cut at a
 * record's end is refused too), then the records, each a fixed header (kind, error, dev, ino, the
 * lengths of path, errtext and data, the number of names) followed by path, errtext (each
 * with its NUL) and data. A DIR's data is its names, each NUL-terminated. Every length is
 * checked against what is left of the buffer.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/bundle.h"

#define MAGIC "PCB1"

typedef struct RecordHeader {
        uint32_t kind;
        int32_t error;
        uint64_t dev, ino;
        uint32_t path_len, errtext_len;         /* with the NUL */
        uint64_t data_len;
        uint32_t n_names;
        uint32_t pad;
} RecordHeader;

struct ConfBundle {
        ConfBundleEntry *e;
        size_t n, allocated;
        bool owns_strings;              /* recorded: each string malloc()ed; parsed: in buf */
        char *buf;                      /* parsed: the copy the entries point into */
        bool sorted;
};

int conf_bundle_new(ConfBundle **ret)
{
        ConfBundle *b = calloc(1, sizeof(*b));

        if (!b)
                return -ENOMEM;
        b->owns_strings = true;
        *ret = b;
        return 0;
}

ConfBundle *conf_bundle_free(ConfBundle *b)
{
        if (!b)
                return NULL;
        if (b->owns_strings)
                for (size_t i = 0; i < b->n; i++) {
                        free((char *)b->e[i].path);
                        free((char *)b->e[i].errtext);
                        free((char *)b->e[i].data);
                }
        free(b->e);
        free(b->buf);
        free(b);
        return NULL;
}

size_t conf_bundle_count(const ConfBundle *b)
{
        return b ? b->n : 0;
}

static ConfBundleEntry *grow(ConfBundle *b)
{
        if (b->n == b->allocated) {
                size_t m = b->allocated ? b->allocated * 2 : 32;
                ConfBundleEntry *v = realloc(b->e, m * sizeof(*v));

                if (!v)
                        return NULL;
                b->e = v;
                b->allocated = m;
        }
        return &b->e[b->n];
}

static char *copy(const void *p, size_t n)
{
        char *r = malloc(n + 1);

        if (r) {
                if (n)
                        memcpy(r, p, n);
                r[n] = '\0';
        }
        return r;
}

static int add(ConfBundle *b, ConfBundleEntry *proto, const void *data, size_t size)
{
        ConfBundleEntry *e = grow(b);

        if (!e)
                return -ENOMEM;
        *e = *proto;
        e->path = copy(proto->path, strlen(proto->path));
        e->errtext = copy(proto->errtext ? proto->errtext : "", proto->errtext ?
                          strlen(proto->errtext) : 0);
        e->data = copy(data, size);
        e->size = size;
        if (!e->path || !e->errtext || !e->data) {
                free((char *)e->path);
                free((char *)e->errtext);
                free((char *)e->data);
                return -ENOMEM;
        }
        b->n++;
        b->sorted = false;
        return 0;
}

int conf_bundle_add_file(ConfBundle *b, const char *path, int error, const char *errtext,
                         uint64_t dev, uint64_t ino, const void *data, size_t size)
{
        ConfBundleEntry e = { .kind = CONF_BUNDLE_FILE, .error = error, .dev = dev, .ino = ino,
                              .path = path, .errtext = errtext };

        return add(b, &e, error ? "" : data, error ? 0 : size);
}

int conf_bundle_add_check(ConfBundle *b, ConfBundleKind kind, const char *path, int error)
{
        ConfBundleEntry e = { .kind = kind, .error = error, .path = path };

        return add(b, &e, "", 0);
}

int conf_bundle_add_refusal(ConfBundle *b, size_t index, int attr, const char *message,
                            const char *reason)
{
        char key[24];
        ConfBundleEntry e = { .kind = CONF_BUNDLE_REFUSAL, .error = attr, .path = key,
                              .errtext = message };

        snprintf(key, sizeof(key), "%zu", index);
        return add(b, &e, reason, strlen(reason));
}

int conf_bundle_add_dir(ConfBundle *b, const char *path, int error, char *const *names,
                        size_t n)
{
        ConfBundleEntry e = { .kind = CONF_BUNDLE_DIR, .error = error, .path = path,
                              .n_names = (uint32_t)n };
        size_t size = 0, at = 0;
        char *data;
        int r;

        for (size_t i = 0; i < n; i++)
                size += strlen(names[i]) + 1;
        data = malloc(size ? size : 1);
        if (!data)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t k = strlen(names[i]) + 1;

                memcpy(data + at, names[i], k);
                at += k;
        }
        r = add(b, &e, data, size);
        free(data);
        return r;
}

int conf_bundle_serialize(const ConfBundle *b, char **ret, size_t *ret_size)
{
        size_t size = 8, at = 8;
        uint32_t count = (uint32_t)b->n;
        char *buf;

        for (size_t i = 0; i < b->n; i++)
                size += sizeof(RecordHeader) + strlen(b->e[i].path) + 1 +
                        strlen(b->e[i].errtext) + 1 + b->e[i].size;
        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, MAGIC, 4);
        memcpy(buf + 4, &count, 4);
        for (size_t i = 0; i < b->n; i++) {
                const ConfBundleEntry *e = &b->e[i];
                RecordHeader h = { .kind = e->kind, .error = e->error, .dev = e->dev,
                                   .ino = e->ino, .path_len = (uint32_t)strlen(e->path) + 1,
                                   .errtext_len = (uint32_t)strlen(e->errtext) + 1,
                                   .data_len = e->size, .n_names = e->n_names };

                memcpy(buf + at, &h, sizeof(h));
                at += sizeof(h);
                memcpy(buf + at, e->path, h.path_len);
                at += h.path_len;
                memcpy(buf + at, e->errtext, h.errtext_len);
                at += h.errtext_len;
                memcpy(buf + at, e->data, e->size);
                at += e->size;
        }
        *ret = buf;
        *ret_size = size;
        return 0;
}

static int cmp_entry(const void *a, const void *b)
{
        const ConfBundleEntry *x = a, *y = b;

        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        return strcmp(x->path, y->path);
}

/* A string of @len bytes (its NUL included) at @p: exactly one NUL, at the end. */
static bool string_ok(const char *p, uint32_t len)
{
        return len > 0 && memchr(p, '\0', len) == p + len - 1;
}

/* A DIR's names: @n NUL-terminated strings filling @size bytes exactly, none empty. */
static bool names_ok(const char *p, uint64_t size, uint32_t n)
{
        uint64_t at = 0;

        for (uint32_t i = 0; i < n; i++) {
                const char *end = memchr(p + at, '\0', size - at);

                if (at >= size || !end || end == p + at)
                        return false;
                at = (uint64_t)(end - p) + 1;
        }
        return at == size;
}

static int parse_record(ConfBundle *b, char *buf, size_t size, size_t *at)
{
        RecordHeader h;
        ConfBundleEntry *e;
        size_t left = size - *at;

        if (left < sizeof(h))
                return -EBADMSG;
        memcpy(&h, buf + *at, sizeof(h));
        *at += sizeof(h);
        left -= sizeof(h);
        if (h.kind < CONF_BUNDLE_FILE || h.kind > CONF_BUNDLE_REFUSAL || h.error < 0 ||
            h.path_len > left || h.errtext_len > left - h.path_len ||
            h.data_len > left - h.path_len - h.errtext_len)
                return -EBADMSG;
        if (!string_ok(buf + *at, h.path_len) ||
            !string_ok(buf + *at + h.path_len, h.errtext_len))
                return -EBADMSG;
        if (h.kind == CONF_BUNDLE_DIR &&
            !names_ok(buf + *at + h.path_len + h.errtext_len, h.data_len, h.n_names))
                return -EBADMSG;
        if (h.kind != CONF_BUNDLE_DIR && h.n_names != 0)
                return -EBADMSG;
        if (!(e = grow(b)))
                return -ENOMEM;
        *e = (ConfBundleEntry){ .kind = h.kind, .error = h.error, .dev = h.dev, .ino = h.ino,
                                .path = buf + *at, .errtext = buf + *at + h.path_len,
                                .data = buf + *at + h.path_len + h.errtext_len,
                                .size = h.data_len, .n_names = h.n_names };
        *at += h.path_len + h.errtext_len + h.data_len;
        b->n++;
        return 0;
}

int conf_bundle_parse(const void *data, size_t size, ConfBundle **ret)
{
        ConfBundle *b;
        size_t at = 8;
        uint32_t count;
        int r = 0;

        if (size < 8 || memcmp(data, MAGIC, 4) != 0)
                return -EBADMSG;
        memcpy(&count, (const char *)data + 4, 4);
        if (!(b = calloc(1, sizeof(*b))) || !(b->buf = malloc(size + 1))) {
                free(b);
                return -ENOMEM;
        }
        memcpy(b->buf, data, size);
        b->buf[size] = '\0';
        while (at < size && r == 0)
                r = b->n < count ? parse_record(b, b->buf, size, &at) : -EBADMSG;
        if (r == 0 && b->n != count)
                r = -EBADMSG;
        if (r < 0) {
                conf_bundle_free(b);
                return r;
        }
        if (b->n > 1)
                qsort(b->e, b->n, sizeof(*b->e), cmp_entry);
        b->sorted = true;
        *ret = b;
        return 0;
}

const ConfBundleEntry *conf_bundle_find(const ConfBundle *b, ConfBundleKind kind,
                                        const char *path)
{
        ConfBundleEntry key = { .kind = kind, .path = path };

        if (!b)
                return NULL;
        if (!b->sorted) {
                for (size_t i = 0; i < b->n; i++)
                        if (cmp_entry(&key, &b->e[i]) == 0)
                                return &b->e[i];
                return NULL;
        }
        return bsearch(&key, b->e, b->n, sizeof(*b->e), cmp_entry);
}
