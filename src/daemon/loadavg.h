/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_LOADAVG_H
#define PORTIERD_LOADAVG_H

/*
 * loadavg — the 1-minute load average for `max_load`.
 *
 * xinetd (src/xgetloadavg.c, src/access.c) reads the first number of /proc/loadavg with
 * fscanf() at every connection of a service with max_load, and refuses when it is at or above
 * max_load ("FAIL: <id> load", and the daemon message "refused connect from <addr> due to
 * excessive load" at LOG_ERR — observed: "xinetd[13960]: ERROR: refused connect from
 * ::ffff:127.0.0.1 due to excessive load"). When the file cannot be read it gets -1, so
 * nothing is refused.
 *
 * Here the value is read at most once per second (the kernel recomputes it every 5 s) and
 * cached in a Loadavg the daemon owns; reading /proc/loadavg is a few microseconds and never
 * waits on a disk or the network. A failed read is cached as "unknown" for the same second,
 * and an unknown load refuses nothing, as in xinetd. Time is passed in (CLOCK_MONOTONIC
 * microseconds); the path can be changed for tests.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOADAVG_PATH            "/proc/loadavg"
#define LOADAVG_PERIOD_USEC     1000000ull

typedef struct Loadavg {
        const char *path;       /* NULL: LOADAVG_PATH */
        bool read_once;         /* a read was attempted */
        uint64_t read_at;       /* usec of that attempt */
        double value;           /* 1-minute load; negative: unknown */
        int error;              /* 0, or -errno / -EINVAL of the last read */
} Loadavg;

#define LOADAVG_NULL ((Loadavg){ .value = -1.0 })

/**
 * loadavg_parse() - the first field of /proc/loadavg's text
 * @buf: the text, e.g. "0.42 0.30 0.25 1/123 4567\n" (need not be NUL-terminated)
 * @len: its length
 * @ret: receives the 1-minute load average
 *
 * Only a plain non-negative decimal number is accepted (digits, at most one '.'), followed by
 * white space or the end: no sign, exponent, hex, "inf" or "nan".
 *
 * Return: 0, or -EINVAL.
 */
int loadavg_parse(const char *buf, size_t len, double *ret);

/**
 * loadavg_get() - the 1-minute load average, read again if the cached one is a second old
 * @l: the cache (LOADAVG_NULL initially; set ->path for another file)
 * @now: CLOCK_MONOTONIC, microseconds
 *
 * Return: the load average, or a negative value when it is unknown (l->error says why).
 */
double loadavg_get(Loadavg *l, uint64_t now);

/**
 * loadavg_over() - whether a service's max_load refuses connections now
 * @l: the cache
 * @max_load: ConfService.max_load; 0 (or less) means no limit
 * @now: CLOCK_MONOTONIC, microseconds
 *
 * Return: true when @max_load is set and the load is known and at or above it.
 */
bool loadavg_over(Loadavg *l, double max_load, uint64_t now);

#endif
