/* SPDX-License-Identifier: MIT */
/*
 * sensor.c — the global deny list of SENSOR services (the rules are in sensor.h).
 *
 * One array of slots, open addressing with linear probing, at most half full (the number of
 * slots is a power of two; it starts small and doubles as entries come, up to twice the
 * capacity: a daemon without SENSOR services keeps a few hundred bytes, not a megabyte),
 * deletion by backward shift. Entries
 * have no outside references, so they may move. min_expiry is a lower bound of the earliest
 * expiry: when it is in the future no entry can have expired, which makes a full list's
 * refusal O(1); a pass that removes expired entries recomputes it.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/sensor.h"

typedef struct Slot {
        AccessAddr key;
        uint64_t expires;       /* usec; UINT64_MAX: never */
        uint32_t hash;
        bool used;
} Slot;

#define SENSOR_MIN_SLOTS 64

struct SensorList {
        size_t capacity;
        size_t max_slots;               /* the power of two at least 2 * capacity */
        unsigned v6_prefix;
        uint64_t hashkey[2];
        Slot *slots;
        size_t mask;
        size_t count;
        uint64_t min_expiry;
};

int sensor_list_new(size_t capacity, unsigned v6_prefix, SensorList **ret)
{
        SensorList *l;
        size_t n = 2;

        if (capacity == 0 || capacity > SENSOR_MAX_CAPACITY || v6_prefix > 128)
                return -EINVAL;
        while (n < 2 * capacity)
                n *= 2;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->max_slots = n;
        if (n > SENSOR_MIN_SLOTS)
                n = SENSOR_MIN_SLOTS;
        l->slots = calloc(n, sizeof(Slot));
        if (!l->slots) {
                free(l);
                return -ENOMEM;
        }
        l->capacity = capacity;
        l->v6_prefix = v6_prefix;
        l->mask = n - 1;
        l->min_expiry = UINT64_MAX;
        access_addr_hash_key(l->hashkey);
        *ret = l;
        return 0;
}

SensorList *sensor_list_free(SensorList *l)
{
        if (!l)
                return NULL;
        free(l->slots);
        free(l);
        return NULL;
}

uint64_t sensor_duration(int deny_time, uint64_t unit_usec)
{
        if (deny_time == 0)
                return 0;
        if (deny_time < 0)
                return SENSOR_FOREVER;
        if (unit_usec && (uint64_t)deny_time > (UINT64_MAX - 1) / unit_usec)
                return SENSOR_FOREVER;
        return (uint64_t)deny_time * unit_usec;
}

static uint32_t hash_of(const SensorList *l, const AccessAddr *a)
{
        uint64_t h = access_addr_hash(l->hashkey, a);

        return (uint32_t)(h ^ (h >> 32));
}

/* The slot of @a, or the empty slot where it would go (*found false). */
static size_t find(const SensorList *l, const AccessAddr *a, uint32_t h, bool *found)
{
        size_t s = h & l->mask;

        for (;;) {
                const Slot *x = &l->slots[s];

                if (!x->used) {
                        *found = false;
                        return s;
                }
                if (x->hash == h && memcmp(&x->key, a, sizeof(*a)) == 0) {
                        *found = true;
                        return s;
                }
                s = (s + 1) & l->mask;
        }
}

/* Empty slot @s, shifting back the entries that probed past it. */
static void delete_slot(SensorList *l, size_t s)
{
        size_t hole = s, j = s;

        for (;;) {
                j = (j + 1) & l->mask;
                if (!l->slots[j].used)
                        break;
                size_t home = l->slots[j].hash & l->mask;
                bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
                if (!stays) {
                        l->slots[hole] = l->slots[j];
                        hole = j;
                }
        }
        memset(&l->slots[hole], 0, sizeof(Slot));
        l->count--;
}

/* Double the slots, keeping the table at most half full. Return: 0, or -ENOMEM (the list
 * stays as it was). */
static int grow(SensorList *l)
{
        size_t n = 2 * (l->mask + 1);
        Slot *old = l->slots, *slots = calloc(n, sizeof(Slot));

        if (!slots)
                return -ENOMEM;
        l->slots = slots;
        l->mask = n - 1;
        for (size_t i = 0; i < n / 2; i++)
                if (old[i].used) {
                        size_t s = old[i].hash & l->mask;

                        while (slots[s].used)
                                s = (s + 1) & l->mask;
                        slots[s] = old[i];
                }
        free(old);
        return 0;
}

static uint64_t expiry_of(uint64_t duration, uint64_t now)
{
        if (duration == SENSOR_FOREVER || duration > UINT64_MAX - 1 - now)
                return UINT64_MAX;
        return now + duration;
}

int sensor_add(SensorList *l, const struct sockaddr *client, uint64_t duration, uint64_t now)
{
        AccessAddr a;
        uint64_t exp;
        uint32_t h;
        bool found;
        size_t s;
        int r;

        r = access_addr_from_sockaddr(client, &a);
        if (r < 0)
                return r;
        if (duration == 0)
                return SENSOR_NEVER;
        access_addr_mask(&a, l->v6_prefix);
        exp = expiry_of(duration, now);
        h = hash_of(l, &a);
        s = find(l, &a, h, &found);
        if (found) {
                Slot *x = &l->slots[s];

                if (x->expires <= now) {
                        x->expires = exp;       /* expired, not yet removed: listed anew */
                        if (exp < l->min_expiry)
                                l->min_expiry = exp;
                        return SENSOR_ADDED;
                }
                if (exp > x->expires)
                        x->expires = exp;
                return SENSOR_KEPT;
        }
        if (l->count >= l->capacity) {
                if (l->min_expiry > now || sensor_expire(l, now) == 0)
                        return SENSOR_FULL;
                s = find(l, &a, h, &found);
        }
        if (2 * (l->count + 1) > l->mask + 1 && l->mask + 1 < l->max_slots) {
                if (grow(l) < 0)
                        return -ENOMEM;
                s = find(l, &a, h, &found);
        }
        l->slots[s] = (Slot){ .key = a, .expires = exp, .hash = h, .used = true };
        l->count++;
        if (exp < l->min_expiry)
                l->min_expiry = exp;
        return SENSOR_ADDED;
}

bool sensor_check_addr(const SensorList *l, const AccessAddr *client, uint64_t now)
{
        AccessAddr a = *client;
        bool found;
        size_t s;

        if (!l || l->count == 0)
                return false;
        access_addr_mask(&a, l->v6_prefix);
        s = find(l, &a, hash_of(l, &a), &found);
        return found && l->slots[s].expires > now;
}

bool sensor_check(const SensorList *l, const struct sockaddr *client, uint64_t now)
{
        AccessAddr a;

        if (access_addr_from_sockaddr(client, &a) < 0)
                return false;
        return sensor_check_addr(l, &a, now);
}

size_t sensor_expire(SensorList *l, uint64_t now)
{
        size_t removed = 0, s = 0, n = l->mask + 1;
        uint64_t min = UINT64_MAX;

        if (l->min_expiry > now)
                return 0;
        /* Start after an empty slot so that backward shifts never move an entry we have not
         * seen into a slot we have passed (there is one: the table is at most half full). */
        size_t start = 0;
        while (l->slots[start].used)
                start++;
        for (size_t k = 1; k <= n; k++) {
                s = (start + k) & l->mask;
                while (l->slots[s].used && l->slots[s].expires <= now) {
                        delete_slot(l, s);      /* may shift a later entry into s: look again */
                        removed++;
                }
                if (l->slots[s].used && l->slots[s].expires < min)
                        min = l->slots[s].expires;
        }
        l->min_expiry = min;
        return removed;
}

size_t sensor_count(const SensorList *l)
{
        return l ? l->count : 0;
}

uint64_t sensor_next_expiry(const SensorList *l)
{
        return l && l->count ? l->min_expiry : UINT64_MAX;
}
