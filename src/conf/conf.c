/* SPDX-License-Identifier: MIT */
/*
 * conf — the loader: reads the main file and everything it includes (bounded: file size,
 * line length, include depth, include loops, number of files and services), parses every
 * entry, applies the defaults, validates each service and the set of them, and returns an
 * immutable Config.
 *
 * Memory: the Config owns one arena with every string and array it holds. File contents and
 * the syntax tree live in a second arena dropped at the end of the load.
 *
 * Order: services are kept in the order their blocks are read, include and includedir
 * expanded in place, then the inetd.conf entries. Unlike xinetd, whose service blocks read
 * before the 'defaults' block miss its cumulative attributes, every service gets the defaults
 * wherever the 'defaults' block is.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/arena.h"
#include "conf/attr.h"
#include "conf/bundle.h"
#include "conf/conf.h"
#include "conf/inetd.h"
#include "conf/parser.h"
#include "conf/resolve.h"
#include "conf/validate.h"

typedef struct FileId {
        dev_t dev;
        ino_t ino;
} FileId;

typedef struct Loader {
        const ConfLoadOptions *o;
        ConfCtx ctx;
        Arena *tmp;
        Config *cfg;
        ParseResult items;
        FileId stack[CONF_MAX_INCLUDE_DEPTH + 2];
        size_t depth;
        const char **files;
        size_t n_files, files_allocated;
        uint64_t total_size;            /* bytes read so far, bounded by CONF_MAX_TOTAL_SIZE */
        char **enabled_sorted;          /* the defaults' enabled/disabled lists, sorted */
        char **disabled_sorted;
} Loader;

static int add_file(Loader *L, const char *path, const char **ret)
{
        if (L->n_files == L->files_allocated) {
                size_t n = L->files_allocated ? L->files_allocated * 2 : 16;
                const char **v = realloc(L->files, n * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                L->files = v;
                L->files_allocated = n;
        }
        char *p = arena_strdup(L->cfg->arena, path);
        if (!p)
                return -ENOMEM;
        L->files[L->n_files++] = p;
        *ret = p;
        return 0;
}

static void diag(Loader *L, ConfSeverity sev, const char *file, unsigned line,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void diag(Loader *L, ConfSeverity sev, const char *file, unsigned line,
                 const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        conf_diag_add(L->ctx.diag, sev, file, line, 0, NULL, "%s", msg);
}

/*
 * Read a regular file, bounded. O_NONBLOCK so that a FIFO named by mistake cannot hang the
 * load; the type is checked before reading.
 */
static int read_file(Loader *L, int at, const char *path, char **ret, size_t *ret_size,
                     FileId *ret_id, const char **ret_err)
{
        struct stat st;
        int fd = openat(at, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                *ret_err = "not a regular file";
                return -EINVAL;
        }
        if ((uint64_t) st.st_size > CONF_MAX_FILE_SIZE) {
                close(fd);
                *ret_err = "file too large";
                return -EFBIG;
        }
        if (L->total_size + (uint64_t) st.st_size > CONF_MAX_TOTAL_SIZE) {
                close(fd);
                *ret_err = "the files read in this configuration exceed 256 MiB";
                return -EFBIG;
        }
        L->total_size += (uint64_t) st.st_size;
        size_t size = (size_t) st.st_size, got = 0;
        char *buf = arena_alloc_raw(L->tmp, size + 1);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        while (got < size) {
                ssize_t n = read(fd, buf + got, size - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;  /* shrank meanwhile */
                got += (size_t) n;
        }
        close(fd);
        *ret = buf;
        *ret_size = got;
        *ret_id = (FileId) { st.st_dev, st.st_ino };
        return 0;
}

/*
 * What a load reads goes through here: from the file system (recorded into o->record when
 * asked), or from the bundle a privileged load recorded (o->replay: privilege separation,
 * bundle.h). @path is the name as the configuration gave it; with dir_fd >= 0 the file is
 * opened relative to that includedir by its last component.
 */
static int source_read(Loader *L, int dir_fd, const char *path, char **ret, size_t *ret_size,
                       FileId *ret_id, const char **ret_err)
{
        const char *base = strrchr(path, '/');
        int r;

        if (L->o->replay) {
                const ConfBundleEntry *e = conf_bundle_find(L->o->replay, CONF_BUNDLE_FILE, path);

                if (!e)
                        return -ENOENT;
                if (e->error) {
                        *ret_err = e->errtext[0] ? e->errtext : NULL;
                        return -e->error;
                }
                if (L->total_size + e->size > CONF_MAX_TOTAL_SIZE) {
                        *ret_err = "the files read in this configuration exceed 256 MiB";
                        return -EFBIG;
                }
                L->total_size += e->size;
                if (!(*ret = arena_alloc_raw(L->tmp, e->size + 1)))
                        return -ENOMEM;
                memcpy(*ret, e->data, e->size);
                (*ret)[e->size] = '\0';
                *ret_size = e->size;
                *ret_id = (FileId) { (dev_t) e->dev, (ino_t) e->ino };
                return 0;
        }
        if (dir_fd >= 0 && base)
                r = read_file(L, dir_fd, base + 1, ret, ret_size, ret_id, ret_err);
        else
                r = read_file(L, AT_FDCWD, path, ret, ret_size, ret_id, ret_err);
        if (L->o->record && r != -ENOMEM &&
            conf_bundle_add_file(L->o->record, path, r < 0 ? -r : 0, r < 0 ? *ret_err : NULL,
                                 r < 0 ? 0 : (uint64_t) ret_id->dev,
                                 r < 0 ? 0 : (uint64_t) ret_id->ino,
                                 r < 0 ? NULL : *ret, r < 0 ? 0 : *ret_size) < 0)
                return -ENOMEM;
        return r;
}

/* In replay, the files of an includedir are named by the bundle: no directory is open. */
#define REPLAYED_DIR_FD INT_MAX

static int load_path(Loader *L, const char *path, const char *from, unsigned from_line,
                     int dir_fd);

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* xinetd's includedir: names with a '.' or ending in '~' are skipped; C-locale order. */
static bool includedir_skips(const char *name)
{
        size_t n = strlen(name);
        return strchr(name, '.') || (n && name[n - 1] == '~');
}

/* An includedir as the recording load listed it. */
static int replay_dir(Loader *L, const char *dir, const char *from, unsigned from_line)
{
        const ConfBundleEntry *e = conf_bundle_find(L->o->replay, CONF_BUNDLE_DIR, dir);
        char ebuf[128];
        const char *name;
        int r = 0;

        if (!e || e->error) {
                diag(L, CONF_ERROR, from, from_line, "includedir '%s': %s", dir,
                     conf_strerror(e ? e->error : ENOENT, ebuf, sizeof(ebuf)));
                return 0;
        }
        name = e->data;
        for (uint32_t i = 0; i < e->n_names && r >= 0; i++, name += strlen(name) + 1)
                r = load_path(L, name, from, from_line, REPLAYED_DIR_FD);
        return r;
}

static int load_dir(Loader *L, const char *dir, const char *from, unsigned from_line)
{
        DIR *d;
        char ebuf[128];
        char **names = NULL;
        size_t n = 0, allocated = 0;
        int r = 0;

        if (L->o->replay)
                return replay_dir(L, dir, from, from_line);
        d = opendir(dir);
        if (!d) {
                int e = errno;

                if (L->o->record && conf_bundle_add_dir(L->o->record, dir, e, NULL, 0) < 0)
                        return -ENOMEM;
                diag(L, CONF_ERROR, from, from_line, "includedir '%s': %s", dir,
                     conf_strerror(e, ebuf, sizeof(ebuf)));
                return 0;
        }
        for (struct dirent *de; (de = readdir(d));) {
                if (includedir_skips(de->d_name))
                        continue;
                if (n == allocated) {
                        size_t m = allocated ? allocated * 2 : 64;
                        char **v = realloc(names, m * sizeof(*v));
                        if (!v) {
                                r = -ENOMEM;
                                goto out;
                        }
                        names = v;
                        allocated = m;
                }
                if (n >= CONF_MAX_FILES) {
                        diag(L, CONF_ERROR, from, from_line, "includedir '%s': more than "
                             "%s files; the rest are ignored", dir, "100000");
                        break;
                }
                /* directories and other non-files in an includedir are ignored, as xinetd;
                   d_type spares a stat per file on the file systems that fill it in */
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
                        continue;
                if (!(names[n] = arena_printf(L->tmp, "%s/%s", dir, de->d_name))) {
                        r = -ENOMEM;
                        goto out;
                }
                n++;
        }
        if (n)
                qsort(names, n, sizeof(*names), cmp_str);
        if (L->o->record && conf_bundle_add_dir(L->o->record, dir, 0, names, n) < 0) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < n && r >= 0; i++)
                r = load_path(L, names[i], from, from_line, dirfd(d));
out:
        closedir(d);
        free(names);
        return r;
}

static char *resolve_relative(Loader *L, const char *path, const char *from)
{
        if (path[0] == '/' || !from)
                return arena_strdup(L->tmp, path);
        const char *slash = strrchr(from, '/');
        if (!slash)
                return arena_strdup(L->tmp, path);
        return arena_printf(L->tmp, "%.*s/%s", (int) (slash - from), from, path);
}

static int process_items(Loader *L, ParseResult *pr, const char *file)
{
        int r = 0;
        for (size_t i = 0; i < pr->n_items && r >= 0; i++) {
                ParseItem it = pr->items[i];
                if (it.kind == PARSE_INCLUDE || it.kind == PARSE_INCLUDEDIR) {
                        if (L->o->flags & CONF_LOAD_NO_INCLUDE) {
                                diag(L, CONF_ERROR, file, it.line, "'%s%s' is not allowed here",
                                     it.kind == PARSE_INCLUDE ? "include" : "includedir", "");
                                continue;
                        }
                        if (L->depth >= CONF_MAX_INCLUDE_DEPTH) {
                                diag(L, CONF_ERROR, file, it.line, "'%s': includes nested more "
                                     "than %s deep", it.name, "16");
                                continue;
                        }
                        char *p = resolve_relative(L, it.name, file);
                        if (!p)
                                return -ENOMEM;
                        r = it.kind == PARSE_INCLUDE ? load_path(L, p, file, it.line, -1)
                                                     : load_dir(L, p, file, it.line);
                        continue;
                }
                ParseItem *n = parser_new_item(&L->items);
                if (!n)
                        return -ENOMEM;
                *n = it;
        }
        return r;
}

static int load_buffer(Loader *L, const char *file, char *buf, size_t size)
{
        ParseResult pr = { 0 };
        int r = parser_parse(L->tmp, L->ctx.diag, file, buf, size, &pr);
        if (r >= 0)
                r = process_items(L, &pr, file);
        free(pr.items);
        return r;
}

/*
 * Read and parse one file. dir_fd >= 0: a file of an includedir, opened relative to it
 * (by its last path component), silently ignored when it is not a regular file.
 */
static int load_path(Loader *L, const char *path, const char *from, unsigned from_line,
                     int dir_fd)
{
        const char *err = NULL, *file;
        char ebuf[128];
        char *buf;
        size_t size;
        FileId id;
        int r;

        if (L->n_files >= CONF_MAX_FILES) {
                diag(L, CONF_ERROR, from, from_line, "'%s': more than %s files read", path,
                     "100000");
                return 0;
        }
        r = source_read(L, dir_fd, path, &buf, &size, &id, &err);
        if (r == -ENOMEM)
                return r;
        if (r == -EINVAL && dir_fd >= 0)
                return 0;       /* a directory (or other non-file) in an includedir */
        if (r < 0) {
                if (from)
                        diag(L, CONF_ERROR, from, from_line, "include '%s': %s", path,
                             err ? err : conf_strerror(-r, ebuf, sizeof(ebuf)));
                else
                        diag(L, CONF_ERROR, path, 0, "%s",
                             err ? err : conf_strerror(-r, ebuf, sizeof(ebuf)));
                return from ? 0 : r;
        }
        for (size_t i = 0; i < L->depth; i++)
                if (L->stack[i].dev == id.dev && L->stack[i].ino == id.ino) {
                        diag(L, CONF_ERROR, from, from_line, "include loop: '%s' is already "
                             "being read%s", path, "");
                        return 0;
                }
        r = add_file(L, path, &file);
        if (r < 0)
                return r;
        L->stack[L->depth++] = id;
        r = load_buffer(L, file, buf, size);
        L->depth--;
        return r;
}

/* @v sorted (see sorted_copy()) */
static bool in_list(char **v, size_t n, const char *s)
{
        return n && bsearch(&s, v, n, sizeof(char *), cmp_str) != NULL;
}

/* A sorted copy of a string list, for in_list(): NULL on ENOMEM. */
static char **sorted_copy(Arena *a, char **v, size_t n)
{
        char **r = arena_allocarray(a, n + 1, sizeof(char *));
        if (!r)
                return NULL;
        if (n) {
                memcpy(r, v, n * sizeof(char *));
                qsort(r, n, sizeof(char *), cmp_str);
        }
        return r;
}

static int raw_lines(Loader *L, ConfService *s, const ParseItem *it)
{
        Arena *a = L->cfg->arena;
        ConfRare *r = attr_rare(&L->ctx, s);
        if (!r || !(r->raw = arena_allocarray(a, it->n_attrs + 1, sizeof(char *))))
                return -ENOMEM;
        for (size_t i = 0; i < it->n_attrs; i++) {
                const ParseAttr *p = &it->attrs[i];
                size_t len = strlen(p->name) + 4;
                for (size_t j = 0; j < p->n_values; j++)
                        len += strlen(p->values[j].s) + 1;
                char *line = arena_alloc(a, len + 1), *q = line;
                if (!line)
                        return -ENOMEM;
                q = stpcpy(q, p->name);
                q = stpcpy(q, " ");
                q = stpcpy(q, parser_op_name(p->op));
                for (size_t j = 0; j < p->n_values; j++) {
                        q = stpcpy(q, " ");
                        q = stpcpy(q, p->values[j].s);
                }
                r->raw[r->n_raw++] = line;
        }
        return 0;
}

static int build_service(Loader *L, const ParseItem *it, const ConfService *def,
                         ConfService **ret)
{
        ConfCtx *c = &L->ctx;
        Arena *a = L->cfg->arena;
        ConfService *s = arena_alloc(a, sizeof(*s));
        const char *disable_reason = NULL;
        bool failed = false;
        int r;

        if (!s)
                return -ENOMEM;
        attr_service_init(s);
        s->name = arena_strdup(a, it->name);
        s->id = s->name;
        s->from_inetd = it->inetd;
        s->pos = (ConfPos) { .file = it->file, .line = it->line, .col = it->col };
        s->open_line = it->open_line;
        s->close_line = it->close_line;
        if (!s->name)
                return -ENOMEM;

        /* the id and the disable line decide the label and the severity of what follows */
        const char *id = it->name;
        for (size_t i = 0; i < it->n_attrs; i++) {
                const ParseAttr *p = &it->attrs[i];
                if (strcmp(p->name, "id") == 0 && p->n_values == 1 && p->op == CONF_OP_SET) {
                        id = p->values[0].s;
                        break;
                }
        }
        for (size_t i = 0; i < it->n_attrs; i++) {
                const ParseAttr *p = &it->attrs[i];
                if (strcmp(p->name, "disable") == 0 && p->n_values == 1 &&
                    p->op == CONF_OP_SET) {
                        if (strcasecmp(p->values[0].s, "yes") == 0)
                                disable_reason = arena_printf(a, "disable = yes (%s:%u)",
                                                              it->file, p->line);
                        break;
                }
        }
        if (!disable_reason && L->ctx.enabled_set &&
            !in_list(L->enabled_sorted, L->ctx.n_enabled, id))
                disable_reason = "not in the 'enabled' list of defaults";
        if (!disable_reason && in_list(L->disabled_sorted, L->ctx.n_disabled, id))
                disable_reason = "in the 'disabled' list of defaults";

        c->file = it->file;
        c->label = arena_strdup(L->tmp, id);       /* diagnostics copy it */
        c->in_defaults = false;
        c->error = NULL;
        c->severity = disable_reason ? CONF_WARNING : CONF_ERROR;
        if (!c->label)
                return -ENOMEM;

        attr_begin(c);
        attr_prefill(s, def);
        for (size_t i = 0; i < it->n_attrs; i++) {
                r = attr_apply(c, s, &it->attrs[i]);
                if (r < 0)
                        return r;
                if (r > 0)
                        failed = true;
        }
        if ((r = attr_inherit(c, s, def)) < 0)
                return r;
        if ((r = attr_finish(c, s)) < 0)
                return r;

        if (disable_reason) {
                /* fill in the implied values (protocol, port, kind, ...) for the tools that
                   show or enable it, without reporting what a disabled service lacks */
                c->quiet = true;
                (void) validate_service(c, s);
                c->quiet = false;
                s->state = CONF_SERVICE_DISABLED;
                s->reason = disable_reason;
        } else if (it->broken) {
                s->state = CONF_SERVICE_SKIPPED;
                s->reason = arena_printf(a, "%s:%u: %s", it->file, it->line, it->broken);
        } else if (failed || validate_service(c, s) != 0) {
                s->state = CONF_SERVICE_SKIPPED;
                s->reason = c->error ? c->error : "invalid attributes";
        } else
                s->state = CONF_SERVICE_ACTIVE;
        if (!s->reason && s->state != CONF_SERVICE_ACTIVE)
                return -ENOMEM;
        if (s->state == CONF_SERVICE_SKIPPED && (r = raw_lines(L, s, it)) < 0)
                return r;
        *ret = s;
        return 0;
}

static int build(Loader *L)
{
        Config *cfg = L->cfg;
        ConfCtx *c = &L->ctx;
        ConfService *def = arena_alloc(cfg->arena, sizeof(*def));
        const ParseItem *defaults = NULL;
        size_t n_services = 0;
        int r;

        if (!def)
                return -ENOMEM;
        attr_service_init(def);
        for (size_t i = 0; i < L->items.n_items; i++) {
                const ParseItem *it = &L->items.items[i];
                if (it->kind == PARSE_SERVICE) {
                        n_services++;
                        continue;
                }
                if (defaults) {
                        conf_diag_add(c->diag, CONF_WARNING, it->file, it->line, 0, NULL,
                                      "only one 'defaults' entry is allowed; this one (the "
                                      "first is at %s:%u) is ignored", defaults->file,
                                      defaults->line);
                        continue;
                }
                defaults = it;
        }
        if (defaults) {
                c->file = defaults->file;
                c->label = NULL;
                c->in_defaults = true;
                c->severity = CONF_ERROR;
                attr_begin(c);
                for (size_t i = 0; i < defaults->n_attrs; i++)
                        if ((r = attr_apply(c, def, &defaults->attrs[i])) < 0)
                                return r;
                if ((r = attr_finish(c, def)) < 0)
                        return r;
                cfg->max_connections = c->max_connections;
                def->name = def->id = "defaults";
                def->pos = (ConfPos) { .file = defaults->file, .line = defaults->line,
                                       .col = defaults->col };
                def->open_line = defaults->open_line;
                def->close_line = defaults->close_line;
                cfg->defaults = def;
                cfg->enabled_ids = c->enabled;
                cfg->n_enabled_ids = c->n_enabled;
                cfg->enabled_set = c->enabled_set;
                cfg->disabled_ids = c->disabled;
                cfg->n_disabled_ids = c->n_disabled;
        }

        L->enabled_sorted = sorted_copy(L->tmp, c->enabled, c->n_enabled);
        L->disabled_sorted = sorted_copy(L->tmp, c->disabled, c->n_disabled);
        if (!L->enabled_sorted || !L->disabled_sorted)
                return -ENOMEM;

        if (n_services > CONF_MAX_SERVICES) {
                conf_diag_add(c->diag, CONF_ERROR, NULL, 0, 0, NULL,
                              "more than %u services; the rest are ignored", CONF_MAX_SERVICES);
                n_services = CONF_MAX_SERVICES;
        }
        cfg->services = arena_allocarray(cfg->arena, n_services + 1, sizeof(ConfService *));
        if (!cfg->services)
                return -ENOMEM;
        /* xinetd's blocks first, then inetd.conf's; an xinetd id shadows an inetd one */
        const char **ids = NULL;
        size_t n_ids = 0;
        for (int pass = 0; pass < 2; pass++) {
                for (size_t i = 0; i < L->items.n_items && cfg->n_services < n_services; i++) {
                        const ParseItem *it = &L->items.items[i];
                        ConfService *s;
                        if (it->kind != PARSE_SERVICE || it->inetd != (pass == 1))
                                continue;
                        if ((r = build_service(L, it, def, &s)) < 0) {
                                free(ids);
                                return r;
                        }
                        if (pass == 1 && n_ids &&
                            bsearch(&s->id, ids, n_ids, sizeof(*ids), cmp_str))
                                continue;
                        cfg->services[cfg->n_services++] = s;
                }
                if (pass == 0 && L->o->inetd_path && cfg->n_services) {
                        ids = malloc(cfg->n_services * sizeof(*ids));
                        if (!ids)
                                return -ENOMEM;
                        for (size_t i = 0; i < cfg->n_services; i++)
                                ids[i] = cfg->services[i]->id;
                        n_ids = cfg->n_services;
                        qsort(ids, n_ids, sizeof(*ids), cmp_str);
                }
        }
        free(ids);

        r = validate_duplicates(c, cfg->services, cfg->n_services);
        if (r < 0)
                return r;
        for (size_t i = 0; i < cfg->n_services; i++)
                switch (cfg->services[i]->state) {
                case CONF_SERVICE_ACTIVE: cfg->n_active++; break;
                case CONF_SERVICE_DISABLED: cfg->n_disabled++; break;
                case CONF_SERVICE_SKIPPED: cfg->n_skipped++; break;
                }
        return 0;
}

static int load_inetd(Loader *L)
{
        const ConfLoadOptions *o = L->o;
        const char *file, *err = NULL;
        char ebuf[128];
        char *buf;
        size_t size;
        FileId id;
        int r;

        if (o->inetd_buffer) {
                size = o->inetd_buffer_size;
                if (size > CONF_MAX_FILE_SIZE) {
                        diag(L, CONF_ERROR, o->inetd_path, 0, "%s%s", "file too large", "");
                        return 0;
                }
                buf = arena_alloc(L->tmp, size + 1);
                if (!buf)
                        return -ENOMEM;
                memcpy(buf, o->inetd_buffer, size);
        } else {
                r = source_read(L, -1, o->inetd_path, &buf, &size, &id, &err);
                if (r == -ENOMEM)
                        return r;
                if (r == -ENOENT)
                        return 0;       /* -inetd_compat without an inetd.conf: nothing to read */
                if (r < 0) {
                        diag(L, CONF_ERROR, o->inetd_path, 0, "%s: %s", "cannot read",
                             err ? err : conf_strerror(-r, ebuf, sizeof(ebuf)));
                        return 0;
                }
        }
        r = add_file(L, o->inetd_path, &file);
        if (r < 0)
                return r;
        return inetd_parse(L->tmp, L->ctx.diag, file, buf, size, &L->items);
}

static int build_index(Config *cfg);

int conf_load(const ConfLoadOptions *o, Config **ret, ConfDiag *diag_list)
{
        Loader L = { .o = o };
        int r;

        L.ctx.diag = diag_list;
        L.ctx.flags = o->flags;
        L.ctx.cache = resolve_cache_new();
        resolve_cache_set_bundle(L.ctx.cache, o->record, o->replay);
        L.cfg = calloc(1, sizeof(*L.cfg));
        L.tmp = arena_new();
        if (!L.cfg || !L.tmp || !L.ctx.cache || !(L.cfg->arena = arena_new())) {
                r = -ENOMEM;
                goto fail;
        }
        L.ctx.arena = L.cfg->arena;
        const char *path = o->path ? o->path : "(config)";
        if (!(L.cfg->path = arena_strdup(L.cfg->arena, path))) {
                r = -ENOMEM;
                goto fail;
        }

        if (o->buffer) {
                const char *file;
                char *buf;
                if (o->buffer_size > CONF_MAX_FILE_SIZE) {
                        diag(&L, CONF_ERROR, path, 0, "%s%s", "file too large", "");
                        r = -EFBIG;
                        goto fail;
                }
                if ((r = add_file(&L, path, &file)) < 0)
                        goto fail;
                if (!(buf = arena_alloc(L.tmp, o->buffer_size + 1))) {
                        r = -ENOMEM;
                        goto fail;
                }
                memcpy(buf, o->buffer, o->buffer_size);
                r = load_buffer(&L, file, buf, o->buffer_size);
        } else
                r = load_path(&L, path, NULL, 0, -1);
        if (r < 0)
                goto fail;
        if (o->inetd_path && (r = load_inetd(&L)) < 0)
                goto fail;
        if ((r = build(&L)) < 0 || (r = build_index(L.cfg)) < 0)
                goto fail;

        L.cfg->files = arena_allocarray(L.cfg->arena, L.n_files + 1, sizeof(char *));
        if (!L.cfg->files) {
                r = -ENOMEM;
                goto fail;
        }
        if (L.n_files)
                memcpy(L.cfg->files, L.files, L.n_files * sizeof(char *));
        L.cfg->n_files = L.n_files;
        free(L.files);
        free(L.items.items);
        arena_free(L.tmp);
        resolve_cache_free(L.ctx.cache);
        attr_end(&L.ctx);
        *ret = L.cfg;
        return 0;
fail:
        free(L.files);
        free(L.items.items);
        arena_free(L.tmp);
        resolve_cache_free(L.ctx.cache);
        attr_end(&L.ctx);
        config_free(L.cfg);
        return r;
}

Config *config_free(Config *c)
{
        if (!c)
                return NULL;
        arena_free(c->arena);
        free(c);
        return NULL;
}

const ConfService *config_find(const Config *c, const char *id)
{
        size_t lo = 0, hi = c->n_services;

        if (!c->by_id)
                return NULL;
        while (lo < hi) {       /* the first entry not below id */
                size_t mid = lo + (hi - lo) / 2;
                if (strcmp(c->by_id[mid]->id, id) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < c->n_services && strcmp(c->by_id[lo]->id, id) == 0)
                return c->by_id[lo];
        return NULL;
}

/* by id, then by address: the services array is in file order, so ties keep that order */
static int cmp_service_id(const void *a, const void *b)
{
        const ConfService *x = *(ConfService *const *) a, *y = *(ConfService *const *) b;
        int r = strcmp(x->id, y->id);
        if (r)
                return r;
        return x->order < y->order ? -1 : x->order > y->order;
}

static int build_index(Config *cfg)
{
        cfg->by_id = arena_allocarray(cfg->arena, cfg->n_services + 1, sizeof(ConfService *));
        if (!cfg->by_id)
                return -ENOMEM;
        for (size_t i = 0; i < cfg->n_services; i++) {
                cfg->services[i]->order = i;
                cfg->by_id[i] = cfg->services[i];
        }
        if (cfg->n_services)
                qsort(cfg->by_id, cfg->n_services, sizeof(ConfService *), cmp_service_id);
        return 0;
}
