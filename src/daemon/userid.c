/* SPDX-License-Identifier: MIT */
/*
 * userid.c — the asynchronous ident step of admission: USERID logging and IDONLY.
 *
 * A lookup (daemon/ident.h) runs on the loop, never blocking it, bounded in time (30 s, as
 * xinetd's LOGUSER_*_TIMEOUT) and in number (-logprocs, default 15 as in xinetd). Three uses:
 *
 *   GATE       flags = IDONLY with USERID in log_on_success: the connection is held, without
 *              a server, until the identd answers; a USERID reply starts the server (START,
 *              then the USERID line), anything else writes NOID and closes the connection.
 *              xinetd forks first and writes START before NOID; portier decides before any
 *              fork, so a refused client costs no process and has no START line.
 *   LOG        USERID in log_on_success: the server starts at once; the USERID line follows
 *              when the answer comes. A failed lookup writes nothing (as xinetd).
 *   AFTER_FAIL USERID in log_on_failure, for a refusal decided by admission: the refused
 *              connection is held until the answer (the identd must still see it), then the
 *              USERID line follows the FAIL line.
 *
 * At the -logprocs limit, LOG and AFTER_FAIL lookups are skipped and a GATE connection is
 * refused with NOID "system error" (the daemon log says why). Pending lookups belong to
 * their service and end with it.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/ident.h"
#include "daemon/userid.h"
#include "util.h"

#define USERID_TIMEOUT_USEC (30 * EV_USEC_PER_SEC)
#define USERID_DEFAULT_LOGPROCS 15

struct UseridJob {
        Service *svc;
        UseridKind kind;
        IdentQuery *q;
        EvFile ev;
        EvTimer timer;
        int fd;                         /* the held connection, or -1 */
        struct sockaddr_storage peer;
        char from[INET6_ADDRSTRLEN];
        UseridJob *next, *prev;         /* in the service's list */
};

static uint32_t logprocs(const Daemon *d)
{
        return d->opts->logprocs > 0 ? (uint32_t)d->opts->logprocs : USERID_DEFAULT_LOGPROCS;
}

/* Unlink, close and free. The held connection is closed too. */
static void job_free(UseridJob *j)
{
        Service *s = j->svc;

        if (j->prev)
                j->prev->next = j->next;
        else
                s->userid_jobs = j->next;
        if (j->next)
                j->next->prev = j->prev;
        if (j->kind == USERID_GATE)
                s->gated--;
        s->d->userid_running--;
        ev_file_remove(&j->ev);
        ev_timer_disarm(&j->timer);
        ident_query_free(j->q);
        (void)safe_close(j->fd);
        free(j);
}

/* n: what the formatter returned; -ENOBUFS still leaves a shortened, terminated line.
 * after_fail: the line follows a FAIL line, which may wait for spawns in flight. */
static void log_line(Service *s, const char *line, int n, bool after_fail)
{
        if (n == -ENOBUFS)
                n = (int)strlen(line);
        if (n > 0 && after_fail)
                service_log_after_spawns(s, line, (size_t)n);
        else if (n > 0)
                service_log(s, line, (size_t)n);
}

static void finish(UseridJob *j, IdentResult result)
{
        Service *s = j->svc;
        const IdentReply *reply = result == IDENT_RESULT_OK ? ident_query_reply(j->q) : NULL;
        char line[4 * IDENT_LINE_MAX + 256];   /* escaping may quadruple a reply */

        switch (j->kind) {
        case USERID_GATE:
                if (reply) {
                        int fd = TAKE_FD(j->fd);

                        s->gated--;
                        j->kind = USERID_LOG;   /* from here on, only the line is left */
                        int n = ident_format_userid(line, sizeof(line), s->conf->id,
                                                    reply);

                        if (n == -ENOBUFS)
                                n = (int)strlen(line);
                        /* the USERID line follows START (logged when the server started) */
                        service_start_server(s, fd, (struct sockaddr *)&j->peer, j->from,
                                             n > 0 ? line : NULL);
                } else {
                        s->counters.noid++;
                        log_line(s, line, ident_format_noid(line, sizeof(line), s->conf->id,
                                                            j->from, result), false);
                }
                break;
        case USERID_LOG:
        case USERID_AFTER_FAIL:
                if (reply)
                        log_line(s, line, ident_format_userid(line, sizeof(line), s->conf->id,
                                                              reply),
                                 j->kind == USERID_AFTER_FAIL);
                else if (j->kind == USERID_AFTER_FAIL)
                        portier_log(s->d->log, LOG_INFO, "service '%s': no ident answer from "
                                    "%s: %s", s->conf->id, j->from,
                                    ident_result_to_string(result));
                break;
        }
        job_free(j);
}

static int on_ident(EvFile *f, uint32_t events)
{
        UseridJob *j = container_of(f, UseridJob, ev);
        int r = ident_query_step(j->q);

        if (r == 0) {
                (void)ev_file_set_events(&j->ev, ident_query_events(j->q));
                return 0;
        }
        finish(j, ident_query_result(j->q));
        return 0;
}

static int on_timeout(EvTimer *t)
{
        finish(container_of(t, UseridJob, timer), IDENT_RESULT_TIMEOUT);
        return 0;
}

/**
 * userid_start() - begin a lookup for a connection
 * @s: the service
 * @kind: GATE (hold the connection and decide), LOG (the server runs), AFTER_FAIL (refused)
 * @fd: the connection, taken over, for GATE and AFTER_FAIL; -1 for LOG
 * @peer: the client
 * @local: the address the connection came in on
 * @from: the client as text
 *
 * For GATE and AFTER_FAIL the connection is closed here when no lookup can be made; for a
 * GATE that means NOID.
 *
 * Return: 0 when a lookup runs, -errno when none could be started.
 */
int userid_start(Service *s, UseridKind kind, int fd, const struct sockaddr *peer,
                 const struct sockaddr *local, const char *from)
{
        Daemon *d = s->d;
        UseridJob *j = NULL;
        int r = -EAGAIN;

        if (d->userid_running >= logprocs(d)) {
                portier_log(d->log, LOG_WARNING, "service '%s': %u ident lookups already "
                            "running (-logprocs); none for %s", s->conf->id, d->userid_running,
                            from);
                goto fail;
        }
        r = -ENOMEM;
        j = calloc(1, sizeof(*j));
        if (!j)
                goto fail;
        j->svc = s;
        j->kind = kind;
        j->fd = fd;
        j->ev = EV_FILE_NULL;
        j->timer = EV_TIMER_NULL;
        memcpy(&j->peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                             : sizeof(struct sockaddr_in));
        snprintf(j->from, sizeof(j->from), "%s", from);
        r = ident_query_new(&j->q, local, peer);
        if (r < 0)
                goto fail;
        r = ev_file_add(d->loop, &j->ev, ident_query_fd(j->q), ident_query_events(j->q), on_ident);
        if (r < 0)
                goto fail;
        ev_timer_arm_in(d->loop, &j->timer, USERID_TIMEOUT_USEC, on_timeout);
        j->next = s->userid_jobs;
        if (s->userid_jobs)
                s->userid_jobs->prev = j;
        s->userid_jobs = j;
        if (kind == USERID_GATE)
                s->gated++;
        d->userid_running++;
        return 0;
fail:
        if (j) {
                ev_file_remove(&j->ev);
                ident_query_free(j->q);
                free(j);
        }
        if (kind == USERID_GATE) {
                char line[512];

                s->counters.noid++;
                log_line(s, line, ident_format_noid(line, sizeof(line), s->conf->id, from,
                                                    IDENT_RESULT_SYSTEM_ERROR), false);
        }
        if (fd >= 0)
                (void)close(fd);
        return r;
}

/**
 * userid_cancel_service() - end every lookup of a service (it is being freed)
 * @s: the service
 */
void userid_cancel_service(Service *s)
{
        while (s->userid_jobs)
                job_free(s->userid_jobs);
}

void userid_each_gated(Service *s, HeldConnFn fn, void *userdata)
{
        for (UseridJob *j = s->userid_jobs; j; j = j->next)
                if (j->kind == USERID_GATE && j->fd >= 0)
                        fn(userdata, j->fd, (struct sockaddr *)&j->peer, j->from);
}
