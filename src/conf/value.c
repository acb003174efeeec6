/* SPDX-License-Identifier: MIT */
/*
 * value — scalar value parsers (numbers with bounds, yes/no, UNLIMITED, sizes with K/M/G,
 * octal, time ranges, syslog names). Pure functions: no allocation, no global state.
 */

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include <portier/log.h>

#include "conf/value.h"

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* Parse decimal digits at *p, at most max; advance *p. */
static int digits(const char **p, uint64_t max, uint64_t *ret)
{
        const char *s = *p;
        uint64_t v = 0;

        if (!is_digit(*s))
                return -EINVAL;
        for (; is_digit(*s); s++) {
                unsigned d = (unsigned) (*s - '0');
                if (v > (max - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

int value_uint(const char *s, uint64_t max, uint64_t *ret)
{
        uint64_t v;
        int r = digits(&s, max, &v);

        if (r < 0)
                return r;
        if (*s)
                return -EINVAL;
        *ret = v;
        return 0;
}

int value_int(const char *s, int64_t min, int64_t max, int64_t *ret)
{
        bool neg = false;
        uint64_t v;
        int r;

        if (*s == '-') {
                neg = true;
                s++;
        }
        r = digits(&s, (uint64_t) INT64_MAX, &v);
        if (r < 0)
                return r;
        if (*s)
                return -EINVAL;
        int64_t x = neg ? -(int64_t) v : (int64_t) v;
        if (x < min || x > max)
                return -ERANGE;
        *ret = x;
        return 0;
}

int value_bool(const char *s, bool *ret)
{
        if (strcasecmp(s, "yes") == 0)
                *ret = true;
        else if (strcasecmp(s, "no") == 0)
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

int value_limit(const char *s, uint32_t *ret)
{
        uint64_t v;
        int r;

        if (strcasecmp(s, "UNLIMITED") == 0) {
                *ret = CONF_UNLIMITED;
                return 0;
        }
        r = value_uint(s, INT32_MAX, &v);
        if (r < 0)
                return r;
        *ret = (uint32_t) v;
        return 0;
}

int value_size(const char *s, bool suffixes, uint64_t *ret)
{
        uint64_t v, mult = 1;
        int r;

        if (strcasecmp(s, "UNLIMITED") == 0) {
                *ret = UINT64_MAX;
                return 0;
        }
        r = digits(&s, UINT64_MAX - 1, &v);
        if (r < 0)
                return r;
        if (*s && suffixes) {
                switch (*s) {
                case 'k': case 'K': mult = 1ull << 10; break;
                case 'm': case 'M': mult = 1ull << 20; break;
                case 'g': case 'G': mult = 1ull << 30; break;
                default: return -EINVAL;
                }
                s++;
        }
        if (*s)
                return -EINVAL;
        if (v > (UINT64_MAX - 1) / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

int value_octal(const char *s, unsigned max, unsigned *ret)
{
        unsigned v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '7')
                        return -EINVAL;
                v = v * 8 + (unsigned) (*s - '0');
                if (v > max)
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

int value_double(const char *s, double min, double max, double *ret)
{
        char *end;
        double v;

        /* digits, one optional dot, digits: no exponent, sign, hex, inf or nan */
        size_t n = strspn(s, "0123456789.");
        if (n == 0 || s[n] || strchr(s, '.') != strrchr(s, '.') || strcmp(s, ".") == 0)
                return -EINVAL;
        errno = 0;
        v = strtod(s, &end);
        if (errno || *end || !isfinite(v))
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int hhmm(const char **p, uint16_t *ret)
{
        const char *s = *p;
        uint64_t h, m;

        if (!is_digit(s[0]))
                return -EINVAL;
        if (digits(&s, 99, &h) < 0 || *s != ':')
                return -EINVAL;
        s++;
        if (!is_digit(s[0]) || !is_digit(s[1]) || digits(&s, 99, &m) < 0)
                return -EINVAL;
        if (h > 23 || m > 59)
                return -ERANGE;
        *ret = (uint16_t) (h * 60 + m);
        *p = s;
        return 0;
}

int value_time_range(const char *s, ConfTimeRange *ret)
{
        ConfTimeRange t;
        int r;

        r = hhmm(&s, &t.start);
        if (r < 0)
                return r;
        if (*s++ != '-')
                return -EINVAL;
        r = hhmm(&s, &t.end);
        if (r < 0)
                return r;
        if (*s)
                return -EINVAL;
        *ret = t;
        return 0;
}

/* Syslog names: libportier's table, the one the -syslog option reads too. xinetd knows
 * no "error" or "warn" aliases, so a configuration does not either. */
int value_facility(const char *s, int *ret)
{
        int v = portier_log_facility_from_name(s);

        if (v < 0)
                return v;
        *ret = v;
        return 0;
}

int value_level(const char *s, int *ret)
{
        int v = strcasecmp(s, "error") && strcasecmp(s, "warn") ? portier_log_level_from_name(s)
                                                                 : -EINVAL;

        if (v < 0)
                return v;
        *ret = v;
        return 0;
}

const char *value_facility_name(int facility)
{
        const char *n = portier_log_facility_name(facility);

        return n ? n : "daemon";
}

const char *value_level_name(int level)
{
        const char *n = portier_log_level_name(level);

        return n ? n : "info";
}
