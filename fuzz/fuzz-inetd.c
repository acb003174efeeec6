/* SPDX-License-Identifier: MIT */
/*
 * fuzz-inetd — libFuzzer target for the inetd.conf reader, through conf_load() so that the
 * synthesized attributes go through the same parsers and checks as xinetd blocks; the dump of
 * the result (xinetd syntax) must read back to as many active and disabled services.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ConfLoadOptions o = {
                .path = "empty.conf", .buffer = "", .buffer_size = 0,
                .inetd_path = "inetd.conf", .inetd_buffer = (const char *) data,
                .inetd_buffer_size = size,
                .flags = CONF_LOAD_NO_INCLUDE | CONF_LOAD_NO_RESOLVE | CONF_LOAD_NO_FS_CHECKS,
        };
        ConfDiag d = CONF_DIAG_NULL;
        Config *c = NULL;

        char *text = NULL;
        size_t len = 0;

        if (conf_load(&o, &c, &d) == 0) {
                FILE *null = fopen("/dev/null", "w");
                if (null) {
                        conf_diag_print(&d, null);
                        fclose(null);
                }
                /* property: the dump, in xinetd syntax, gives the same services */
                FILE *f = open_memstream(&text, &len);
                if (f) {
                        conf_dump(c, f);
                        fclose(f);
                        ConfLoadOptions o2 = { .path = "dump.conf", .buffer = text,
                                               .buffer_size = len, .flags = o.flags };
                        ConfDiag d2 = CONF_DIAG_NULL;
                        Config *c2 = NULL;
                        if (conf_load(&o2, &c2, &d2) == 0 &&
                            (c2->n_active != c->n_active || c2->n_disabled != c->n_disabled)) {
                                fprintf(stderr, "dump does not read back: active %zu/%zu\n%s",
                                        c->n_active, c2->n_active, text);
                                abort();
                        }
                        config_free(c2);
                        conf_diag_deinit(&d2);
                }
        }
        free(text);
        config_free(c);
        conf_diag_deinit(&d);
        return 0;
}
