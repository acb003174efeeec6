/* SPDX-License-Identifier: MIT */
/*
 * check — `portierd -n` and `portierd --dump-config`. Both load the configuration exactly as
 * the daemon does at start (main file, includes, and /etc/inetd.conf with -inetd_compat), so
 * that -n fails exactly where the daemon would not run a service.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "daemon/check.h"
#include "daemon/harden.h"

#define INETD_CONF "/etc/inetd.conf"

static int load(const Options *o, Config **ret, ConfDiag *d)
{
        ConfLoadOptions lo = {
                .path = o->config_path ? o->config_path : OPTIONS_DEFAULT_CONFIG,
                .inetd_path = o->inetd_compat ? INETD_CONF : NULL,
        };
        return conf_load(&lo, ret, d);
}

/* What the daemon refuses when it prepares the services (generation.c), said here too. */
static void check_privileges(const Config *c, ConfDiag *d)
{
        HardenProbe probe;

        harden_probe_init(&probe, geteuid() == 0);
        for (size_t i = 0; i < c->n_services; i++) {
                const ConfService *cs = c->services[i];
                ConfAttrId attr;
                char why[512];

                if (cs->state == CONF_SERVICE_ACTIVE && cs->kind == CONF_KIND_SERVER &&
                    harden_refusal(cs, &probe, why, sizeof(why), &attr))
                        conf_diag_add(d, CONF_ERROR, cs->pos.file,
                                      conf_attr_line(cs, attr) ?: cs->pos.line, 0, cs->id,
                                      "%s", why);
        }
}

int check_main(const Options *o)
{
        ConfDiag d = CONF_DIAG_NULL;
        Config *c = NULL;
        int r = load(o, &c, &d);

        if (c)
                check_privileges(c, &d);

        conf_diag_print(&d, stderr);
        if (r < 0 && d.n_errors == 0)
                fprintf(stderr, "portierd: cannot load the configuration: %s\n", strerror(-r));
        int status = (r < 0 || d.n_errors) ? 1 : 0;
        if (status == 0)
                printf("configuration OK\n");
        else
                fprintf(stderr, "portierd: %zu error%s in the configuration\n",
                        d.n_errors ? d.n_errors : 1, d.n_errors == 1 ? "" : "s");
        fflush(stdout);
        config_free(c);
        conf_diag_deinit(&d);
        return status;
}

int dump_config_main(const Options *o)
{
        ConfDiag d = CONF_DIAG_NULL;
        Config *c = NULL;
        int r = load(o, &c, &d);

        conf_diag_print(&d, stderr);
        if (r < 0) {
                if (d.n_errors == 0)
                        fprintf(stderr, "portierd: cannot load the configuration: %s\n",
                                strerror(-r));
                conf_diag_deinit(&d);
                return 1;
        }
        r = conf_dump(c, stdout);
        if (r < 0)
                fprintf(stderr, "portierd: writing the dump: %s\n", strerror(-r));
        config_free(c);
        conf_diag_deinit(&d);
        return r < 0 ? 1 : 0;
}
