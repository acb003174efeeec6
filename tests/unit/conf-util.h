/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_TEST_CONF_UTIL_H
#define PORTIER_TEST_CONF_UTIL_H

/*
 * conf-util.h — for the unit tests of the configuration (include after cmocka.h): load a
 * configuration from a string, find a diagnostic by its words, find a service by its id.
 */

#include <string.h>

#include "conf/conf.h"

typedef struct L {
        Config *c;
        ConfDiag d;
} L;

/* The text as the file "t.conf"; the load itself must succeed. */
static inline L load_flags(const char *text, unsigned flags)
{
        L l = { .d = CONF_DIAG_NULL };
        ConfLoadOptions o = { .path = "t.conf", .buffer = text, .buffer_size = strlen(text),
                              .flags = flags };

        assert_int_equal(conf_load(&o, &l.c, &l.d), 0);
        return l;
}

static inline void done(L *l)
{
        config_free(l->c);
        conf_diag_deinit(&l->d);
}

/* The diagnostic containing @needle; fails (listing them all) if none. */
static inline const ConfDiagEntry *find_diag(const L *l, const char *needle)
{
        for (size_t i = 0; i < l->d.n_entries; i++)
                if (strstr(l->d.entries[i].message, needle))
                        return &l->d.entries[i];
        print_error("no diagnostic containing '%s'; got:\n", needle);
        for (size_t i = 0; i < l->d.n_entries; i++)
                print_error("  %u: %s\n", l->d.entries[i].line, l->d.entries[i].message);
        fail();
        return NULL;
}

static inline const ConfService *svc(const L *l, const char *id)
{
        const ConfService *s = config_find(l->c, id);

        if (!s)
                fail_msg("no service '%s'", id);
        return s;
}

#endif
