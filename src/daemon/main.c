/* SPDX-License-Identifier: MIT */
/*
 * main.c — portierd: wiring only. The command line (options.c) chooses between checking a
 * configuration (check.c) and running the daemon (daemon.c).
 */

#include <stdio.h>

#include "daemon/check.h"
#include "daemon/daemon.h"
#include "daemon/options.h"

#define EXIT_USAGE 2

int main(int argc, char **argv)
{
        Options o;

        if (options_parse(&o, argc, argv, stderr) < 0)
                return EXIT_USAGE;
        o.argv = argv;
        switch (o.action) {
        case OPTIONS_HELP:
                options_usage(stdout);
                return 0;
        case OPTIONS_VERSION:
                printf("portierd %s\n", PORTIER_VERSION);
                return 0;
        case OPTIONS_CHECK:
                return check_main(&o);
        case OPTIONS_DUMP_CONFIG:
                return dump_config_main(&o);
        case OPTIONS_RUN:
                break;
        }
        return daemon_run(&o);
}
