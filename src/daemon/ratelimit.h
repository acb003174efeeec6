/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_RATELIMIT_H
#define PORTIERD_RATELIMIT_H

/*
 * ratelimit — connection rates and per-source counts, for the admission pipeline:
 *
 *   cps <rate> <wait>             RatelimitCps, one per service
 *   per_source_cps <rate> <secs>  RatelimitTable, ratelimit_source_rate()
 *   per_source <n>                RatelimitTable, ratelimit_source_acquire()/_release()
 *
 * Time is passed in by the caller, in microseconds of CLOCK_MONOTONIC (so tests need no
 * sleeping); nothing here reads a clock, logs, blocks, or allocates after
 * ratelimit_table_new().
 *
 * cps, as xinetd 2.3.15 measures it (src/access.c, parent_access_control(); read there and
 * observed): a window is opened by the first connection and counts connections in whole
 * seconds of the clock (xinetd: time(NULL)); it lasts <rate> seconds — not one —, and a
 * connection trips the limit when count / max(1, elapsed whole seconds) > rate, in integer
 * arithmetic. So with "cps = 2 3" the third connection within one second trips it (observed:
 * two served, the third gets "FAIL: s6 connections per second", then the listening socket is
 * closed and connections are refused for 3 s) — and so does a steady 2 per second (observed:
 * connections 0.5 s apart, the third refused, since 3 / 1 > 2 when the clock's second
 * changes): only a rate below the limit passes for long. Past the window, the next connection
 * opens a new one. Every connection that reaches the check counts, whatever happens to it later.
 * The tripping connection is refused; the caller closes the listening socket for <wait>
 * seconds and logs (LOG_ERR, xinetd's exact text, two spaces after the full stop; %s is the
 * service's *name*, not its id — observed with "service cpsname { id = cpsid ... }": the
 * FAIL line says cpsid, these two say cpsname):
 *      Deactivating service %s due to excessive incoming connections.  Restarting in %d seconds.
 * and when it reopens it:
 *      Activating service %s
 * xinetd applies "cps = 50 10" to every service that sets no cps (xinetd.conf(5): "The
 * default for this setting is 50 incoming connections and the interval is 10 seconds";
 * observed: a service without cps was deactivated for 10 s by its 51st connection in one
 * second). A rate of 0 here means no limit: the default belongs to the configuration.
 * One deliberate difference: the window starts afresh when the service comes back. xinetd
 * keeps counting in the old window when <wait> is shorter than <rate> (with its documented
 * "cps = 50 10", up to 50 x 10 connections more pass at once when the service returns).
 *
 * per_source_cps (portier's; portier.conf(5)): a source that opens more than <rate>
 * connections in one second is refused for <secs> seconds. The second is a window opened by
 * the source's first connection (not a sliding one: across a window edge a source may get up
 * to 2 x rate in one second). The connection over the rate is refused (RATELIMIT_TRIPPED) and
 * so is every connection of that source until the block ends (RATELIMIT_BLOCKED); refused
 * connections do not extend the block. A "source" is an IPv4 address (v4-mapped clients
 * included) or an IPv6 prefix, /64 by default (DESIGN.md decision 8), fixed per table.
 *
 * per_source: the caller acquires a slot for a source when it admits a connection and
 * releases it when the server or the connection ends (or when a later step refuses the
 * connection after all). xinetd counts its running servers of the service with the same
 * address; a table counts exactly those acquired and not yet released.
 *
 * The table. One RatelimitTable serves one service (or any set of services sharing limits):
 * a fixed number of entries, one per source, allocated once by ratelimit_table_new() with a
 * capacity the caller derives from max_connections (at least max_connections, so that the
 * sources of live connections always fit; 2 x max_connections leaves room for rate and block
 * state). Lookups are O(1) on average: open addressing with linear probing at a load of at
 * most 1/2, hashed with SipHash-2-4 under a random key (so that sources cannot be chosen to
 * collide). An entry is in one of three states:
 *      live     at least one acquired slot: never evicted;
 *      blocked  no slot, refused by per_source_cps until a time: kept until then;
 *      idle     neither: only rate-window state, evicted least recently used first.
 * When every entry is in use, a new source takes the least recently used idle entry (losing
 * at most one second of that source's rate count), else the oldest blocked entry whose block
 * has ended; if there is neither — every entry is live or blocked — the new source is refused
 * (RATELIMIT_FULL): live counts are never evicted and blocks never cut short. The caller
 * should refuse the connection (FAIL per_source_limit) and count it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon/access.h"

#define RATELIMIT_USEC_PER_SEC          1000000ull
#define RATELIMIT_V6_PREFIX_DEFAULT     64
#define RATELIMIT_MAX_CAPACITY          (1u << 26)

/* Outcomes (positive, to be handled by the caller; 0 is RATELIMIT_OK). */
enum {
        RATELIMIT_OK = 0,
        RATELIMIT_TRIPPED = 1,  /* this connection goes over the rate: refuse it */
        RATELIMIT_OFF = 2,      /* cps: the service is off (between TRIPPED and its return) */
        RATELIMIT_BLOCKED = 3,  /* per_source_cps: this source is refused for a while */
        RATELIMIT_OVER = 4,     /* per_source: the source has its limit of connections */
        RATELIMIT_FULL = 5,     /* the table has no entry for a new source */
};

/* --- cps: one per service ------------------------------------------------------------- */

typedef struct RatelimitCps {
        uint64_t window_sec;    /* whole seconds of the clock when the window opened */
        uint32_t count;         /* connections in the window; 0: no window */
        bool off;               /* tripped; off until off_until */
        uint64_t off_until;     /* microseconds */
} RatelimitCps;

#define RATELIMIT_CPS_NULL ((RatelimitCps){ 0 })

/**
 * ratelimit_cps_hit() - count one connection against a service's cps limit
 * @c: the service's state (RATELIMIT_CPS_NULL initially)
 * @rate: cps_rate (connections per second); 0 means no limit
 * @wait_sec: cps_wait, the seconds the service stays off once tripped
 * @now: CLOCK_MONOTONIC, microseconds
 *
 * Return: RATELIMIT_OK (admit), RATELIMIT_TRIPPED (refuse it; the service is off from now
 * until now + @wait_sec: close the listening socket, log "Deactivating service ...", reopen it
 * at ratelimit_cps_until()), or RATELIMIT_OFF (refuse it: a connection arriving while off,
 * e.g. already queued; it is not counted).
 */
int ratelimit_cps_hit(RatelimitCps *c, uint32_t rate, uint32_t wait_sec, uint64_t now);

/** ratelimit_cps_is_off() - whether the service is off at @now (tripped, wait not over). */
bool ratelimit_cps_is_off(const RatelimitCps *c, uint64_t now);

/** ratelimit_cps_until() - when an off service comes back (microseconds); 0 if it is on. */
uint64_t ratelimit_cps_until(const RatelimitCps *c);

/** ratelimit_cps_reset() - forget the window and any off period (e.g. a changed cps). */
void ratelimit_cps_reset(RatelimitCps *c);

/* --- per-source table ----------------------------------------------------------------- */

typedef struct RatelimitTable RatelimitTable;

/**
 * ratelimit_key() - the source a client belongs to
 * @sa: AF_INET or AF_INET6 socket address (v4-mapped IPv6 is IPv4)
 * @v6_prefix: bits of an IPv6 address that name its source (64 by default; 128: the address)
 * @ret: receives the key: ::ffff:a.b.c.d for IPv4, the IPv6 address masked to @v6_prefix
 *
 * Return: 0, -EAFNOSUPPORT, -EINVAL (@v6_prefix over 128).
 */
int ratelimit_key(const struct sockaddr *sa, unsigned v6_prefix, AccessAddr *ret);

/**
 * ratelimit_table_new() - allocate a per-source table (the only allocation of this module)
 * @capacity: entries (sources tracked at once), 1..RATELIMIT_MAX_CAPACITY
 * @v6_prefix: IPv6 grouping for ratelimit_table_key() (RATELIMIT_V6_PREFIX_DEFAULT)
 * @ret: receives the table
 *
 * Memory: about 64 bytes per entry.
 *
 * Return: 0, -EINVAL (bad capacity or prefix), -ENOMEM.
 */
int ratelimit_table_new(size_t capacity, unsigned v6_prefix, RatelimitTable **ret);

/** ratelimit_table_free() - free @t (NULL accepted). Return: NULL. */
RatelimitTable *ratelimit_table_free(RatelimitTable *t);

/** ratelimit_table_key() - ratelimit_key() with the table's IPv6 grouping. */
int ratelimit_table_key(const RatelimitTable *t, const struct sockaddr *sa, AccessAddr *ret);

/**
 * ratelimit_source_rate() - count one connection of a source against per_source_cps
 * @t: the table
 * @key: the source (ratelimit_table_key())
 * @rate: connections allowed in one second; 0 means no limit (nothing is recorded)
 * @block_usec: how long a source going over @rate is refused
 * @now: CLOCK_MONOTONIC, microseconds
 *
 * Return: RATELIMIT_OK; RATELIMIT_TRIPPED (this connection is the one over the rate: refuse
 * it; the source is refused until now + @block_usec); RATELIMIT_BLOCKED (refuse: the source
 * is still blocked; not counted); RATELIMIT_FULL (refuse: no entry for a new source).
 */
int ratelimit_source_rate(RatelimitTable *t, const AccessAddr *key, uint32_t rate,
                          uint64_t block_usec, uint64_t now);

/**
 * ratelimit_source_acquire() - take one per_source slot for a source
 * @t: the table
 * @key: the source
 * @limit: per_source (CONF_UNLIMITED counts without a limit; 0 refuses everyone)
 * @now: CLOCK_MONOTONIC, microseconds
 *
 * On RATELIMIT_OK the caller owns one slot and must give it back with
 * ratelimit_source_release() exactly once, when the server (or the in-process connection)
 * ends or when the connection is refused by a later step.
 *
 * Return: RATELIMIT_OK; RATELIMIT_OVER (refuse: @limit connections of that source are live);
 * RATELIMIT_FULL (refuse: no entry for a new source).
 */
int ratelimit_source_acquire(RatelimitTable *t, const AccessAddr *key, uint32_t limit,
                             uint64_t now);

/**
 * ratelimit_source_release() - give back a slot taken by ratelimit_source_acquire()
 * @t: the table
 * @key: the source
 * @now: CLOCK_MONOTONIC, microseconds
 *
 * A source without a slot is ignored (no count goes below zero).
 */
void ratelimit_source_release(RatelimitTable *t, const AccessAddr *key, uint64_t now);

/** ratelimit_source_active() - the slots a source holds now (0 when not in the table). */
uint32_t ratelimit_source_active(const RatelimitTable *t, const AccessAddr *key);

/** ratelimit_source_is_blocked() - whether per_source_cps refuses the source at @now. */
bool ratelimit_source_is_blocked(const RatelimitTable *t, const AccessAddr *key, uint64_t now);

/* Counters of a table, for the state dump and the control socket. */
typedef struct RatelimitStats {
        size_t capacity;
        size_t used;            /* entries holding a source */
        size_t live;            /* entries with slots */
        size_t blocked;         /* entries blocked without slots */
        uint64_t evicted;       /* idle or ended-block entries reused for a new source */
        uint64_t full;          /* new sources refused with RATELIMIT_FULL */
} RatelimitStats;

/** ratelimit_table_stats() - fill @ret with @t's counters. */
void ratelimit_table_stats(const RatelimitTable *t, RatelimitStats *ret);

#endif
