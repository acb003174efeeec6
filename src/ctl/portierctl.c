/* SPDX-License-Identifier: MIT */
/*
 * portierctl.c — the operator's tool: the command line and the commands.
 *
 * A thin client: the read commands (list, status, sockets, dump) and reload/reexec are one
 * request each over the control socket, and what the daemon renders is printed as it is.
 * `check` and `enable`/`disable` work on the files with the daemon's own parser and need no
 * daemon; enable/disable then ask a running one to reload.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "ctl/ctl.h"
#include "daemon/listing.h"
#include "proto/proto.h"
#include "util.h"

#define DEFAULT_SOCKET "/run/portierd.sock"
#define DEFAULT_CONFIG "/etc/portier.conf"
#define DEFAULT_TIMEOUT_SEC 90

typedef struct Ctl {
        const char *socket;
        const char *config;             /* -f */
        const char *inetd;              /* --inetd-conf */
        bool json;
        bool no_reload;
        int timeout_ms;
} Ctl;

static void usage(FILE *f)
{
        fprintf(f,
"Usage: portierctl [OPTION]... COMMAND [ARG]\n"
"Control portierd, the portier super-server.\n"
"\n"
"Commands:\n"
"  list                  every service: on/off, protocol, address, kind, running servers\n"
"                        (without a daemon: read from the files, no running counts)\n"
"  status [SERVICE]      the daemon (pid, uptime, generation) and per-service counters\n"
"  sockets               listening address -> service -> server program\n"
"  dump                  the daemon's state dump (as on SIGUSR1)\n"
"  enable SERVICE        switch a service on in its file, then reload a running daemon\n"
"  disable SERVICE       switch a service off in its file, then reload a running daemon\n"
"  reload                reload the configuration; print the errors of a failed reload\n"
"  reexec                re-execute portierd's binary in place (live upgrade)\n"
"  check [-f FILE]       check a configuration, as 'portierd -n' (no daemon needed)\n"
"\n"
"Options:\n"
"      --socket PATH     control socket (default $PORTIER_SOCKET, else " DEFAULT_SOCKET ")\n"
"  -f, --config FILE     configuration for check/enable/disable, and for list when no\n"
"                        daemon runs (default: the running daemon's, else\n"
"                        " DEFAULT_CONFIG ")\n"
"      --inetd-conf FILE an inetd.conf read after it (as portierd -inetd_compat)\n"
"      --json            JSON output for list, status, sockets, dump, check\n"
"      --no-reload       enable/disable: only edit the files\n"
"      --timeout SEC     longest wait for the daemon's answer (default %d)\n"
"  -h, --help            this help\n"
"      --version         the version\n"
"\n"
"Exit status: 0 ok; 1 failed; 2 usage; 3 not running or not active (status); 4 permission\n"
"denied, or no such service (status); 5 no such service; 6 configuration unreadable;\n"
"7 portierd is not running. See portierctl(8).\n", DEFAULT_TIMEOUT_SEC);
}

/* The control socket's errors that mean "no daemon". */
static bool not_running(int r)
{
        return r == -ENOENT || r == -ECONNREFUSED || r == -ENOTDIR;
}

/* An error talking to the daemon, as an exit status. */
static int connect_error(const Ctl *c, int r, bool is_status)
{
        if (not_running(r)) {
                fprintf(stderr, "portierctl: portierd is not running (no control socket at "
                        "'%s')\n", c->socket);
                return is_status ? CTL_EXIT_INACTIVE : CTL_EXIT_NOTRUNNING;
        }
        if (r == -EACCES || r == -EPERM) {
                fprintf(stderr, "portierctl: permission denied on '%s' (root or portierd's own "
                        "user only)\n", c->socket);
                return CTL_EXIT_DENIED;
        }
        if (r == -ETIMEDOUT)
                fprintf(stderr, "portierctl: no answer from portierd within %d s\n",
                        c->timeout_ms / 1000);
        else if (r == -ECONNRESET)
                fprintf(stderr, "portierctl: portierd closed the connection without an answer\n");
        else
                fprintf(stderr, "portierctl: '%s': %s\n", c->socket, strerror(-r));
        return CTL_EXIT_FAILED;
}

static int list_offline(const Ctl *c);

/* One request; DATA to stdout (or, for a failure, to stderr), the END message after it. */
static int simple_request(const Ctl *c, int type, unsigned flags, const char *arg, bool is_status)
{
        char message[PROTO_MESSAGE_MAX + 1];
        char *data = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&data, &len);
        int status = 0, r;

        if (!m)
                return CTL_EXIT_FAILED;
        r = ctl_request(c->socket, type, flags, arg, c->timeout_ms, m, &status, message);
        fclose(m);
        if (r < 0) {
                free(data);
                /* `list` without a daemon: from the files, as chkconfig --list does */
                if (type == PROTO_REQ_LIST && not_running(r))
                        return list_offline(c);
                return connect_error(c, r, is_status);
        }
        bool failed = status != 0 && type != PROTO_REQ_STATUS;

        fwrite(data, 1, len, failed ? stderr : stdout);
        free(data);
        if (*message)
                fprintf(status ? stderr : stdout, "%s%s\n", status ? "portierctl: " : "",
                        message);
        return status < 0 || status > 255 ? CTL_EXIT_FAILED : status;
}

/* The running daemon's configuration files (config, inetd); false when it does not answer. */
static bool daemon_config(const Ctl *c, char **ret_config, char **ret_inetd)
{
        char message[PROTO_MESSAGE_MAX + 1], *data = NULL, *save = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&data, &len);
        int status = 0, r;

        *ret_config = *ret_inetd = NULL;
        if (!m)
                return false;
        r = ctl_request(c->socket, PROTO_REQ_INFO, 0, "", c->timeout_ms, m, &status, message);
        fclose(m);
        if (r < 0 || status != 0) {
                free(data);
                return false;
        }
        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                if (strncmp(line, "config ", 7) == 0)
                        *ret_config = strdup(line + 7);
                else if (strncmp(line, "inetd ", 6) == 0 && strcmp(line + 6, "-") != 0)
                        *ret_inetd = strdup(line + 6);
        }
        free(data);
        return *ret_config != NULL;
}

static void diag_json(FILE *f, const ConfDiag *d)
{
        for (size_t i = 0; i < d->n_entries; i++) {
                const ConfDiagEntry *e = &d->entries[i];

                fprintf(f, "%s\n {\"severity\":\"%s\",\"file\":", i ? "," : "",
                        e->severity == CONF_ERROR ? "error" : "warning");
                proto_json_string(f, e->file);
                fprintf(f, ",\"line\":%u,\"column\":%u,\"service\":", e->line, e->col);
                if (e->service)
                        proto_json_string(f, e->service);
                else
                        fputs("null", f);
                fputs(",\"message\":", f);
                proto_json_string(f, e->message);
                fputc('}', f);
        }
}

/* `check`: what `portierd -n` does, with the same words; --json for tools. */
static int cmd_check(const Ctl *c, const char *config, const char *inetd)
{
        ConfLoadOptions lo = { .path = config, .inetd_path = inetd };
        ConfDiag d = CONF_DIAG_NULL;
        Config *cf = NULL;
        int r = conf_load(&lo, &cf, &d);
        bool ok = r == 0 && d.n_errors == 0;

        if (c->json) {
                fputs("{\"config\":", stdout);
                proto_json_string(stdout, config);
                fprintf(stdout, ",\"ok\":%s,\"readable\":%s,\"errors\":%zu,\"warnings\":%zu,"
                        "\"diagnostics\":[", ok ? "true" : "false", r == 0 ? "true" : "false",
                        d.n_errors, d.n_warnings);
                diag_json(stdout, &d);
                fputs("\n]}\n", stdout);
        } else {
                conf_diag_print(&d, stderr);
                if (r < 0 && d.n_errors == 0)
                        fprintf(stderr, "portierctl: cannot load the configuration: %s\n",
                                strerror(-r));
                if (ok)
                        printf("configuration OK\n");
                else
                        fprintf(stderr, "portierctl: %zu error%s in the configuration\n",
                                d.n_errors ? d.n_errors : 1, d.n_errors == 1 ? "" : "s");
        }
        config_free(cf);
        conf_diag_deinit(&d);
        return ok ? 0 : r < 0 ? CTL_EXIT_NOTCONFIGURED : CTL_EXIT_FAILED;
}

/* `list` when portierd is not running: the services of the configuration files (-f, else
 * the default), on/off and the rest, without live state; the header says why. */
static int list_offline(const Ctl *c)
{
        const char *config = c->config ? c->config : DEFAULT_CONFIG;
        ConfLoadOptions lo = { .path = config, .inetd_path = c->inetd };
        ConfDiag d = CONF_DIAG_NULL;
        Config *cf = NULL;
        int r = conf_load(&lo, &cf, &d);

        if (r < 0) {
                conf_diag_print(&d, stderr);
                fprintf(stderr, "portierctl: portierd is not running, and the configuration "
                        "'%s' cannot be read: %s\n", config, strerror(-r));
                conf_diag_deinit(&d);
                config_free(cf);
                return CTL_EXIT_NOTRUNNING;     /* as other commands without a daemon */
        }
        listing_write(stdout, cf, config, 0, NULL, c->json);
        config_free(cf);
        conf_diag_deinit(&d);
        return 0;
}

static int cmd_switch(const Ctl *c, const char *id, bool on)
{
        _cleanup_free_ char *dconf = NULL, *dinetd = NULL;
        bool running = daemon_config(c, &dconf, &dinetd);
        const char *config = c->config ? c->config : running ? dconf : DEFAULT_CONFIG;
        const char *inetd = c->inetd ? c->inetd : c->config ? NULL : dinetd;
        int r;

        r = edit_switch(config, inetd, id, on, stdout, stderr);
        if (r == CTL_EXIT_NOCHANGE)
                return 0;
        if (r != 0)
                return r;
        fflush(stdout);
        if (c->no_reload)
                return 0;
        if (!running) {
                printf("portierd is not running: the change applies when it starts\n");
                return 0;
        }
        if (c->config && dconf && strcmp(c->config, dconf) != 0) {
                printf("the running portierd reads '%s', not '%s': not reloading it\n", dconf,
                       c->config);
                return 0;
        }
        return simple_request(c, PROTO_REQ_RELOAD, 0, "", false);
}

static int read_command(const Ctl *c, int type, const char *arg)
{
        return simple_request(c, type, c->json ? PROTO_F_JSON : 0, arg ? arg : "",
                              type == PROTO_REQ_STATUS);
}

int main(int argc, char **argv)
{
        enum { OPT_SOCKET = 256, OPT_JSON, OPT_NO_RELOAD, OPT_TIMEOUT, OPT_VERSION, OPT_INETD };
        static const struct option longopts[] = {
                { "socket", required_argument, NULL, OPT_SOCKET },
                { "config", required_argument, NULL, 'f' },
                { "inetd-conf", required_argument, NULL, OPT_INETD },
                { "json", no_argument, NULL, OPT_JSON },
                { "no-reload", no_argument, NULL, OPT_NO_RELOAD },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                { 0 },
        };
        Ctl c = { .socket = getenv("PORTIER_SOCKET"), .timeout_ms = DEFAULT_TIMEOUT_SEC * 1000 };
        const char *cmd, *arg;
        int o;

        while ((o = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
                switch (o) {
                case OPT_SOCKET:
                        c.socket = optarg;
                        break;
                case 'f':
                        c.config = optarg;
                        break;
                case OPT_INETD:
                        c.inetd = optarg;
                        break;
                case OPT_JSON:
                        c.json = true;
                        break;
                case OPT_NO_RELOAD:
                        c.no_reload = true;
                        break;
                case OPT_TIMEOUT: {
                        char *end;
                        long v = strtol(optarg, &end, 10);

                        if (*end || v <= 0 || v > 86400) {
                                fprintf(stderr, "portierctl: --timeout takes seconds (1 to "
                                        "86400), not '%s'\n", optarg);
                                return CTL_EXIT_USAGE;
                        }
                        c.timeout_ms = (int)v * 1000;
                        break;
                }
                case 'h':
                        usage(stdout);
                        return 0;
                case OPT_VERSION:
                        printf("portierctl %s\n", PORTIER_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'portierctl --help'.\n");
                        return CTL_EXIT_USAGE;
                }
        }
        if (!c.socket || !*c.socket)
                c.socket = DEFAULT_SOCKET;
        if (optind >= argc) {
                usage(stderr);
                return CTL_EXIT_USAGE;
        }
        cmd = argv[optind];
        arg = optind + 1 < argc ? argv[optind + 1] : NULL;
        if (optind + 2 < argc) {
                fprintf(stderr, "portierctl: too many arguments\n");
                return CTL_EXIT_USAGE;
        }
        bool needs_arg = !strcmp(cmd, "enable") || !strcmp(cmd, "disable");
        bool takes_arg = needs_arg || !strcmp(cmd, "status");

        if ((needs_arg && !arg) || (!takes_arg && arg)) {
                fprintf(stderr, "portierctl: '%s' %s\n", cmd,
                        needs_arg ? "needs a SERVICE" : "takes no argument");
                return CTL_EXIT_USAGE;
        }
        if (arg && (strlen(arg) > PROTO_ARG_MAX || strspn(arg, "!\"#$%&'()*+,-./0123456789:;<=>?@"
                                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
                                                          "abcdefghijklmnopqrstuvwxyz{|}~") !=
                                                   strlen(arg))) {
                fprintf(stderr, "portierctl: '%s' is not a service name\n", arg);
                return CTL_EXIT_USAGE;
        }
        if (!strcmp(cmd, "list"))
                return read_command(&c, PROTO_REQ_LIST, NULL);
        if (!strcmp(cmd, "status"))
                return read_command(&c, PROTO_REQ_STATUS, arg);
        if (!strcmp(cmd, "sockets"))
                return read_command(&c, PROTO_REQ_SOCKETS, NULL);
        if (!strcmp(cmd, "dump"))
                return read_command(&c, PROTO_REQ_DUMP, NULL);
        if (!strcmp(cmd, "reload"))
                return simple_request(&c, PROTO_REQ_RELOAD, 0, "", false);
        if (!strcmp(cmd, "reexec"))
                return simple_request(&c, PROTO_REQ_REEXEC, 0, "", false);
        if (needs_arg)
                return cmd_switch(&c, arg, !strcmp(cmd, "enable"));
        if (!strcmp(cmd, "check")) {
                _cleanup_free_ char *dconf = NULL, *dinetd = NULL;

                if (!c.config && daemon_config(&c, &dconf, &dinetd))
                        return cmd_check(&c, dconf, c.inetd ? c.inetd : dinetd);
                return cmd_check(&c, c.config ? c.config : DEFAULT_CONFIG, c.inetd);
        }
        fprintf(stderr, "portierctl: unknown command '%s'\nTry 'portierctl --help'.\n", cmd);
        return CTL_EXIT_USAGE;
}
