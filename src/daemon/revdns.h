/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_REVDNS_H
#define PORTIERD_REVDNS_H

/*
 * revdns — reverse lookups of clients for name-based address rules, off the loop (see
 * revdns.c).
 */

#include <pthread.h>
#include <sys/socket.h>

#include "daemon/ev.h"

typedef struct Daemon Daemon;
typedef struct Service Service;
typedef struct RevdnsJob RevdnsJob;

typedef struct Revdns {
        pthread_mutex_t lock;           /* guards done */
        RevdnsJob *done;                /* finished jobs, for the loop */
        int efd;                        /* an eventfd: written by a thread when a job is done */
        EvFile ev;
        unsigned running;               /* loop thread only */
} Revdns;

int revdns_new(Daemon *d, Revdns **ret);
Revdns *revdns_free(Revdns *r);
int revdns_start(Service *s, int fd, const struct sockaddr *peer, const char *from);
void revdns_cancel_service(Service *s);

/* A connection held by an admission step under way, for re-exec's hand-over (the same
 * typedef is in userid.h and revdns.h; C11 allows the repetition). */
typedef void (*HeldConnFn)(void *userdata, int fd, const struct sockaddr *peer,
                           const char *from);

/**
 * revdns_each_held() - call @fn for every connection of @s held for its host name
 * @s: the service
 * @fn: the callback (the connection stays the job's)
 * @userdata: passed to it
 */
void revdns_each_held(Service *s, HeldConnFn fn, void *userdata);
RevdnsJob *revdns_job_next(RevdnsJob *j);
void revdns_job_close(RevdnsJob *j);

#endif
