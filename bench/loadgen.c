/* SPDX-License-Identifier: MIT */
/*
 * loadgen.c — loopback connection-rate load generator for the portier benchmark.
 *
 * N clients, each looping { connect to 127.0.0.1:PORT, read until EOF, close }, for a fixed
 * duration or a fixed count, whichever comes first. One thread, one epoll set, non-blocking
 * sockets: on a 2-core machine the load generator must leave as much CPU as it can to the
 * daemon and its children, so it does not spend it on thread switches.
 *
 * A connection's latency runs from just before socket() to the read that returns EOF. Every
 * connection that does not end in a full line ("portier-bench\n" by default, see -e) is an
 * error, counted by kind and never dropped: refused (ECONNREFUSED), reset (ECONNRESET or
 * EPIPE), timeout (no EOF within -t ms of the start), short (EOF before the expected bytes)
 * and other (any other errno; the first one is reported by name).
 *
 * With -r RATE the load is open-loop instead: a connection starts every 1/RATE seconds (a
 * flood at a fixed rate, whatever the server does), as long as a client slot is free; slots
 * that are all busy make it fall behind, and it catches up at most 10 ms worth at a time.
 * -e 0 takes any reply, none included (a refused connection, a daytime line).
 *
 * When the duration ends no new connection starts; those in flight are waited for (at most
 * the timeout) and counted, and the rate is completed connections over the time from the
 * first start to the last completion.
 *
 * Output: one line of key=value pairs on stdout (read by bench/run.py), e.g.
 *   conns=9812 elapsed=3.002 cps=3268.5 p50_us=2301 p90_us=... p99_us=4410 max_us=9120
 *   ok=9812 refused=0 reset=0 timeout=0 short=0 other=0 other_errno=-
 *
 * Loopback only: the address is always 127.0.0.1; only the port is an argument.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
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

#define MAX_CLIENTS 4096
#define MAX_COUNT 20000000L
#define MAX_SECONDS 600.0
#define BACKOFF_NS 1000000LL            /* a slot whose connect failed at once waits 1 ms */

typedef enum SlotState {
        SLOT_IDLE,                      /* ready to start a connection */
        SLOT_CONNECTING,                /* non-blocking connect in progress (EPOLLOUT) */
        SLOT_READING,                   /* connected, reading until EOF (EPOLLIN) */
        SLOT_BACKOFF,                   /* last attempt failed immediately; wait until retry_at */
        SLOT_DONE,                      /* the run is over for this slot */
} SlotState;

typedef struct Slot {
        int fd;
        SlotState state;
        int64_t t_start;                /* ns, CLOCK_MONOTONIC */
        int64_t retry_at;
        size_t got;                     /* bytes read on this connection */
} Slot;

typedef struct Stats {
        long started, ok, refused, reset, timeout, shortread, other;
        int other_errno;
        uint32_t *lat_us;               /* one entry per successful connection */
        long lat_cap;
} Stats;

typedef struct Config {
        int port;
        int clients;
        double seconds;
        long count;
        long timeout_ms;
        size_t expect;
        double rate;                    /* connections started per second; 0: closed loop */
} Config;

static int64_t now_ns(void)
{
        struct timespec ts;

        /* CLOCK_MONOTONIC cannot fail with a valid pointer; treat a failure as time 0. */
        if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
                return 0;
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int parse_long(const char *s, long min, long max, long *ret)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_double(const char *s, double min, double max, double *ret)
{
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || !(v >= min && v <= max))
                return -EINVAL;
        *ret = v;
        return 0;
}

static void usage(FILE *f)
{
        fprintf(f,
                "usage: loadgen -p PORT [-c CLIENTS] [-d SECONDS] [-n COUNT] [-t TIMEOUT_MS] "
                "[-e BYTES] [-r RATE]\n"
                "  -p PORT        TCP port on 127.0.0.1 (required)\n"
                "  -c CLIENTS     concurrent clients, 1..%d (default 1)\n"
                "  -d SECONDS     run time, 0.01..%.0f (default 3)\n"
                "  -n COUNT       stop after COUNT connections, 1..%ld (default %ld)\n"
                "  -t TIMEOUT_MS  per-connection timeout, connect to EOF (default 5000)\n"
                "  -e BYTES       bytes a correct reply has at least (default 14,\n"
                "                 \"portier-bench\\n\"; 0: any reply, none included)\n"
                "  -r RATE        open loop: start RATE connections a second (CLIENTS bounds\n"
                "                 those in flight)\n",
                MAX_CLIENTS, MAX_SECONDS, MAX_COUNT, 2000000L);
}

static void slot_close(int ep, Slot *s)
{
        if (s->fd >= 0) {
                /* close() removes the fd from the epoll set; its errors are not actionable. */
                (void)ep;
                (void)close(s->fd);
        }
        s->fd = -1;
}

static void count_errno(Stats *st, int err)
{
        switch (err) {
        case ECONNREFUSED:
                st->refused++;
                break;
        case ECONNRESET:
        case EPIPE:
                st->reset++;
                break;
        case ETIMEDOUT:
                st->timeout++;
                break;
        default:
                st->other++;
                if (!st->other_errno)
                        st->other_errno = err;
                break;
        }
}

/* Starts a connection in slot s. Returns 0, or -errno when epoll itself fails (fatal). */
static int slot_start(int ep, Slot *s, const struct sockaddr_in *sa, Stats *st, int64_t now)
{
        struct epoll_event ev = { .data.ptr = s };
        int fd, r;

        s->t_start = now;
        s->got = 0;
        st->started++;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                count_errno(st, errno);
                s->state = SLOT_BACKOFF;
                s->retry_at = now + BACKOFF_NS;
                return 0;
        }
        s->fd = fd;
        r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
        if (r == 0) {
                s->state = SLOT_READING;
                ev.events = EPOLLIN | EPOLLRDHUP;
        } else if (errno == EINPROGRESS) {
                s->state = SLOT_CONNECTING;
                ev.events = EPOLLOUT;
        } else {
                count_errno(st, errno);
                slot_close(ep, s);
                s->state = SLOT_BACKOFF;
                s->retry_at = now + BACKOFF_NS;
                return 0;
        }
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -errno;
        return 0;
}

static void slot_finish_ok(int ep, Slot *s, Stats *st, int64_t now)
{
        int64_t us = (now - s->t_start) / 1000;

        if (us < 0)
                us = 0;
        if (us > UINT32_MAX)
                us = UINT32_MAX;
        if (st->ok < st->lat_cap)
                st->lat_us[st->ok] = (uint32_t)us;
        st->ok++;
        slot_close(ep, s);
        s->state = SLOT_IDLE;
}

static void slot_fail(int ep, Slot *s, Stats *st, int err)
{
        count_errno(st, err);
        slot_close(ep, s);
        s->state = SLOT_IDLE;
}

/* Handles readiness on slot s. Returns 0, or -errno for a fatal epoll error. */
static int slot_event(int ep, Slot *s, uint32_t events, const Config *cf, Stats *st)
{
        char buf[256];
        int loops;

        if (s->state == SLOT_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof(err);
                struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = s };

                if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err) {
                        slot_fail(ep, s, st, err);
                        return 0;
                }
                if (epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev) < 0)
                        return -errno;
                s->state = SLOT_READING;
                if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
                        return 0;
        }
        if (s->state != SLOT_READING)
                return 0;
        /* Bounded: the reply is one short line; anything larger is read in at most 64 reads. */
        for (loops = 0; loops < 64; loops++) {
                ssize_t n = read(s->fd, buf, sizeof(buf));

                if (n > 0) {
                        s->got += (size_t)n;
                        continue;
                }
                if (n == 0) {
                        if (s->got < cf->expect) {
                                st->shortread++;
                                slot_close(ep, s);
                                s->state = SLOT_IDLE;
                        } else {
                                slot_finish_ok(ep, s, st, now_ns());
                        }
                        return 0;
                }
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN)
                        return 0;
                slot_fail(ep, s, st, errno);
                return 0;
        }
        return 0;
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

        return x < y ? -1 : x > y;
}

static uint32_t percentile(const uint32_t *v, long n, double p)
{
        long i;

        if (n <= 0)
                return 0;
        i = (long)(p * (double)(n - 1) + 0.5);
        if (i >= n)
                i = n - 1;
        return v[i];
}

static int parse_args(int argc, char **argv, Config *cf)
{
        long v;
        int opt;

        *cf = (Config){ .port = 0, .clients = 1, .seconds = 3.0, .count = 2000000L,
                        .timeout_ms = 5000, .expect = 14 };
        while ((opt = getopt(argc, argv, "p:c:d:n:t:e:r:h")) != -1) {
                switch (opt) {
                case 'p':
                        if (parse_long(optarg, 1, 65535, &v) < 0)
                                goto bad;
                        cf->port = (int)v;
                        break;
                case 'c':
                        if (parse_long(optarg, 1, MAX_CLIENTS, &v) < 0)
                                goto bad;
                        cf->clients = (int)v;
                        break;
                case 'd':
                        if (parse_double(optarg, 0.01, MAX_SECONDS, &cf->seconds) < 0)
                                goto bad;
                        break;
                case 'n':
                        if (parse_long(optarg, 1, MAX_COUNT, &cf->count) < 0)
                                goto bad;
                        break;
                case 't':
                        if (parse_long(optarg, 1, 600000, &cf->timeout_ms) < 0)
                                goto bad;
                        break;
                case 'e':
                        if (parse_long(optarg, 0, 1 << 20, &v) < 0)
                                goto bad;
                        cf->expect = (size_t)v;
                        break;
                case 'r':
                        if (parse_double(optarg, 1.0, 1e6, &cf->rate) < 0)
                                goto bad;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind != argc || !cf->port) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
bad:
        fprintf(stderr, "loadgen: bad value for -%c: '%s'\n", opt, optarg);
        return -EINVAL;
}

/* Raises the soft fd limit so that CLIENTS sockets fit; failure is reported, not fatal. */
static void raise_nofile(int clients)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        if (rl.rlim_cur >= (rlim_t)clients + 16)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                fprintf(stderr, "loadgen: setrlimit(RLIMIT_NOFILE): %s\n", strerror(errno));
}

int main(int argc, char **argv)
{
        struct epoll_event evs[256];
        struct sockaddr_in sa = { .sin_family = AF_INET };
        Stats st = { 0 };
        Config cf;
        Slot *slots;
        int64_t t0, t_end, t_drain_end, t_last, timeout_ns, next_start, period_ns;
        long iter, max_iter;
        int ep, i, r;

        if (parse_args(argc, argv, &cf) < 0)
                return 2;
        raise_nofile(cf.clients);
        sa.sin_port = htons((uint16_t)cf.port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

        slots = calloc((size_t)cf.clients, sizeof(*slots));
        st.lat_cap = cf.count;
        st.lat_us = calloc((size_t)cf.count, sizeof(*st.lat_us));
        if (!slots || !st.lat_us) {
                fprintf(stderr, "loadgen: out of memory\n");
                return 1;
        }
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) {
                fprintf(stderr, "loadgen: epoll_create1: %s\n", strerror(errno));
                return 1;
        }
        for (i = 0; i < cf.clients; i++)
                slots[i] = (Slot){ .fd = -1, .state = SLOT_IDLE };

        timeout_ns = cf.timeout_ms * 1000000LL;
        t0 = now_ns();
        t_end = t0 + (int64_t)(cf.seconds * 1e9);
        t_drain_end = t_end + timeout_ns;
        t_last = t0;
        next_start = t0;
        period_ns = cf.rate > 0 ? (int64_t)(1e9 / cf.rate) : 0;
        /*
         * Every iteration either handles an event or waits at most 10 ms, so the loop ends by
         * t_drain_end; the iteration cap is a second, independent bound.
         */
        max_iter = cf.count * 8 + (long)((cf.seconds + (double)cf.timeout_ms / 1000.0) * 200.0) + 1000;
        for (iter = 0; iter < max_iter; iter++) {
                int64_t now = now_ns();
                bool running = now < t_end;
                int active = 0, n, wait_ms = 10;

                for (i = 0; i < cf.clients; i++) {
                        Slot *s = &slots[i];

                        if ((s->state == SLOT_CONNECTING || s->state == SLOT_READING) &&
                            now - s->t_start > timeout_ns) {
                                st.timeout++;
                                slot_close(ep, s);
                                s->state = SLOT_IDLE;
                        }
                        if (s->state == SLOT_BACKOFF && now >= s->retry_at)
                                s->state = SLOT_IDLE;
                        if (s->state == SLOT_IDLE || s->state == SLOT_BACKOFF) {
                                if (!running || st.started >= cf.count) {
                                        s->state = SLOT_DONE;
                                        continue;
                                }
                        }
                        if (s->state == SLOT_IDLE && period_ns) {
                                wait_ms = 1;
                                if (now < next_start) {
                                        active++;
                                        continue;       /* not yet: the rate decides */
                                }
                                next_start += period_ns;
                                if (next_start < now - 10000000LL)
                                        next_start = now - 10000000LL;
                        }
                        if (s->state == SLOT_IDLE) {
                                r = slot_start(ep, s, &sa, &st, now);
                                if (r < 0) {
                                        fprintf(stderr, "loadgen: epoll_ctl: %s\n",
                                                strerror(-r));
                                        return 1;
                                }
                        }
                        if (s->state == SLOT_BACKOFF)
                                wait_ms = 1;
                        if (s->state != SLOT_DONE)
                                active++;
                }
                if (!active || now >= t_drain_end)
                        break;
                n = epoll_wait(ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), wait_ms);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "loadgen: epoll_wait: %s\n", strerror(errno));
                        return 1;
                }
                for (i = 0; i < n; i++) {
                        long before = st.ok;

                        r = slot_event(ep, evs[i].data.ptr, evs[i].events, &cf, &st);
                        if (r < 0) {
                                fprintf(stderr, "loadgen: epoll_ctl: %s\n", strerror(-r));
                                return 1;
                        }
                        if (st.ok != before)
                                t_last = now_ns();
                }
        }
        /* Anything still open (drain deadline or iteration cap reached) timed out. */
        for (i = 0; i < cf.clients; i++) {
                if (slots[i].state == SLOT_CONNECTING || slots[i].state == SLOT_READING) {
                        st.timeout++;
                        slot_close(ep, &slots[i]);
                }
        }
        (void)close(ep);

        {
                long nlat = st.ok < st.lat_cap ? st.ok : st.lat_cap;
                double elapsed = (double)(t_last - t0) / 1e9;

                if (st.ok == 0 || elapsed <= 0)
                        elapsed = (double)(now_ns() - t0) / 1e9;
                qsort(st.lat_us, (size_t)nlat, sizeof(*st.lat_us), cmp_u32);
                printf("conns=%ld elapsed=%.3f cps=%.1f p50_us=%" PRIu32 " p90_us=%" PRIu32
                       " p99_us=%" PRIu32 " max_us=%" PRIu32 " ok=%ld refused=%ld reset=%ld"
                       " timeout=%ld short=%ld other=%ld other_errno=%s\n",
                       st.ok, elapsed, elapsed > 0 ? (double)st.ok / elapsed : 0.0,
                       percentile(st.lat_us, nlat, 0.50), percentile(st.lat_us, nlat, 0.90),
                       percentile(st.lat_us, nlat, 0.99), nlat ? st.lat_us[nlat - 1] : 0,
                       st.ok, st.refused, st.reset, st.timeout, st.shortread, st.other,
                       st.other_errno ? strerrorname_np(st.other_errno) : "-");
        }
        free(slots);
        free(st.lat_us);
        if (fflush(stdout) != 0)
                return 1;
        return 0;
}
