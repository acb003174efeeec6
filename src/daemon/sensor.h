/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_SENSOR_H
#define PORTIERD_SENSOR_H

/*
 * sensor — the global deny list fed by `flags = SENSOR` services (xinetd's
 * global_no_access, src/sensor.c).
 *
 * A client that connects to a SENSOR service is added for the service's deny_time; while it
 * is on the list, every service refuses it with "FAIL: <id> address" (observed). The sensor
 * connection itself is refused too: xinetd logs "FAIL: <sensor id> address" and no START.
 *
 * xinetd's rules, kept:
 *   - deny_time = NEVER (0): nothing is added; the hit is only logged (its FAIL line).
 *   - deny_time = FOREVER: the entry never expires (until the daemon restarts).
 *   - A new address is logged by the caller at LOG_CRIT with xinetd's text (observed:
 *     "xinetd[13960]: 13960 {process_sensor} Adding ::ffff:127.0.0.5 to the global_no_access
 *     list for 1 minutes"; "for -1 minutes" with FOREVER): sensor_add() returns SENSOR_ADDED.
 *   - An address already listed hit again: its expiry moves later if the new one is later
 *     (never earlier; FOREVER stays), nothing is logged: SENSOR_KEPT.
 *   - The list holds at most 10240 addresses (MAX_GLOBAL_NO_ACCESS); when full a new address
 *     is not added and xinetd logs "Maximum global_no_access count reached." (LOG_ERR), once
 *     per such hit (observed: 10243 sources, 10240 "Adding" lines, then that line three
 *     times): SENSOR_FULL. The address is still refused by the sensor service itself. (xinetd
 *     tests "full" first, so a listed address hit again on a full list is not extended and
 *     logs the line too; here it is extended, SENSOR_KEPT.)
 *   - Expired entries are removed by sensor_expire(), which the daemon calls from a timer
 *     (xinetd scrubs every 60 s and then logs "At least 1 DENY_TIME has expired,
 *     global_no_access list updated" and, when the list is left empty, "global_no_access list
 *     is empty.", both LOG_INFO). Unlike xinetd, an entry stops matching at its exact expiry
 *     (sensor_check() ignores expired entries), not at the next scrub.
 *   - When full, sensor_add() first removes expired entries if there are any, in one pass;
 *     it never evicts a live entry.
 *
 * Addresses are keyed as access.h's AccessAddr: IPv4 and v4-mapped clients as IPv4 (xinetd
 * keys on the printed address, so a client seen once on an IPv4 and once on a dual-stack socket
 * would be two entries there), IPv6 masked to a prefix chosen at creation (128, the address,
 * as xinetd; 64 would deny a whole /64).
 *
 * Time is passed in (CLOCK_MONOTONIC microseconds) and durations are in microseconds, so the
 * caller decides the unit of deny_time (minutes, as xinetd, or seconds for tests: issue 5).
 * Open addressing with linear probing, at most half full, hashed with SipHash under a random
 * key: O(1) average add and check. One allocation, at sensor_list_new().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon/access.h"

#define SENSOR_CAPACITY_DEFAULT 10240           /* xinetd's MAX_GLOBAL_NO_ACCESS */
#define SENSOR_MAX_CAPACITY     (1u << 24)
#define SENSOR_FOREVER          UINT64_MAX      /* a duration: never expires */

/* Outcomes of sensor_add() (positive; errors are -errno). */
enum {
        SENSOR_ADDED = 1,       /* new on the list: log "Adding ..." */
        SENSOR_KEPT = 2,        /* already listed (expiry moved later if need be) */
        SENSOR_FULL = 3,        /* not added: log "Maximum global_no_access count reached." */
        SENSOR_NEVER = 4,       /* deny_time NEVER (duration 0): nothing added */
};

typedef struct SensorList SensorList;

/**
 * sensor_list_new() - allocate the deny list
 * @capacity: most addresses listed at once (SENSOR_CAPACITY_DEFAULT as xinetd), 1 to
 *            SENSOR_MAX_CAPACITY
 * @v6_prefix: bits of an IPv6 client that are listed (128: the address)
 * @ret: receives the list
 *
 * Return: 0, -EINVAL, -ENOMEM.
 */
int sensor_list_new(size_t capacity, unsigned v6_prefix, SensorList **ret);

/** sensor_list_free() - free @l (NULL accepted). Return: NULL. */
SensorList *sensor_list_free(SensorList *l);

/**
 * sensor_duration() - a service's deny_time as a duration
 * @deny_time: ConfService.deny_time: minutes, 0 (NEVER) or CONF_DENY_FOREVER
 * @unit_usec: the length of one unit: 60000000 (minutes, xinetd) or 1000000 (seconds)
 *
 * Return: microseconds, 0 for NEVER, SENSOR_FOREVER for FOREVER (and on overflow).
 */
uint64_t sensor_duration(int deny_time, uint64_t unit_usec);

/**
 * sensor_add() - put a client on the list (a SENSOR service was hit)
 * @l: the list
 * @client: the client (AF_INET or AF_INET6)
 * @duration: microseconds, SENSOR_FOREVER, or 0 for NEVER
 * @now: CLOCK_MONOTONIC, microseconds
 *
 * Return: SENSOR_ADDED, SENSOR_KEPT, SENSOR_FULL, SENSOR_NEVER, -EAFNOSUPPORT, or -ENOMEM
 * (the list grows as entries come).
 */
int sensor_add(SensorList *l, const struct sockaddr *client, uint64_t duration, uint64_t now);

/**
 * sensor_check() - whether a client is on the list at @now (every service refuses it)
 * @l: the list (NULL: nobody is listed)
 * @client: the client
 * @now: CLOCK_MONOTONIC, microseconds
 *
 * Return: true when listed and not expired. Changes nothing.
 */
bool sensor_check(const SensorList *l, const struct sockaddr *client, uint64_t now);

/** sensor_check_addr() - sensor_check() for an AccessAddr (already masked or not). */
bool sensor_check_addr(const SensorList *l, const AccessAddr *client, uint64_t now);

/**
 * sensor_expire() - remove every entry whose time is over (one pass over the table)
 * @l: the list
 * @now: CLOCK_MONOTONIC, microseconds
 *
 * Return: the number of entries removed.
 */
size_t sensor_expire(SensorList *l, uint64_t now);

/** sensor_count() - addresses listed (expired ones not yet removed included). */
size_t sensor_count(const SensorList *l);

/**
 * sensor_next_expiry() - the earliest expiry on the list, for the caller's timer
 *
 * Return: microseconds, possibly already past (a lower bound: after an extension the true
 * earliest may be later); UINT64_MAX when nothing expires.
 */
uint64_t sensor_next_expiry(const SensorList *l);

#endif
