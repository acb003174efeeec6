/* SPDX-License-Identifier: MIT */
/*
 * exampled — a small stand-alone daemon written with libportier: the classic recipe as
 * working code, to copy from.
 *
 * It greets every TCP client with one line from its config file and closes the connection.
 * What it shows:
 *   - single instance: the pid file is locked *before* detaching, so "already running"
 *     reaches the terminal;
 *   - detaching with libportier, and start-up errors (unreadable config, busy port) reported
 *     to the starting shell with a non-zero exit, because readiness is sent only once the
 *     daemon really serves;
 *   - logging through libportier (stderr in the foreground, syslog once detached);
 *   - signals as events on one epoll loop: SIGHUP re-reads the config (a broken one keeps the
 *     old one serving), SIGTERM/SIGINT stop cleanly and remove the pid file;
 *   - sd_notify (READY, RELOADING with MONOTONIC_USEC, STOPPING, STATUS) and socket
 *     activation (a listening socket passed with LISTEN_FDS is served instead of `listen`).
 *
 * Config file: "key = value" lines, '#' comments. Keys: listen (127.0.0.1:PORT or
 * [::1]:PORT), greeting (the rest of the line), startup_delay (seconds before readiness).
 */

#include <portier/portier.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define EXAMPLED_VERSION "0.1.0"
#define EXIT_USAGE 2
#define EXIT_NOTCONFIGURED 6    /* LSB: program is not configured */
#define ERR_MAX 512

typedef struct Config {
        char listen[128];
        struct sockaddr_storage addr;
        socklen_t addrlen;
        char greeting[512];
        double startup_delay;
} Config;

typedef struct Exampled {
        PortierLog *log;
        PortierPidfile *pidfile;
        const char *config_path;
        Config config;
        int listen_fd;
        bool passed_socket;     /* the listener came from LISTEN_FDS: `listen` is ignored */
        int signal_fd;
        int epoll_fd;
} Exampled;

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: exampled [OPTION]...\n"
                "Greet each TCP client with a line from the config file; an example daemon\n"
                "built with libportier.\n\n"
                "  -f, --config FILE         config file (default /etc/exampled.conf)\n"
                "  -p, --pidfile FILE        pid file (default /run/exampled.pid as root,\n"
                "                            $XDG_RUNTIME_DIR/exampled.pid otherwise)\n"
                "  -d, --foreground          do not detach\n"
                "  -u, --umask MODE          octal umask (default 022)\n"
                "  -t, --timeout SEC         how long to wait for the daemon to be ready (60)\n"
                "  -l, --log TARGET          auto, stderr, syslog or file:PATH (default auto)\n"
                "      --syslog-socket PATH  syslog socket (default /dev/log)\n"
                "  -h, --help                show this help\n"
                "  -V, --version             show the version\n");
}

/* "127.0.0.1:7000" or "[::1]:7000" to a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
        char host[INET6_ADDRSTRLEN + 2];
        const char *port;
        char *end;
        unsigned long p;

        memset(ss, 0, sizeof(*ss));
        if (s[0] == '[') {
                const char *close = strchr(s, ']');

                if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s + 1, (size_t)(close - s - 1));
                host[close - s - 1] = '\0';
                port = close + 2;
        } else {
                const char *colon = strrchr(s, ':');

                if (!colon || (size_t)(colon - s) >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s, (size_t)(colon - s));
                host[colon - s] = '\0';
                port = colon + 1;
        }
        errno = 0;
        p = strtoul(port, &end, 10);
        if (!*port || *end || errno || p > 65535)
                return -EINVAL;

        struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)p);
                *len = sizeof(*in4);
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)p);
                *len = sizeof(*in6);
        } else {
                return -EINVAL;
        }
        return 0;
}

static char *trim(char *s)
{
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
                *--e = '\0';
        return s;
}

/* Read the config file; on failure, err says what is wrong with file and line. */
static int config_load(const char *path, Config *ret, char *err, size_t errsz)
{
        Config c = { .greeting = "hello from exampled" };
        FILE *f = fopen(path, "re");
        char line[1024];
        unsigned lineno = 0;
        int r = 0;

        if (!f) {
                snprintf(err, errsz, "cannot read config '%s': %m", path);
                return -errno;
        }
        while (r == 0 && fgets(line, sizeof(line), f)) {
                char *key, *value, *eq;

                lineno++;
                key = trim(line);
                if (!*key || *key == '#')
                        continue;
                eq = strchr(key, '=');
                if (!eq) {
                        snprintf(err, errsz, "%s:%u: expected 'key = value'", path, lineno);
                        r = -EINVAL;
                        break;
                }
                *eq = '\0';
                value = trim(eq + 1);
                key = trim(key);
                if (strcmp(key, "listen") == 0) {
                        if (strlen(value) >= sizeof(c.listen) ||
                            parse_listen(value, &c.addr, &c.addrlen) < 0) {
                                snprintf(err, errsz, "%s:%u: bad listen address '%s' "
                                         "(expected 127.0.0.1:PORT or [::1]:PORT)",
                                         path, lineno, value);
                                r = -EINVAL;
                        } else {
                                strcpy(c.listen, value);
                        }
                } else if (strcmp(key, "greeting") == 0) {
                        snprintf(c.greeting, sizeof(c.greeting), "%s", value);
                } else if (strcmp(key, "startup_delay") == 0) {
                        char *end;

                        errno = 0;
                        c.startup_delay = strtod(value, &end);
                        if (!*value || *end || errno || !(c.startup_delay >= 0) ||
                            c.startup_delay > 3600) {
                                snprintf(err, errsz, "%s:%u: bad startup_delay '%s' "
                                         "(seconds, 0 to 3600)", path, lineno, value);
                                r = -EINVAL;
                        }
                } else {
                        snprintf(err, errsz, "%s:%u: unknown key '%s'", path, lineno, key);
                        r = -EINVAL;
                }
        }
        if (r == 0 && ferror(f)) {
                snprintf(err, errsz, "cannot read config '%s': %m", path);
                r = -EIO;
        }
        fclose(f);
        if (r == 0)
                *ret = c;
        return r;
}

static int listen_on(const Config *c, char *err, size_t errsz)
{
        int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;

        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&c->addr, c->addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
                int r = -errno;

                snprintf(err, errsz, "cannot listen on %s: %m", c->listen);
                (void)safe_close(fd);
                return r;
        }
        return fd;
}

static int epoll_watch(Exampled *e, int fd)
{
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

        return epoll_ctl(e->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Greet everyone waiting; the greeting fits any socket buffer, so never block. */
static void on_listener(Exampled *e)
{
        for (int i = 0; i < 256; i++) {
                int fd = accept4(e->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                char line[sizeof(e->config.greeting) + 1];
                int n;

                if (fd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                portier_log(e->log, LOG_WARNING, "accept: %m");
                        return;
                }
                n = snprintf(line, sizeof(line), "%s\n", e->config.greeting);
                (void)send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
                (void)close(fd);
        }
}

static void reload(Exampled *e)
{
        char err[ERR_MAX];
        Config c;
        int fd = -1;

        (void)portier_notify_reloading();
        if (config_load(e->config_path, &c, err, sizeof(err)) < 0)
                goto failed;
        if (!e->passed_socket && strcmp(c.listen, e->config.listen) != 0) {
                if (!c.listen[0]) {
                        snprintf(err, sizeof(err), "%s: 'listen' is missing", e->config_path);
                        goto failed;
                }
                fd = listen_on(&c, err, sizeof(err));
                if (fd < 0 || epoll_watch(e, fd) < 0)
                        goto failed;
                (void)close(e->listen_fd);
                e->listen_fd = fd;
        }
        e->config = c;
        portier_log(e->log, LOG_INFO, "configuration reloaded");
        (void)portier_notify(false, "READY=1");
        return;
failed:
        (void)safe_close(fd);
        portier_log(e->log, LOG_ERR, "reload failed, keeping the old configuration: %s", err);
        (void)portier_notify(false, "READY=1");
}

/* The event loop: returns the exit status once a stop signal arrives. */
static int serve(Exampled *e)
{
        for (;;) {
                struct epoll_event ev[8];
                int n = epoll_wait(e->epoll_fd, ev, 8, -1);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        portier_log(e->log, LOG_ERR, "epoll_wait: %m");
                        return 1;
                }
                for (int i = 0; i < n; i++) {
                        PortierSignal sig;

                        if (ev[i].data.fd == e->listen_fd) {
                                on_listener(e);
                                continue;
                        }
                        while (portier_signalfd_read(e->signal_fd, &sig) > 0) {
                                if (sig.signo == SIGHUP) {
                                        reload(e);
                                        continue;
                                }
                                (void)portier_notify(false, "STOPPING=1");
                                portier_log(e->log, LOG_INFO, "stopping");
                                return 0;
                        }
                }
        }
}

/* Everything after detaching: failures are reported to the starting command. */
static int run(Exampled *e, PortierDaemon *d)
{
        static const int sigs[] = { SIGHUP, SIGTERM, SIGINT };
        char err[ERR_MAX], addr[sizeof(e->config.listen) + 48] = "";
        int r;

        r = portier_signalfd_open(sigs, ELEMENTSOF(sigs), &e->signal_fd);
        if (r < 0) {
                snprintf(err, sizeof(err), "cannot set up signals: %s", strerror(-r));
                goto fail;
        }
        if (config_load(e->config_path, &e->config, err, sizeof(err)) < 0) {
                portier_log(e->log, LOG_ERR, "%s", err);
                portier_daemon_fail(d, EXIT_NOTCONFIGURED, "%s", err);
                return EXIT_NOTCONFIGURED;
        }
        if (e->config.startup_delay > 0) {
                double whole;
                double frac = modf(e->config.startup_delay, &whole);
                struct timespec ts = { (time_t)whole, (long)(frac * 1e9) };

                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
        }

        r = portier_listen_fds(true, NULL);
        if (r > 0 && portier_is_socket(PORTIER_LISTEN_FDS_START, 0, SOCK_STREAM, 1) > 0) {
                /* The loop accepts until EAGAIN: the passed socket must not block. (Its file
                 * status flags are shared with the manager's copy; managers expect this.) */
                int fl = fcntl(PORTIER_LISTEN_FDS_START, F_GETFL);

                if (fl < 0 || fcntl(PORTIER_LISTEN_FDS_START, F_SETFL, fl | O_NONBLOCK) < 0) {
                        snprintf(err, sizeof(err), "cannot use the passed socket: %m");
                        goto fail;
                }
                e->listen_fd = PORTIER_LISTEN_FDS_START;
                e->passed_socket = true;
                snprintf(addr, sizeof(addr), "the socket passed by the service manager");
        } else if (!e->config.listen[0]) {
                snprintf(err, sizeof(err), "%s: 'listen' is missing", e->config_path);
                portier_log(e->log, LOG_ERR, "%s", err);
                portier_daemon_fail(d, EXIT_NOTCONFIGURED, "%s", err);
                return EXIT_NOTCONFIGURED;
        } else {
                e->listen_fd = listen_on(&e->config, err, sizeof(err));
                if (e->listen_fd < 0)
                        goto fail;
                snprintf(addr, sizeof(addr), "%s", e->config.listen);
        }

        e->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (e->epoll_fd < 0 || epoll_watch(e, e->signal_fd) < 0 || epoll_watch(e, e->listen_fd) < 0) {
                snprintf(err, sizeof(err), "cannot set up the event loop: %m");
                goto fail;
        }

        portier_log(e->log, LOG_INFO, "started, listening on %s", addr);
        (void)portier_notifyf(false, "STATUS=listening on %s", addr);
        portier_daemon_ready(d);
        return serve(e);
fail:
        portier_log(e->log, LOG_ERR, "%s", err);
        portier_daemon_fail(d, 1, "%s", err);
        return 1;
}

static int set_log_target(PortierLog *log, const char *arg)
{
        if (strcmp(arg, "auto") == 0)
                return portier_log_set_target(log, PORTIER_LOG_AUTO, NULL);
        if (strcmp(arg, "stderr") == 0)
                return portier_log_set_target(log, PORTIER_LOG_STDERR, NULL);
        if (strcmp(arg, "syslog") == 0)
                return portier_log_set_target(log, PORTIER_LOG_SYSLOG, NULL);
        if (strncmp(arg, "file:", 5) == 0 && arg[5])
                return portier_log_set_target(log, PORTIER_LOG_FILE, arg + 5);
        return -EINVAL;
}

/* We chdir("/") when detaching: make a relative path absolute first. */
static char *absolute(const char *path)
{
        char cwd[4096];
        char *r;

        if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
                return strdup(path);
        return asprintf(&r, "%s/%s", cwd, path) < 0 ? NULL : r;
}

static char *default_pidfile(void)
{
        const char *dir = getenv("XDG_RUNTIME_DIR");
        char *r;

        if (geteuid() == 0 || !dir || !*dir)
                return strdup("/run/exampled.pid");
        return asprintf(&r, "%s/exampled.pid", dir) < 0 ? NULL : r;
}

/* The command line. Return: -1 to go on, or the exit status to leave with at once. */
static int parse_args(int argc, char **argv, Exampled *e, PortierDaemonOptions *opts,
                      const char **config, const char **pidfile)
{
        static const struct option longopts[] = {
                { "config", required_argument, NULL, 'f' },
                { "pidfile", required_argument, NULL, 'p' },
                { "foreground", no_argument, NULL, 'd' },
                { "umask", required_argument, NULL, 'u' },
                { "timeout", required_argument, NULL, 't' },
                { "log", required_argument, NULL, 'l' },
                { "syslog-socket", required_argument, NULL, 'S' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "f:p:du:t:l:hV", longopts, NULL)) != -1) {
                char *end;
                long v;

                switch (c) {
                case 'f':
                        *config = optarg;
                        break;
                case 'p':
                        *pidfile = optarg;
                        break;
                case 'd':
                        opts->foreground = true;
                        break;
                case 'u':
                        errno = 0;
                        v = strtol(optarg, &end, 8);
                        if (!*optarg || *end || errno || v < 0 || v > 0777) {
                                fprintf(stderr, "exampled: bad umask '%s' (octal, 0 to 777)\n",
                                        optarg);
                                return EXIT_USAGE;
                        }
                        opts->umask = (mode_t)v;
                        opts->umask_set = true;
                        break;
                case 't':
                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (!*optarg || *end || errno || v <= 0 || v > 86400) {
                                fprintf(stderr, "exampled: bad timeout '%s' (seconds, 1 to "
                                        "86400)\n", optarg);
                                return EXIT_USAGE;
                        }
                        opts->timeout_ms = (int)v * 1000;
                        break;
                case 'l':
                        if (set_log_target(e->log, optarg) < 0) {
                                fprintf(stderr, "exampled: bad log target '%s': %m\n", optarg);
                                return EXIT_USAGE;
                        }
                        break;
                case 'S':
                        if (portier_log_set_syslog_socket(e->log, optarg) < 0)
                                return 1;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("exampled %s\n", EXAMPLED_VERSION);
                        return 0;
                default:
                        fprintf(stderr, "Try 'exampled --help'.\n");
                        return EXIT_USAGE;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "exampled: unexpected argument '%s'\nTry 'exampled --help'.\n",
                        argv[optind]);
                return EXIT_USAGE;
        }
        return -1;
}

int main(int argc, char **argv)
{
        PortierDaemonOptions opts = { .keep_listen_fds = true };
        char *config = NULL, *pidpath = NULL;
        const char *config_arg = "/etc/exampled.conf", *pid_arg = NULL;
        Exampled e = { .listen_fd = -1, .signal_fd = -1, .epoll_fd = -1 };
        PortierDaemon *d = NULL;
        pid_t other = 0;
        int r;

        if (portier_log_new(&e.log, "exampled", LOG_DAEMON) < 0)
                return 1;
        r = parse_args(argc, argv, &e, &opts, &config_arg, &pid_arg);
        if (r >= 0)
                goto out;

        config = absolute(config_arg);
        pidpath = pid_arg ? strdup(pid_arg) : default_pidfile();
        r = 1;
        if (!config || !pidpath)
                goto out;
        e.config_path = config;

        /* Lock before detaching, so that a second start is refused on the terminal. */
        r = portier_pidfile_open(pidpath, 0644, &e.pidfile, &other);
        if (r == -EEXIST) {
                if (other)
                        fprintf(stderr, "exampled: already running (pid %d)\n", (int)other);
                else
                        fprintf(stderr, "exampled: already running (pid file '%s' is locked)\n",
                                pidpath);
                r = 1;
                goto out;
        }
        if (r < 0) {
                fprintf(stderr, "exampled: cannot open pid file '%s': %s\n", pidpath, strerror(-r));
                r = 1;
                goto out;
        }

        opts.pidfile = e.pidfile;
        opts.log = e.log;
        r = portier_daemon_start(&opts, &d);
        if (r < 0) {
                fprintf(stderr, "exampled: cannot start: %s\n", strerror(-r));
                r = 1;
                goto out;
        }
        r = run(&e, d);
        (void)portier_pidfile_remove(e.pidfile);
out:
        portier_pidfile_free(e.pidfile);
        portier_daemon_free(d);
        (void)safe_close(e.listen_fd);
        (void)safe_close(e.signal_fd);
        (void)safe_close(e.epoll_fd);
        portier_log_free(e.log);
        free(config);
        free(pidpath);
        return r;
}
