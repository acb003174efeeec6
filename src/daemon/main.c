/* SPDX-License-Identifier: MIT */
/*
 * main.c — portierd: wiring only.
 *
 * For now portierd is the skeleton the Core issue grows into the super-server: it reads its
 * xinetd-compatible command line, checks configurations (-n, --dump-config), and runs as a
 * correct daemon through libportier — pid file locked before detaching, readiness reported
 * to the starting shell, sd_notify, logging to -filelog/syslog/stderr, signals as events —
 * but serves no service yet.
 */

#include <portier/portier.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/check.h"
#include "daemon/options.h"
#include "util.h"

#define EXIT_USAGE 2
#define EXIT_NOTCONFIGURED 6    /* LSB: program is not configured */

static char *default_pidfile(void)
{
        const char *dir = getenv("XDG_RUNTIME_DIR");
        char *r;

        if (geteuid() == 0 || !dir || !*dir)
                return strdup("/run/portierd.pid");
        return asprintf(&r, "%s/portierd.pid", dir) < 0 ? NULL : r;
}

static int setup_log(const Options *o, PortierLog **ret)
{
        PortierLog *log;
        int facility = o->syslog_facility ? portier_log_facility_from_name(o->syslog_facility)
                                          : LOG_DAEMON;
        int r = portier_log_new(&log, o->log_ident ? o->log_ident : "portierd", facility);

        if (r < 0)
                return r;
        if (o->syslog_socket && (r = portier_log_set_syslog_socket(log, o->syslog_socket)) < 0)
                goto fail;
        if (o->filelog_path)
                r = portier_log_set_target(log, PORTIER_LOG_FILE, o->filelog_path);
        else if (o->syslog_facility)
                r = portier_log_set_target(log, PORTIER_LOG_SYSLOG, NULL);
        else if (o->debug)
                r = portier_log_set_target(log, PORTIER_LOG_STDERR, NULL);
        if (r < 0) {
                fprintf(stderr, "portierd: cannot open log file '%s': %s\n", o->filelog_path,
                        strerror(-r));
                goto fail;
        }
        if (o->debug)
                portier_log_set_max_level(log, LOG_DEBUG);
        *ret = log;
        return 0;
fail:
        portier_log_free(log);
        return r;
}

/* The configuration must at least be readable (the Core issue loads it for real). */
static int check_config_readable(const char *path, char *err, size_t errsz)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (fd < 0) {
                snprintf(err, errsz, "cannot read configuration '%s': %m", path);
                return -errno;
        }
        (void)close(fd);
        return 0;
}

/* The loop: signals only, until a stop signal; returns the exit status. */
static int serve(PortierLog *log, const char *config_path, int sfd)
{
        for (;;) {
                struct pollfd p = { .fd = sfd, .events = POLLIN };
                PortierSignal sig;
                char err[512];

                if (poll(&p, 1, -1) < 0 && errno != EINTR) {
                        portier_log(log, LOG_ERR, "poll: %m");
                        return 1;
                }
                while (portier_signalfd_read(sfd, &sig) > 0) {
                        switch (sig.signo) {
                        case SIGHUP:
                        case SIGUSR2:
                                (void)portier_notify_reloading();
                                portier_log(log, LOG_NOTICE, "Starting reconfiguration");
                                if (check_config_readable(config_path, err, sizeof(err)) < 0)
                                        portier_log(log, LOG_ERR, "%s; keeping the old "
                                                    "configuration", err);
                                (void)portier_notify(false, "READY=1");
                                break;
                        case SIGUSR1:
                                portier_log(log, LOG_INFO, "state dump: no service is "
                                            "served yet");
                                break;
                        case SIGQUIT:
                                return 0;
                        default:
                                (void)portier_notify(false, "STOPPING=1");
                                portier_log(log, LOG_NOTICE, "Exiting...");
                                return 0;
                        }
                }
        }
}

static int run(const Options *o)
{
        static const int sigs[] = { SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGQUIT };
        PortierDaemonOptions dopts = { .foreground = o->debug || o->dontfork,
                                       .keep_listen_fds = true };
        _cleanup_free_ char *pidpath = NULL, *config = NULL;
        PortierPidfile *pf = NULL;
        PortierDaemon *d = NULL;
        PortierLog *log = NULL;
        char err[512];
        pid_t other = 0;
        int sfd = -1, r;

        /* Paths are read after chdir("/"): make them absolute now. */
        config = realpath(o->config_path, NULL);
        if (!config)
                config = strdup(o->config_path);
        pidpath = o->pidfile_path ? strdup(o->pidfile_path) : default_pidfile();
        if (!config || !pidpath)
                return 1;
        r = setup_log(o, &log);
        if (r < 0)
                return 1;

        r = portier_pidfile_open(pidpath, 0644, &pf, &other);
        if (r == -EEXIST) {
                fprintf(stderr, "portierd: already running (pid %d)\n", (int)other);
                r = 1;
                goto out;
        }
        if (r < 0) {
                fprintf(stderr, "portierd: cannot open pid file '%s': %s\n", pidpath,
                        strerror(-r));
                r = 1;
                goto out;
        }
        dopts.pidfile = pf;
        r = portier_daemon_start(&dopts, &d);
        if (r < 0) {
                fprintf(stderr, "portierd: cannot start: %s\n", strerror(-r));
                r = 1;
                goto out;
        }

        r = portier_signalfd_open(sigs, ELEMENTSOF(sigs), &sfd);
        if (r < 0) {
                snprintf(err, sizeof(err), "cannot set up signals: %s", strerror(-r));
                r = 1;
                goto fail;
        }
        if (check_config_readable(config, err, sizeof(err)) < 0) {
                r = EXIT_NOTCONFIGURED;
                goto fail;
        }
        portier_log(log, LOG_NOTICE, "portierd %s started (pid %d); no service is served yet",
                    PORTIER_VERSION, (int)getpid());
        (void)portier_notify(false, "STATUS=running, no service is served yet");
        (void)portier_daemon_ready(d);
        r = serve(log, config, sfd);
        goto out;
fail:
        portier_log(log, LOG_ERR, "%s", err);
        (void)portier_daemon_fail(d, r, "%s", err);
out:
        if (d)
                (void)portier_pidfile_remove(pf);
        portier_pidfile_free(pf);
        portier_daemon_free(d);
        (void)safe_close(sfd);
        portier_log_free(log);
        return r;
}

int main(int argc, char **argv)
{
        Options o;

        if (options_parse(&o, argc, argv, stderr) < 0)
                return EXIT_USAGE;
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
        return run(&o);
}
