/* SPDX-License-Identifier: MIT */
/*
 * timewin.c — access_times windows (the rule is in timewin.h). Pure functions over the
 * parser's ConfTimeRange values: no state, no clock read, no allocation.
 */

#include "daemon/timewin.h"

static bool range_contains(const ConfTimeRange *r, unsigned m)
{
        if (r->start <= r->end)
                return r->start <= m && m <= r->end;
        return m >= r->start || m <= r->end;            /* wraps past midnight */
}

bool timewin_contains(const ConfTimeRange *ranges, size_t n, unsigned minute)
{
        if (n == 0)
                return true;
        minute %= TIMEWIN_MINUTES_PER_DAY;
        for (size_t i = 0; i < n; i++)
                if (range_contains(&ranges[i], minute))
                        return true;
        return false;
}

bool timewin_contains_tm(const ConfTimeRange *ranges, size_t n, const struct tm *tm)
{
        int m = tm->tm_hour * 60 + tm->tm_min;

        if (m < 0)
                m = 0;
        return timewin_contains(ranges, n, (unsigned)m);
}

unsigned timewin_minutes_to_change(const ConfTimeRange *ranges, size_t n, unsigned minute)
{
        bool now;

        if (n == 0)
                return 0;
        minute %= TIMEWIN_MINUTES_PER_DAY;
        now = timewin_contains(ranges, n, minute);
        for (unsigned d = 1; d < TIMEWIN_MINUTES_PER_DAY; d++)
                if (timewin_contains(ranges, n, (minute + d) % TIMEWIN_MINUTES_PER_DAY) != now)
                        return d;
        return 0;
}
