/* SPDX-License-Identifier: MIT */
/*
 * limitref.c — the benchmark's limit reference: the leanest correct TCP spawner we can write.
 *
 *   limitref [--fork] PORT SERVER
 *
 * One listening socket on 127.0.0.1:PORT, one epoll set holding it and a signalfd. When the
 * listener is readable, accept4() until EAGAIN (the connection comes back blocking and
 * close-on-exec), at most 64 per wake-up: under c=64 the queue is never empty, and a larger
 * batch left thousands of zombies unreaped for half a second. Each connection is handed to
 * SERVER with vfork()+execve(): in the child, the connection is dup2()ed onto 0, 1 and 2
 * (dup2 clears close-on-exec on the copies, every other descriptor is close-on-exec), the
 * signal mask is emptied, and SERVER is executed with an empty environment (the leanest
 * exec: no strings to copy). The parent closes its copy. SIGCHLD arrives on the signalfd and
 * children are reaped with waitpid(WNOHANG) until none is left to reap. No logging, no
 * limits, no access control: what a super-server could at best reach on this machine, so
 * that portierd's figures can be read as a fraction of it.
 *
 * Correctness kept (it is a reference, not a toy): every syscall checked; EMFILE/ENFILE
 * pause accepting for 100 ms instead of spinning; an exec failure is reported once (the
 * vfork child shares our memory, so it leaves its errno in a variable before _exit).
 * With --fork, fork() replaces vfork(): the parent no longer waits for the child to reach
 * exec, so several children can be in exec at once on several cores, at the price of copying
 * the (small) parent's page tables. It answers "is vfork the cheapest primitive here?"; the
 * reference proper is the vfork one, as in portierd. An exec failure is then reported by the
 * child's exit status 127 only.
 *
 * SIGTERM/SIGINT end it; servers still running are left to finish on their own. It also ends
 * when the process that started it dies (PR_SET_PDEATHSIG) and after one hour at most
 * (alarm), so a harness that crashed cannot leave it behind.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define ACCEPT_BATCH 64                 /* accepts per wake-up before reaping: zombies stay few */
#define REAP_BATCH 4096                 /* waitpid() calls per SIGCHLD wake-up */

static int parse_port(const char *s, int *ret)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 1 || v > 65535)
                return -EINVAL;
        *ret = (int)v;
        return 0;
}

/* Makes sure 0, 1 and 2 are open, so that no accepted connection can land on them. */
static int ensure_std_fds(void)
{
        for (int i = 0; i < 3; i++) {
                if (fcntl(i, F_GETFD) >= 0)
                        continue;
                int fd = open("/dev/null", O_RDWR);

                if (fd < 0)
                        return -errno;
                if (fd != i) {
                        (void)close(fd);
                        return -EBADF;
                }
        }
        return 0;
}

static int listen_on(int port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int one = 1;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
                int r = -errno;

                (void)close(fd);
                return r;
        }
        return fd;
}

/* Written by a vfork child (shared memory) when its execve() fails. */
static volatile int exec_errno;

/* Spawns server on connection fd. Returns 0 or -errno (vfork failed, or exec failed). */
static int spawn(int fd, char *const argv[], const sigset_t *empty, bool use_fork)
{
        static char *const envp[] = { NULL };
        pid_t pid;

        exec_errno = 0;
        pid = use_fork ? fork() : vfork();
        if (pid == 0) {
                /* Child: async-signal-safe calls only, then exec or _exit. */
                if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
                    sigprocmask(SIG_SETMASK, empty, NULL) < 0) {
                        exec_errno = errno;
                        _exit(127);
                }
                execve(argv[0], argv, envp);
                exec_errno = errno;
                _exit(127);
        }
        if (pid < 0)
                return -errno;
        return exec_errno ? -exec_errno : 0;
}

/* Reaps every child that has exited; bounded by REAP_BATCH per call. */
static int reap(long *running)
{
        for (int i = 0; i < REAP_BATCH; i++) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);

                if (pid > 0) {
                        (*running)--;
                        continue;
                }
                if (pid == 0 || errno == ECHILD)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct epoll_event ev, evs[8];
        char *server_argv[2];
        sigset_t mask, empty;
        bool paused = false, exec_reported = false, use_fork = false;
        long running = 0, spawned = 0;
        int port, lfd, sfd, ep, r;

        if (argc == 4 && strcmp(argv[1], "--fork") == 0) {
                use_fork = true;
                argv++;
                argc--;
        }
        if (argc != 3 || parse_port(argv[1], &port) < 0) {
                fprintf(stderr, "usage: limitref [--fork] PORT SERVER\n");
                return 2;
        }
        if (access(argv[2], X_OK) < 0) {
                fprintf(stderr, "limitref: '%s': %s\n", argv[2], strerror(errno));
                return 2;
        }
        server_argv[0] = argv[2];
        server_argv[1] = NULL;
        r = ensure_std_fds();
        if (r < 0) {
                fprintf(stderr, "limitref: standard descriptors: %s\n", strerror(-r));
                return 1;
        }

        if (sigemptyset(&empty) < 0 || sigemptyset(&mask) < 0 ||
            sigaddset(&mask, SIGCHLD) < 0 || sigaddset(&mask, SIGTERM) < 0 ||
            sigaddset(&mask, SIGINT) < 0 || sigaddset(&mask, SIGPIPE) < 0 ||
            sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                fprintf(stderr, "limitref: sigprocmask: %s\n", strerror(errno));
                return 1;
        }
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) {
                fprintf(stderr, "limitref: prctl: %s\n", strerror(errno));
                return 1;
        }
        (void)alarm(3600);      /* returns the previous alarm's remainder, not an error */
        sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sfd < 0) {
                fprintf(stderr, "limitref: signalfd: %s\n", strerror(errno));
                return 1;
        }
        lfd = listen_on(port);
        if (lfd < 0) {
                fprintf(stderr, "limitref: 127.0.0.1:%d: %s\n", port, strerror(-lfd));
                return 1;
        }
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) {
                fprintf(stderr, "limitref: epoll_create1: %s\n", strerror(errno));
                return 1;
        }
        ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = lfd };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
                fprintf(stderr, "limitref: epoll_ctl: %s\n", strerror(errno));
                return 1;
        }
        ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = sfd };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0) {
                fprintf(stderr, "limitref: epoll_ctl: %s\n", strerror(errno));
                return 1;
        }

        /* The daemon runs until a signal: each iteration handles one batch of events. */
        for (;;) {
                int n = epoll_wait(ep, evs, 8, paused ? 100 : -1);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "limitref: epoll_wait: %s\n", strerror(errno));
                        return 1;
                }
                if (n == 0 && paused) {
                        ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = lfd };
                        if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
                                fprintf(stderr, "limitref: epoll_ctl: %s\n", strerror(errno));
                                return 1;
                        }
                        paused = false;
                }
                for (int i = 0; i < n; i++) {
                        if (evs[i].data.fd == sfd) {
                                struct signalfd_siginfo si[16];
                                ssize_t got = read(sfd, si, sizeof(si));
                                bool stop = false;

                                if (got < 0 && errno != EAGAIN && errno != EINTR) {
                                        fprintf(stderr, "limitref: signalfd: %s\n",
                                                strerror(errno));
                                        return 1;
                                }
                                for (ssize_t k = 0; got > 0 && k < got / (ssize_t)sizeof(si[0]);
                                     k++)
                                        if (si[k].ssi_signo == SIGTERM ||
                                            si[k].ssi_signo == SIGINT)
                                                stop = true;
                                r = reap(&running);
                                if (r < 0) {
                                        fprintf(stderr, "limitref: waitpid: %s\n",
                                                strerror(-r));
                                        return 1;
                                }
                                if (stop) {
                                        fprintf(stderr, "limitref: %ld servers spawned\n",
                                                spawned);
                                        return 0;
                                }
                                continue;
                        }
                        for (int k = 0; k < ACCEPT_BATCH; k++) {
                                int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

                                if (cfd < 0) {
                                        if (errno == EAGAIN || errno == EINTR ||
                                            errno == ECONNABORTED)
                                                break;
                                        if (errno == EMFILE || errno == ENFILE ||
                                            errno == ENOBUFS || errno == ENOMEM) {
                                                if (epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL) < 0) {
                                                        fprintf(stderr, "limitref: epoll_ctl:"
                                                                " %s\n", strerror(errno));
                                                        return 1;
                                                }
                                                paused = true;
                                                break;
                                        }
                                        fprintf(stderr, "limitref: accept4: %s\n",
                                                strerror(errno));
                                        return 1;
                                }
                                r = spawn(cfd, server_argv, &empty, use_fork);
                                if (r == 0) {
                                        running++;
                                        spawned++;
                                } else if (!exec_reported) {
                                        fprintf(stderr, "limitref: spawning '%s': %s\n",
                                                server_argv[0], strerror(-r));
                                        exec_reported = true;
                                }
                                if (close(cfd) < 0 && errno != EINTR) {
                                        fprintf(stderr, "limitref: close: %s\n",
                                                strerror(errno));
                                        return 1;
                                }
                        }
                }
        }
}
