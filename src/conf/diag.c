/* SPDX-License-Identifier: MIT */
/*
 * diag — the list of configuration diagnostics. The parser never prints: it appends here, and
 * the caller (portierd -n, the reload path, portierctl) decides where the lines go. The list is
 * bounded (CONF_MAX_DIAG); past it, diagnostics are only counted.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"

int conf_diag_add(ConfDiag *d, ConfSeverity sev, const char *file, unsigned line, unsigned col,
                  const char *service, const char *fmt, ...)
{
        va_list ap;
        ConfDiagEntry e = {
                .line = line,
                .col = col,
                .severity = sev,
        };

        if (sev == CONF_ERROR)
                d->n_errors++;
        else
                d->n_warnings++;
        if (d->n_entries >= CONF_MAX_DIAG) {
                d->n_dropped++;
                return 0;
        }
        if (d->n_entries == d->allocated) {
                size_t n = d->allocated ? d->allocated * 2 : 16;
                ConfDiagEntry *v = realloc(d->entries, n * sizeof(*v));
                if (!v)
                        goto oom;
                d->entries = v;
                d->allocated = n;
        }

        va_start(ap, fmt);
        int r = vasprintf(&e.message, fmt, ap);
        va_end(ap);
        if (r < 0) {
                e.message = NULL;
                goto oom;
        }
        if (file && !(e.file = strdup(file)))
                goto oom;
        if (service && !(e.service = strdup(service)))
                goto oom;
        d->entries[d->n_entries++] = e;
        return 0;
oom:
        free(e.message);
        free(e.file);
        free(e.service);
        d->n_dropped++;
        return -ENOMEM;
}

void conf_diag_format(const ConfDiagEntry *e, FILE *f)
{
        if (e->file) {
                fputs(e->file, f);
                if (e->line)
                        fprintf(f, ":%u", e->line);
                if (e->line && e->col)
                        fprintf(f, ":%u", e->col);
                fputs(": ", f);
        }
        if (e->severity == CONF_WARNING)
                fputs("warning: ", f);
        if (e->service)
                fprintf(f, "service '%s': ", e->service);
        fprintf(f, "%s\n", e->message);
}

void conf_diag_print(const ConfDiag *d, FILE *f)
{
        for (size_t i = 0; i < d->n_entries; i++)
                conf_diag_format(&d->entries[i], f);
        if (d->n_dropped)
                fprintf(f, "(%zu more diagnostics not shown)\n", d->n_dropped);
}

void conf_diag_deinit(ConfDiag *d)
{
        if (!d)
                return;
        for (size_t i = 0; i < d->n_entries; i++) {
                free(d->entries[i].file);
                free(d->entries[i].service);
                free(d->entries[i].message);
        }
        free(d->entries);
        *d = CONF_DIAG_NULL;
}
