/* SPDX-License-Identifier: MIT */
/*
 * inproc.c — the accounting of connections served inside portierd (built-ins, redirect):
 * instances and per_source slots, START and EXIT lines with pid=0, counters, and ending them
 * at stop and reload. The contract is in inproc.h.
 *
 * A connection is counted in s->running, like a server, so that admission's `instances`
 * check, at_limit = defer and the retirement of a removed service need no second count;
 * s->n_inproc says how many of s->running are in-process, and the daemon-wide
 * d->inproc_running how many there are in all (d->running stays the count of processes,
 * which -limit caps).
 */

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/inproc.h"
#include "daemon/listener.h"
#include "daemon/timewin.h"
#include "daemon/userid.h"

static void link_conn(Service *s, InprocConn *c)
{
        c->prev = NULL;
        c->next = s->inproc;
        if (s->inproc)
                s->inproc->prev = c;
        s->inproc = c;
        s->n_inproc++;
        s->running++;
        s->d->inproc_running++;
}

static void unlink_conn(Service *s, InprocConn *c)
{
        if (c->prev)
                c->prev->next = c->next;
        else
                s->inproc = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->next = c->prev = NULL;
        s->n_inproc--;
        s->running--;
        s->d->inproc_running--;
}

static void log_start(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        const ConfService *cs = s->conf;
        char line[512];

        if (logline_wants_start(cs->log_on_success)) {
                size_t n = logline_start(line, sizeof(line), cs->id, cs->log_on_success, 0, from);

                service_log(s, line, n);
        }
        if (fd >= 0 && peer && admit_wants_userid(s, cs->log_on_success)) {
                struct sockaddr_storage local;
                socklen_t llen = sizeof(local);

                if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0)
                        (void)userid_start(s, USERID_LOG, -1, peer, (struct sockaddr *)&local,
                                           from);
        }
}

bool inproc_begin(InprocConn *c, Service *s, int fd, const struct sockaddr *peer,
                  const char *from, InprocEndFn end)
{
        const ConfService *cs = s->conf;

        *c = (InprocConn){ .svc = s, .end = end, .started = time(NULL) };
        if (peer && s->sources && cs->per_source != CONF_UNLIMITED && listener_accepts(cs)) {
                if (!admit_take_source_slot(s, fd, peer, from, &c->src))
                        return false;   /* refused and closed */
                c->src_held = true;
        }
        c->has_client = peer && access_addr_from_sockaddr(peer, &c->client) == 0;
        if (fd >= 0 && listener_accepts(cs))
                admit_send_banner(s, fd, BANNER_SUCCESS);
        link_conn(s, c);
        s->counters.started++;
        log_start(s, fd, peer, from);
        return true;
}

void inproc_end(InprocConn *c)
{
        Service *s = c->svc;
        Daemon *d = s->d;
        char line[512];

        if (c->ended)
                return;
        c->ended = true;
        unlink_conn(s, c);
        s->counters.exited++;
        if (c->src_held && s->sources)
                ratelimit_source_release(s->sources, &c->src, ev_now(d->loop));
        if (logline_wants_exit(s->conf->log_on_success)) {
                size_t n = logline_exit(line, sizeof(line), s->conf->id, s->conf->log_on_success,
                                        0, 0, (long)(time(NULL) - c->started));

                service_log(s, line, n);
        }
        service_descriptors_freed(d);
        if (s->state == SERVICE_RETIRED) {
                if (s->running == 0)
                        service_free(s);        /* unlinks itself from d->retired */
                return;
        }
        if (s->conf->instances != CONF_UNLIMITED)
                service_resume_paused(d);
}

void inproc_end_service(Service *s, InprocEndReason why)
{
        /* Each callback unlinks its connection: always take the head. The count bounds the
         * loop should a callback break its contract. */
        for (uint32_t n = s->n_inproc; n > 0 && s->inproc; n--)
                s->inproc->end(s->inproc, why);
}

void inproc_end_all(Daemon *d)
{
        for (size_t i = 0; i < d->n_services; i++)
                inproc_end_service(d->services[i], INPROC_END_STOP);
        /* A retired service may be freed by its last connection's end: walk backwards. */
        for (size_t i = d->n_retired; i > 0; i--)
                if (i <= d->n_retired)
                        inproc_end_service(d->retired[i - 1], INPROC_END_STOP);
}

static void move_service(Service *s, EvLoop *to)
{
        InprocConn *c, *next;

        for (c = s->inproc; c; c = next) {
                next = c->next;
                if (c->move)
                        c->move(c, to);
                else
                        c->end(c, INPROC_END_STOP);
        }
}

void inproc_move_all(Daemon *d, EvLoop *to)
{
        for (size_t i = 0; i < d->n_services; i++)
                move_service(d->services[i], to);
        for (size_t i = d->n_retired; i > 0; i--)
                if (i <= d->n_retired)
                        move_service(d->retired[i - 1], to);
}

uint32_t inproc_count(const Service *s)
{
        return s->n_inproc;
}

void inproc_recheck(Service *s)
{
        const ConfService *cs = s->conf;
        uint32_t servers = s->running - s->n_inproc, keep = UINT32_MAX, kept = 0;
        bool times_ok = true;
        InprocConn *c, *next, *oldest = NULL;

        if (!s->inproc)
                return;
        if (cs->n_access_times) {
                time_t t = time(NULL);
                struct tm tm;

                times_ok = !localtime_r(&t, &tm) ||
                           timewin_contains_tm(cs->access_times, cs->n_access_times, &tm);
        }
        if (cs->instances != CONF_UNLIMITED)
                keep = cs->instances > servers ? cs->instances - servers : 0;
        /* The list is newest first: walk from the oldest, keeping up to `keep`. */
        for (c = s->inproc; c; c = c->next)
                oldest = c;
        for (c = oldest; c; c = next) {
                bool end = !times_ok || kept >= keep;

                next = c->prev;
                if (!end && c->has_client && (cs->only_from.set || cs->no_access.n_addrs))
                        end = access_check_addr(&cs->only_from, &cs->no_access, &c->client,
                                                NULL) == ACCESS_DENY;
                if (end)
                        c->end(c, INPROC_END_RELOAD);
                else
                        kept++;
        }
}
