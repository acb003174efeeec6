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
#include <unistd.h>

#include "conf/bundle.h"

#define MAGIC "PCB1"
#define STREAM_MAGIC "PCS1"
#define STREAM_BUF (64u << 10)         /* a pipe's worth: records go in batches, not one
                                           write() or read() each */

typedef struct RecordHeader {
        uint32_t kind;
        int32_t error;
        uint64_t dev, ino;
        uint32_t path_len, errtext_len;         /* with the NUL */
        uint64_t data_len;
        uint32_t n_names;
        uint32_t pad;
} RecordHeader;

/* A streamed bundle's record: the entry and its strings in one allocation, which never
 * moves (the loader keeps the entries conf_bundle_find() returned). */
typedef struct StreamRecord {
        ConfBundleEntry e;
        char bytes[];
} StreamRecord;

struct ConfBundle {
        ConfBundleEntry *e;
        size_t n, allocated;
        bool owns_strings;              /* recorded: each string malloc()ed; parsed: in buf */
        char *buf;                      /* parsed: the copy the entries point into */
        bool sorted;
        int out_fd;                     /* recording: the stream written to, or -1 */
        int out_error;                  /* its first failed write (-errno) */
        char *out_buf;                  /* records not written yet (STREAM_BUF bytes) */
        size_t out_len;
        /* streamed (conf_bundle_stream_from()): */
        int in_fd;                      /* -1 once at its end mark, cut or malformed */
        int in_error;                   /* 0, or why the stream ended early */
        bool in_done;                   /* the end mark was read */
        uint64_t in_bytes, in_max;
        char *in_buf;                   /* read ahead (STREAM_BUF bytes) */
        size_t in_pos, in_len;
        StreamRecord **recs;            /* in the order read (n of them) */
        StreamRecord **index;           /* open addressing on (kind, path); index_size slots */
        size_t index_size;
};

int conf_bundle_new(ConfBundle **ret)
{
        ConfBundle *b = calloc(1, sizeof(*b));

        if (!b)
                return -ENOMEM;
        b->owns_strings = true;
        b->out_fd = b->in_fd = -1;
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
        if (b->recs) {
                for (size_t i = 0; i < b->n; i++)
                        free(b->recs[i]);
                free(b->recs);
                free(b->index);
        }
        if (b->in_fd >= 0)
                (void)close(b->in_fd);
        free(b->in_buf);
        free(b->out_buf);
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

static int write_all(int fd, const void *p, size_t n)
{
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return k < 0 ? -errno : -EIO;
                p = (const char *)p + k;
                n -= (size_t)k;
        }
        return 0;
}

static RecordHeader header_of(const ConfBundleEntry *e)
{
        return (RecordHeader){ .kind = e->kind, .error = e->error, .dev = e->dev, .ino = e->ino,
                               .path_len = (uint32_t)strlen(e->path) + 1,
                               .errtext_len = (uint32_t)strlen(e->errtext) + 1,
                               .data_len = e->size, .n_names = e->n_names };
}

static void out_flush(ConfBundle *b)
{
        int r;

        if (b->out_len && !b->out_error && (r = write_all(b->out_fd, b->out_buf, b->out_len)) < 0)
                b->out_error = r;
        b->out_len = 0;
}

static void out_put(ConfBundle *b, const void *p, size_t n)
{
        int r;

        if (b->out_error)
                return;
        if (b->out_len + n > STREAM_BUF)
                out_flush(b);
        if (n >= STREAM_BUF) {          /* a big file: as it is */
                if ((r = write_all(b->out_fd, p, n)) < 0)
                        b->out_error = r;
                return;
        }
        memcpy(b->out_buf + b->out_len, p, n);
        b->out_len += n;
}

/* A record just added goes down the stream too (in batches); after a failed write, nothing
 * more does (the reader finds the stream cut, and its load fails). */
static void stream_out(ConfBundle *b, const ConfBundleEntry *e)
{
        RecordHeader h;

        if (b->out_fd < 0 || b->out_error)
                return;
        h = header_of(e);
        out_put(b, &h, sizeof(h));
        out_put(b, e->path, h.path_len);
        out_put(b, e->errtext, h.errtext_len);
        out_put(b, e->data, e->size);
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
        stream_out(b, e);
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
                RecordHeader h = header_of(e);

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
        b->out_fd = b->in_fd = -1;
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

/* --- streaming ----------------------------------------------------------------------- */

int conf_bundle_stream_to(ConfBundle *b, int fd)
{
        if (!b->out_buf && !(b->out_buf = malloc(STREAM_BUF)))
                return -ENOMEM;
        b->out_fd = fd;
        b->out_error = 0;
        out_put(b, STREAM_MAGIC, 4);
        for (size_t i = 0; i < b->n; i++)       /* what was recorded before */
                stream_out(b, &b->e[i]);
        return b->out_error;
}

int conf_bundle_stream_end(ConfBundle *b)
{
        RecordHeader end = { .kind = 0, .data_len = b->n };

        if (b->out_fd < 0)
                return -EBADF;
        out_put(b, &end, sizeof(end));
        out_flush(b);
        b->out_fd = -1;
        return b->out_error;
}

int conf_bundle_stream_from(int fd, uint64_t max_size, ConfBundle **ret)
{
        ConfBundle *b;
        int r = conf_bundle_new(&b);

        if (r < 0) {
                (void)close(fd);
                return r;
        }
        b->owns_strings = false;
        if (!(b->in_buf = malloc(STREAM_BUF))) {
                conf_bundle_free(b);
                (void)close(fd);
                return -ENOMEM;
        }
        b->in_fd = fd;
        b->in_max = max_size;
        *ret = b;
        return 0;
}

/* Exactly @n bytes of the stream, through the read-ahead buffer. 0, -EPIPE at an early
 * end, -errno. */
static int in_get(ConfBundle *b, void *p, size_t n)
{
        while (n > 0) {
                if (b->in_pos == b->in_len) {
                        bool direct = n >= STREAM_BUF;  /* a big file: straight in */
                        ssize_t k = read(b->in_fd, direct ? p : b->in_buf,
                                         direct ? n : STREAM_BUF);

                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                return k < 0 ? -errno : -EPIPE;
                        if (direct) {
                                p = (char *)p + k;
                                n -= (size_t)k;
                                continue;
                        }
                        b->in_pos = 0;
                        b->in_len = (size_t)k;
                }
                size_t take = b->in_len - b->in_pos < n ? b->in_len - b->in_pos : n;

                memcpy(p, b->in_buf + b->in_pos, take);
                b->in_pos += take;
                p = (char *)p + take;
                n -= take;
        }
        return 0;
}

static uint64_t key_hash(uint32_t kind, const char *path)
{
        uint64_t h = 1469598103934665603u ^ kind;

        for (const unsigned char *p = (const unsigned char *)path; *p; p++)
                h = (h ^ *p) * 1099511628211u;
        return h;
}

/* Into the index; the first record of a key is the one found, as in a parsed bundle. */
static int index_add(ConfBundle *b, StreamRecord *rec)
{
        if ((b->n + 1) * 2 > b->index_size) {
                size_t size = b->index_size ? b->index_size * 2 : 256;
                StreamRecord **v = calloc(size, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < b->n; i++) {
                        StreamRecord *x = b->recs[i];
                        size_t h = key_hash(x->e.kind, x->e.path) & (size - 1);

                        while (v[h] && (v[h]->e.kind != x->e.kind ||
                                        strcmp(v[h]->e.path, x->e.path) != 0))
                                h = (h + 1) & (size - 1);
                        if (!v[h])
                                v[h] = x;
                }
                free(b->index);
                b->index = v;
                b->index_size = size;
        }
        size_t h = key_hash(rec->e.kind, rec->e.path) & (b->index_size - 1);

        while (b->index[h]) {
                if (b->index[h]->e.kind == rec->e.kind && strcmp(b->index[h]->e.path,
                                                                 rec->e.path) == 0)
                        return 0;
                h = (h + 1) & (b->index_size - 1);
        }
        b->index[h] = rec;
        return 0;
}

static StreamRecord *index_find(const ConfBundle *b, uint32_t kind, const char *path)
{
        if (!b->index_size)
                return NULL;
        for (size_t h = key_hash(kind, path) & (b->index_size - 1); b->index[h];
             h = (h + 1) & (b->index_size - 1))
                if (b->index[h]->e.kind == kind && strcmp(b->index[h]->e.path, path) == 0)
                        return b->index[h];
        return NULL;
}

static void stream_stop(ConfBundle *b, int error)
{
        if (b->in_fd >= 0)
                (void)close(b->in_fd);
        b->in_fd = -1;
        if (!b->in_done && !b->in_error)
                b->in_error = error;
}

/* The next record of the stream: 1 (added, in *ret), 0 (the end mark), -errno. */
static int stream_next(ConfBundle *b, StreamRecord **ret)
{
        RecordHeader h;
        StreamRecord *rec;
        uint64_t len;
        int r;

        if (b->in_bytes == 0) {
                char magic[4];

                if ((r = in_get(b, magic, 4)) < 0)
                        return r;
                if (memcmp(magic, STREAM_MAGIC, 4) != 0)
                        return -EBADMSG;
                b->in_bytes = 4;
        }
        if ((r = in_get(b, &h, sizeof(h))) < 0)
                return r;
        b->in_bytes += sizeof(h);
        if (b->in_bytes > b->in_max)
                return -EBADMSG;
        if (h.kind == 0)
                return h.data_len == b->n && h.error == 0 ? 0 : -EBADMSG;
        if (h.kind > CONF_BUNDLE_REFUSAL || h.error < 0 ||
            (h.kind != CONF_BUNDLE_DIR && h.n_names != 0))
                return -EBADMSG;
        len = (uint64_t)h.path_len + h.errtext_len + h.data_len;
        if (len > b->in_max - b->in_bytes || len > SIZE_MAX - sizeof(*rec) - 1)
                return -EBADMSG;
        if (!(rec = malloc(sizeof(*rec) + (size_t)len + 1)))
                return -ENOMEM;
        if ((r = in_get(b, rec->bytes, (size_t)len)) < 0) {
                free(rec);
                return r;
        }
        b->in_bytes += len;
        rec->bytes[len] = '\0';
        if (!string_ok(rec->bytes, h.path_len) ||
            !string_ok(rec->bytes + h.path_len, h.errtext_len) ||
            (h.kind == CONF_BUNDLE_DIR &&
             !names_ok(rec->bytes + h.path_len + h.errtext_len, h.data_len, h.n_names))) {
                free(rec);
                return -EBADMSG;
        }
        rec->e = (ConfBundleEntry){ .kind = h.kind, .error = h.error, .dev = h.dev,
                                    .ino = h.ino, .path = rec->bytes,
                                    .errtext = rec->bytes + h.path_len,
                                    .data = rec->bytes + h.path_len + h.errtext_len,
                                    .size = h.data_len, .n_names = h.n_names };
        if (b->n == b->allocated) {
                size_t m = b->allocated ? b->allocated * 2 : 256;
                StreamRecord **v = realloc(b->recs, m * sizeof(*v));

                if (!v) {
                        free(rec);
                        return -ENOMEM;
                }
                b->recs = v;
                b->allocated = m;
        }
        if ((r = index_add(b, rec)) < 0) {
                free(rec);
                return r;
        }
        b->recs[b->n++] = rec;
        *ret = rec;
        return 1;
}

static const ConfBundleEntry *stream_find(ConfBundle *b, uint32_t kind, const char *path)
{
        StreamRecord *rec = index_find(b, kind, path);

        while (!rec && b->in_fd >= 0) {
                int r = stream_next(b, &rec);

                if (r <= 0) {
                        b->in_done = r == 0;
                        stream_stop(b, r);
                        return NULL;
                }
                if (rec->e.kind != kind || strcmp(rec->e.path, path) != 0)
                        rec = NULL;
                else
                        rec = index_find(b, kind, path);        /* the first of its key */
        }
        return rec ? &rec->e : NULL;
}

int conf_bundle_stream_finish(ConfBundle *b)
{
        while (b->in_fd >= 0) {
                StreamRecord *rec;
                int r = stream_next(b, &rec);

                if (r <= 0) {
                        b->in_done = r == 0;
                        stream_stop(b, r);
                }
        }
        return b->in_done ? 0 : b->in_error ? b->in_error : -EPIPE;
}

const ConfBundleEntry *conf_bundle_find(const ConfBundle *b, ConfBundleKind kind,
                                        const char *path)
{
        ConfBundleEntry key = { .kind = kind, .path = path };

        if (!b)
                return NULL;
        if (b->recs || b->in_fd >= 0 || b->in_done || b->in_error)
                return stream_find((ConfBundle *)b, kind, path);
        if (b->n == 0)
                return NULL;    /* (and no bsearch() of a NULL array) */
        if (!b->sorted) {
                for (size_t i = 0; i < b->n; i++)
                        if (cmp_entry(&key, &b->e[i]) == 0)
                                return &b->e[i];
                return NULL;
        }
        return bsearch(&key, b->e, b->n, sizeof(*b->e), cmp_entry);
}
