/* SPDX-License-Identifier: MIT */
/*
 * admit.c — admission: what is decided about a connection before anything is spawned
 * (DESIGN.md decision 4), and how a refusal is carried out.
 *
 * The checks, in xinetd's order: cps (the socket closed for its wait when tripped), max_load,
 * access_times, instances, -limit (xinetd's parent), then the global SENSOR deny list and the
 * address rules (xinetd's child; a rule on names holds the connection for a reverse lookup,
 * revdns.c), then portier's per_source_cps; per_source is taken when the server starts.
 * A refusal: the FAIL line (at most FAIL_LINES_PER_SEC a second per service, the rest
 * counted and reported), banner_fail, an ident lookup for the refusals xinetd's parent makes,
 * a counter per reason, and the connection closed. Nothing here forks.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/revdns.h"
#include "daemon/timewin.h"
#include "daemon/userid.h"
#include "util.h"

#define FAIL_LINES_PER_SEC 100          /* per service; past it, refusals are counted */

static const char *const refusal_reasons[_REFUSE_MAX] = {
        [REFUSE_ADDRESS] = "address",
        [REFUSE_TIME] = "time",
        [REFUSE_FORK] = "fork",
        [REFUSE_SERVICE_LIMIT] = "service_limit",
        [REFUSE_PER_SOURCE_LIMIT] = "per_source_limit",
        [REFUSE_PROCESS_LIMIT] = "process_limit",
        [REFUSE_LIBWRAP] = "libwrap",
        [REFUSE_LOAD] = "load",
        [REFUSE_CPS] = "connections per second",
        [REFUSE_PER_SOURCE_CPS] = "per_source_cps",
};

const char *refusal_reason(Refusal r)
{
        return r < _REFUSE_MAX ? refusal_reasons[r] : "unknown";
}

/* Banners go out without blocking: what the socket buffer does not take is cut (a banner
 * is read at load time and bounded; loopback and LAN buffers take far more). */
void admit_send_banner(const Service *s, int fd, BannerKind k)
{
        if (s->banners && s->banners->len[k] > 0)
                (void)send(fd, s->banners->data[k], s->banners->len[k],
                           MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Only connections accepted by the daemon have an ident answer to ask for (as in xinetd). */
bool admit_wants_userid(const Service *s, unsigned log_flags)
{
        return (log_flags & CONF_LOG_USERID) && listener_accepts(s->conf);
}

static int report_suppressed(EvTimer *t)
{
        Service *s = container_of(t, FailReport, timer)->svc;

        if (s->fail_suppressed)
                portier_log(s->d->log, LOG_WARNING, "service '%s': %llu refused connections "
                            "not logged (more than %d FAIL lines a second)", s->conf->id,
                            (unsigned long long)s->fail_suppressed, FAIL_LINES_PER_SEC);
        s->fail_suppressed = 0;
        return 0;
}

/* Under a flood, a service writes at most FAIL_LINES_PER_SEC FAIL lines a second (enough
 * for fail2ban to see every source that keeps trying); the rest are counted and the count
 * is logged once the second is over. */
static bool fail_line_allowed(Service *s)
{
        uint64_t now = ev_now(s->d->loop), sec = now / EV_USEC_PER_SEC;

        if ((uint32_t)sec != s->fail_second) {
                s->fail_second = (uint32_t)sec;
                s->fail_logged = 0;
        }
        if (s->fail_logged < FAIL_LINES_PER_SEC) {
                s->fail_logged++;
                return true;
        }
        if (!s->fail_report && (s->fail_report = calloc(1, sizeof(*s->fail_report)))) {
                s->fail_report->svc = s;
                s->fail_report->timer = EV_TIMER_NULL;
        }
        /* Out of memory: the count is still kept, and reported with the next flood. */
        if (s->fail_suppressed++ == 0 && s->fail_report)
                ev_timer_arm(s->d->loop, &s->fail_report->timer, (sec + 1) * EV_USEC_PER_SEC,
                             report_suppressed);
        return false;
}

void admit_refuse(Service *s, int fd, const struct sockaddr *peer, Refusal why,
                  const char *from)
{
        char line[512];

        s->counters.refused[why]++;
        if (logline_wants_fail(s->conf->log_on_failure) && fail_line_allowed(s)) {
                size_t n = logline_fail(line, sizeof(line), s->conf->id, refusal_reason(why),
                                        s->conf->log_on_failure, from);

                service_log_after_spawns(s, line, n);
        }
        if (fd >= 0 && peer)
                admit_send_banner(s, fd, BANNER_FAIL);
        /* As xinetd: an ident lookup follows the refusals its parent decides (limits, rates,
         * load, time), not those of the address rules. */
        if (fd >= 0 && peer && why != REFUSE_ADDRESS && why != REFUSE_LIBWRAP &&
            admit_wants_userid(s, s->conf->log_on_failure)) {
                struct sockaddr_storage local;
                socklen_t llen = sizeof(local);

                if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0) {
                        /* The lookup holds the connection, so the identd still knows it. */
                        (void)userid_start(s, USERID_AFTER_FAIL, fd, peer,
                                           (struct sockaddr *)&local, from);
                        return;
                }
        }
        if (fd >= 0)
                (void)close(fd);
}

int admit_cps_return(EvTimer *t)
{
        Service *s = container_of(t, Service, retry);

        ratelimit_cps_reset(&s->cps);
        if (service_listen(s) == 0)
                portier_log(s->d->log, LOG_ERR, "Activating service %s", s->conf->name);
        return 0;
}

/* Over its cps: close the socket (clients are refused by the kernel meanwhile, as with
 * xinetd) and reopen it when the wait is over. */
static void cps_trip(Service *s)
{
        uint64_t until = ratelimit_cps_until(&s->cps);

        portier_log(s->d->log, LOG_ERR, "Deactivating service %s due to excessive incoming "
                    "connections.  Restarting in %u seconds.", s->conf->name, s->conf->cps_wait);
        service_close(s);
        s->state = SERVICE_CPS_OFF;
        ev_timer_arm(s->d->loop, &s->retry, until, admit_cps_return);
}

/* portier's per_source_cps: the last admission step, after the address rules (which may
 * have waited for a name). False when the connection was refused. */
bool admit_source_rate(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        const ConfService *cs = s->conf;
        uint64_t now = ev_now(s->d->loop);

        if (peer && s->sources && cs->per_source_cps_rate) {
                AccessAddr key;
                int r = ratelimit_table_key(s->sources, peer, &key);

                if (r == 0)
                        r = ratelimit_source_rate(s->sources, &key, cs->per_source_cps_rate,
                                                  (uint64_t)cs->per_source_cps_seconds *
                                                          EV_USEC_PER_SEC, now);
                if (r != RATELIMIT_OK) {
                        admit_refuse(s, fd, peer, REFUSE_PER_SOURCE_CPS, from);
                        return false;
                }
        }
        return true;
}

/*
 * Admission: the checks decided before anything is spawned (DESIGN.md decision 4), in
 * xinetd's order — the rate of connections (every connection that reaches it counts), the
 * load, the time window, the service's and the global process limits (xinetd's parent),
 * then the global deny list and the address rules (xinetd's child), then portier's
 * per-source rate — each refusal with its reason. (per_source is checked when the server is about to
 * start, so that a slot is held exactly while a server runs.) A refused connection is closed,
 * or held for an ident lookup, here.
 */
bool admit_connection(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        Daemon *d = s->d;
        const ConfService *cs = s->conf;
        const Options *o = d->opts;
        uint64_t now = ev_now(d->loop);
        Refusal why;

        if (cs->cps_rate) {
                int r = ratelimit_cps_hit(&s->cps, cs->cps_rate, cs->cps_wait, now);

                if (r != RATELIMIT_OK) {
                        if (r == RATELIMIT_TRIPPED)
                                cps_trip(s);
                        why = REFUSE_CPS;
                        goto refuse;
                }
        }
        if (cs->max_load > 0 && loadavg_over(&d->loadavg, cs->max_load, now)) {
                portier_log(d->log, LOG_ERR, "refused connect from %s due to excessive load",
                            from ? from : "<no address>");
                why = REFUSE_LOAD;
                goto refuse;
        }
        if (cs->n_access_times) {
                time_t t = time(NULL);
                struct tm tm;

                if (localtime_r(&t, &tm) &&
                    !timewin_contains_tm(cs->access_times, cs->n_access_times, &tm)) {
                        why = REFUSE_TIME;
                        goto refuse;
                }
        }
        if (cs->instances != CONF_UNLIMITED && s->running + s->gated >= cs->instances) {
                why = REFUSE_SERVICE_LIMIT;
                goto refuse;
        }
        if (o->limit > 0 && d->running >= (uint32_t)o->limit) {
                why = REFUSE_PROCESS_LIMIT;
                goto refuse;
        }
        if (peer && d->sensor && sensor_check(d->sensor, peer, now)) {
                why = REFUSE_ADDRESS;
                goto refuse;
        }
        if (peer && (cs->only_from.set || cs->no_access.n_addrs)) {
                AccessVerdict v = access_check(&cs->only_from, &cs->no_access, peer, NULL);

                /* A rule on names (.domain, a host that did not resolve): hold the
                 * connection while its name is looked up off the loop (revdns.c). A
                 * datagram cannot wait: without a name, those rules do not match. */
                if (v == ACCESS_NEEDS_NAME && fd >= 0 && listener_accepts(cs)) {
                        int r = revdns_start(s, fd, peer, from);

                        if (r == 0)
                                return false;
                        portier_log(d->log, LOG_WARNING, "service '%s': cannot look up the "
                                    "name of %s: %s; refusing it", cs->id, from,
                                    strerror(-r));
                }
                if (v != ACCESS_ALLOW) {
                        why = REFUSE_ADDRESS;
                        goto refuse;
                }
        }
        if (!admit_source_rate(s, fd, peer, from))
                return false;
        return true;
refuse:
        admit_refuse(s, fd, peer, why, from);
        return false;
}

/* per_source: take a slot for the client's source; false when it has its limit (then the
 * connection was refused and consumed). */
bool admit_take_source_slot(Service *s, int fd, const struct sockaddr *peer, const char *from,
                            AccessAddr *ret_key)
{
        int r = ratelimit_table_key(s->sources, peer, ret_key);

        if (r == 0)
                r = ratelimit_source_acquire(s->sources, ret_key, s->conf->per_source,
                                             ev_now(s->d->loop));
        if (r == RATELIMIT_OK)
                return true;
        admit_refuse(s, fd, peer, REFUSE_PER_SOURCE_LIMIT, from);
        return false;
}

/* at_limit = defer: at `instances`, leave new connections in the kernel's queue until a
 * server exits (tcpserver's backpressure) instead of accepting and refusing them. */
bool admit_defer_at_limit(Service *s)
{
        const ConfService *cs = s->conf;

        if (cs->at_limit != CONF_AT_LIMIT_DEFER || cs->instances == CONF_UNLIMITED ||
            s->running + s->gated < cs->instances)
                return false;
        (void)ev_file_set_events(&s->ev, 0);    /* resumed by the next exit */
        return true;
}

/* A SENSOR service: whoever touches it goes on the global deny list (DESIGN.md, xinetd's
 * global_no_access) for deny_time; the connection itself is refused. */
void admit_sensor_hit(Service *s, int fd, const struct sockaddr *peer, const char *from)
{
        Daemon *d = s->d;
        uint64_t now = ev_now(d->loop);
        uint64_t unit = (s->conf->deny_in_seconds ? 1 : 60) * EV_USEC_PER_SEC;
        int r = d->sensor ? sensor_add(d->sensor, peer, sensor_duration(s->conf->deny_time, unit),
                                       now)
                          : -ENOMEM;

        if (r == SENSOR_ADDED) {
                /* xinetd's text, "for -1 minutes" for FOREVER included. */
                portier_log(d->log, LOG_CRIT, "Adding %s to the global_no_access list for %d "
                            "%s", from, s->conf->deny_time,
                            s->conf->deny_in_seconds ? "seconds" : "minutes");
                uint64_t next = sensor_next_expiry(d->sensor);

                if (next != SENSOR_FOREVER && (!ev_timer_armed(&d->sensor_timer) ||
                                               next < d->sensor_timer.when))
                        ev_timer_arm(d->loop, &d->sensor_timer, next, daemon_sensor_expire);
        } else if (r == SENSOR_FULL) {
                portier_log(d->log, LOG_ERR, "Maximum global_no_access count reached.");
        } else if (r == -ENOMEM) {
                portier_log(d->log, LOG_ERR, "out of memory: %s not added to the "
                            "global_no_access list", from);
        }
        admit_refuse(s, fd, peer, REFUSE_ADDRESS, from);
}

