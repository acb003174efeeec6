/* SPDX-License-Identifier: MIT */
/*
 * options.c — portierd's command line.
 *
 * xinetd's options are single-dash words (-dontfork, -pidfile FILE, -inetd_compat) and are
 * matched whole: "-df" is an unknown option, never "-d -f". Every option xinetd 2.3.15
 * accepts is accepted (the obsolete -reuse, -shutdownprocs and Debian's -inetd_ipv6 as
 * no-ops); GNU-style long forms ("--config FILE", "--config=FILE") and portier's own options
 * sit in the same table. Unlike xinetd, an unknown option is an error.
 */

#include "daemon/options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <portier/log.h>

typedef enum OptionId {
        OPT_CONFIG, OPT_PIDFILE, OPT_FILELOG, OPT_SYSLOG, OPT_LOG_IDENT, OPT_CONTROL_SOCKET,
        OPT_SYSLOG_SOCKET, OPT_DEBUG, OPT_DONTFORK, OPT_STAYALIVE, OPT_INETD_COMPAT, OPT_LIMIT,
        OPT_LOGPROCS, OPT_CC, OPT_CHECK, OPT_DUMP_CONFIG, OPT_HELP, OPT_VERSION, OPT_NOOP,
        OPT_PRIVSEP_USER, OPT_NO_PRIVSEP,
} OptionId;

typedef struct OptionDef {
        const char *names[4];
        OptionId id;
        bool has_arg;
} OptionDef;

static const OptionDef option_defs[] = {
        { { "-f", "--config" }, OPT_CONFIG, true },
        { { "-pidfile", "--pidfile" }, OPT_PIDFILE, true },
        { { "-filelog", "--filelog" }, OPT_FILELOG, true },
        { { "-syslog", "--syslog" }, OPT_SYSLOG, true },
        { { "--log-ident" }, OPT_LOG_IDENT, true },
        { { "--control-socket" }, OPT_CONTROL_SOCKET, true },
        { { "--syslog-socket" }, OPT_SYSLOG_SOCKET, true },
        { { "-d", "--debug" }, OPT_DEBUG, false },
        { { "-dontfork", "--foreground", "--dontfork" }, OPT_DONTFORK, false },
        { { "-stayalive", "--stayalive" }, OPT_STAYALIVE, false },
        { { "-inetd_compat", "--inetd-compat" }, OPT_INETD_COMPAT, false },
        { { "-limit", "--limit" }, OPT_LIMIT, true },
        { { "-logprocs", "--logprocs" }, OPT_LOGPROCS, true },
        { { "-cc", "--cc" }, OPT_CC, true },
        { { "--privsep-user" }, OPT_PRIVSEP_USER, true },
        { { "--no-privsep" }, OPT_NO_PRIVSEP, false },
        { { "-n", "--check" }, OPT_CHECK, false },
        { { "--dump-config" }, OPT_DUMP_CONFIG, false },
        { { "-h", "--help" }, OPT_HELP, false },
        { { "-version", "--version", "-V" }, OPT_VERSION, false },
        { { "-reuse", "-shutdownprocs", "-inetd_ipv6" }, OPT_NOOP, false },
};

void options_usage(FILE *f)
{
        fprintf(f,
"Usage: portierd [OPTION]...\n"
"The portier super-server: listens on the ports of the services in its configuration\n"
"(xinetd.conf syntax) and starts the server of each connection.\n"
"\n"
"  -f, --config FILE         configuration file (default " OPTIONS_DEFAULT_CONFIG ")\n"
"  -n, --check               check the configuration, print every error, and exit\n"
"      --dump-config         print every service read, with its effective attributes\n"
"  -d, --debug               stay in the foreground, diagnostics on the terminal\n"
"  -dontfork, --foreground   stay in the foreground (implies -stayalive)\n"
"  -stayalive                keep running when no service is available\n"
"  -pidfile FILE             pid file, locked while running (default /run/portierd.pid,\n"
"                            or $XDG_RUNTIME_DIR/portierd.pid when not root)\n"
"  -syslog FACILITY          daemon messages to syslog with this facility (default daemon)\n"
"  -filelog FILE             daemon messages to FILE instead of syslog\n"
"      --log-ident NAME      syslog identity (default portierd; xinetd keeps fail2ban jails)\n"
"      --syslog-socket PATH  syslog socket (default /dev/log)\n"
"  -limit N                  at most N servers running at once\n"
"  -logprocs N               at most N ident (USERID) lookups at once\n"
"  -inetd_compat             also read /etc/inetd.conf, after the xinetd-style files\n"
"  -cc SECONDS               periodic consistency check\n"
"      --control-socket PATH control socket (default /run/portierd.sock; $PORTIER_SOCKET)\n"
"      --privsep-user NAME   privilege separation (when started as root): the network side\n"
"                            (event loop, built-ins, redirect, control socket) runs as NAME;\n"
"                            a root monitor binds, spawns, signals and reaps servers\n"
"      --no-privsep          no privilege separation (overrides --privsep-user)\n"
"  -reuse, -shutdownprocs, -inetd_ipv6\n"
"                            accepted for xinetd compatibility; they do nothing\n"
"  -h, --help                show this help\n"
"  -version, --version       show the version\n"
"\n"
"Signals: SIGHUP or SIGUSR2 reload the configuration, SIGTERM or SIGINT stop,\n"
"SIGQUIT exits at once. See portierd(8) and portier.conf(5).\n");
}

static const OptionDef *find_option(const char *name, size_t len)
{
        for (size_t i = 0; i < sizeof(option_defs) / sizeof(option_defs[0]); i++)
                for (size_t k = 0; k < 4 && option_defs[i].names[k]; k++)
                        if (strlen(option_defs[i].names[k]) == len &&
                            strncmp(option_defs[i].names[k], name, len) == 0)
                                return &option_defs[i];
        return NULL;
}

static int parse_count(const char *opt, const char *s, long *ret, FILE *err)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (!*s || *end || errno || v < 0 || v > INT_MAX) {
                fprintf(err, "portierd: option '%s' takes a number from 0 to %d, not '%s'\n",
                        opt, INT_MAX, s);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int apply(Options *o, const OptionDef *def, const char *name, const char *arg, FILE *err)
{
        switch (def->id) {
        case OPT_CONFIG:
                o->config_path = arg;
                break;
        case OPT_PIDFILE:
                o->pidfile_path = arg;
                break;
        case OPT_FILELOG:
                o->filelog_path = arg;
                break;
        case OPT_SYSLOG:
                if (portier_log_facility_from_name(arg) < 0) {
                        fprintf(err, "portierd: unknown syslog facility '%s'\n", arg);
                        return -EINVAL;
                }
                o->syslog_facility = arg;
                break;
        case OPT_LOG_IDENT:
                if (!*arg) {
                        fprintf(err, "portierd: the syslog identity cannot be empty\n");
                        return -EINVAL;
                }
                o->log_ident = arg;
                break;
        case OPT_CONTROL_SOCKET:
                o->control_socket = arg;
                break;
        case OPT_SYSLOG_SOCKET:
                o->syslog_socket = arg;
                break;
        case OPT_DEBUG:
                o->debug = true;
                break;
        case OPT_DONTFORK:
                o->dontfork = true;
                o->stayalive = true;
                break;
        case OPT_STAYALIVE:
                o->stayalive = true;
                break;
        case OPT_INETD_COMPAT:
                o->inetd_compat = true;
                break;
        case OPT_LIMIT:
                return parse_count(name, arg, &o->limit, err);
        case OPT_LOGPROCS:
                return parse_count(name, arg, &o->logprocs, err);
        case OPT_CC:
                return parse_count(name, arg, &o->cc_interval, err);
        case OPT_CHECK:
                o->action = OPTIONS_CHECK;
                break;
        case OPT_DUMP_CONFIG:
                o->action = OPTIONS_DUMP_CONFIG;
                break;
        case OPT_HELP:
                o->action = OPTIONS_HELP;
                break;
        case OPT_VERSION:
                o->action = OPTIONS_VERSION;
                break;
        case OPT_PRIVSEP_USER:
                if (!*arg) {
                        fprintf(err, "portierd: the privilege separation user cannot be "
                                "empty\n");
                        return -EINVAL;
                }
                o->privsep_user = arg;
                break;
        case OPT_NO_PRIVSEP:
                o->no_privsep = true;
                break;
        case OPT_NOOP:
                break;
        }
        return 0;
}

/**
 * options_parse() - read portierd's command line
 * @o: filled in (defaults first)
 * @argc: argument count
 * @argv: arguments
 * @err: where messages about a bad command line go
 *
 * Return: 0, or -EINVAL after printing what is wrong (the caller exits with status 2).
 */
int options_parse(Options *o, int argc, char **argv, FILE *err)
{
        *o = (Options){ .action = OPTIONS_RUN, .config_path = OPTIONS_DEFAULT_CONFIG };

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *arg = NULL, *eq = NULL;
                size_t len = strlen(a);
                const OptionDef *def;

                if (a[0] != '-' || a[1] == '\0') {
                        fprintf(err, "portierd: unexpected argument '%s'\n", a);
                        goto usage;
                }
                if (a[1] == '-' && (eq = strchr(a, '=')))
                        len = (size_t)(eq - a);
                def = find_option(a, len);
                if (!def) {
                        fprintf(err, "portierd: unknown option '%.*s'\n", (int)len, a);
                        goto usage;
                }
                if (def->has_arg) {
                        if (eq)
                                arg = eq + 1;
                        else if (i + 1 < argc)
                                arg = argv[++i];
                        else {
                                fprintf(err, "portierd: option '%s' needs an argument\n", a);
                                goto usage;
                        }
                } else if (eq) {
                        fprintf(err, "portierd: option '%.*s' takes no argument\n", (int)len, a);
                        goto usage;
                }
                if (apply(o, def, a, arg, err) < 0)
                        goto usage;
        }
        if (o->filelog_path && o->syslog_facility) {
                fprintf(err, "portierd: -filelog and -syslog cannot be used together\n");
                goto usage;
        }
        if (!o->control_socket)
                o->control_socket = getenv("PORTIER_SOCKET");
        return 0;
usage:
        fprintf(err, "Try 'portierd --help'.\n");
        return -EINVAL;
}
