/* SPDX-License-Identifier: MIT */
/*
 * rbench.c — the backend and the clients of the redirect benchmark (bench/redirect.py).
 *
 *   rbench backend              listen on three loopback ports and print them, one line:
 *                                 line=P1 source=P2 hold=P3
 *                               line:   write "portier-bench\n" and close (loadgen's reply)
 *                               source: write -b bytes (default 1 GiB) and close
 *                               hold:   write "k" and keep the connection until the client
 *                                       closes it
 *                               Runs until stdin reaches EOF (the harness holds a pipe).
 *   rbench read PORT            connect to 127.0.0.1:PORT, read to EOF; print
 *                                 bytes=N seconds=S mbps=M
 *   rbench idle PORT N          open N connections to 127.0.0.1:PORT, read one byte from each
 *                               (the pair is up end to end), print "ready=N", and hold them
 *                               until stdin reaches EOF
 *
 * One thread and one epoll set each; every socket non-blocking; loopback only. Each mode is
 * bounded: read and idle give up after -t seconds (default 120).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LINE "portier-bench\n"
#define CHUNK (256 * 1024)
#define MAX_IDLE 200000

static uint64_t source_bytes = 1ULL << 30;
static double limit_seconds = 120.0;
static char chunk[CHUNK];

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
        fprintf(stderr, "rbench: %s: %s\n", what, strerror(errno));
        exit(1);
}

static int listen_any(int *ret_port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0)
                die("socket");
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4096) < 0 ||
            getsockname(fd, (struct sockaddr *)&a, &len) < 0)
                die("listen");
        *ret_port = ntohs(a.sin_port);
        return fd;
}

static int connect_to(int port, bool nonblock)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);

        if (fd < 0)
                return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
                close(fd);
                return -1;
        }
        return fd;
}

/* --- backend ------------------------------------------------------------------------------ */

enum { KIND_LISTEN_LINE, KIND_LISTEN_SOURCE, KIND_LISTEN_HOLD, KIND_SOURCE, KIND_HOLD, KIND_STDIN };

typedef struct Conn {
        int fd;
        int kind;
        uint64_t left;          /* source: bytes still to send */
} Conn;

static Conn *conn_new(int fd, int kind, uint64_t left)
{
        Conn *c = malloc(sizeof(*c));

        if (!c)
                die("malloc");
        *c = (Conn){ .fd = fd, .kind = kind, .left = left };
        return c;
}

static void conn_close(int ep, Conn *c)
{
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        free(c);
}

static void watch(int ep, Conn *c, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = c };

        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
                die("epoll_ctl");
}

/* Send what the socket takes; close at the end or on an error. */
static void source_more(int ep, Conn *c)
{
        while (c->left > 0) {
                size_t n = c->left < CHUNK ? (size_t)c->left : CHUNK;
                ssize_t w = send(c->fd, chunk, n, MSG_NOSIGNAL);

                if (w < 0) {
                        if (errno == EAGAIN)
                                return;
                        break;
                }
                c->left -= (uint64_t)w;
        }
        conn_close(ep, c);
}

static void accept_all(int ep, Conn *l)
{
        for (;;) {
                int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (fd < 0)
                        return;
                if (l->kind == KIND_LISTEN_LINE) {
                        (void)send(fd, LINE, sizeof(LINE) - 1, MSG_NOSIGNAL);
                        close(fd);
                } else if (l->kind == KIND_LISTEN_SOURCE) {
                        Conn *c = conn_new(fd, KIND_SOURCE, source_bytes);

                        watch(ep, c, EPOLLOUT);
                        source_more(ep, c);
                } else {
                        (void)send(fd, "k", 1, MSG_NOSIGNAL);
                        watch(ep, conn_new(fd, KIND_HOLD, 0), EPOLLIN);
                }
        }
}

static int run_backend(void)
{
        int ep = epoll_create1(EPOLL_CLOEXEC), pl, ps, ph;
        Conn *line, *source, *hold;

        if (ep < 0)
                die("epoll_create1");
        line = conn_new(listen_any(&pl), KIND_LISTEN_LINE, 0);
        source = conn_new(listen_any(&ps), KIND_LISTEN_SOURCE, 0);
        hold = conn_new(listen_any(&ph), KIND_LISTEN_HOLD, 0);
        watch(ep, line, EPOLLIN);
        watch(ep, source, EPOLLIN);
        watch(ep, hold, EPOLLIN);
        watch(ep, conn_new(0, KIND_STDIN, 0), EPOLLIN);
        printf("line=%d source=%d hold=%d\n", pl, ps, ph);
        fflush(stdout);
        for (;;) {
                struct epoll_event evs[256];
                int n = epoll_wait(ep, evs, 256, -1);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        die("epoll_wait");
                for (int i = 0; i < n; i++) {
                        Conn *c = evs[i].data.ptr;
                        char buf[4096];

                        switch (c->kind) {
                        case KIND_STDIN:
                                if (read(0, buf, sizeof(buf)) <= 0)
                                        return 0;
                                break;
                        case KIND_SOURCE:
                                source_more(ep, c);
                                break;
                        case KIND_HOLD:
                                if (recv(c->fd, buf, sizeof(buf), 0) <= 0)
                                        conn_close(ep, c);
                                break;
                        default:
                                accept_all(ep, c);
                        }
                }
        }
}

/* --- clients ------------------------------------------------------------------------------ */

static int run_read(int port)
{
        static char buf[1 << 20];
        int fd = connect_to(port, false);
        uint64_t total = 0;
        double t0 = now(), t;

        if (fd < 0)
                die("connect");
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        die("read");
                if (n == 0)
                        break;
                total += (uint64_t)n;
                if (now() - t0 > limit_seconds) {
                        fprintf(stderr, "rbench: read: more than %g s\n", limit_seconds);
                        return 1;
                }
        }
        t = now() - t0;
        printf("bytes=%llu seconds=%.4f mbps=%.1f\n", (unsigned long long)total, t,
               (double)total / t / 1e6);
        close(fd);
        return 0;
}

/* Take the first byte of the connections that have one; count them. */
static void idle_collect(int ep, int timeout_ms, long *ready, long *failed)
{
        struct epoll_event evs[256];
        int k = epoll_wait(ep, evs, 256, timeout_ms);
        char c;

        for (int j = 0; j < k; j++) {
                if (recv(evs[j].data.fd, &c, 1, 0) == 1)
                        (*ready)++;
                else
                        (*failed)++;
                epoll_ctl(ep, EPOLL_CTL_DEL, evs[j].data.fd, NULL);
        }
}

/*
 * At most IDLE_INFLIGHT connections wait for their first byte at any time: a burst of
 * thousands would overflow a small listen backlog (xinetd's is 64), and a client whose final
 * ACK was dropped believes itself connected while the server never accepts it. Pacing
 * measures holding connections, not surviving a SYN flood.
 */
#define IDLE_INFLIGHT 32

static int run_idle(int port, long n)
{
        int ep = epoll_create1(EPOLL_CLOEXEC);
        long ready = 0, failed = 0, opened = 0;
        double t0 = now();
        char c;

        if (ep < 0)
                die("epoll_create1");
        while (opened < n && now() - t0 < limit_seconds) {
                if (opened - ready - failed >= IDLE_INFLIGHT) {
                        idle_collect(ep, 100, &ready, &failed);
                        continue;
                }
                int fd = connect_to(port, true);
                struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

                opened++;
                if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                        failed++;
        }
        while (ready + failed < opened && now() - t0 < limit_seconds)
                idle_collect(ep, 1000, &ready, &failed);
        printf("ready=%ld failed=%ld seconds=%.2f\n", ready, failed, now() - t0);
        fflush(stdout);
        while (read(0, &c, 1) > 0)
                ;
        return 0;
}

/* A bounded integer from the command line (no atoi: a typo must not become 0). */
static long arg_long(const char *s, long min, long max)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max) {
                fprintf(stderr, "rbench: '%s': expected a number from %ld to %ld\n", s, min, max);
                exit(2);
        }
        return v;
}

static void usage(FILE *f)
{
        fprintf(f, "usage: rbench [-b BYTES] [-t SECONDS] backend | read PORT | idle PORT N\n");
}

int main(int argc, char **argv)
{
        int opt;

        while ((opt = getopt(argc, argv, "b:t:h")) != -1) {
                switch (opt) {
                case 'b':
                        source_bytes = (uint64_t)arg_long(optarg, 1, 1L << 40);
                        break;
                case 't':
                        limit_seconds = (double)arg_long(optarg, 1, 3600);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        argc -= optind;
        argv += optind;
        memset(chunk, 'x', sizeof(chunk));
        if (argc == 1 && !strcmp(argv[0], "backend"))
                return run_backend();
        if (argc == 2 && !strcmp(argv[0], "read"))
                return run_read((int)arg_long(argv[1], 1, 65535));
        if (argc == 3 && !strcmp(argv[0], "idle"))
                return run_idle((int)arg_long(argv[1], 1, 65535), arg_long(argv[2], 1, MAX_IDLE));
        usage(stderr);
        return 2;
}
