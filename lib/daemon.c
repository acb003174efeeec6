/* SPDX-License-Identifier: MIT */
/*
 * daemon.c — detaching from the terminal, and the start-up report to the invoking shell.
 *
 * The detached path is the classic recipe with its known pitfalls fixed (daemon-rules.md):
 *
 *   original ──pipe──┐
 *      fork ─> child: setsid, ignore SIGHUP only now, fork again and exit
 *                 └─> daemon: signals reset, empty mask, umask, chdir, 0/1/2 on /dev/null
 *                      (O_NOCTTY), every other descriptor closed but an except-list,
 *                      LISTEN_PID moved to the new pid, pid written
 *
 * The original process waits on the pipe: 'R' means ready (exit 0); 'F' with an exit code and
 * a message means failed (the message goes to its stderr); end-of-file without either, or the
 * timeout, is a failure too. The daemon is never a session leader, so it can never acquire a
 * controlling terminal.
 *
 * Failures inside the forked processes are reported through the same pipe, since nothing is
 * left to return them to. The library prints nothing else and never logs.
 */

#include <portier/daemon.h>
#include <portier/listenfds.h>
#include <portier/log.h>
#include <portier/notify.h>
#include <portier/pidfile.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define DAEMON_DEFAULT_TIMEOUT_MS (60 * 1000)
#define REPORT_READY 'R'
#define REPORT_FAIL 'F'
/* A report is one write() of at most PIPE_BUF bytes, so it arrives whole. */
#define REPORT_MAX PIPE_BUF

struct PortierDaemon {
        int report_fd;          /* write end of the start-up pipe; -1 in the foreground */
        bool detached;
};

static int cmp_int(const void *a, const void *b)
{
        int x = *(const int *)a, y = *(const int *)b;

        return (x > y) - (x < y);
}

static bool in_sorted(const int *v, size_t n, int fd)
{
        return bsearch(&fd, v, n, sizeof(int), cmp_int) != NULL;
}

static int close_range_from(unsigned lo, unsigned hi)
{
#ifdef SYS_close_range
        if (syscall(SYS_close_range, lo, hi, 0) == 0)
                return 0;
        return -errno;
#else
        return -ENOSYS;
#endif
}

/* Fallback: close what /proc/self/fd lists (then, without /proc, up to RLIMIT_NOFILE). */
static int close_by_listing(const int *keep, size_t n)
{
        DIR *dir = opendir("/proc/self/fd");
        struct dirent *de;

        if (!dir) {
                struct rlimit rl;

                if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                        return -errno;
                for (rlim_t fd = 3; fd < rl.rlim_cur && fd < INT_MAX; fd++)
                        if (!in_sorted(keep, n, (int)fd))
                                (void)close((int)fd);
                return 0;
        }
        while ((de = readdir(dir))) {
                char *end;
                long fd = strtol(de->d_name, &end, 10);

                if (de->d_name[0] == '.' || *end || fd < 3 || fd == dirfd(dir))
                        continue;
                if (!in_sorted(keep, n, (int)fd))
                        (void)close((int)fd);
        }
        closedir(dir);
        return 0;
}

/**
 * portier_close_fds() - close every descriptor from 3 up, except some
 * @keep: descriptors to keep open (any order; values below 3 are ignored)
 * @n_keep: their number
 *
 * Uses close_range(2) between the kept descriptors, so the cost does not depend on
 * RLIMIT_NOFILE; falls back to listing /proc/self/fd on kernels without it.
 *
 * Return: 0 or -errno.
 */
int portier_close_fds(const int *keep, size_t n_keep)
{
        int stack[64], *sorted = stack;
        unsigned lo = 3;
        int r = 0;

        if (n_keep > ELEMENTSOF(stack)) {
                sorted = malloc(n_keep * sizeof(int));
                if (!sorted)
                        return -ENOMEM;
        }
        if (n_keep)
                memcpy(sorted, keep, n_keep * sizeof(int));
        qsort(sorted, n_keep, sizeof(int), cmp_int);

        for (size_t i = 0; i < n_keep && r == 0; i++) {
                if (sorted[i] < 0 || (unsigned)sorted[i] < lo)
                        continue;
                if ((unsigned)sorted[i] > lo)
                        r = close_range_from(lo, (unsigned)sorted[i] - 1);
                lo = (unsigned)sorted[i] + 1;
        }
        if (r == 0)
                r = close_range_from(lo, ~0U);
        if (r == -ENOSYS || r == -EPERM)
                r = close_by_listing(sorted, n_keep);
        if (sorted != stack)
                free(sorted);
        return r;
}

/* The kernel's struct sigaction (x86-64 and most architectures). */
struct kernel_sigaction {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
};

/*
 * The real-time signals below SIGRTMIN belong to the C library (thread cancellation, set*id
 * across threads), and sigaction() refuses them. An ignored disposition inherited from the
 * starting process would still break them: reset that one case with the system call itself.
 * A handler the C library installed is left alone.
 */
static void reset_reserved_signal(int sig)
{
        struct kernel_sigaction old, dfl = { .handler = SIG_DFL };

        if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) == 0 &&
            old.handler == SIG_IGN)
                (void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
}

/**
 * portier_reset_signals() - every signal disposition back to default, and an empty mask
 *
 * An ignored disposition survives execve(), so a daemon started from a shell that ignored
 * SIGHUP (nohup, or a detaching parent) would otherwise never see SIGHUP.
 *
 * Return: 0 or -errno.
 */
int portier_reset_signals(void)
{
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;

        for (int sig = 1; sig < NSIG; sig++) {
                if (sig == SIGKILL || sig == SIGSTOP)
                        continue;
                if (sig >= 32 && sig < SIGRTMIN) {
                        reset_reserved_signal(sig);
                        continue;
                }
                (void)sigaction(sig, &sa, NULL);
        }
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
                return -errno;
        return 0;
}

/* In a forked process: send a failure report and leave. */
static _Noreturn void report_and_exit(int fd, int code, const char *what, int err)
{
        char buf[256];
        int n = snprintf(buf, sizeof(buf), "%c%c%s: %s", REPORT_FAIL, code, what, strerror(err));

        if (n > 0)
                (void)write_all(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
        _exit(code);
}

static long long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the original process: wait for the report, print a failure, and return the exit code. */
static int wait_for_report(int fd, pid_t child, int timeout_ms)
{
        char buf[REPORT_MAX + 1];
        size_t len = 0;
        long long deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
        const char *prog = program_invocation_short_name;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int wait = -1;

                if (len > 0 && buf[0] == REPORT_READY)
                        break;
                if (deadline >= 0) {
                        long long left = deadline - now_ms();

                        if (left <= 0) {
                                fprintf(stderr, "%s: timed out after %d ms waiting for the "
                                        "daemon to report readiness\n", prog, timeout_ms);
                                return PORTIER_DAEMON_EXIT_NOREPORT;
                        }
                        wait = left > INT_MAX ? INT_MAX : (int)left;
                }
                int r = poll(&p, 1, wait);

                if (r < 0 && errno != EINTR)
                        return PORTIER_DAEMON_EXIT_NOREPORT;
                if (r <= 0)
                        continue;
                ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (n == 0 || (len += (size_t)n) == sizeof(buf) - 1)
                        break;
        }
        /* The first child exits right after the second fork: reap it. */
        (void)waitpid(child, NULL, 0);

        if (len >= 1 && buf[0] == REPORT_READY)
                return 0;
        if (len >= 2 && buf[0] == REPORT_FAIL) {
                int code = (unsigned char)buf[1];

                buf[len] = '\0';
                if (len > 2)
                        fprintf(stderr, "%s: %s\n", prog, buf + 2);
                return code ? code : 1;
        }
        fprintf(stderr, "%s: the daemon exited during start-up without reporting\n", prog);
        return PORTIER_DAEMON_EXIT_NOREPORT;
}

/* Count the sockets a manager passed us; 0 when none are for this process. */
static int count_listen_fds(void)
{
        int n = portier_listen_fds(false, NULL);

        return n > 0 ? n : 0;
}

/* In the daemon: LISTEN_PID named the original process; it must name us now. */
static void move_listen_pid(void)
{
        char buf[24];

        snprintf(buf, sizeof(buf), "%d", (int)getpid());
        (void)setenv("LISTEN_PID", buf, 1);
}

/* The descriptors a detached daemon keeps, besides 0, 1 and 2. */
static int *keep_list(const PortierDaemonOptions *o, int report_fd, int n_listen, size_t *ret_n)
{
        size_t n = o->n_keep_fds + (size_t)n_listen + 4, k = 0;
        int *v = malloc(n * sizeof(int));

        if (!v)
                return NULL;
        for (size_t i = 0; i < o->n_keep_fds; i++)
                v[k++] = o->keep_fds[i];
        for (int i = 0; i < n_listen; i++)
                v[k++] = PORTIER_LISTEN_FDS_START + i;
        v[k++] = report_fd;
        if (o->pidfile)
                v[k++] = portier_pidfile_fd(o->pidfile);
        k += portier_log_fds(o->log, v + k, 2);
        *ret_n = k;
        return v;
}

static int start_foreground(const PortierDaemonOptions *o, PortierDaemon *d)
{
        int r = portier_reset_signals();

        if (r < 0)
                return r;
        if (o->directory && chdir(o->directory) < 0)
                return -errno;
        if (o->pidfile && (r = portier_pidfile_write(o->pidfile)) < 0)
                return r;
        d->report_fd = -1;
        return 0;
}

/* The daemon side of the detached path; failures are reported and end the process. */
static void become_daemon(const PortierDaemonOptions *o, int report_fd, int n_listen)
{
        _cleanup_free_ int *keep = NULL;
        size_t n_keep = 0;
        int fd, r;

        if ((r = portier_reset_signals()) < 0)
                report_and_exit(report_fd, 1, "cannot reset signals", -r);
        if (chdir(o->directory ? o->directory : "/") < 0)
                report_and_exit(report_fd, 1, "cannot change directory", errno);

        fd = open("/dev/null", O_RDWR | O_NOCTTY);
        if (fd < 0)
                report_and_exit(report_fd, 1, "cannot open /dev/null", errno);
        for (int i = 0; i < 3; i++)
                if (fd != i && dup2(fd, i) < 0)
                        report_and_exit(report_fd, 1, "cannot redirect standard streams", errno);
        if (fd > 2)
                (void)close(fd);

        keep = keep_list(o, report_fd, n_listen, &n_keep);
        if (!keep)
                report_and_exit(report_fd, 1, "cannot close descriptors", ENOMEM);
        if ((r = portier_close_fds(keep, n_keep)) < 0)
                report_and_exit(report_fd, 1, "cannot close descriptors", -r);
        if (n_listen > 0)
                move_listen_pid();
        if (o->pidfile && (r = portier_pidfile_write(o->pidfile)) < 0)
                report_and_exit(report_fd, 1, "cannot write pid file", -r);
}

/**
 * portier_daemon_start() - detach (or not), and prepare the start-up report
 * @opts: options, or NULL for the defaults (detach, umask 022, directory "/", 60 s)
 * @ret: the handle for portier_daemon_ready() / portier_daemon_fail(), in the daemon
 *
 * Detached, the calling process does not return: it exits 0 when the daemon calls
 * portier_daemon_ready(), or with the daemon's exit code after printing its message on
 * stderr, or with PORTIER_DAEMON_EXIT_NOREPORT when the daemon ends without a word or the
 * timeout passes. The daemon returns here: a new process that is not a session leader, with
 * default signal dispositions and an empty mask, the umask set, in @opts->directory, with
 * 0/1/2 on /dev/null and only the descriptors of the except-list open (@opts->keep_fds, the
 * pid file, the log sink's file and socket, LISTEN_FDS sockets with @opts->keep_listen_fds). The pid file gets the daemon's
 * pid. In the foreground, nothing forks and 0/1/2 and other descriptors stay as they are.
 *
 * Standard I/O buffers are flushed before forking.
 *
 * Return: 0 in the daemon, or -errno (only before any fork, in the calling process).
 */
int portier_daemon_start(const PortierDaemonOptions *opts, PortierDaemon **ret)
{
        static const PortierDaemonOptions defaults;
        const PortierDaemonOptions *o = opts ? opts : &defaults;
        PortierDaemon *d;
        int pfd[2], n_listen, timeout;
        pid_t pid;

        if (!ret)
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        umask(o->umask_set ? o->umask : 022);

        if (o->foreground) {
                int r = start_foreground(o, d);

                if (r < 0) {
                        free(d);
                        return r;
                }
                *ret = d;
                return 0;
        }

        n_listen = o->keep_listen_fds ? count_listen_fds() : 0;
        timeout = o->timeout_ms ? o->timeout_ms : DAEMON_DEFAULT_TIMEOUT_MS;
        if (pipe2(pfd, O_CLOEXEC) < 0) {
                free(d);
                return -errno;
        }
        fflush(NULL);

        pid = fork();
        if (pid < 0) {
                int r = -errno;

                (void)close(pfd[0]);
                (void)close(pfd[1]);
                free(d);
                return r;
        }
        if (pid > 0) {
                (void)close(pfd[1]);
                _exit(wait_for_report(pfd[0], pid, timeout));
        }

        /* First child: a new session, then a second fork so that the daemon is not its
         * leader. SIGHUP is ignored only in this window: when the leader exits, the
         * foreground process group of a terminal it held would get it. */
        (void)close(pfd[0]);
        if (setsid() < 0)
                report_and_exit(pfd[1], 1, "setsid", errno);
        (void)signal(SIGHUP, SIG_IGN);
        pid = fork();
        if (pid < 0)
                report_and_exit(pfd[1], 1, "fork", errno);
        if (pid > 0)
                _exit(0);

        become_daemon(o, pfd[1], n_listen);
        d->report_fd = pfd[1];
        d->detached = true;
        *ret = d;
        return 0;
}

/**
 * portier_daemon_ready() - report that start-up is complete
 * @d: the handle from portier_daemon_start()
 *
 * Lets the invoking process exit 0 (detached), and sends READY=1 to $NOTIFY_SOCKET when a
 * service manager set one. Later calls (after a reload, say) only notify.
 *
 * Return: 0 or -errno.
 */
int portier_daemon_ready(PortierDaemon *d)
{
        int r = 0;

        if (!d)
                return -EINVAL;
        if (d->report_fd >= 0) {
                char c = REPORT_READY;

                r = write_all(d->report_fd, &c, 1);
                d->report_fd = safe_close(d->report_fd);
        }
        int n = portier_notify(false, "READY=1");

        return r < 0 ? r : (n < 0 ? n : 0);
}

/**
 * portier_daemon_fail() - report that start-up failed
 * @d: the handle from portier_daemon_start()
 * @exit_code: the invoking process's exit status (1..255; 0 becomes 1)
 * @fmt: the message, without the program name (the invoking process prefixes it)
 *
 * Detached, the invoking process prints "<program>: <message>" on its stderr and exits with
 * @exit_code. In the foreground, the message goes to $NOTIFY_SOCKET as STATUS= only: the
 * program logs it to stderr itself, as any other error. The caller then exits.
 *
 * Return: 0 or -errno.
 */
int portier_daemon_fail(PortierDaemon *d, int exit_code, const char *fmt, ...)
{
        char buf[REPORT_MAX];
        va_list ap;
        int r = 0;

        if (!d || !fmt)
                return -EINVAL;
        if (exit_code <= 0 || exit_code > 255)
                exit_code = 1;
        buf[0] = REPORT_FAIL;
        buf[1] = (char)exit_code;
        va_start(ap, fmt);
        int n = vsnprintf(buf + 2, sizeof(buf) - 2, fmt, ap);

        va_end(ap);
        if (n < 0)
                return -EINVAL;
        size_t len = 2 + ((size_t)n < sizeof(buf) - 2 ? (size_t)n : sizeof(buf) - 3);

        if (d->report_fd >= 0) {
                r = write_all(d->report_fd, buf, len);
                d->report_fd = safe_close(d->report_fd);
        }
        (void)portier_notifyf(false, "STATUS=%.*s", (int)(len - 2), buf + 2);
        return r;
}

/**
 * portier_daemon_detached() - did portier_daemon_start() detach?
 * @d: the handle
 *
 * Return: true in a detached daemon, false in the foreground or for NULL.
 */
bool portier_daemon_detached(const PortierDaemon *d)
{
        return d && d->detached;
}

/**
 * portier_daemon_free() - release the handle
 * @d: the handle, or NULL
 *
 * A handle freed before any report makes the invoking process see end-of-file, which it
 * reports as a failure.
 *
 * Return: NULL.
 */
PortierDaemon *portier_daemon_free(PortierDaemon *d)
{
        if (!d)
                return NULL;
        (void)safe_close(d->report_fd);
        free(d);
        return NULL;
}
