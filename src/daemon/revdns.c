/* SPDX-License-Identifier: MIT */
/*
 * revdns.c — the reverse-lookup step of admission, for `.domain` and host-name entries of
 * only_from / no_access.
 *
 * When the address rules cannot decide without the client's name (access_check() says
 * ACCESS_NEEDS_NAME), the connection is held and getnameinfo(NI_NAMEREQD) runs on a thread
 * of its own: a lookup may wait seconds on DNS, and nothing may wait on the loop (DESIGN.md
 * decision 3). The thread puts its finished job on a list and wakes the loop through an
 * eventfd; the loop then decides with the name (or "" when there is none) and goes on with
 * admission, or refuses the client with FAIL address.
 *
 * Bounds: at most REVDNS_MAX lookups at once; past that a client whose admission needs a
 * name is refused (and the daemon log says why). A job whose service went away meanwhile is
 * dropped with its connection when it completes.
 */

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/revdns.h"
#include "util.h"

#define REVDNS_MAX 64

struct RevdnsJob {
        Revdns *owner;                  /* the only field the thread reads besides its own */
        Service *svc;                   /* NULL once the service went away (loop thread) */
        int fd;                         /* the held connection */
        struct sockaddr_storage peer;
        char from[INET6_ADDRSTRLEN];
        char name[NI_MAXHOST];
        int error;                      /* getnameinfo()'s result */
        RevdnsJob *next;                /* in the done list, then nowhere */
        RevdnsJob *svc_next;            /* in the service's list of pending jobs */
};

static void *lookup(void *arg)
{
        RevdnsJob *j = arg;
        Revdns *r = j->owner;
        socklen_t len = j->peer.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                       : sizeof(struct sockaddr_in);
        uint64_t one = 1;

        j->error = getnameinfo((struct sockaddr *)&j->peer, len, j->name, sizeof(j->name),
                               NULL, 0, NI_NAMEREQD);
        if (j->error)
                j->name[0] = '\0';
        pthread_mutex_lock(&r->lock);
        j->next = r->done;
        r->done = j;
        pthread_mutex_unlock(&r->lock);
        if (write(r->efd, &one, sizeof(one)) < 0)
                abort();        /* an eventfd counter cannot overflow here */
        return NULL;
}

static void unlink_from_service(RevdnsJob *j)
{
        if (!j->svc)
                return;
        for (RevdnsJob **p = &j->svc->revdns_jobs; *p; p = &(*p)->svc_next)
                if (*p == j) {
                        *p = j->svc_next;
                        break;
                }
}

static int on_done(EvFile *f, uint32_t events)
{
        Revdns *r = container_of(f, Revdns, ev);
        RevdnsJob *list;
        uint64_t v;

        if (read(r->efd, &v, sizeof(v)) < 0)
                return 0;
        pthread_mutex_lock(&r->lock);
        list = r->done;
        r->done = NULL;
        pthread_mutex_unlock(&r->lock);
        while (list) {
                RevdnsJob *j = list;

                list = j->next;
                r->running--;
                unlink_from_service(j);
                if (j->svc)
                        service_admit_with_name(j->svc, j->fd, (struct sockaddr *)&j->peer,
                                                j->from, j->name);
                else
                        (void)close(j->fd);
                free(j);
        }
        return 0;
}

/**
 * revdns_new() - the lookup machinery of a daemon
 * @d: the daemon (its loop watches the completion eventfd)
 * @ret: the new Revdns
 *
 * Return: 0 or -errno.
 */
int revdns_new(Daemon *d, Revdns **ret)
{
        Revdns *r = calloc(1, sizeof(*r));
        int k;

        if (!r)
                return -ENOMEM;
        pthread_mutex_init(&r->lock, NULL);
        r->ev = EV_FILE_NULL;
        r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->efd < 0 || (k = ev_file_add(d->loop, &r->ev, r->efd, EPOLLIN, on_done)) < 0) {
                k = r->efd < 0 ? -errno : k;
                (void)safe_close(r->efd);
                free(r);
                return k;
        }
        *ret = r;
        return 0;
}

/**
 * revdns_free() - stop watching (lookups still running finish on their own and are leaked
 * with the exiting process)
 * @r: the machinery, or NULL
 *
 * Return: NULL.
 */
Revdns *revdns_free(Revdns *r)
{
        if (!r)
                return NULL;
        ev_file_remove(&r->ev);
        if (r->running == 0) {
                (void)safe_close(r->efd);
                pthread_mutex_destroy(&r->lock);
                free(r);
        }
        return NULL;
}

/**
 * revdns_start() - hold a connection and look its client's name up
 * @s: the service
 * @fd: the connection, taken over
 * @peer: the client
 * @from: the client as text
 *
 * Return: 0 when a lookup runs; -EAGAIN at the bound, or -errno (the connection is then
 * still the caller's).
 */
int revdns_start(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        Revdns *r = s->d->revdns;
        pthread_attr_t attr;
        pthread_t t;
        RevdnsJob *j;
        int k;

        if (!r || r->running >= REVDNS_MAX)
                return -EAGAIN;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->owner = r;
        j->svc = s;
        j->fd = fd;
        memcpy(&j->peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                             : sizeof(struct sockaddr_in));
        snprintf(j->from, sizeof(j->from), "%s", from);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        k = -pthread_create(&t, &attr, lookup, j);
        pthread_attr_destroy(&attr);
        if (k < 0) {
                free(j);
                return k;
        }
        r->running++;
        j->svc_next = s->revdns_jobs;
        s->revdns_jobs = j;
        return 0;
}

/**
 * revdns_cancel_service() - a service goes away: its pending lookups end without it
 * @s: the service
 *
 * The threads still run; their jobs are dropped (connections closed) when they complete.
 */
void revdns_cancel_service(Service *s)
{
        for (RevdnsJob *j = s->revdns_jobs; j; j = j->svc_next)
                j->svc = NULL;
        s->revdns_jobs = NULL;
}

/**
 * revdns_job_next() - the next pending lookup of the same service
 * @j: a job of s->revdns_jobs
 */
RevdnsJob *revdns_job_next(RevdnsJob *j)
{
        return j->svc_next;
}

/**
 * revdns_job_close() - in re-exec's drainer (no lookup thread there): close the held
 * connection of a pending lookup
 * @j: the job
 */
void revdns_job_close(RevdnsJob *j)
{
        j->fd = safe_close(j->fd);
}

void revdns_each_held(Service *s, HeldConnFn fn, void *userdata)
{
        for (RevdnsJob *j = s->revdns_jobs; j; j = j->svc_next)
                if (j->fd >= 0)
                        fn(userdata, j->fd, (struct sockaddr *)&j->peer, j->from);
}
