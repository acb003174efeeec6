/* SPDX-License-Identifier: MIT */
/*
 * daemon.c — portierd's life: start, signals, stop, state dump.
 *
 * Start: logs set up; RLIMIT_NOFILE raised to its hard limit (servers get the original
 * back); the pid file locked before detaching; the first configuration loaded and applied;
 * readiness reported only once the services listen — or the start fails with every bind
 * error when none could listen (unless -stayalive).
 *
 * Signals arrive on a signalfd: SIGHUP and SIGUSR2 reload (generation.c), SIGUSR1 dumps the
 * state, SIGCHLD reaps, SIGTERM and SIGINT stop, SIGQUIT exits at once.
 *
 * Stop: every listener closes at once; the servers portierd started get SIGTERM, and
 * SIGKILL after a grace period (xinetd leaves external servers running: DESIGN.md
 * decision 9); the pid file is removed once they are gone.
 */

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/privsep.h"
#include "daemon/redirect.h"
#include "daemon/userid.h"
#include "util.h"

#define EXIT_NOTCONFIGURED 6            /* LSB: program is not configured */
#define STOP_GRACE_USEC (5 * EV_USEC_PER_SEC)
#define STOP_KILL_WAIT_USEC (2 * EV_USEC_PER_SEC)

static char *default_pidfile(void)
{
        const char *dir = getenv("XDG_RUNTIME_DIR");
        char *r;

        if (geteuid() == 0 || !dir || !*dir)
                return strdup("/run/portierd.pid");
        return asprintf(&r, "%s/portierd.pid", dir) < 0 ? NULL : r;
}

static char *default_control_socket(void)
{
        const char *dir = getenv("XDG_RUNTIME_DIR");
        char *r;

        if (geteuid() == 0 || !dir || !*dir)
                return strdup("/run/portierd.sock");
        return asprintf(&r, "%s/portierd.sock", dir) < 0 ? NULL : r;
}

/* PATH made absolute against the current directory (portierd then lives in "/"). */
static char *absolute(const char *path)
{
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        char *r;

        return cwd && asprintf(&r, "%s/%s", cwd, path) >= 0 ? r : NULL;
}

static int open_logs(Daemon *d)
{
        const Options *o = d->opts;
        const char *ident = o->log_ident ? o->log_ident : "portierd";
        int facility = o->syslog_facility ? portier_log_facility_from_name(o->syslog_facility)
                                          : LOG_DAEMON;
        int r;

        if ((r = portier_log_new(&d->log, ident, facility)) < 0 ||
            (r = portier_log_new(&d->syslog, ident, facility)) < 0)
                return r;
        if (o->syslog_socket && ((r = portier_log_set_syslog_socket(d->log, o->syslog_socket)) < 0 ||
                                 (r = portier_log_set_syslog_socket(d->syslog, o->syslog_socket)) < 0))
                return r;
        (void)portier_log_set_target(d->syslog, PORTIER_LOG_SYSLOG, NULL);
        if (o->filelog_path) {
                r = portier_log_set_target(d->log, PORTIER_LOG_FILE, o->filelog_path);
                if (r < 0) {
                        fprintf(stderr, "portierd: cannot open log file '%s': %s\n",
                                o->filelog_path, strerror(-r));
                        return r;
                }
        } else if (o->syslog_facility) {
                (void)portier_log_set_target(d->log, PORTIER_LOG_SYSLOG, NULL);
        } else if (o->debug) {
                (void)portier_log_set_target(d->log, PORTIER_LOG_STDERR, NULL);
        }
        if (o->debug)
                portier_log_set_max_level(d->log, LOG_DEBUG);
        return logset_new(&d->logs, d->syslog, d->log);
}

/* Descriptors kept for connections, built-ins, spawn pipes and log files: an eighth of the
 * limit, at least 16 and at most 4096. Listening sockets may not use them, so that a
 * configuration with more services than descriptors still leaves the services that did open
 * able to accept and serve. */
#define FD_RESERVE_MIN 16
#define FD_RESERVE_MAX 4096

static void set_listener_fd_max(Daemon *d, rlim_t limit)
{
        rlim_t reserve = limit / 8;

        if (limit == RLIM_INFINITY || limit > INT_MAX)
                limit = INT_MAX;
        reserve = reserve < FD_RESERVE_MIN ? FD_RESERVE_MIN
                  : reserve > FD_RESERVE_MAX ? FD_RESERVE_MAX : reserve;
        d->listener_fd_max = limit > reserve ? (int)(limit - reserve) : 0;
}

/* Servers inherit the limit portierd started with; portierd itself may use all it can. */
static void raise_nofile(Daemon *d)
{
        struct rlimit rl;

        set_listener_fd_max(d, 1024);
        if (getrlimit(RLIMIT_NOFILE, &d->nofile) < 0)
                return;
        rl = d->nofile;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
                portier_log(d->log, LOG_WARNING, "cannot raise the descriptor limit: %m");
                rl = d->nofile;
        }
        set_listener_fd_max(d, rl.rlim_cur);
}

static int stop_finish(EvTimer *t)
{
        Daemon *d = container_of(t, Daemon, stop_timer);

        if (d->running > 0)
                portier_log(d->log, LOG_WARNING, "%u servers did not exit after SIGKILL",
                            d->running);
        return EV_EXIT;
}

static int stop_kill(EvTimer *t)
{
        Daemon *d = container_of(t, Daemon, stop_timer);

        portier_log(d->log, LOG_WARNING, "%zu servers still running after %llu s; killing them",
                    d->running + reexec_signal_children(d, 0),
                    (unsigned long long)(STOP_GRACE_USEC / EV_USEC_PER_SEC));
        server_kill_all(d, SIGKILL);
        (void)reexec_signal_children(d, SIGKILL);
        ev_timer_arm_in(d->loop, &d->stop_timer, STOP_KILL_WAIT_USEC, stop_finish);
        return 0;
}

/* SIGTERM / SIGINT: stop listening now, end the servers, exit when they are gone. */
static int begin_stop(Daemon *d)
{
        (void)portier_notify(false, "STOPPING=1");
        portier_log(d->log, LOG_NOTICE, "Exiting...");
        d->stopping = true;
        for (size_t i = 0; i < d->n_services; i++) {
                userid_cancel_service(d->services[i]);
                service_drop_fork_retries(d->services[i]);
                service_close(d->services[i]);
                service_remove_socket_file(d->services[i]);
        }
        inproc_end_all(d);      /* nothing to wait for: closed now, EXIT logged */
        /* re-exec's drainers end their connections too; their exit is waited for */
        if (reexec_signal_children(d, SIGTERM) == 0 && d->running == 0)
                return EV_EXIT;
        server_kill_all(d, SIGTERM);
        ev_timer_arm_in(d->loop, &d->stop_timer, STOP_GRACE_USEC, stop_kill);
        return 0;
}

/**
 * daemon_dump_path() - where the state dump goes: portierd.dump next to the pid file
 * @pidpath: the pid file
 *
 * Return: a malloc()ed path, or NULL.
 */
char *daemon_dump_path(const char *pidpath)
{
        _cleanup_free_ char *copy = strdup(pidpath);
        char *r;

        if (!copy)
                return NULL;
        return asprintf(&r, "%s/portierd.dump", dirname(copy)) < 0 ? NULL : r;
}

/**
 * daemon_dump_state_to() - write the state dump (SIGUSR1, `portierctl dump`) to a stream
 * @d: the daemon
 * @f: the stream
 */
void daemon_dump_state_to(Daemon *d, FILE *f)
{
        fprintf(f, "portierd %s, pid %d, up %lld s, configuration generation %u ('%s')\n",
                PORTIER_VERSION, (int)d->main_pid,
                (long long)((ev_clock_now() - d->started_usec) / EV_USEC_PER_SEC),
                d->gen ? d->gen->number : 0, d->config_path);
        fprintf(f, "servers running: %u%s\n", d->running, d->stopping ? " (stopping)" : "");
        fprintf(f, "in-process connections: %u\n\n", d->inproc_running);
        for (size_t i = 0; i < d->n_services + d->n_retired; i++) {
                Service *s = i < d->n_services ? d->services[i] : d->retired[i - d->n_services];
                const ServiceCounters *c = &s->counters;

                char key[512];

                (void)listener_key(s->conf, key, sizeof(key));
                fprintf(f, "service %s\n", s->conf->id);
                fprintf(f, "\tkey = %s\n\tstate = %s\n\tfd = %d\n\trunning = %u\n", key,
                        service_state_name(s->state), s->fd, s->running);
                if (s->n_inproc)
                        fprintf(f, "\tin-process connections = %u\n", s->n_inproc);
                if (s->bind_error)
                        fprintf(f, "\tbind error = %s\n", s->bind_error);
                fprintf(f, "\taccepted = %llu\n\tstarted = %llu\n\texited = %llu\n"
                        "\tspawn failed = %llu\n", (unsigned long long)c->accepted,
                        (unsigned long long)c->started, (unsigned long long)c->exited,
                        (unsigned long long)c->spawn_failed);
                if (c->dropped)
                        fprintf(f, "\tdatagrams not answered = %llu\n",
                                (unsigned long long)c->dropped);
                for (int r = 0; r < _REFUSE_MAX; r++)
                        if (c->refused[r])
                                fprintf(f, "\trefused %s = %llu\n", refusal_reason(r),
                                        (unsigned long long)c->refused[r]);
                for (Server *srv = s->servers; srv; srv = srv->next)
                        fprintf(f, "\tserver pid %d, started %lld s ago\n", (int)srv->pid,
                                (long long)(time(NULL) - srv->started));
        }
}

/**
 * daemon_dump_state() - write the state dump (SIGUSR1): portierd.dump next to the pid file
 * @d: the daemon
 */
void daemon_dump_state(Daemon *d)
{
        _cleanup_free_ char *path = daemon_dump_path(d->pidfile_path);
        FILE *f;

        if (!path)
                return;
        if (d->privsep) {
                /* the monitor opens it: the network process may not write there */
                int fd = privsep_open_dump(d);

                errno = fd < 0 ? -fd : 0;
                f = fd < 0 ? NULL : fdopen(fd, "w");
                if (!f && fd >= 0)
                        (void)close(fd);
        } else {
                f = fopen(path, "we");
        }
        if (!f) {
                portier_log(d->log, LOG_ERR, "cannot write the state dump '%s': %m", path);
                return;
        }
        daemon_dump_state_to(d, f);
        if (fclose(f) != 0)
                portier_log(d->log, LOG_ERR, "cannot write the state dump '%s': %m", path);
        else
                portier_log(d->log, LOG_NOTICE, "generated state dump in file %s", path);
}

static int on_signal(EvFile *f, uint32_t events)
{
        Daemon *d = container_of(f, Daemon, signal_ev);
        PortierSignal sig;
        bool reaped = false;

        while (portier_signalfd_read(d->signal_fd, &sig) > 0) {
                switch (sig.signo) {
                case SIGCHLD:
                        reaped = true;
                        break;
                case SIGHUP:
                case SIGUSR2:
                        if (!d->stopping)
                                (void)reload_start(d);
                        break;
                case SIGUSR1:
                        daemon_dump_state(d);
                        break;
                case SIGQUIT:
                        portier_log(d->log, LOG_NOTICE, "quitting at once (SIGQUIT)");
                        return EV_EXIT;
                case SIGTERM:
                case SIGINT:
                        if (!d->stopping) {
                                int r = begin_stop(d);

                                if (r != 0)
                                        return r;
                        }
                        break;
                }
        }
        if (reaped) {
                server_reap(d);
                if (d->stopping && d->running == 0 && reexec_signal_children(d, 0) == 0)
                        return EV_EXIT;
        }
        return 0;
}

/**
 * daemon_sensor_expire() - drop expired entries of the global deny list (timer)
 * @t: d->sensor_timer
 *
 * Return: 0.
 */
int daemon_sensor_expire(EvTimer *t)
{
        Daemon *d = container_of(t, Daemon, sensor_timer);
        uint64_t now = ev_clock_now(), next;

        if (sensor_expire(d->sensor, now) > 0) {
                portier_log(d->log, LOG_INFO, "At least 1 DENY_TIME has expired, "
                            "global_no_access list updated");
                if (sensor_count(d->sensor) == 0)
                        portier_log(d->log, LOG_INFO, "global_no_access list is empty.");
        }
        next = sensor_next_expiry(d->sensor);
        if (next != SENSOR_FOREVER && sensor_count(d->sensor) > 0)
                ev_timer_arm(d->loop, t, next > now ? next : now + EV_USEC_PER_SEC,
                             daemon_sensor_expire);
        return 0;
}

/* -cc: check that the books balance (xinetd's periodic consistency check). */
static int consistency_check(EvTimer *t)
{
        Daemon *d = container_of(t, Daemon, cc_timer);
        uint32_t sum = 0, errors = 0;

        for (size_t i = 0; i < d->n_services + d->n_retired; i++) {
                Service *s = i < d->n_services ? d->services[i] : d->retired[i - d->n_services];
                uint32_t n = 0;

                for (Server *srv = s->servers; srv; srv = srv->next, n++)
                        if (kill(srv->pid, 0) < 0 && errno == ESRCH) {
                                portier_log(d->log, LOG_ERR, "consistency check: server %d of "
                                            "service '%s' is gone but not reaped",
                                            (int)srv->pid, s->conf->id);
                                errors++;
                        }
                if (n + s->n_inproc + service_spawns_in_flight(s) != s->running) {
                        portier_log(d->log, LOG_ERR, "consistency check: service '%s' counts "
                                    "%u running servers but has %u", s->conf->id,
                                    s->running - s->n_inproc - service_spawns_in_flight(s), n);
                        errors++;
                }
                if ((s->fd >= 0) != (s->state != SERVICE_BIND_RETRY && s->state != SERVICE_RETIRED &&
                                     s->state != SERVICE_MUX)) {
                        portier_log(d->log, LOG_ERR, "consistency check: service '%s' is %s "
                                    "with socket %d", s->conf->id, service_state_name(s->state),
                                    s->fd);
                        errors++;
                }
                sum += n + service_spawns_in_flight(s);
        }
        if (sum != d->running) {
                portier_log(d->log, LOG_ERR, "consistency check: %u servers counted, %u found",
                            d->running, sum);
                errors++;
        }
        if (errors == 0)
                portier_log(d->log, LOG_INFO, "Consistency check passed");
        ev_timer_arm_in(d->loop, t, (uint64_t)d->opts->cc_interval * EV_USEC_PER_SEC,
                        consistency_check);
        return 0;
}

static void before_sleep(void *userdata)
{
        Daemon *d = userdata;

        logset_flush(d->logs);
}

/* The first configuration: apply it, and fail the start when nothing at all can listen. */
static int first_configuration(Daemon *d, char *err, size_t errsize)
{
        Generation *g = NULL;
        size_t listening = 0;
        int r;

        if (d->next_generation == 0)
                d->next_generation = 1;         /* after a reexec: the old image's + 1 */
        uint64_t t0 = ev_clock_now();
        r = generation_load(d, d->next_generation, &g);
        uint64_t t1 = ev_clock_now();
        if (r < 0) {
                if (g) {
                        generation_log_diag(d, &g->diag);
                        generation_unref(g);
                }
                snprintf(err, errsize, "cannot read configuration '%s': %s", d->config_path,
                         strerror(-r));
                return -EXIT_NOTCONFIGURED;
        }
        r = generation_apply(d, g, true);
        if (r < 0) {
                snprintf(err, errsize, "cannot apply the configuration: %s", strerror(-r));
                return -1;
        }
        portier_log(d->log, LOG_DEBUG, "configuration loaded in %.1f ms, applied in %.1f ms",
                    (double)(t1 - t0) / 1000, (double)(ev_clock_now() - t1) / 1000);
        /* (after a reexec, a service off for its cps is serving: it listens again when due) */
        for (size_t i = 0; i < d->n_services; i++)
                listening += d->services[i]->fd >= 0 ||
                             d->services[i]->state == SERVICE_CPS_OFF;
        if (listening > 0 || d->opts->stayalive)
                return 0;

        /* Nothing listens: say why, for every service, and fail (DESIGN.md decision 6). */
        size_t len = (size_t)snprintf(err, errsize, d->n_services ? "no service could listen"
                                                                 : "no service is configured");
        for (size_t i = 0; i < d->n_services && len < errsize; i++)
                len += (size_t)snprintf(err + len, errsize - len, "%s service '%s': %s",
                                        i ? ";" : ":", d->services[i]->conf->id,
                                        d->services[i]->bind_error ? d->services[i]->bind_error
                                                                   : "no error");
        return -1;
}

static void daemon_deinit(Daemon *d)
{
        /* A load under way ends first: under privilege separation its worker reads the
         * monitor's stream into the privsep state (privsep_stream_finish()). */
        reload_deinit(d);
        d->control = control_free(d->control, false);
        d->privsep = privsep_free(d->privsep);
        reexec_free(d);
        ev_timer_disarm(&d->cc_timer);
        ev_timer_disarm(&d->stop_timer);
        ev_timer_disarm(&d->sensor_timer);
        sensor_list_free(d->sensor);
        inproc_end_all(d);      /* SIGQUIT, or a failed start: their EXIT lines */
        redirect_deinit(d);
        for (size_t i = 0; i < d->n_services; i++) {
                service_close(d->services[i]);
                service_remove_socket_file(d->services[i]);
        }
        /* Servers that outlived the stop are forgotten with their services (their records
         * go with the pid table). */
        while (d->n_retired > 0)
                service_free(d->retired[0]);
        for (size_t i = 0; i < d->n_services; i++) {
                d->services[i]->servers = NULL;
                service_free(d->services[i]);
        }
        free(d->services);
        free(d->retired);
        free(d->builtin_udp_ports);
        generation_unref(d->gen);
        server_table_deinit(d);
        revdns_free(d->revdns);
        ev_file_remove(&d->signal_ev);
        (void)safe_close(d->signal_fd);
        ev_loop_free(d->loop);
        logset_free(d->logs);
        portier_log_free(d->syslog);
        portier_log_free(d->log);
}

/* The signals the daemon takes on its signalfd (the monitor of privilege separation takes
 * SIGCHLD on a signalfd of its own). */
const int daemon_signals[DAEMON_N_SIGNALS] = { SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT,
                                               SIGQUIT, SIGCHLD };

/**
 * daemon_run() - run portierd until it is stopped
 * @o: the command line
 *
 * Return: the process exit status.
 */
int daemon_run(const Options *o)
{
        PortierDaemonOptions dopts = { .foreground = o->debug || o->dontfork,
                                       .keep_listen_fds = true };
        Daemon d = { .opts = o, .signal_fd = -1, .reload_fd = -1, .pidfile_fd = -1,
                     .signal_ev = EV_FILE_NULL, .stop_timer = EV_TIMER_NULL,
                     .cc_timer = EV_TIMER_NULL, .sensor_timer = EV_TIMER_NULL,
                     .loadavg = LOADAVG_NULL };
        _cleanup_free_ char *config = NULL, *pidpath = NULL, *ctlpath = NULL;
        PortierPidfile *pf = NULL;
        char err[4096];
        pid_t other = 0;
        int r, status = 1, reexec = 0;

        /* Paths are used after chdir("/"): make them absolute now. */
        config = realpath(o->config_path, NULL);
        if (!config)
                config = strdup(o->config_path);
        pidpath = o->pidfile_path ? strdup(o->pidfile_path) : default_pidfile();
        ctlpath = o->control_socket ? (o->control_socket[0] == '/' ? strdup(o->control_socket)
                                                                   : absolute(o->control_socket))
                                    : default_control_socket();
        if (!config || !pidpath || !ctlpath)
                return 1;
        d.config_path = config;
        d.pidfile_path = pidpath;
        d.as_root = geteuid() == 0;
        d.uid = geteuid();
        if (open_logs(&d) < 0 || reexec_init(&d) < 0)
                goto out;
        /* Started by a reexec: same pid, already detached, the pid file still locked. */
        reexec = reexec_load(&d, err, sizeof(err));
        if (reexec < 0) {
                reexec_fail(&d, err);
                goto out;
        }
        if (reexec > 0) {
                /* The old image ran execve() from the directory portierd was started in, so
                 * that relative paths mean the same; a daemon lives in "/". */
                if (chdir("/") < 0)
                        portier_log(d.log, LOG_WARNING, "cannot enter '/': %m");
                r = portier_pidfile_adopt(d.pidfile_fd, pidpath, &pf);
                if (r < 0) {
                        snprintf(err, sizeof(err), "re-exec: cannot adopt the pid file: %s",
                                 strerror(-r));
                        reexec_fail(&d, err);
                        goto out;
                }
                goto started;
        }

        r = portier_pidfile_open(pidpath, 0644, &pf, &other);
        if (r == -EEXIST) {
                fprintf(stderr, "portierd: already running (pid %d)\n", (int)other);
                goto out;
        }
        if (r < 0) {
                fprintf(stderr, "portierd: cannot open pid file '%s': %s\n", pidpath,
                        strerror(-r));
                goto out;
        }
        dopts.pidfile = pf;
        dopts.log = d.log;
        r = portier_daemon_start(&dopts, &d.startup);
        if (r < 0) {
                fprintf(stderr, "portierd: cannot start: %s\n", strerror(-r));
                goto out;
        }
        d.pidfile_fd = portier_pidfile_fd(pf);
        d.started_usec = ev_clock_now();
        d.started_wall = time(NULL);
started:
        d.main_pid = getpid();  /* detached now: the pid file's */
        tzset();        /* so that localtime_r() on the accept path reads no file */
        /* A fixed threshold: the configuration's 1 MiB arena chunks are always mmap()ed, and
         * given back whole when a reload frees the old configuration. (glibc's default
         * threshold rises after the first such free, and later chunks would come from the
         * heap, where a reload leaves holes: measured, RSS grew by a few MiB over the first
         * reloads of 10,000 services.) */
        (void)mallopt(M_MMAP_THRESHOLD, 256 << 10);
        raise_nofile(&d);
        (void)signal(SIGPIPE, SIG_IGN);
        if ((r = ev_loop_new(&d.loop)) < 0 || (r = server_table_init(&d)) < 0 ||
            (r = portier_signalfd_open(daemon_signals, DAEMON_N_SIGNALS, &d.signal_fd)) < 0 ||
            (r = ev_file_add(d.loop, &d.signal_ev, d.signal_fd, EPOLLIN, on_signal)) < 0 ||
            (r = reload_init(&d)) < 0 ||
            (r = sensor_list_new(SENSOR_CAPACITY_DEFAULT, 128, &d.sensor)) < 0 ||
            (r = revdns_new(&d, &d.revdns)) < 0) {
                snprintf(err, sizeof(err), "cannot set up the event loop: %s", strerror(-r));
                goto fail;
        }
        ev_loop_set_before_sleep(d.loop, before_sleep, &d);

        d.watch_later = reexec <= 0;    /* after a reexec, servers may hold sockets */
        r = first_configuration(&d, err, sizeof(err));
        if (r < 0) {
                status = r == -EXIT_NOTCONFIGURED ? EXIT_NOTCONFIGURED : 1;
                goto fail;
        }
        portier_log(d.log, LOG_NOTICE, "portierd %s started (pid %d)", PORTIER_VERSION,
                    (int)getpid());
        if (control_new(&d, ctlpath, reexec_control_fd(&d), &d.control) < 0) {
                snprintf(err, sizeof(err), "cannot set up the control socket: out of memory");
                goto fail;
        }
        reexec_adopt(&d);
        (void)portier_notifyf(false, "STATUS=serving %zu services", d.n_services);
        if (o->privsep_user && !o->no_privsep && d.as_root) {
                r = privsep_start(&d, o->privsep_user, pf, d.startup, err, sizeof(err));
                if (r < 0)
                        goto fail;
                /* The network process: readiness and the pid file are the monitor's, and its
                 * signals reach epoll only once this process watches the signalfd itself. */
                d.startup = portier_daemon_free(d.startup);
                ev_file_remove(&d.signal_ev);
                if ((r = ev_file_add(d.loop, &d.signal_ev, d.signal_fd, EPOLLIN,
                                     on_signal)) < 0) {
                        portier_log(d.log, LOG_ERR, "cannot watch signals: %s", strerror(-r));
                        goto out;
                }
        } else if (o->privsep_user && !o->no_privsep) {
                portier_log(d.log, LOG_WARNING, "--privsep-user: portierd does not run as "
                            "root; no privilege separation");
        }
        reexec_adopt_held(&d);  /* (the network process's, under privilege separation) */
        if (o->cc_interval > 0)
                ev_timer_arm_in(d.loop, &d.cc_timer, (uint64_t)o->cc_interval * EV_USEC_PER_SEC,
                                consistency_check);
        if (reexec > 0)
                (void)portier_notify(false, "READY=1");
        else if (d.startup)
                (void)portier_daemon_ready(d.startup);
        service_watch_all(&d);

        r = ev_loop_run(d.loop);
        status = r < 0 ? 1 : 0;
        if (r < 0)
                portier_log(d.log, LOG_ERR, "event loop failed: %s", strerror(-r));
        goto out;
fail:
        portier_log(d.log, LOG_ERR, "%s", err);
        reexec_fail(&d, err);
        (void)portier_daemon_fail(d.startup, status, "%s", err);
out:
        if (d.startup || reexec > 0)
                (void)portier_pidfile_remove(pf);
        portier_pidfile_free(pf);
        portier_daemon_free(d.startup);
        daemon_deinit(&d);
        return status;
}
