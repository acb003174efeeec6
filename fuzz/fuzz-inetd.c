/* SPDX-License-Identifier: MIT */
/*
 * fuzz-inetd — libFuzzer target for the inetd.conf reader, through conf_load() so that the
 * synthesized attributes go through the same parsers and checks as xinetd blocks.
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

        if (conf_load(&o, &c, &d) == 0) {
                FILE *null = fopen("/dev/null", "w");
                if (null) {
                        conf_dump(c, null);
                        conf_diag_print(&d, null);
                        fclose(null);
                }
        }
        config_free(c);
        conf_diag_deinit(&d);
        return 0;
}
