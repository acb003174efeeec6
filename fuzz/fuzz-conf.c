/* SPDX-License-Identifier: MIT */
/*
 * fuzz-conf — libFuzzer target for the xinetd.conf reader: lexer, parser, every attribute
 * parser, defaults, validation and the dump. No includes, no DNS, no file-system checks, so an
 * input is a pure function of its bytes. A property is checked too: the dump of a Config reads
 * back to as many services in each state.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf/conf.h"

#define FLAGS (CONF_LOAD_NO_INCLUDE | CONF_LOAD_NO_RESOLVE | CONF_LOAD_NO_FS_CHECKS)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ConfLoadOptions o = {
                .path = "fuzz.conf", .buffer = (const char *) data, .buffer_size = size,
                .flags = FLAGS,
        };
        ConfDiag d = CONF_DIAG_NULL;
        Config *c = NULL;
        char *text = NULL;
        size_t len = 0;

        if (conf_load(&o, &c, &d) < 0)
                goto out;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                goto out;
        conf_dump(c, f);
        fclose(f);
        FILE *null = fopen("/dev/null", "w");
        if (null) {
                conf_diag_print(&d, null);
                fclose(null);
        }

        /* the dump of the first dump: same counts */
        ConfDiag d2 = CONF_DIAG_NULL;
        Config *c2 = NULL;
        o.buffer = text;
        o.buffer_size = len;
        if (conf_load(&o, &c2, &d2) == 0 &&
            (c2->n_active != c->n_active || c2->n_disabled != c->n_disabled)) {
                fprintf(stderr, "dump does not read back: active %zu/%zu disabled %zu/%zu\n%s",
                        c->n_active, c2->n_active, c->n_disabled, c2->n_disabled, text);
                abort();
        }
        config_free(c2);
        conf_diag_deinit(&d2);
out:
        free(text);
        config_free(c);
        conf_diag_deinit(&d);
        return 0;
}
