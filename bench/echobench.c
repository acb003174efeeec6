/* SPDX-License-Identifier: MIT */
/*
 * echobench.c — load generator and reference server for the echo built-in's benchmark
 * (bench/builtin.py). One program, five modes, loopback only:
 *
 *   echobench server PORT            the ceiling: a plain epoll echo server, TCP and UDP on
 *                                    127.0.0.1:PORT, one thread, no accounting, no logging
 *   echobench conn PORT C SECONDS    C clients looping {connect, send 16 bytes, read them
 *                                    back, close}: connections per second
 *   echobench stream PORT MBYTES     one connection; send MBYTES while reading the echo:
 *                                    MB/s of the round trip
 *   echobench udp PORT C SECONDS     C sockets in a closed loop {send 32 bytes, wait for the
 *                                    echo (200 ms)}: datagrams answered per second, and lost
 *   echobench idle PORT N            N connections, each checked with a one-byte echo, then
 *                                    held open until stdin closes: prints "ready N" first
 *
 * Output: one line of key=value pairs. Clients close with SO_LINGER 0, so that thousands of
 * connections a second leave no TIME_WAIT on the client side to exhaust the ephemeral ports.
 * Every loop is bounded by a count or a time; the server ends itself after one hour.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024
#define MSG "portier-echo-01\n"
#define MSG_LEN 16
#define SERVER_LIFETIME_SEC 3600

static double now_sec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sockaddr_in loopback(int port)
{
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return a;
}

static void close_hard(int fd)
{
        struct linger l = { .l_onoff = 1, .l_linger = 0 };

        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        (void)close(fd);
}

static void raise_nofile(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
}

/* --- server ------------------------------------------------------------------------------ */

static int serve(int port)
{
        struct sockaddr_in a = loopback(port);
        int one = 1, ep = epoll_create1(EPOLL_CLOEXEC);
        int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct epoll_event ev = { .events = EPOLLIN };
        static char buf[256 * 1024];
        double end = now_sec() + SERVER_LIFETIME_SEC;

        raise_nofile();
        (void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ep < 0 || lfd < 0 || ufd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
            listen(lfd, 4096) < 0 || bind(ufd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                perror("echobench server");
                return 1;
        }
        ev.data.fd = lfd;
        epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
        ev.data.fd = ufd;
        epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev);
        while (now_sec() < end) {
                struct epoll_event evs[256];
                int n = epoll_wait(ep, evs, 256, 1000);

                for (int i = 0; i < n; i++) {
                        int fd = evs[i].data.fd;

                        if (fd == lfd) {
                                for (int k = 0; k < 64; k++) {
                                        int c = accept4(lfd, NULL, NULL,
                                                        SOCK_NONBLOCK | SOCK_CLOEXEC);

                                        if (c < 0)
                                                break;
                                        ev.data.fd = c;
                                        ev.events = EPOLLIN;
                                        epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                                }
                        } else if (fd == ufd) {
                                for (int k = 0; k < 64; k++) {
                                        struct sockaddr_storage p;
                                        socklen_t pl = sizeof(p);
                                        ssize_t r = recvfrom(ufd, buf, sizeof(buf), 0,
                                                             (struct sockaddr *)&p, &pl);

                                        if (r < 0)
                                                break;
                                        (void)sendto(ufd, buf, (size_t)r, 0,
                                                     (struct sockaddr *)&p, pl);
                                }
                        } else {
                                /* Blocking-style echo on a non-blocking socket: a bench client
                                 * reads what it sends, so a short write is retried briefly. */
                                ssize_t r = recv(fd, buf, sizeof(buf), 0);

                                if (r <= 0) {
                                        if (r < 0 && errno == EAGAIN)
                                                continue;
                                        close(fd);
                                        continue;
                                }
                                for (ssize_t off = 0, tries = 0; off < r && tries < 100000;
                                     tries++) {
                                        ssize_t w = send(fd, buf + off, (size_t)(r - off),
                                                         MSG_NOSIGNAL);

                                        if (w > 0)
                                                off += w;
                                        else if (w < 0 && errno != EAGAIN)
                                                break;
                                        else
                                                poll(&(struct pollfd){ .fd = fd,
                                                                       .events = POLLOUT },
                                                     1, 100);
                                }
                        }
                }
        }
        return 0;
}

/* --- conn ------------------------------------------------------------------------------- */

typedef struct Slot {
        int fd;
        int got;
        bool sent;
} Slot;

static int slot_start(int ep, Slot *s, int port, long *errors)
{
        struct sockaddr_in a = loopback(port);
        struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = s };

        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        s->got = 0;
        s->sent = false;
        if (s->fd < 0)
                return -1;
        if (connect(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
                (*errors)++;
                close(s->fd);
                s->fd = -1;
                return -1;
        }
        return epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
}

static int conn_mode(int port, int c, double seconds)
{
        Slot slots[MAX_CLIENTS];
        int ep = epoll_create1(EPOLL_CLOEXEC);
        long done = 0, errors = 0;
        double t0 = now_sec(), end = t0 + seconds, last = t0;

        if (c < 1 || c > MAX_CLIENTS)
                return 2;
        for (int i = 0; i < c; i++)
                (void)slot_start(ep, &slots[i], port, &errors);
        for (int active = c; active > 0 && now_sec() < end + 5;) {
                struct epoll_event evs[MAX_CLIENTS];
                int n = epoll_wait(ep, evs, MAX_CLIENTS, 100);

                for (int i = 0; i < n; i++) {
                        Slot *s = evs[i].data.ptr;
                        char buf[64];

                        if (!s->sent) {
                                int err = 0;
                                socklen_t el = sizeof(err);

                                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                                if (err || send(s->fd, MSG, MSG_LEN, MSG_NOSIGNAL) != MSG_LEN)
                                        goto failed;
                                s->sent = true;
                                epoll_ctl(ep, EPOLL_CTL_MOD, s->fd,
                                          &(struct epoll_event){ .events = EPOLLIN,
                                                                 .data.ptr = s });
                                continue;
                        }
                        ssize_t r = recv(s->fd, buf, sizeof(buf), 0);

                        if (r < 0 && errno == EAGAIN)
                                continue;
                        if (r <= 0)
                                goto failed;
                        s->got += (int)r;
                        if (s->got < MSG_LEN)
                                continue;
                        done++;
                        last = now_sec();
                        close_hard(s->fd);
                        goto next;
failed:
                        errors++;
                        close_hard(s->fd);
next:
                        if (now_sec() < end)
                                (void)slot_start(ep, s, port, &errors);
                        else
                                active--;
                }
        }
        printf("conns=%ld errors=%ld elapsed=%.3f cps=%.1f\n", done, errors, last - t0,
               done / (last - t0 > 0 ? last - t0 : 1));
        return 0;
}

/* --- stream ----------------------------------------------------------------------------- */

static int stream_mode(int port, long mbytes)
{
        struct sockaddr_in a = loopback(port);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        static char out[256 * 1024], in[256 * 1024];
        long long total = mbytes * 1024LL * 1024, sent = 0, got = 0;
        double t0, end;
        bool bad = false;

        for (size_t i = 0; i < sizeof(out); i++)
                out[i] = (char)(i * 7 + 3);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                perror("echobench stream");
                return 1;
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        t0 = now_sec();
        end = t0 + 120;
        while (got < total && now_sec() < end) {
                struct pollfd p = { .fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0) };

                if (poll(&p, 1, 1000) <= 0)
                        continue;
                if ((p.revents & POLLOUT) && sent < total) {
                        size_t off = (size_t)(sent % (long long)sizeof(out));
                        size_t len = sizeof(out) - off;
                        ssize_t w;

                        if ((long long)len > total - sent)
                                len = (size_t)(total - sent);
                        w = send(fd, out + off, len, MSG_NOSIGNAL);
                        if (w > 0)
                                sent += w;
                }
                if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t r = recv(fd, in, sizeof(in), 0);

                        if (r == 0)
                                break;
                        if (r > 0) {
                                /* spot-check the bytes: the echo must be the input */
                                if (in[0] != out[got % (long long)sizeof(out)])
                                        bad = true;
                                got += r;
                        }
                }
        }
        double el = now_sec() - t0;

        close_hard(fd);
        printf("bytes=%lld elapsed=%.3f mbps=%.1f complete=%d intact=%d\n", got, el,
               got / 1048576.0 / (el > 0 ? el : 1), got == total, !bad);
        return 0;
}

/* --- udp -------------------------------------------------------------------------------- */

static int udp_mode(int port, int c, double seconds)
{
        struct sockaddr_in a = loopback(port);
        struct pollfd p[MAX_CLIENTS];
        double deadline[MAX_CLIENTS];
        long sent = 0, answered = 0, lost = 0;
        double t0 = now_sec(), end = t0 + seconds;
        char buf[2048];

        if (c < 1 || c > MAX_CLIENTS)
                return 2;
        for (int i = 0; i < c; i++) {
                p[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                p[i].events = POLLIN;
                connect(p[i].fd, (struct sockaddr *)&a, sizeof(a));
                send(p[i].fd, "portier-udp-echo-bench-datagram\n", 32, 0);
                deadline[i] = now_sec() + 0.2;
                sent++;
        }
        while (now_sec() < end) {
                int n = poll(p, (nfds_t)c, 10);
                double t = now_sec();

                for (int i = 0; i < c; i++) {
                        bool again = false;

                        if (n > 0 && (p[i].revents & POLLIN)) {
                                while (recv(p[i].fd, buf, sizeof(buf), 0) > 0)
                                        answered++;
                                again = true;
                        } else if (t > deadline[i]) {
                                lost++;
                                again = true;
                        }
                        if (again && t < end) {
                                send(p[i].fd, "portier-udp-echo-bench-datagram\n", 32, 0);
                                deadline[i] = t + 0.2;
                                sent++;
                        }
                }
        }
        /* the last replies in flight */
        double drain = now_sec() + 0.3;

        while (now_sec() < drain && answered + lost < sent) {
                if (poll(p, (nfds_t)c, 50) <= 0)
                        continue;
                for (int i = 0; i < c; i++)
                        while ((p[i].revents & POLLIN) && recv(p[i].fd, buf, sizeof(buf), 0) > 0)
                                answered++;
        }
        printf("sent=%ld answered=%ld lost=%ld pps=%.1f\n", sent, answered, sent - answered,
               answered / seconds);
        return 0;
}

/* --- idle ------------------------------------------------------------------------------- */

static int idle_mode(int port, int n)
{
        struct sockaddr_in a = loopback(port);
        int *fds = calloc((size_t)n, sizeof(int)), ok = 0;
        char c;

        raise_nofile();
        if (!fds)
                return 1;
        for (int i = 0; i < n; i++) {
                fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0) {
                        fprintf(stderr, "echobench idle: connection %d: %s\n", i,
                                strerror(errno));
                        break;
                }
                struct timeval tv = { .tv_sec = 5 };

                setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                if (send(fds[i], "i", 1, 0) == 1 && recv(fds[i], &c, 1, 0) == 1 && c == 'i')
                        ok++;
        }
        printf("ready=%d\n", ok);
        fflush(stdout);
        while (read(0, &c, 1) > 0)
                ;
        for (int i = 0; i < n; i++)
                if (fds[i] >= 0)
                        close_hard(fds[i]);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc >= 3 && strcmp(argv[1], "server") == 0)
                return serve(atoi(argv[2]));
        if (argc >= 5 && strcmp(argv[1], "conn") == 0)
                return conn_mode(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
        if (argc >= 4 && strcmp(argv[1], "stream") == 0)
                return stream_mode(atoi(argv[2]), atol(argv[3]));
        if (argc >= 5 && strcmp(argv[1], "udp") == 0)
                return udp_mode(atoi(argv[2]), atoi(argv[3]), atof(argv[4]));
        if (argc >= 4 && strcmp(argv[1], "idle") == 0)
                return idle_mode(atoi(argv[2]), atoi(argv[3]));
        fprintf(stderr, "usage: echobench server PORT | conn PORT C SECONDS | "
                "stream PORT MBYTES | udp PORT C SECONDS | idle PORT N\n");
        return 2;
}
