/* SPDX-License-Identifier: MIT */
/*
 * report.c — what portierctl shows, rendered from the daemon's live state: `info`, `list`,
 * `status [SERVICE]`, `sockets` and `dump`, as text or JSON (schemas in portierctl(8)), and
 * the one-line STATUS= for sd_notify.
 *
 * Runs on the loop, reads memory only (no NSS, no disk): names and addresses come from the
 * resolved Config. The services of the configuration are listed in file order, disabled and
 * broken ones included (as chkconfig lists "off" services); the live Service, when there is
 * one, adds its state and counters. Cost: O(services) with one index array.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/listener.h"
#include "daemon/listing.h"
#include "proto/proto.h"

#define EXITS_SHOWN 5

typedef struct Rows {
        const Config *c;
        Service **live;                 /* per config->services index: the live Service */
        Service **others;               /* live services not in the current configuration */
        size_t n_others;
} Rows;

static void rows_free(Rows *r)
{
        free(r->live);
        free(r->others);
}

/* Match the live services to the current configuration's services. A service whose new
 * definition was broken keeps an older generation's definition: it is found by id. */
static int rows_build(Daemon *d, Rows *r)
{
        const Config *c = d->gen ? d->gen->config : NULL;
        size_t n = c ? c->n_services : 0;

        *r = (Rows){ .c = c };
        r->live = calloc(n ? n : 1, sizeof(Service *));
        r->others = calloc(d->n_services + d->n_retired + 1, sizeof(Service *));
        if (!r->live || !r->others) {
                rows_free(r);
                return -ENOMEM;
        }
        for (size_t i = 0; i < d->n_services + d->n_retired; i++) {
                Service *s = i < d->n_services ? d->services[i] : d->retired[i - d->n_services];

                if (c && s->gen == d->gen && s->conf->order < n &&
                    c->services[s->conf->order] == s->conf) {
                        r->live[s->conf->order] = s;
                        continue;
                }
                const ConfService *cs = c && s->state != SERVICE_RETIRED
                                                ? config_find(c, s->conf->id) : NULL;

                if (cs && !r->live[cs->order] && cs->state == CONF_SERVICE_SKIPPED)
                        r->live[cs->order] = s;
                else
                        r->others[r->n_others++] = s;
        }
        return 0;
}

static const char *state_word(ServiceState st)
{
        switch (st) {
        case SERVICE_LISTENING:
                return "listening";
        case SERVICE_SUSPENDED:
                return "suspended";
        case SERVICE_BIND_RETRY:
                return "bind-retry";
        case SERVICE_CPS_OFF:
                return "cps-off";
        case SERVICE_RETIRED:
                return "retired";
        case SERVICE_MUX:
                return "tcpmux";        /* no socket: reached through the tcpmux service */
        }
        return "unknown";
}

/* What runs for a connection: the server program, the built-in, or the redirect target. */
static void target_text(const ConfService *cs, char *buf, size_t size)
{
        switch (cs->kind) {
        case CONF_KIND_SERVER:
                snprintf(buf, size, "%s", cs->server ? cs->server : "?");
                break;
        case CONF_KIND_INTERNAL:
                snprintf(buf, size, "internal %s", cs->builtin ? cs->builtin : cs->name);
                break;
        case CONF_KIND_REDIRECT:
                if (conf_redirect_unix(cs))
                        snprintf(buf, size, "redirect %s", cs->redirect_host);
                else
                        snprintf(buf, size, "redirect %s:%u",
                                 cs->redirect_host ? cs->redirect_host : "?", cs->redirect_port);
                break;
        case CONF_KIND_SENSOR:
                snprintf(buf, size, "sensor");
                break;
        }
}

static void time_text(time_t t, bool iso, char *buf, size_t size)
{
        struct tm tm;

        localtime_r(&t, &tm);
        strftime(buf, size, iso ? "%Y-%m-%dT%H:%M:%S%z" : "%Y-%m-%d %H:%M:%S %Z", &tm);
}

static void exit_text(int status, char *buf, size_t size)
{
        if (WIFSIGNALED(status))
                snprintf(buf, size, "signal %d", WTERMSIG(status));
        else
                snprintf(buf, size, "exit %d", WEXITSTATUS(status));
}

/* The wall-clock time a cps-off service listens again, 0 when it is not off. */
static time_t cps_until(const Daemon *d, const Service *s)
{
        uint64_t now = ev_clock_now();

        if (s->state != SERVICE_CPS_OFF || !ev_timer_armed(&s->retry))
                return 0;
        return time(NULL) + (time_t)((s->retry.when > now ? s->retry.when - now : 0) /
                                     EV_USEC_PER_SEC) + 1;
}

/* --- info -------------------------------------------------------------------------------- */

static int write_info(Daemon *d, bool json, FILE *f)
{
        const char *sock = control_socket_path(d->control);
        const char *inetd = d->opts->inetd_compat ? "/etc/inetd.conf" : NULL;

        if (!json) {
                fprintf(f, "pid %d\nversion %s\nconfig %s\ninetd %s\nsocket %s\n",
                        (int)d->main_pid, PORTIER_VERSION, d->config_path, inetd ? inetd : "-",
                        sock ? sock : "-");
                return 0;
        }
        fprintf(f, "{\"pid\":%d,\"version\":", (int)d->main_pid);
        proto_json_string(f, PORTIER_VERSION);
        fputs(",\"config\":", f);
        proto_json_string(f, d->config_path);
        fputs(",\"inetd\":", f);
        if (inetd)
                proto_json_string(f, inetd);
        else
                fputs("null", f);
        fputs("}\n", f);
        return 0;
}

/* --- list -------------------------------------------------------------------------------- */

static int write_list(Daemon *d, bool json, FILE *f)
{
        Rows r;
        ListingLive *states = NULL;
        const ListingLive **live = NULL;
        size_t n;

        if (rows_build(d, &r) < 0)
                return -ENOMEM;
        n = r.c ? r.c->n_services : 0;
        states = calloc(n + 1, sizeof(*states));
        live = calloc(n + 1, sizeof(*live));
        if (!states || !live) {
                free(states);
                free(live);
                rows_free(&r);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                if (!r.live[i])
                        continue;
                states[i] = (ListingLive){ .state = state_word(r.live[i]->state),
                                           .running = r.live[i]->running };
                live[i] = &states[i];
        }
        listing_write(f, r.c, d->config_path, d->gen ? d->gen->number : 0, live, json);
        free(states);
        free(live);
        rows_free(&r);
        return 0;
}

/* --- status ------------------------------------------------------------------------------ */

static void status_text_service(Daemon *d, FILE *f, const ConfService *cs, const Service *s)
{
        char addr[LISTING_ADDR_MAX], target[300], t[64], e[32];
        const ControlExit *ex[EXITS_SHOWN];
        size_t n;

        listing_addr(cs, addr, sizeof(addr));
        target_text(cs, target, sizeof(target));
        fprintf(f, "\n%s %s (%s%s%s) %s/%s -> %s\n", s && s->state == SERVICE_LISTENING ? "*" : "o",
                cs->id, listing_conf_state_word(cs), s ? ", " : "", s ? state_word(s->state) : "", addr,
                listing_proto_word(cs), target);
        if (cs->reason)
                fprintf(f, "      Reason: %s\n", cs->reason);
        fprintf(f, "     Defined: %s:%u\n", cs->pos.file ? cs->pos.file : "?", cs->pos.line);
        if (!s)
                return;
        const ServiceCounters *c = &s->counters;

        fprintf(f, "    Counters: accepted %llu, started %llu, exited %llu, spawn failed %llu, "
                "running %u\n", (unsigned long long)c->accepted, (unsigned long long)c->started,
                (unsigned long long)c->exited, (unsigned long long)c->spawn_failed, s->running);
        if (s->n_inproc || c->dropped)
                fprintf(f, "  In-process: %u connections, %llu datagrams not answered\n",
                        s->n_inproc, (unsigned long long)c->dropped);
        fputs("     Refused:", f);
        bool any = false;

        for (int k = 0; k < _REFUSE_MAX; k++)
                if (c->refused[k]) {
                        fprintf(f, "%s %s %llu", any ? "," : "", refusal_reason(k),
                                (unsigned long long)c->refused[k]);
                        any = true;
                }
        fputs(any ? "\n" : " none\n", f);
        if (cps_until(d, s)) {
                time_text(cps_until(d, s), false, t, sizeof(t));
                fprintf(f, "     CPS off: until %s\n", t);
        }
        if (s->bind_error)
                fprintf(f, "  Bind error: %s\n", s->bind_error);
        for (Server *srv = s->servers; srv; srv = srv->next)
                fprintf(f, "      Server: pid %d, for %lld s\n", (int)srv->pid,
                        (long long)(time(NULL) - srv->started));
        n = control_exits(d, cs->id, ex, EXITS_SHOWN);
        for (size_t i = 0; i < n; i++) {
                time_text(ex[i]->ended, false, t, sizeof(t));
                exit_text(ex[i]->status, e, sizeof(e));
                fprintf(f, "%s pid %d, %s after %ld s, at %s\n", i ? "            " :
                        "  Last exits:", (int)ex[i]->pid, e, ex[i]->duration, t);
        }
}

static void json_uint_or_null(FILE *f, const char *key, bool have, unsigned long long v)
{
        if (have)
                fprintf(f, ",\"%s\":%llu", key, v);
        else
                fprintf(f, ",\"%s\":null", key);
}

static void status_json_service(Daemon *d, FILE *f, const ConfService *cs, const Service *s)
{
        char addr[LISTING_ADDR_MAX], target[300], t[64];
        const ControlExit *ex[CONTROL_EXITS];
        size_t n;

        listing_addr(cs, addr, sizeof(addr));
        target_text(cs, target, sizeof(target));
        fputs("{\"id\":", f);
        proto_json_string(f, cs->id);
        fprintf(f, ",\"enabled\":%s,\"config_state\":\"%s\",\"state\":",
                cs->state == CONF_SERVICE_ACTIVE ? "true" : "false",
                cs->state == CONF_SERVICE_ACTIVE ? "active" :
                cs->state == CONF_SERVICE_DISABLED ? "disabled" : "skipped");
        if (s)
                fprintf(f, "\"%s\"", state_word(s->state));
        else
                fputs("null", f);
        fputs(",\"address\":", f);
        proto_json_string(f, addr);
        fprintf(f, ",\"port\":%u,\"protocol\":", cs->port);
        proto_json_string(f, listing_proto_word(cs));
        fputs(",\"target\":", f);
        proto_json_string(f, target);
        fputs(",\"file\":", f);
        proto_json_string(f, cs->pos.file);
        fprintf(f, ",\"line\":%u,\"reason\":", cs->pos.line);
        if (cs->reason)
                proto_json_string(f, cs->reason);
        else
                fputs("null", f);
        const ServiceCounters *c = s ? &s->counters : NULL;

        json_uint_or_null(f, "running", s, s ? s->running : 0);
        json_uint_or_null(f, "accepted", c, c ? c->accepted : 0);
        json_uint_or_null(f, "started", c, c ? c->started : 0);
        json_uint_or_null(f, "exited", c, c ? c->exited : 0);
        json_uint_or_null(f, "spawn_failed", c, c ? c->spawn_failed : 0);
        json_uint_or_null(f, "in_process", s, s ? s->n_inproc : 0);
        json_uint_or_null(f, "dropped", c, c ? c->dropped : 0);
        fputs(",\"refused\":{", f);
        for (int k = 0; c && k < _REFUSE_MAX; k++) {
                char key[64];

                snprintf(key, sizeof(key), "%s", refusal_reason(k));
                for (char *p = key; *p; p++)
                        if (*p == ' ')
                                *p = '_';
                fprintf(f, "%s\"%s\":%llu", k ? "," : "", key, (unsigned long long)c->refused[k]);
        }
        fputs("},\"cps_disabled_until\":", f);
        if (s && cps_until(d, s)) {
                time_text(cps_until(d, s), true, t, sizeof(t));
                proto_json_string(f, t);
        } else {
                fputs("null", f);
        }
        fputs(",\"bind_error\":", f);
        if (s && s->bind_error)
                proto_json_string(f, s->bind_error);
        else
                fputs("null", f);
        fputs(",\"servers\":[", f);
        for (Server *srv = s ? s->servers : NULL; srv; srv = srv->next) {
                time_text(srv->started, true, t, sizeof(t));
                fprintf(f, "%s{\"pid\":%d,\"started\":\"%s\"}", srv == s->servers ? "" : ",",
                        (int)srv->pid, t);
        }
        fputs("],\"last_exits\":[", f);
        n = control_exits(d, cs->id, ex, CONTROL_EXITS);
        for (size_t i = 0; i < n; i++) {
                int st = ex[i]->status;

                time_text(ex[i]->ended, true, t, sizeof(t));
                fprintf(f, "%s{\"pid\":%d,\"exit_code\":", i ? "," : "", (int)ex[i]->pid);
                if (WIFEXITED(st))
                        fprintf(f, "%d,\"signal\":null", WEXITSTATUS(st));
                else
                        fprintf(f, "null,\"signal\":%d", WTERMSIG(st));
                fprintf(f, ",\"ended\":\"%s\",\"duration\":%ld}", t, ex[i]->duration);
        }
        fputs("]}", f);
}

static void status_header(Daemon *d, bool json, FILE *f, const Rows *r)
{
        char t[64];
        size_t on = 0, off = 0, broken = 0;
        long long up = (long long)((ev_clock_now() - d->started_usec) / EV_USEC_PER_SEC);

        for (size_t i = 0; r->c && i < r->c->n_services; i++) {
                ConfServiceState st = r->c->services[i]->state;

                on += st == CONF_SERVICE_ACTIVE;
                off += st == CONF_SERVICE_DISABLED;
                broken += st == CONF_SERVICE_SKIPPED;
        }
        time_text(d->started_wall, json, t, sizeof(t));
        if (json) {
                fprintf(f, "{\"pid\":%d,\"version\":\"%s\",\"started\":\"%s\",\"uptime\":%lld,"
                        "\"config\":", (int)d->main_pid, PORTIER_VERSION, t, up);
                proto_json_string(f, d->config_path);
                fprintf(f, ",\"generation\":%u,\"reloading\":%s,\"stopping\":%s,"
                        "\"servers_running\":%u,\"services_on\":%zu,\"services_off\":%zu,"
                        "\"services_broken\":%zu,\"services\":[",
                        d->gen ? d->gen->number : 0, d->reload_running ? "true" : "false",
                        d->stopping ? "true" : "false", d->running, on, off, broken);
                return;
        }
        fprintf(f, "portierd %s - running, pid %d%s\n", PORTIER_VERSION, (int)d->main_pid,
                d->stopping ? " (stopping)" : d->reload_running ? " (reloading)" : "");
        fprintf(f, "       Since: %s; up %lldh %02lldm %02llds\n", t, up / 3600, up / 60 % 60,
                up % 60);
        fprintf(f, "      Config: %s (generation %u)\n", d->config_path,
                d->gen ? d->gen->number : 0);
        fprintf(f, "    Services: %zu on, %zu off, %zu broken\n", on, off, broken);
        fprintf(f, "     Servers: %u running\n", d->running);
}

static int write_status(Daemon *d, const char *id, bool json, FILE *f, char *message,
                        size_t msize)
{
        Rows r;
        int status = PROTO_OK;
        bool first = true, found = false;

        if (rows_build(d, &r) < 0)
                return -ENOMEM;
        if (*id && !(r.c && config_find(r.c, id))) {
                snprintf(message, msize, "no service '%s' in %s", id, d->config_path);
                rows_free(&r);
                return PROTO_E_DENIED;          /* systemctl's "no such unit" */
        }
        status_header(d, json, f, &r);
        for (size_t i = 0; r.c && i < r.c->n_services; i++) {
                const ConfService *cs = r.c->services[i];
                const Service *s = r.live[i];

                if (*id && strcmp(cs->id, id) != 0)
                        continue;
                if (*id && found)
                        continue;       /* several definitions: the first, as config_find() */
                found = true;
                if (json) {
                        fputs(first ? "\n " : ",\n ", f);
                        status_json_service(d, f, cs, s);
                } else {
                        status_text_service(d, f, cs, s);
                }
                first = false;
                if (*id && (!s || s->state == SERVICE_BIND_RETRY))
                        status = PROTO_E_INACTIVE;
        }
        if (json)
                fputs("\n]}\n", f);
        if (status == PROTO_E_INACTIVE) {
                snprintf(message, msize, "service '%s' is not active", id);
        }
        rows_free(&r);
        return status;
}

/* --- sockets ----------------------------------------------------------------------------- */

static int write_sockets(Daemon *d, bool json, FILE *f)
{
        bool first = true;

        if (json)
                fputs("{\"sockets\":[", f);
        else
                fprintf(f, "%-24s %-5s %-5s %-16s %-9s %s\n", "LISTEN", "PROTO", "FD", "SERVICE",
                        "STATE", "SERVER");
        for (size_t i = 0; i < d->n_services; i++) {
                const Service *s = d->services[i];
                const ConfService *cs = s->conf;
                char addr[LISTING_ADDR_MAX], target[300];

                listing_addr(cs, addr, sizeof(addr));
                target_text(cs, target, sizeof(target));
                if (!json) {
                        fprintf(f, "%-24s %-5s %-5d %-16s %-9s %s\n", addr, listing_proto_word(cs), s->fd,
                                cs->id, state_word(s->state), target);
                        continue;
                }
                fputs(first ? "\n {\"address\":" : ",\n {\"address\":", f);
                proto_json_string(f, addr);
                fputs(",\"protocol\":", f);
                proto_json_string(f, listing_proto_word(cs));
                fprintf(f, ",\"port\":%u,\"fd\":%d,\"service\":", cs->port, s->fd);
                proto_json_string(f, cs->id);
                fprintf(f, ",\"state\":\"%s\",\"kind\":\"%s\",\"target\":", state_word(s->state),
                        listing_kind_word(cs->kind));
                proto_json_string(f, target);
                fprintf(f, ",\"running\":%u}", s->running);
                first = false;
        }
        if (json)
                fputs("\n]}\n", f);
        return 0;
}

/**
 * report_write() - render one answer of the control socket
 * @d: the daemon
 * @kind: what to show
 * @id: the service for REPORT_STATUS ("" for all)
 * @json: JSON instead of text
 * @f: where to write
 * @message: the END frame's message (may be left empty)
 * @message_size: its size
 *
 * Return: the END status (PROTO_OK, PROTO_E_*).
 */
int report_write(Daemon *d, ReportKind kind, const char *id, bool json, FILE *f,
                 char *message, size_t message_size)
{
        int r = 0;

        switch (kind) {
        case REPORT_INFO:
                r = write_info(d, json, f);
                break;
        case REPORT_LIST:
                r = write_list(d, json, f);
                break;
        case REPORT_STATUS:
                r = write_status(d, id, json, f, message, message_size);
                break;
        case REPORT_SOCKETS:
                r = write_sockets(d, json, f);
                break;
        case REPORT_DUMP:
                if (json)
                        r = write_status(d, "", true, f, message, message_size);
                else
                        daemon_dump_state_to(d, f);
                break;
        }
        if (r == -ENOMEM) {
                snprintf(message, message_size, "out of memory");
                return PROTO_E_FAILED;
        }
        return r;
}

/**
 * report_status_line() - the sd_notify STATUS= text: services and connection counts
 * @d: the daemon
 * @buf: where to write "STATUS=..."
 * @size: its size
 */
void report_status_line(Daemon *d, char *buf, size_t size)
{
        unsigned long long accepted = 0, refused = 0;
        size_t listening = 0;

        for (size_t i = 0; i < d->n_services; i++) {
                const Service *s = d->services[i];

                listening += s->fd >= 0;
                accepted += s->counters.accepted;
                for (int k = 0; k < _REFUSE_MAX; k++)
                        refused += s->counters.refused[k];
        }
        snprintf(buf, size, "STATUS=%zu services (%zu listening), %u servers running, "
                 "%llu connections accepted, %llu refused%s", d->n_services, listening,
                 d->running, accepted, refused, d->stopping ? "; stopping" : "");
}
