/* SPDX-License-Identifier: MIT */
/*
 * monitor_reexec.c — live upgrade under privilege separation: the monitor's part.
 *
 * The network process cannot execve() portierd as root, so the monitor (the main pid) does,
 * with the network process's state. The network process writes the same inventory as a
 * plain re-exec (reexec.c's header has the format) into a memfd and sends it (REEXEC).
 * Here the monitor:
 *
 *   - takes every descriptor the inventory names (service, held, control, client lines)
 *     out of the network process with pidfd_getfd(2) — the numbers are read from the
 *     inventory, so what arrives is by construction the descriptor the network process has
 *     under that number; each must be a socket. (Chosen over SCM_RIGHTS batches: no
 *     message of a variable number of descriptors, no number/descriptor pairs to match,
 *     and nothing to move out of the way in the monitor's own table: the lines are
 *     rewritten to name the monitor's numbers instead.) The network process is blocked on
 *     its request meanwhile: its table does not change under us.
 *   - writes the lines that are the monitor's own from its own state, whatever the network
 *     process wrote: pidfile (its pid file descriptor), fallback (its own binary, opened
 *     now), arg (its own command line: the fallback executes it as root), drainer (only the
 *     network process itself and drainers the monitor knows);
 *   - keeps an exitlog line's file only if it is a log file of a held configuration (the
 *     new image opens it as root), and drops it otherwise (the server is reaped without
 *     its EXIT line);
 *   - parses the result with the new image's own decoder (inventory_parse()), and checks
 *     that every server line names one of its running children: a forged inventory cannot
 *     make the new image adopt, and later signal, any other process;
 *   - then executes its binary (the path /proc/self/exe named at start, the same command
 *     line, so --privsep-user is there again) as reexec_start() does.
 *
 * Nothing may be in flight between the two at the exec (it would be lost with the sockets):
 * the network process first takes its events until no spawn it sent is unanswered
 * (privsep_settle()), and the monitor refuses (-EAGAIN, "try again") while events wait
 * for the network process — queued, not yet sent, or sent and unread (SIOCOUTQ). A server
 * that exited after the inventory was written shows as a server line the monitor no longer
 * runs: -EAGAIN too, and the network process writes the inventory again (3 tries).
 *
 * If execve() returns, everything taken is closed and the error answered: the pair serves
 * on. When it succeeds, the request socket closes (close-on-exec): the network process takes
 * that as "done" and becomes the drainer of its in-process connections (drainer.c). The new
 * image adopts everything as after a plain re-exec, then forks a new network process.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/reexec.h"
#include "util.h"

extern char **environ;

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* What the monitor took: closed again unless the exec succeeds. */
typedef struct Taken {
        int *fds;
        size_t n, allocated;
        int pidfd;
        const char *why;                /* the first refusal's reason */
} Taken;

static void taken_close(Taken *t)
{
        for (size_t i = 0; i < t->n; i++)
                (void)close(t->fds[i]);
        free(t->fds);
        (void)safe_close(t->pidfd);
        *t = (Taken){ .pidfd = -1 };
}

/* The network process's descriptor @nfd, now the monitor's (close-on-exec), or -errno. */
static int take(Taken *t, long nfd)
{
        struct stat st;
        int fd;

        if (nfd < 0 || nfd > INT_MAX)
                return -EBADMSG;
        if (t->n == t->allocated) {
                size_t n = t->allocated ? t->allocated * 2 : 64;
                int *v = realloc(t->fds, n * sizeof(*v));

                if (!v)
                        return -ENOMEM;
                t->fds = v;
                t->allocated = n;
        }
        fd = (int)syscall(SYS_pidfd_getfd, t->pidfd, (int)nfd, 0);
        if (fd < 0) {
                t->why = "a descriptor it names cannot be taken (pidfd_getfd)";
                return -errno;
        }
        if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
                (void)close(fd);
                t->why = "a descriptor it names is not a socket";
                return -ENOTSOCK;
        }
        t->fds[t->n++] = fd;
        return fd;
}

/* "NAME N REST": the number after @skip words, replaced by the monitor's own. */
static int rewrite_fd_field(FILE *out, Taken *t, const char *line, unsigned skip)
{
        const char *p = line;
        char *end;
        long nfd;
        int fd;

        for (unsigned i = 0; i < skip; i++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EBADMSG;
                p++;
        }
        errno = 0;
        nfd = strtol(p, &end, 10);
        if (errno || end == p || (*end != ' ' && *end != '\0'))
                return -EBADMSG;
        if (nfd == -1) {
                fprintf(out, "%s\n", line);
                return 0;
        }
        fd = take(t, nfd);
        if (fd < 0)
                return fd;
        fprintf(out, "%.*s%d%s\n", (int)(p - line), line, fd, end);
        return 0;
}

static bool starts(const char *line, const char *word)
{
        size_t n = strlen(word);

        return strncmp(line, word, n) == 0 && (line[n] == ' ' || line[n] == '\0');
}

/* An exitlog line's file (its last field: HEX(PATH) or "-"), decoded; NULL for none. */
static char *exitlog_path(const char *line)
{
        const char *hex = strrchr(line, ' ');
        size_t n;
        char *path;

        if (!hex || strcmp(++hex, "-") == 0)
                return NULL;
        n = strlen(hex);
        if (n % 2 || strspn(hex, "0123456789abcdef") != n || !(path = malloc(n / 2 + 1)))
                return strdup("");      /* malformed: no configured path matches "" */
        for (size_t i = 0; i < n / 2; i++) {
                unsigned b;

                (void)sscanf(hex + 2 * i, "%2x", &b);
                path[i] = (char)b;
        }
        path[n / 2] = '\0';
        return path;
}

static int rewrite_line(FILE *out, Taken *t, const char *line, pid_t net_pid,
                        const MonitorReexecChecks *c, bool *ret_ended)
{
        if (starts(line, "pidfile") || starts(line, "fallback") || starts(line, "arg"))
                return 0;               /* the monitor's own, written after */
        if (starts(line, "end")) {
                *ret_ended = true;
                return 0;
        }
        if (starts(line, "control") || starts(line, "client") || starts(line, "service"))
                return rewrite_fd_field(out, t, line, 1);
        if (starts(line, "held"))
                return rewrite_fd_field(out, t, line, 3);
        if (starts(line, "drainer")) {
                char *end;
                long pid = strtol(line + strlen("drainer "), &end, 10);

                if (*end || (pid != net_pid && !c->is_drainer(c->userdata, (pid_t)pid))) {
                        t->why = "a drainer line names no drainer of the monitor";
                        return -EPERM;
                }
        } else if (starts(line, "exitlog")) {
                _cleanup_free_ char *path = exitlog_path(line);

                if (path && !c->is_log_path(c->userdata, path)) {
                        /* (the path is the network process's word: not logged) */
                        portier_log(c->log, LOG_WARNING, "re-exec: an EXIT line's file is no "
                                    "log file of the configuration: a server is reaped "
                                    "without it");
                        return 0;
                }
        }
        fprintf(out, "%s\n", line);
        return 0;
}

/* The inventory as the new image will read it, with the monitor's descriptors. */
static int rewrite(Daemon *d, char *text, Taken *t, pid_t net_pid, int exe_fd,
                   const MonitorReexecChecks *c, char **ret, size_t *ret_len)
{
        char *save = NULL, *line;
        bool ended = false;
        FILE *out = open_memstream(ret, ret_len);
        int r = 0;

        if (!out)
                return -ENOMEM;
        for (line = strtok_r(text, "\n", &save); line && r == 0 && !ended;
             line = strtok_r(NULL, "\n", &save))
                r = rewrite_line(out, t, line, net_pid, c, &ended);
        if (r == 0 && (!ended || line)) {
                t->why = "not an inventory (no end, or lines after it)";
                r = -EBADMSG;
        }
        fprintf(out, "pidfile %d\nfallback %d\n", d->pidfile_fd, exe_fd);
        inventory_write_end(out, d->opts->argv);
        if (fclose(out) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0) {
                free(*ret);
                *ret = NULL;
        }
        return r;
}

/* Parse it as the new image will, and check its servers are the monitor's children. */
static int check(const char *text, const MonitorReexecChecks *c, const char **why)
{
        _cleanup_free_ char *copy = strdup(text);
        Reexec x = { .exe_fd = -1, .pidfile_fd = -1, .control_fd = -1, .client_fd = -1,
                     .state_fd = -1 };
        int r;

        if (!copy)
                return -ENOMEM;
        r = inventory_parse(&x, copy);
        if (r < 0)
                *why = "the inventory does not parse";
        for (size_t i = 0; r == 0 && i < x.n_servers; i++)
                if (!c->is_server(c->userdata, x.servers[i].pid)) {
                        /* (normally one that exited after the inventory was written: the
                         * network process takes its events and asks again) */
                        *why = "a server line names no running server of the monitor";
                        r = -EAGAIN;
                }
        reexec_state_free(&x, false);
        return r;
}

static int write_memfd(const char *text, size_t len)
{
        int fd = memfd_create("portierd-reexec", MFD_CLOEXEC);

        if (fd < 0)
                return -errno;
        for (size_t done = 0; done < len;) {
                ssize_t n = write(fd, text + done, len - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? -errno : -EIO;

                        (void)close(fd);
                        return r;
                }
                done += (size_t)n;
        }
        return fd;
}

static void set_cloexec_all(const Taken *t, const int *own, size_t n_own, bool on)
{
        for (size_t i = 0; i < t->n; i++)
                (void)reexec_set_cloexec(t->fds[i], on);
        for (size_t i = 0; i < n_own; i++)
                if (own[i] >= 0)
                        (void)reexec_set_cloexec(own[i], on);
}

/**
 * monitor_reexec() - execute portierd in place with the network process's state
 * @d: the monitor's daemon state (its reexec, pid file and command line)
 * @net_pid: the network process (blocked on this request)
 * @memfd: the inventory it wrote
 * @c: the monitor's checks
 * @err: receives why, when it returns
 * @errsize: its size
 *
 * Return: only on failure, -errno (nothing changed: the pair serves on).
 */
int monitor_reexec(Daemon *d, pid_t net_pid, int memfd, const MonitorReexecChecks *c,
                   char *err, size_t errsize)
{
        Reexec *x = d->reexec;
        Taken t = { .pidfd = -1 };
        _cleanup_free_ char *text = NULL, *out = NULL;
        size_t len = 0;
        struct stat st;
        int exe_fd = -1, state_fd = -1, r;

        if (!x || !x->exe || !d->opts->argv || d->pidfile_fd < 0) {
                snprintf(err, errsize, "the daemon's binary or pid file is unknown");
                return -ENOENT;
        }
        if (stat(x->exe, &st) < 0 || !S_ISREG(st.st_mode) || access(x->exe, X_OK) < 0) {
                snprintf(err, errsize, "'%s' is not an executable file", x->exe);
                return -ENOEXEC;
        }
        if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > REEXEC_STATE_MAX) {
                snprintf(err, errsize, "the inventory is no file of at most %u bytes",
                         REEXEC_STATE_MAX);
                return -EBADMSG;
        }
        r = inventory_read(memfd, &text);
        if (r < 0) {
                snprintf(err, errsize, "cannot read the inventory: %s", strerror(-r));
                return r;
        }
        t.pidfd = (int)syscall(SYS_pidfd_open, net_pid, 0);
        exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        if (t.pidfd < 0 || exe_fd < 0) {
                r = -errno;
                snprintf(err, errsize, "cannot open %s: %s", t.pidfd < 0 ? "the network "
                         "process's pidfd" : "its own binary", strerror(-r));
                goto fail;
        }
        r = rewrite(d, text, &t, net_pid, exe_fd, c, &out, &len);
        if (r == 0)
                r = check(out, c, &t.why);
        if (r == 0 && (state_fd = write_memfd(out, len)) < 0)
                r = state_fd, t.why = "cannot write the inventory";
        if (r < 0) {
                snprintf(err, errsize, "%s: %s", t.why ? t.why : "cannot take the state over",
                         strerror(-r));
                goto fail;
        }
        int own[] = { d->pidfile_fd, exe_fd, state_fd };

        set_cloexec_all(&t, own, ELEMENTSOF(own), false);
        portier_log(c->log, LOG_NOTICE, "re-executing '%s' with the network process's "
                    "state (%zu descriptors)", x->exe, t.n);
        r = reexec_execve(x, c->log, state_fd, d->opts->argv);
        set_cloexec_all(&t, own, ELEMENTSOF(own), true);
        snprintf(err, errsize, "cannot execute '%s': %s", x->exe, strerror(-r));
fail:
        (void)safe_close(state_fd);
        (void)safe_close(exe_fd);
        taken_close(&t);
        return r;
}
