/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_TIMEWIN_H
#define PORTIERD_TIMEWIN_H

/*
 * timewin — access_times: is the service available at this local time?
 *
 * A range hh:mm-hh:mm (ConfTimeRange, minutes after midnight) includes both of its ends, as
 * in xinetd ("connections will be accepted at the bounds of an interval", xinetd.conf(5);
 * src/time.c compares start <= now <= end on hours * 60 + minutes of localtime()). A range
 * whose end is before its start wraps past midnight: 22:00-02:00 is 22:00..23:59 and
 * 00:00..02:00 (xinetd rejects such a range; portier accepts it with that meaning). A range
 * whose start equals its end is that one minute. Seconds are ignored: 09:00-17:00 admits
 * 17:00:59 and refuses 08:59:59.
 *
 * No list (n == 0) means no restriction. The caller gets the local time (localtime_r(), which
 * after a first tzset() reads no file; tzset() again at reload picks up a new zone).
 */

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/conf.h"

#define TIMEWIN_MINUTES_PER_DAY 1440u

/**
 * timewin_contains() - whether a minute of the day is inside one of the ranges
 * @ranges: the ranges (ends inclusive; end < start wraps past midnight)
 * @n: how many; 0 means no restriction (true)
 * @minute: minutes after local midnight, 0..1439 (larger values are taken modulo a day)
 *
 * Return: true when @minute is in at least one range, or when @n is 0.
 */
bool timewin_contains(const ConfTimeRange *ranges, size_t n, unsigned minute);

/**
 * timewin_contains_tm() - timewin_contains() for a broken-down local time
 * @ranges: the ranges
 * @n: how many
 * @tm: the local time (tm_hour and tm_min are used)
 *
 * Return: as timewin_contains().
 */
bool timewin_contains_tm(const ConfTimeRange *ranges, size_t n, const struct tm *tm);

/**
 * timewin_minutes_to_change() - minutes from @minute until the answer of timewin_contains()
 * changes, for a timer that re-checks running servers at a window's edge
 * @ranges: the ranges
 * @n: how many
 * @minute: minutes after local midnight, 0..1439
 *
 * O(1440 n): for a timer, not for the accept path.
 *
 * Return: 1..1439 — the number of whole minutes after which the first minute with the other
 * answer begins — or 0 when the answer never changes (no ranges, or the day fully covered).
 */
unsigned timewin_minutes_to_change(const ConfTimeRange *ranges, size_t n, unsigned minute);

#endif
