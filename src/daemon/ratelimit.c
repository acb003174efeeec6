/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.c — cps (per service) and the per-source table (per_source, per_source_cps); the
 * semantics are in ratelimit.h.
 *
 * The table keeps its entries in one array whose indexes never change (the free, idle and
 * blocked lists link them by index) and finds them through a separate index array of entry
 * numbers: open addressing, linear probing, at most half full, deletion by backward shift (no
 * tombstones, so probe lengths do not grow with churn). The hash is access_addr_hash()
 * (SipHash-2-4) under a key drawn when the table is made.
 *
 * Nothing here allocates after ratelimit_table_new(), reads a clock, blocks or logs.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/ratelimit.h"

#define NIL UINT32_MAX

/* --- cps ----------------------------------------------------------------------------- */

int ratelimit_cps_hit(RatelimitCps *c, uint32_t rate, uint32_t wait_sec, uint64_t now)
{
        uint64_t sec = now / RATELIMIT_USEC_PER_SEC, diff;

        if (rate == 0)
                return RATELIMIT_OK;
        if (c->off) {
                if (now < c->off_until)
                        return RATELIMIT_OFF;
                c->off = false;                 /* back on, with a fresh window */
                c->count = 0;
        }
        if (c->count == 0) {
                c->count = 1;
                c->window_sec = sec;
                return RATELIMIT_OK;
        }
        diff = sec > c->window_sec ? sec - c->window_sec : 0;
        if (diff >= rate) {
                c->window_sec = sec;
                c->count = 1;
                return RATELIMIT_OK;
        }
        if (c->count < UINT32_MAX)
                c->count++;
        if (c->count / (diff ? diff : 1) > rate) {
                c->off = true;
                c->off_until = now + (uint64_t)wait_sec * RATELIMIT_USEC_PER_SEC;
                c->count = 0;
                return RATELIMIT_TRIPPED;
        }
        return RATELIMIT_OK;
}

bool ratelimit_cps_is_off(const RatelimitCps *c, uint64_t now)
{
        return c->off && now < c->off_until;
}

uint64_t ratelimit_cps_until(const RatelimitCps *c)
{
        return c->off ? c->off_until : 0;
}

void ratelimit_cps_reset(RatelimitCps *c)
{
        *c = RATELIMIT_CPS_NULL;
}

/* --- keys ----------------------------------------------------------------------------- */

int ratelimit_key(const struct sockaddr *sa, unsigned v6_prefix, AccessAddr *ret)
{
        int r;

        if (v6_prefix > 128)
                return -EINVAL;
        r = access_addr_from_sockaddr(sa, ret);
        if (r < 0)
                return r;
        access_addr_mask(ret, v6_prefix);
        return 0;
}

/* --- the table ------------------------------------------------------------------------ */

typedef enum EntryList {
        LIST_FREE,
        LIST_LIVE,              /* in no list: slots held */
        LIST_IDLE,
        LIST_BLOCKED,
} EntryList;

typedef struct Entry {
        AccessAddr key;
        uint64_t window_start;  /* per_source_cps window (usec) */
        uint64_t blocked_until; /* usec; 0: not blocked */
        uint32_t rate_count;    /* connections in the window */
        uint32_t active;        /* per_source slots held */
        uint32_t hash;
        uint32_t prev, next;    /* in its list */
        uint8_t list;           /* EntryList */
} Entry;

typedef struct List {
        uint32_t head, tail;
        size_t n;
} List;

struct RatelimitTable {
        size_t capacity;
        unsigned v6_prefix;
        uint64_t sipkey[2];
        Entry *entries;
        uint32_t *index;        /* entry numbers, NIL when empty */
        size_t index_mask;
        List free, idle, blocked;
        size_t used, live;
        uint64_t evicted, full;
};

static void list_init(List *l)
{
        l->head = l->tail = NIL;
        l->n = 0;
}

static List *list_of(RatelimitTable *t, uint8_t which)
{
        switch (which) {
        case LIST_FREE:
                return &t->free;
        case LIST_IDLE:
                return &t->idle;
        case LIST_BLOCKED:
                return &t->blocked;
        }
        return NULL;
}

static void list_unlink(RatelimitTable *t, uint32_t i)
{
        Entry *e = &t->entries[i];
        List *l = list_of(t, e->list);

        if (!l)
                return;
        if (e->prev != NIL)
                t->entries[e->prev].next = e->next;
        else
                l->head = e->next;
        if (e->next != NIL)
                t->entries[e->next].prev = e->prev;
        else
                l->tail = e->prev;
        e->prev = e->next = NIL;
        l->n--;
}

/* Append @i to the tail of list @which (after unlinking it from its own). */
static void list_move_tail(RatelimitTable *t, uint32_t i, uint8_t which)
{
        Entry *e = &t->entries[i];
        List *l;

        list_unlink(t, i);
        e->list = which;
        l = list_of(t, which);
        if (!l)
                return;
        e->prev = l->tail;
        e->next = NIL;
        if (l->tail != NIL)
                t->entries[l->tail].next = i;
        else
                l->head = i;
        l->tail = i;
        l->n++;
}

int ratelimit_table_new(size_t capacity, unsigned v6_prefix, RatelimitTable **ret)
{
        RatelimitTable *t;
        size_t slots = 2;

        if (capacity == 0 || capacity > RATELIMIT_MAX_CAPACITY || v6_prefix > 128)
                return -EINVAL;
        while (slots < 2 * capacity)
                slots *= 2;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->capacity = capacity;
        t->v6_prefix = v6_prefix;
        t->entries = calloc(capacity, sizeof(Entry));
        t->index = malloc(slots * sizeof(uint32_t));
        if (!t->entries || !t->index) {
                ratelimit_table_free(t);
                return -ENOMEM;
        }
        memset(t->index, 0xff, slots * sizeof(uint32_t));
        t->index_mask = slots - 1;
        access_addr_hash_key(t->sipkey);
        list_init(&t->free);
        list_init(&t->idle);
        list_init(&t->blocked);
        for (size_t i = 0; i < capacity; i++) {
                t->entries[i].list = LIST_LIVE;         /* "in no list" until moved */
                t->entries[i].prev = t->entries[i].next = NIL;
                list_move_tail(t, (uint32_t)i, LIST_FREE);
        }
        *ret = t;
        return 0;
}

RatelimitTable *ratelimit_table_free(RatelimitTable *t)
{
        if (!t)
                return NULL;
        free(t->entries);
        free(t->index);
        free(t);
        return NULL;
}

int ratelimit_table_key(const RatelimitTable *t, const struct sockaddr *sa, AccessAddr *ret)
{
        return ratelimit_key(sa, t->v6_prefix, ret);
}

static uint32_t hash_key(const RatelimitTable *t, const AccessAddr *k)
{
        uint64_t h = access_addr_hash(t->sipkey, k);

        return (uint32_t)(h ^ (h >> 32));
}

/* The index slot holding @k, or the empty slot where it would go (*found false). */
static size_t index_find(const RatelimitTable *t, const AccessAddr *k, uint32_t h, bool *found)
{
        size_t s = h & t->index_mask;

        for (;;) {
                uint32_t i = t->index[s];

                if (i == NIL) {
                        *found = false;
                        return s;
                }
                if (t->entries[i].hash == h && memcmp(&t->entries[i].key, k, sizeof(*k)) == 0) {
                        *found = true;
                        return s;
                }
                s = (s + 1) & t->index_mask;
        }
}

/* Remove index slot @s, shifting back the entries that probed past it. */
static void index_delete(RatelimitTable *t, size_t s)
{
        size_t hole = s, j = s;

        for (;;) {
                j = (j + 1) & t->index_mask;
                uint32_t i = t->index[j];
                if (i == NIL)
                        break;
                size_t home = t->entries[i].hash & t->index_mask;
                /* The entry at j may move to the hole unless its home is in (hole, j]. */
                bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
                if (!stays) {
                        t->index[hole] = i;
                        hole = j;
                }
        }
        t->index[hole] = NIL;
}

static void entry_drop(RatelimitTable *t, uint32_t i)
{
        Entry *e = &t->entries[i];
        bool found;
        size_t s = index_find(t, &e->key, e->hash, &found);

        if (found)
                index_delete(t, s);
        memset(&e->key, 0, sizeof(e->key));
        e->window_start = e->blocked_until = 0;
        e->rate_count = e->active = 0;
        list_move_tail(t, i, LIST_FREE);
        t->used--;
}

static const Entry *entry_find(const RatelimitTable *t, const AccessAddr *k)
{
        uint32_t h = hash_key(t, k);
        bool found;
        size_t s = index_find(t, k, h, &found);

        return found ? &t->entries[t->index[s]] : NULL;
}

/* The entry of @k, made if needed; NIL when the table is full (see ratelimit.h). */
static uint32_t entry_get(RatelimitTable *t, const AccessAddr *k, uint64_t now)
{
        uint32_t h = hash_key(t, k), i;
        bool found;
        size_t s = index_find(t, k, h, &found);

        if (found)
                return t->index[s];
        if (t->free.head == NIL) {
                if (t->idle.head != NIL)
                        entry_drop(t, t->idle.head);
                else if (t->blocked.head != NIL &&
                         t->entries[t->blocked.head].blocked_until <= now)
                        entry_drop(t, t->blocked.head);
                else {
                        t->full++;
                        return NIL;
                }
                t->evicted++;
                s = index_find(t, k, h, &found);        /* the deletion may have moved it */
        }
        i = t->free.head;
        list_unlink(t, i);
        Entry *e = &t->entries[i];
        e->key = *k;
        e->hash = h;
        e->window_start = e->blocked_until = 0;
        e->rate_count = e->active = 0;
        e->list = LIST_LIVE;
        t->index[s] = i;
        t->used++;
        return i;
}

/* Put entry @i in the list its state says; @touched: it was just used (LRU order). */
static void entry_settle(RatelimitTable *t, uint32_t i, uint64_t now, bool touched)
{
        Entry *e = &t->entries[i];

        if (e->active > 0) {
                if (e->list != LIST_LIVE)
                        list_move_tail(t, i, LIST_LIVE);
        } else if (e->blocked_until > now) {
                if (e->list != LIST_BLOCKED)
                        list_move_tail(t, i, LIST_BLOCKED);
        } else if (e->list != LIST_IDLE || touched) {
                list_move_tail(t, i, LIST_IDLE);
        }
}

int ratelimit_source_rate(RatelimitTable *t, const AccessAddr *key, uint32_t rate,
                          uint64_t block_usec, uint64_t now)
{
        uint32_t i;
        Entry *e;
        int r = RATELIMIT_OK;

        if (rate == 0)
                return RATELIMIT_OK;
        i = entry_get(t, key, now);
        if (i == NIL)
                return RATELIMIT_FULL;
        e = &t->entries[i];
        if (e->blocked_until > now) {
                r = RATELIMIT_BLOCKED;
        } else {
                e->blocked_until = 0;
                if (e->rate_count == 0 || now - e->window_start >= RATELIMIT_USEC_PER_SEC) {
                        e->window_start = now;
                        e->rate_count = 0;
                }
                e->rate_count++;
                if (e->rate_count > rate) {
                        e->blocked_until = now + block_usec;
                        e->rate_count = 0;
                        r = RATELIMIT_TRIPPED;
                }
        }
        entry_settle(t, i, now, true);
        return r;
}

int ratelimit_source_acquire(RatelimitTable *t, const AccessAddr *key, uint32_t limit,
                             uint64_t now)
{
        uint32_t i;
        Entry *e;
        int r = RATELIMIT_OK;

        i = entry_get(t, key, now);
        if (i == NIL)
                return RATELIMIT_FULL;
        e = &t->entries[i];
        if (e->active >= limit) {
                r = RATELIMIT_OVER;
        } else {
                if (e->active == 0)
                        t->live++;
                e->active++;
        }
        entry_settle(t, i, now, true);
        return r;
}

void ratelimit_source_release(RatelimitTable *t, const AccessAddr *key, uint64_t now)
{
        uint32_t h = hash_key(t, key);
        bool found;
        size_t s = index_find(t, key, h, &found);
        uint32_t i;

        if (!found)
                return;
        i = t->index[s];
        if (t->entries[i].active == 0)
                return;
        if (--t->entries[i].active == 0)
                t->live--;
        entry_settle(t, i, now, true);
}

uint32_t ratelimit_source_active(const RatelimitTable *t, const AccessAddr *key)
{
        const Entry *e = entry_find(t, key);

        return e ? e->active : 0;
}

bool ratelimit_source_is_blocked(const RatelimitTable *t, const AccessAddr *key, uint64_t now)
{
        const Entry *e = entry_find(t, key);

        return e && e->blocked_until > now;
}

void ratelimit_table_stats(const RatelimitTable *t, RatelimitStats *ret)
{
        *ret = (RatelimitStats){
                .capacity = t->capacity,
                .used = t->used,
                .live = t->live,
                .blocked = t->blocked.n,
                .evicted = t->evicted,
                .full = t->full,
        };
}
