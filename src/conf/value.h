/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_VALUE_H
#define PORTIER_CONF_VALUE_H

/*
 * value — bounded parsers for the scalar values of the configuration language. Each returns 0
 * and stores the value, or -EINVAL (not of the right form) / -ERANGE (out of bounds) and leaves
 * the output untouched. No atoi, no locale, no leading '+' or blanks, no silent truncation.
 */

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"

int value_uint(const char *s, uint64_t max, uint64_t *ret);
int value_int(const char *s, int64_t min, int64_t max, int64_t *ret);
int value_bool(const char *s, bool *ret);                       /* yes / no */
int value_limit(const char *s, uint32_t *ret);                  /* N or UNLIMITED */
int value_size(const char *s, bool suffixes, uint64_t *ret);    /* N[K|M|G] or UNLIMITED
                                                                   (UINT64_MAX) */
int value_octal(const char *s, unsigned max, unsigned *ret);
int value_double(const char *s, double min, double max, double *ret);
int value_time_range(const char *s, ConfTimeRange *ret);        /* hh:mm-hh:mm */
int value_facility(const char *s, int *ret);                    /* daemon, local0, ... */
int value_level(const char *s, int *ret);                       /* info, err, ... */
const char *value_facility_name(int facility);
const char *value_level_name(int level);

#endif
