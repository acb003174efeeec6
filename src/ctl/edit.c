/* SPDX-License-Identifier: MIT */
/*
 * edit.c — `portierctl enable|disable SERVICE`: the chkconfig way, persistent, in the files.
 *
 * The configuration is read with the daemon's own parser (conf_load), which records where
 * each service is (its file, the lines of 'service', '{' and of each attribute) and why it is
 * off. What decides is edited, and only that, one line at a time:
 *
 *   - the service's own 'disable' line (rewritten to yes/no, or 'disable = yes' inserted after
 *     the '{' line, indented like the next line);
 *   - the 'enabled' list of 'defaults' (the id appended) when that list leaves it out;
 *   - the 'disabled' list of 'defaults' (the id removed; a line left empty is removed);
 *   - an inetd.conf line: commented out with '#', or uncommented.
 *
 * Every other byte of the file stays as it was. A file is replaced atomically: a temporary
 * file in the same directory, with the original's mode and owner, written, synced and renamed
 * over it. A service defined in several places is not guessed at: the places are listed and
 * nothing is written.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "ctl/ctl.h"
#include "util.h"

#define EDIT_FILE_MAX (16u << 20)

/* A file as lines, each with its own line ending, so that unchanged lines stay byte-equal. */
typedef struct Lines {
        char *path;
        char **v;
        size_t n;
        bool changed;
} Lines;

static void lines_free(Lines *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        free(l->path);
        *l = (Lines){ 0 };
}

static int lines_read(const char *path, Lines *l, FILE *err)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        FILE *f = fopen(path, "re");

        *l = (Lines){ 0 };
        if (!f) {
                fprintf(err, "portierctl: cannot read '%s': %s\n", path, strerror(errno));
                return -errno;
        }
        for (;;) {
                if (len == cap) {
                        char *nb = cap <= EDIT_FILE_MAX ? realloc(buf, cap ? cap * 2 : 8192)
                                                        : NULL;

                        if (!nb) {
                                fclose(f);
                                /* Never write back a file cut short. */
                                fprintf(err, "portierctl: '%s' is too large to edit\n", path);
                                return -EFBIG;
                        }
                        buf = nb;
                        cap = cap ? cap * 2 : 8192;
                }
                size_t n = fread(buf + len, 1, cap - len, f);

                len += n;
                if (n == 0)
                        break;
        }
        if (ferror(f)) {
                fprintf(err, "portierctl: cannot read '%s': %s\n", path, strerror(errno));
                fclose(f);
                return -EIO;
        }
        fclose(f);
        l->path = strdup(path);
        if (!l->path)
                return -ENOMEM;
        for (size_t off = 0; off < len;) {
                const char *nl = memchr(buf + off, '\n', len - off);
                size_t n = nl ? (size_t)(nl - (buf + off)) + 1 : len - off;
                char **v = realloc(l->v, (l->n + 1) * sizeof(char *));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->v[l->n] = strndup(buf + off, n);
                if (!l->v[l->n])
                        return -ENOMEM;
                l->n++;
                off += n;
        }
        return 0;
}

/* Replace line @i (0-based) with @text (its line ending is kept if @text has none). */
static int lines_set(Lines *l, size_t i, const char *body)
{
        const char *old = l->v[i];
        size_t bl = strcspn(old, "\r\n");
        char *nv;

        if (asprintf(&nv, "%s%s", body, old + bl) < 0)
                return -ENOMEM;
        free(l->v[i]);
        l->v[i] = nv;
        l->changed = true;
        return 0;
}

static int lines_insert(Lines *l, size_t at, const char *body)
{
        char **v = realloc(l->v, (l->n + 1) * sizeof(char *));
        const char *ending = "\n";
        char *nv;

        if (!v)
                return -ENOMEM;
        l->v = v;
        if (at > 0 && strstr(l->v[at - 1], "\r\n"))
                ending = "\r\n";
        if (asprintf(&nv, "%s%s", body, ending) < 0)
                return -ENOMEM;
        memmove(&l->v[at + 1], &l->v[at], (l->n - at) * sizeof(char *));
        l->v[at] = nv;
        l->n++;
        l->changed = true;
        return 0;
}

static void lines_delete(Lines *l, size_t at)
{
        free(l->v[at]);
        memmove(&l->v[at], &l->v[at + 1], (l->n - at - 1) * sizeof(char *));
        l->n--;
        l->changed = true;
}

/* Write atomically, keeping mode and owner. */
static int lines_write(const Lines *l, FILE *err)
{
        _cleanup_free_ char *copy = strdup(l->path), *tmp = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        char *dir;
        int r = 0;

        if (!copy)
                return -ENOMEM;
        if (stat(l->path, &st) < 0) {
                fprintf(err, "portierctl: '%s': %s\n", l->path, strerror(errno));
                return -errno;
        }
        if (access(l->path, W_OK) < 0) {
                fprintf(err, "portierctl: cannot change '%s': %s (the file is not writable)\n",
                        l->path, strerror(errno));
                return -errno;
        }
        dir = dirname(copy);
        if (asprintf(&tmp, "%s/.%s.portierctl-XXXXXX", dir, basename(l->path)) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                fprintf(err, "portierctl: cannot change '%s': cannot create a file in '%s': %s "
                        "(the directory must be writable to replace the file atomically)\n",
                        l->path, dir, strerror(errno));
                return -errno;
        }
        for (size_t i = 0; i < l->n && r == 0; i++)
                r = write_all(fd, l->v[i], strlen(l->v[i]));
        if (r == 0 && fchmod(fd, st.st_mode & 07777) < 0)
                r = -errno;
        if (r == 0 && (st.st_uid != geteuid() || st.st_gid != getegid()) &&
            fchown(fd, st.st_uid, st.st_gid) < 0)
                r = -errno;
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, l->path) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(tmp);
                fprintf(err, "portierctl: cannot change '%s': %s\n", l->path, strerror(-r));
                return r;
        }
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd >= 0)
                (void)fsync(dfd);
        return 0;
}

/* --- finding words in a line ------------------------------------------------------------ */

static const char *skip_ws(const char *p)
{
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

static size_t word_len(const char *p)
{
        size_t n = 0;

        while (p[n] && !isspace((unsigned char)p[n]))
                n++;
        return n;
}

/* "NAME <op> values...": the start of the values, or NULL when the line is not about NAME.
 * @ret_op is '=', '+' or '-'. */
static const char *attr_values(const char *line, const char *name, char *ret_op)
{
        const char *p = skip_ws(line);
        size_t n = strlen(name);

        if (strncmp(p, name, n) != 0 || !(p[n] == ' ' || p[n] == '\t' || p[n] == '=' ||
                                          p[n] == '+' || p[n] == '-'))
                return NULL;
        p = skip_ws(p + n);
        if (*p == '+' || *p == '-') {
                *ret_op = *p++;
                if (*p != '=')
                        return NULL;
        } else {
                *ret_op = '=';
        }
        if (*p != '=')
                return NULL;
        return skip_ws(p + 1);
}

/* --- the edits -------------------------------------------------------------------------- */

/* Rewrite 'disable = X' on @line (1-based) to @value. */
static int set_disable_line(Lines *l, unsigned line, const char *value, FILE *err)
{
        char op, *body;
        const char *v;
        int r;

        if (line == 0 || line > l->n || !(v = attr_values(l->v[line - 1], "disable", &op)) ||
            op != '=') {
                fprintf(err, "portierctl: %s:%u: not a 'disable = ...' line\n", l->path, line);
                return -EINVAL;
        }
        size_t pre = (size_t)(v - l->v[line - 1]), wl = word_len(v);

        if (asprintf(&body, "%.*s%s%.*s", (int)pre, l->v[line - 1], value,
                     (int)strcspn(v + wl, "\r\n"), v + wl) < 0)
                return -ENOMEM;
        r = lines_set(l, line - 1, body);
        free(body);
        return r;
}

/* Insert 'disable = yes' after the '{' line. */
static int insert_disable_line(Lines *l, const ConfService *cs, FILE *err)
{
        unsigned at = cs->open_line;
        char indent[64] = "\t", *body;
        int r;

        if (at == 0 || at > l->n || cs->close_line == at) {
                fprintf(err, "portierctl: %s:%u: service '%s' is written on one line; edit it by "
                        "hand\n", l->path, cs->pos.line, cs->id);
                return -EINVAL;
        }
        /* The parser records the line of '{' (not its column): find it there. */
        const char *brace = strchr(l->v[at - 1], '{');
        const char *after = brace ? skip_ws(brace + 1) : NULL;

        if (!after || (*after && *after != '\r' && *after != '\n' && *after != '#')) {
                fprintf(err, "portierctl: %s:%u: something follows '{' on its line; edit it by "
                        "hand\n", l->path, at);
                return -EINVAL;
        }
        if (at < l->n) {
                size_t n = (size_t)(skip_ws(l->v[at]) - l->v[at]);

                if (n > 0 && n < sizeof(indent))
                        snprintf(indent, sizeof(indent), "%.*s", (int)n, l->v[at]);
        }
        if (asprintf(&body, "%sdisable = yes", indent) < 0)
                return -ENOMEM;
        r = lines_insert(l, at, body);
        free(body);
        return r;
}

static bool in_list(char **v, size_t n, const char *id)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i], id) == 0)
                        return true;
        return false;
}

/* Append @id to the first 'enabled' line of defaults. */
static int add_to_enabled(Lines *l, const ConfService *def, const char *id, FILE *err)
{
        unsigned line = conf_attr_line(def, CONF_ATTR_ENABLED);
        char op, *body;
        const char *v;
        int r;

        if (line == 0 || line > l->n || !(v = attr_values(l->v[line - 1], "enabled", &op))) {
                fprintf(err, "portierctl: %s: cannot find the 'enabled' line of defaults\n",
                        l->path);
                return -EINVAL;
        }
        size_t bl = strcspn(l->v[line - 1], "\r\n");

        while (bl > 0 && (l->v[line - 1][bl - 1] == ' ' || l->v[line - 1][bl - 1] == '\t'))
                bl--;
        if (asprintf(&body, "%.*s %s", (int)bl, l->v[line - 1], id) < 0)
                return -ENOMEM;
        r = lines_set(l, line - 1, body);
        free(body);
        return r;
}

/* Remove @id from every 'disabled' line of the defaults block; a line left without values
 * is removed. Return: lines changed, or -errno. */
static int remove_from_disabled(Lines *l, const ConfService *def, const char *id)
{
        int changed = 0;

        for (unsigned ln = def->close_line; ln >= def->open_line && ln >= 1; ln--) {
                char op, *body = NULL;
                const char *v;
                size_t len = 0;

                if (ln > l->n || !(v = attr_values(l->v[ln - 1], "disabled", &op)) || op == '-')
                        continue;
                FILE *m = open_memstream(&body, &len);
                bool found = false, any = false;

                if (!m)
                        return -ENOMEM;
                fprintf(m, "%.*s", (int)(v - l->v[ln - 1]), l->v[ln - 1]);
                for (const char *p = v; *(p = skip_ws(p)) && *p != '\r' && *p != '\n';) {
                        size_t n = word_len(p);

                        if (n == strlen(id) && strncmp(p, id, n) == 0) {
                                found = true;
                        } else {
                                fprintf(m, "%s%.*s", any ? " " : "", (int)n, p);
                                any = true;
                        }
                        p += n;
                }
                fclose(m);
                if (found) {
                        int r = 0;

                        if (any)
                                r = lines_set(l, ln - 1, body);
                        else
                                lines_delete(l, ln - 1);
                        if (r < 0) {
                                free(body);
                                return r;
                        }
                        changed++;
                }
                free(body);
                if (ln == 1)
                        break;
        }
        return changed;
}

/* inetd.conf: comment the line out, or take the comment away. */
static int inetd_line(Lines *l, unsigned line, bool on)
{
        const char *p = l->v[line - 1];
        char *body;
        int r;

        if (on) {
                p = skip_ws(p);
                if (*p != '#')
                        return 0;
                p = skip_ws(p + 1);
                body = strndup(p, strcspn(p, "\r\n"));
        } else {
                if (asprintf(&body, "#%.*s", (int)strcspn(p, "\r\n"), p) < 0)
                        body = NULL;
        }
        if (!body)
                return -ENOMEM;
        r = lines_set(l, line - 1, body);
        free(body);
        return r;
}

/* A commented inetd.conf line whose first field is @name: its line number, 0 if none, -1 if
 * several. */
static long find_commented_inetd(const Lines *l, const char *name)
{
        long found = 0;

        for (size_t i = 0; i < l->n; i++) {
                const char *p = skip_ws(l->v[i]);

                if (*p != '#')
                        continue;
                p = skip_ws(p + 1);
                /* The first field is [ADDRESS:]SERVICE; the service is what is named. */
                size_t n = word_len(p);
                const char *colon = memrchr(p, ':', n);

                if (colon) {
                        n -= (size_t)(colon + 1 - p);
                        p = colon + 1;
                }
                if (n == strlen(name) && strncmp(p, name, n) == 0) {
                        if (found)
                                return -1;
                        found = (long)i + 1;
                }
        }
        return found;
}

static int edit_inetd_commented(const char *inetd_path, const char *id, FILE *out, FILE *err)
{
        Lines l;
        long line;
        int r;

        if (!inetd_path || lines_read(inetd_path, &l, err) < 0)
                return -ENOENT;
        line = find_commented_inetd(&l, id);
        if (line <= 0) {
                if (line < 0)
                        fprintf(err, "portierctl: '%s' has several commented lines for '%s'; edit "
                                "it by hand\n", inetd_path, id);
                lines_free(&l);
                return line < 0 ? -EEXIST : -ENOENT;
        }
        r = inetd_line(&l, (unsigned)line, true);
        if (r == 0)
                r = lines_write(&l, err);
        if (r == 0)
                fprintf(out, "%s:%ld: uncommented '%s'\n", inetd_path, line, id);
        lines_free(&l);
        return r;
}

static int apply_file(const char *path, int (*fn)(Lines *, void *), void *arg, FILE *err)
{
        Lines l;
        int r = lines_read(path, &l, err);

        if (r == 0)
                r = fn(&l, arg);
        if (r >= 0 && l.changed)
                r = lines_write(&l, err);
        lines_free(&l);
        return r;
}

typedef struct EditArg {
        const ConfService *cs;
        const ConfService *def;
        const char *id;
        const char *value;
        bool on;
        FILE *err;
        int changed;
} EditArg;

static int do_disable_line(Lines *l, void *p)
{
        EditArg *a = p;
        unsigned line = conf_attr_line(a->cs, CONF_ATTR_DISABLE);

        if (a->cs->from_inetd)
                return inetd_line(l, a->cs->pos.line, a->on);
        if (line)
                return set_disable_line(l, line, a->value, a->err);
        return insert_disable_line(l, a->cs, a->err);
}

static int do_enabled(Lines *l, void *p)
{
        EditArg *a = p;

        return add_to_enabled(l, a->def, a->id, a->err);
}

static int do_disabled(Lines *l, void *p)
{
        EditArg *a = p;
        int r = remove_from_disabled(l, a->def, a->id);

        if (r > 0)
                a->changed = r;
        return r < 0 ? r : 0;
}

/* The definitions of @id: by id, else by name. */
static size_t find_all(const Config *c, const char *id, const ConfService **v, size_t max)
{
        size_t n = 0;

        for (int pass = 0; pass < 2 && n == 0; pass++)
                for (size_t i = 0; i < c->n_services; i++) {
                        const ConfService *s = c->services[i];

                        if (strcmp(pass ? s->name : s->id, id) == 0 && n < max)
                                v[n++] = s;
                }
        return n;
}

static int disable_service(const Config *c, const ConfService *cs, FILE *out, FILE *err)
{
        EditArg a = { .cs = cs, .def = c->defaults, .id = cs->id, .value = "yes", .err = err };
        int r;

        if (cs->state == CONF_SERVICE_DISABLED) {
                fprintf(out, "service '%s' is already off (%s)\n", cs->id, cs->reason);
                return CTL_EXIT_NOCHANGE;
        }
        r = apply_file(cs->pos.file, do_disable_line, &a, err);
        if (r < 0)
                return CTL_EXIT_FAILED;
        if (cs->from_inetd)
                fprintf(out, "%s:%u: commented out '%s'\n", cs->pos.file, cs->pos.line, cs->id);
        else
                fprintf(out, "%s: service '%s': disable = yes\n", cs->pos.file, cs->id);
        return 0;
}

static int enable_service(const Config *c, const ConfService *cs, FILE *out, FILE *err)
{
        EditArg a = { .cs = cs, .def = c->defaults, .id = cs->id, .value = "no", .on = true,
                      .err = err };
        bool own = conf_attr_line(cs, CONF_ATTR_DISABLE) && cs->reason &&
                   strncmp(cs->reason, "disable = yes", 13) == 0;
        const char *dfile = c->defaults ? c->defaults->pos.file : NULL;
        bool edited = false;

        if (cs->state != CONF_SERVICE_DISABLED) {
                fprintf(out, "service '%s' is already on%s%s%s\n", cs->id,
                        cs->state == CONF_SERVICE_SKIPPED ? " (but broken: " : "",
                        cs->state == CONF_SERVICE_SKIPPED ? cs->reason : "",
                        cs->state == CONF_SERVICE_SKIPPED ? ")" : "");
                return CTL_EXIT_NOCHANGE;
        }
        if (own) {
                if (apply_file(cs->pos.file, do_disable_line, &a, err) < 0)
                        return CTL_EXIT_FAILED;
                fprintf(out, "%s: service '%s': disable = no\n", cs->pos.file, cs->id);
                edited = true;
        }
        if (c->enabled_set && !in_list(c->enabled_ids, c->n_enabled_ids, cs->id)) {
                fprintf(out, "note: service '%s' is switched off by the 'enabled' list of "
                        "defaults (%s:%u); adding it there\n", cs->id, dfile ? dfile : "?",
                        c->defaults ? conf_attr_line(c->defaults, CONF_ATTR_ENABLED) : 0);
                if (!dfile || apply_file(dfile, do_enabled, &a, err) < 0)
                        return CTL_EXIT_FAILED;
                edited = true;
        }
        if (in_list(c->disabled_ids, c->n_disabled_ids, cs->id)) {
                fprintf(out, "note: service '%s' is switched off by the 'disabled' list of "
                        "defaults (%s:%u); removing it from there\n", cs->id, dfile ? dfile : "?",
                        c->defaults ? conf_attr_line(c->defaults, CONF_ATTR_DISABLED) : 0);
                if (!dfile || apply_file(dfile, do_disabled, &a, err) < 0)
                        return CTL_EXIT_FAILED;
                if (!a.changed) {
                        fprintf(err, "portierctl: '%s' is not on a 'disabled' line of the "
                                "defaults block in %s; edit it by hand\n", cs->id, dfile);
                        return CTL_EXIT_FAILED;
                }
                edited = true;
        }
        if (!edited) {
                fprintf(err, "portierctl: service '%s' is off (%s), and portierctl does not know "
                        "how to switch that on; edit it by hand\n", cs->id,
                        cs->reason ? cs->reason : "?");
                return CTL_EXIT_FAILED;
        }
        return 0;
}

/**
 * edit_switch() - switch a service on or off in the configuration files
 * @config: the main configuration file
 * @inetd: the inetd.conf read after it, or NULL
 * @id: the service (id, or name)
 * @on: enable (true) or disable
 * @out: what was done
 * @err: errors
 *
 * Return: 0 when a file was changed, CTL_EXIT_NOCHANGE when nothing needed to be, or an exit
 * status (CTL_EXIT_*).
 */
int edit_switch(const char *config, const char *inetd, const char *id, bool on, FILE *out,
                FILE *err)
{
        ConfLoadOptions lo = { .path = config, .inetd_path = inetd,
                               .flags = CONF_LOAD_NO_RESOLVE | CONF_LOAD_NO_FS_CHECKS };
        ConfDiag diag = CONF_DIAG_NULL;
        const ConfService *v[16];
        Config *c = NULL;
        size_t n;
        int r;

        r = conf_load(&lo, &c, &diag);
        if (r < 0) {
                conf_diag_print(&diag, err);
                fprintf(err, "portierctl: cannot read the configuration '%s': %s\n", config,
                        strerror(-r));
                conf_diag_deinit(&diag);
                return CTL_EXIT_NOTCONFIGURED;
        }
        n = find_all(c, id, v, ELEMENTSOF(v));
        if (n == 0) {
                if (on) {
                        r = edit_inetd_commented(inetd, id, out, err);
                        if (r != -ENOENT) {
                                config_free(c);
                                conf_diag_deinit(&diag);
                                return r < 0 ? CTL_EXIT_FAILED : 0;
                        }
                }
                fprintf(err, "portierctl: no service '%s' in %s%s%s\n", id, config,
                        inetd ? " or " : "", inetd ? inetd : "");
                r = CTL_EXIT_UNKNOWN;
        } else if (n > 1) {
                fprintf(err, "portierctl: service '%s' is defined in %zu places; edit the one you "
                        "mean by hand:\n", id, n);
                for (size_t i = 0; i < n; i++)
                        fprintf(err, "\t%s:%u\n", v[i]->pos.file, v[i]->pos.line);
                r = CTL_EXIT_FAILED;
        } else {
                r = on ? enable_service(c, v[0], out, err) : disable_service(c, v[0], out, err);
        }
        config_free(c);
        conf_diag_deinit(&diag);
        return r;
}
