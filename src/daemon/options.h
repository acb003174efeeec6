/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_OPTIONS_H
#define PORTIERD_OPTIONS_H

/*
 * portierd's command line: every flag xinetd 2.3.15 accepts (single-dash long options, never
 * read as bundles of short ones), plus GNU-style long forms and portier's own options.
 */

#include <stdbool.h>
#include <stdio.h>

typedef enum OptionsAction {
        OPTIONS_RUN,            /* run the daemon */
        OPTIONS_CHECK,          /* -n / --check: validate the configuration and exit */
        OPTIONS_DUMP_CONFIG,    /* --dump-config: print every service read, and exit */
        OPTIONS_HELP,           /* --help */
        OPTIONS_VERSION,        /* -version / --version */
} OptionsAction;

typedef struct Options {
        OptionsAction action;
        const char *config_path;        /* -f, --config (default /etc/portier.conf) */
        const char *pidfile_path;       /* -pidfile, --pidfile (NULL: the default) */
        const char *filelog_path;       /* -filelog FILE: daemon messages to a file */
        const char *syslog_facility;    /* -syslog FACILITY (default daemon) */
        const char *log_ident;          /* --log-ident NAME (default portierd) */
        const char *control_socket;     /* --control-socket PATH (also $PORTIER_SOCKET) */
        const char *syslog_socket;      /* --syslog-socket PATH (default /dev/log) */
        bool debug;                     /* -d: foreground, diagnostics on the terminal */
        bool dontfork;                  /* -dontfork, --foreground: foreground; implies stayalive */
        bool stayalive;                 /* -stayalive: keep running with no service */
        bool inetd_compat;              /* -inetd_compat: also read /etc/inetd.conf */
        long limit;                     /* -limit N: cap on running servers (0: none) */
        long logprocs;                  /* -logprocs N: cap on concurrent ident lookups (0: none) */
        long cc_interval;               /* -cc SEC: periodic consistency check (0: off) */
        const char *privsep_user;       /* --privsep-user NAME: privilege separation */
        bool no_privsep;                /* --no-privsep: none, even with --privsep-user */
        char **argv;                    /* the command line as given, for reexec (main.c) */
} Options;

#define OPTIONS_DEFAULT_CONFIG "/etc/portier.conf"

int options_parse(Options *o, int argc, char **argv, FILE *err);
void options_usage(FILE *f);

#endif
