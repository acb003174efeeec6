/* SPDX-License-Identifier: MIT */
/*
 * inventory.c — the live upgrade's inventory: what the old image writes into a memfd before
 * execve() and the new image parses (the format is in reexec.c's header). Text, one item a
 * line, versioned; every field is checked when read (the writer is another binary: older or
 * newer). Descriptors are only named here; which of them cross execve() is reexec.c's.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/listener.h"
#include "daemon/reexec.h"
#include "daemon/revdns.h"
#include "daemon/userid.h"
#include "util.h"

const char *const held_stage_names[_HELD_MAX] = {
        [HELD_RETRY] = "retry", [HELD_IDENT] = "ident", [HELD_NAME] = "name",
};

/* --- written by the old image --------------------------------------------------------------- */

static void write_addr(FILE *f, bool have, const AccessAddr *a)
{
        if (!have) {
                fputs(" -", f);
                return;
        }
        fputc(' ', f);
        for (size_t i = 0; i < sizeof(a->addr); i++)
                fprintf(f, "%02x", a->addr[i]);
}

static void write_hex(FILE *f, const char *text)
{
        fputc(' ', f);
        if (!text || !*text) {
                fputc('-', f);
                return;
        }
        for (const unsigned char *p = (const unsigned char *)text; *p; p++)
                fprintf(f, "%02x", *p);
}

/* What the EXIT line of a server needs when the new image has no service for it. */
static void write_exitlog_fields(FILE *f, const char *key, unsigned log_on_success,
                                 const ConfLogType *lt, const char *id)
{
        fprintf(f, "exitlog %s %u %d %d %d %llu %llu", key, log_on_success, (int)lt->kind,
                lt->facility, lt->level, (unsigned long long)lt->soft_limit,
                (unsigned long long)lt->hard_limit);
        write_hex(f, id);
        write_hex(f, lt->kind == CONF_LOG_FILE ? lt->path : NULL);
        fputc('\n', f);
}

static void write_exitlog(FILE *f, const Service *s, const char *key)
{
        write_exitlog_fields(f, key, s->conf->log_on_success, &s->conf->log_type, s->conf->id);
}

static void write_service(FILE *f, const Service *s)
{
        const ServiceCounters *c = &s->counters;
        char key[512];

        /* A retired service's key may be a current service's again (re-added by a later
         * reload): its servers are marked, so that the new image does not mix them up. */
        if (s->state == SERVICE_RETIRED)
                key[0] = '!';
        (void)listener_key(s->conf, key + (s->state == SERVICE_RETIRED),
                           sizeof(key) - 1);
        fprintf(f, "service %d %llu %llu %llu %llu %llu %llu", s->fd,
                (unsigned long long)c->accepted, (unsigned long long)c->started,
                (unsigned long long)c->exited, (unsigned long long)c->spawn_failed,
                (unsigned long long)c->noid, (unsigned long long)c->dropped);
        for (int k = 0; k < _REFUSE_MAX; k++)
                fprintf(f, " %llu", (unsigned long long)c->refused[k]);
        fprintf(f, " %s\n", key);
        for (Server *srv = s->servers; srv; srv = srv->next) {
                fprintf(f, "server %d %lld", (int)srv->pid, (long long)srv->started);
                write_addr(f, srv->src_held, &srv->src);
                write_addr(f, srv->has_client, &srv->client);
                fprintf(f, " %s\n", key);
        }
        if (s->servers)
                write_exitlog(f, s, key);
        if (s->state == SERVICE_CPS_OFF && ev_timer_armed(&s->retry))
                fprintf(f, "cpsoff %llu %s\n", (unsigned long long)s->retry.when, key);
}

/* The connections in admission, of every service (retired ones too). */

typedef struct HeldWalk {
        InventoryHeldFn fn;
        void *userdata;
        Service *s;
        HeldStage stage;
} HeldWalk;

static void held_one(void *userdata, int fd, const struct sockaddr *peer, const char *from)
{
        HeldWalk *w = userdata;

        w->fn(w->userdata, w->s, w->stage, 0, fd, peer, from);
}

void inventory_each_held(Daemon *d, InventoryHeldFn fn, void *userdata)
{
        for (size_t i = 0; i < d->n_services + d->n_retired; i++) {
                Service *s = i < d->n_services ? d->services[i] : d->retired[i - d->n_services];
                HeldWalk w = { .fn = fn, .userdata = userdata, .s = s };

                for (size_t k = 0; s->fork_queue && k < s->fork_queue->n; k++) {
                        ForkRetry *fr = &s->fork_queue->e[k];

                        fn(userdata, s, HELD_RETRY, fr->tries, fr->fd,
                           (struct sockaddr *)&fr->peer, fr->from);
                }
                w.stage = HELD_IDENT;
                userid_each_gated(s, held_one, &w);
                w.stage = HELD_NAME;
                revdns_each_held(s, held_one, &w);
        }
}

static void write_held(void *userdata, Service *s, HeldStage stage, unsigned tries, int fd,
                       const struct sockaddr *peer, const char *from)
{
        FILE *f = userdata;
        socklen_t len = peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                    : sizeof(struct sockaddr_in);
        char key[512];

        if (s->state == SERVICE_RETIRED)
                return;         /* not served any more: closed at the exec */
        (void)listener_key(s->conf, key, sizeof(key));
        fprintf(f, "held %s %u %d ", held_stage_names[stage], tries, fd);
        for (socklen_t i = 0; i < len; i++)
                fprintf(f, "%02x", ((const unsigned char *)peer)[i]);
        write_hex(f, from);
        fprintf(f, " %s\n", key);
}

/* A server adopted without a service stays one through the next re-exec. */
static void write_orphan(FILE *f, const ReexecOrphan *o)
{
        char key[32];

        snprintf(key, sizeof(key), "!orphan%d", (int)o->pid);
        fprintf(f, "server %d %lld - - %s\n", (int)o->pid, (long long)o->started, key);
        if (!o->id)
                return;
        write_exitlog_fields(f, key, o->log_on_success, &o->log_type, o->id);
}

/**
 * inventory_write_end() - an inventory's last lines: the command line (hex, an arg line
 * each) and "end"
 * @f: the inventory
 * @argv: the command line
 */
void inventory_write_end(FILE *f, char *const argv[])
{
        for (char *const *a = argv; a && *a; a++) {
                fputs("arg ", f);
                for (const unsigned char *p = (const unsigned char *)*a; *p; p++)
                        fprintf(f, "%02x", *p);
                fputc('\n', f);
        }
        fputs("end\n", f);
}

int inventory_write(Daemon *d, int pidfile_fd, int client_fd, pid_t drainer)
{
        _cleanup_close_ int fd = memfd_create("portierd-reexec", 0);
        FILE *f;
        int r;

        if (fd < 0)
                return -errno;
        f = fdopen(dup(fd), "w");
        if (!f)
                return -errno;
        fprintf(f, "portier-reexec %d\ngeneration %u\nstarted %llu %lld\n", REEXEC_VERSION,
                d->gen ? d->gen->number : 0, (unsigned long long)d->started_usec,
                (long long)d->started_wall);
        fprintf(f, "pidfile %d\ncontrol %d\nclient %d\nfallback %d\n", pidfile_fd,
                control_socket_fd(d->control), client_fd, d->reexec->exe_fd);
        for (size_t i = 0; i < d->n_services; i++)
                write_service(f, d->services[i]);
        for (size_t i = 0; i < d->n_retired; i++)
                write_service(f, d->retired[i]);
        for (size_t i = 0; i < d->reexec->n_drainers; i++)
                fprintf(f, "drainer %d\n", (int)d->reexec->drainers[i]);
        for (size_t i = 0; i < d->reexec->n_orphans; i++)
                write_orphan(f, &d->reexec->orphans[i]);
        inventory_each_held(d, write_held, f);
        if (drainer > 0)
                fprintf(f, "drainer %d\n", (int)drainer);
        inventory_write_end(f, d->opts->argv);
        r = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

/* --- read by the new image ----------------------------------------------------------------- */

int inventory_read(int fd, char **ret)
{
        size_t len = 0, cap = 4096;
        char *buf = malloc(cap + 1);

        if (!buf)
                return -ENOMEM;
        if (lseek(fd, 0, SEEK_SET) < 0) {
                free(buf);
                return -errno;
        }
        for (;;) {
                ssize_t n;

                if (len == cap) {
                        char *nb = cap < REEXEC_STATE_MAX ? realloc(buf, cap * 2 + 1) : NULL;

                        if (!nb) {
                                free(buf);
                                return -EFBIG;
                        }
                        buf = nb;
                        cap *= 2;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        free(buf);
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        buf[len] = '\0';
        *ret = buf;
        return 0;
}

/* --- read by the new image ------------------------------------------------------------------ */

static int parse_fd_line(const char *line, const char *name, int *ret)
{
        size_t n = strlen(name);
        char *end;
        long v;

        if (strncmp(line, name, n) != 0 || line[n] != ' ')
                return 0;
        errno = 0;
        v = strtol(line + n + 1, &end, 10);
        if (errno || *end || v < -1 || v > INT_MAX)
                return -EBADMSG;
        *ret = (int)v;
        return 1;
}

static int parse_service(Reexec *x, char *line)
{
        ReexecService *v, *s;
        unsigned long long n[6 + _REFUSE_MAX];
        char *p = line + strlen("service "), *end;
        long fd;

        fd = strtol(p, &end, 10);
        if (end == p || *end != ' ' || fd < -1 || fd > INT_MAX)
                return -EBADMSG;
        p = end + 1;
        for (size_t i = 0; i < ELEMENTSOF(n); i++) {
                errno = 0;
                n[i] = strtoull(p, &end, 10);
                if (errno || end == p || *end != ' ')
                        return -EBADMSG;
                p = end + 1;
        }
        if (!*p)
                return -EBADMSG;
        v = realloc(x->services, (x->n_services + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->services = v;
        s = &v[x->n_services];
        *s = (ReexecService){ .fd = (int)fd, .key = strdup(p) };
        if (!s->key)
                return -ENOMEM;
        x->n_services++;
        s->counters = (ServiceCounters){ .accepted = n[0], .started = n[1], .exited = n[2],
                                         .spawn_failed = n[3], .noid = n[4],
                                         .dropped = n[5] };
        for (int k = 0; k < _REFUSE_MAX; k++)
                s->counters.refused[k] = n[6 + k];
        return 0;
}

static int parse_addr(char **p, bool *ret_have, AccessAddr *ret)
{
        char *tok = *p, *end = strchr(tok, ' ');

        if (!end)
                return -EBADMSG;
        *end = '\0';
        *p = end + 1;
        *ret_have = strcmp(tok, "-") != 0;
        if (!*ret_have)
                return 0;
        if (strlen(tok) != 2 * sizeof(ret->addr) || strspn(tok, "0123456789abcdef") != strlen(tok))
                return -EBADMSG;
        for (size_t i = 0; i < sizeof(ret->addr); i++) {
                unsigned b;

                sscanf(tok + 2 * i, "%2x", &b);
                ret->addr[i] = (uint8_t)b;
        }
        return 0;
}

static int parse_server(Reexec *x, char *line, int version)
{
        ReexecServer *v, srv = { 0 };
        char *p = line + strlen("server "), *end;
        long pid;
        long long started;

        pid = strtol(p, &end, 10);
        if (end == p || *end != ' ' || pid <= 0 || pid > INT_MAX)
                return -EBADMSG;
        p = end + 1;
        started = strtoll(p, &end, 10);
        if (end == p || *end != ' ' || !end[1])
                return -EBADMSG;
        p = end + 1;
        if (version >= 2 && (parse_addr(&p, &srv.has_src, &srv.src) < 0 ||
                             parse_addr(&p, &srv.has_client, &srv.client) < 0 || !*p))
                return -EBADMSG;
        v = realloc(x->servers, (x->n_servers + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->servers = v;
        srv.pid = (pid_t)pid;
        srv.started = (time_t)started;
        srv.key = strdup(p);
        if (!srv.key)
                return -ENOMEM;
        v[x->n_servers++] = srv;
        return 0;
}

static int parse_cps_off(Reexec *x, char *line)
{
        ReexecCpsOff *v;
        char *p = line + strlen("cpsoff "), *end;
        unsigned long long until;

        errno = 0;
        until = strtoull(p, &end, 10);
        if (errno || end == p || *end != ' ' || !end[1])
                return -EBADMSG;
        v = realloc(x->cps_off, (x->n_cps_off + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->cps_off = v;
        v[x->n_cps_off] = (ReexecCpsOff){ .until = until, .key = strdup(end + 1) };
        if (!v[x->n_cps_off].key)
                return -ENOMEM;
        x->n_cps_off++;
        return 0;
}

/* HEX (lower case, possibly empty) decoded into a new string. */
static int hex_to_str(const char *hex, char **ret)
{
        size_t n = strlen(hex);
        char *a;

        if (n % 2 || strspn(hex, "0123456789abcdef") != n)
                return -EBADMSG;
        a = malloc(n / 2 + 1);
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned b;

                sscanf(hex + 2 * i, "%2x", &b);
                a[i] = (char)b;
        }
        a[n / 2] = '\0';
        *ret = a;
        return 0;
}

/* HEX (or "-": NULL) decoded into a new string; never empty. */
static int hex_decode(const char *hex, char **ret)
{
        *ret = NULL;
        if (strcmp(hex, "-") == 0)
                return 0;
        return hex[0] ? hex_to_str(hex, ret) : -EBADMSG;
}

/* Split @line in place at single spaces: exactly @n fields, or -EBADMSG. */
static int split_fields(char *line, char **ret, size_t n)
{
        size_t k = 0;

        for (char *p = line; k < n; k++) {
                ret[k] = p;
                p = strchr(p, ' ');
                if (!p)
                        return k + 1 == n && *ret[k] ? 0 : -EBADMSG;
                *p++ = '\0';
                if (!*ret[k])
                        return -EBADMSG;
        }
        return -EBADMSG;        /* more fields than wanted */
}

static int parse_u64(const char *t, uint64_t max, uint64_t *ret)
{
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(t, &end, 10);
        if (errno || *end || end == t || *t == '-' || v > max)
                return -EBADMSG;
        *ret = v;
        return 0;
}

static int parse_exitlog(Reexec *x, char *line)
{
        ReexecExitLog e = { 0 }, *v;
        char *f[10];
        uint64_t flags, kind, facility, level, soft, hard;
        int r;

        /* exitlog KEY LOG_ON_SUCCESS LOGKIND FACILITY LEVEL SOFT HARD HEX(ID) HEX(PATH)|- */
        if (split_fields(line, f, 10) < 0 || parse_u64(f[2], UINT_MAX, &flags) < 0 ||
            parse_u64(f[3], CONF_LOG_FILE, &kind) < 0 ||
            parse_u64(f[4], INT_MAX, &facility) < 0 || parse_u64(f[5], INT_MAX, &level) < 0 ||
            parse_u64(f[6], UINT64_MAX, &soft) < 0 || parse_u64(f[7], UINT64_MAX, &hard) < 0)
                return -EBADMSG;
        e.log_on_success = (unsigned)flags;
        e.log_type = (ConfLogType){ .kind = (ConfLogKind)kind, .facility = (int)facility,
                                    .level = (int)level, .soft_limit = soft,
                                    .hard_limit = hard };
        v = realloc(x->exitlogs, (x->n_exitlogs + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->exitlogs = v;
        e.key = strdup(f[1]);
        if (!e.key)
                return -ENOMEM;
        if ((r = hex_decode(f[8], &e.id)) < 0 ||
            (r = hex_decode(f[9], (char **)&e.log_type.path)) < 0 || !e.id ||
            (e.log_type.kind == CONF_LOG_FILE && !e.log_type.path)) {
                free(e.key);
                free(e.id);
                free((char *)e.log_type.path);
                return r < 0 ? r : -EBADMSG;
        }
        v[x->n_exitlogs++] = e;
        return 0;
}

static int parse_held(Reexec *x, char *line)
{
        ReexecHeld h = { .fd = -1 }, *v;
        char *f[7];
        _cleanup_free_ char *from_text = NULL;
        uint64_t tries, fd;
        size_t n;
        int r;

        /* held STAGE TRIES FD HEX(PEER SOCKADDR) HEX(FROM) KEY */
        if (split_fields(line, f, 7) < 0 || parse_u64(f[2], UINT_MAX, &tries) < 0 ||
            parse_u64(f[3], INT_MAX, &fd) < 0)
                return -EBADMSG;
        h.tries = (unsigned)tries;
        h.fd = (int)fd;
        for (h.stage = 0; h.stage < _HELD_MAX; h.stage++)
                if (strcmp(f[1], held_stage_names[h.stage]) == 0)
                        break;
        n = strlen(f[4]);
        if (h.stage == _HELD_MAX || (n != 2 * sizeof(struct sockaddr_in) &&
                                     n != 2 * sizeof(struct sockaddr_in6)) ||
            strspn(f[4], "0123456789abcdef") != n)
                return -EBADMSG;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned b;

                sscanf(f[4] + 2 * i, "%2x", &b);
                ((unsigned char *)&h.peer)[i] = (unsigned char)b;
        }
        /* 16 bytes: an IPv4 address, or a unix service's client (AccessUnixPeer) */
        if (n == 2 * sizeof(struct sockaddr_in) ? h.peer.ss_family != AF_INET &&
                                                  h.peer.ss_family != AF_UNIX
                                                : h.peer.ss_family != AF_INET6)
                return -EBADMSG;
        if ((r = hex_decode(f[5], &from_text)) < 0)
                return r;
        snprintf(h.from, sizeof(h.from), "%s", from_text ? from_text : "");
        v = realloc(x->held, (x->n_held + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->held = v;
        if (!(h.key = strdup(f[6])))
                return -ENOMEM;
        v[x->n_held++] = h;
        return 0;
}

static int parse_drainer(Reexec *x, const char *line)
{
        pid_t *v;
        char *end;
        long pid = strtol(line + strlen("drainer "), &end, 10);

        if (*end || pid <= 0 || pid > INT_MAX)
                return -EBADMSG;
        v = realloc(x->drainers, (x->n_drainers + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        x->drainers = v;
        v[x->n_drainers++] = (pid_t)pid;
        return 0;
}

static int parse_arg(Reexec *x, const char *hex)
{
        char **v, *a;
        int r;

        v = realloc(x->argv, (x->argc + 2) * sizeof(char *));
        if (!v)
                return -ENOMEM;
        x->argv = v;
        if ((r = hex_to_str(hex, &a)) < 0)      /* an argument may be empty */
                return r;
        x->argv[x->argc++] = a;
        x->argv[x->argc] = NULL;
        return 0;
}

int inventory_cmp_service(const void *a, const void *b)
{
        return strcmp(((const ReexecService *)a)->key, ((const ReexecService *)b)->key);
}

int inventory_parse(Reexec *x, char *text)
{
        char *save = NULL, *line;
        int version = 0, fallback = -1, r;
        bool ended = false;

        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                unsigned long long us;
                long long wall;

                if (ended)
                        return -EBADMSG;
                if (sscanf(line, "portier-reexec %d", &version) == 1)
                        continue;
                if (version != 1 && version != REEXEC_VERSION)
                        return -EPROTONOSUPPORT;
                if (sscanf(line, "generation %u", &x->generation) == 1)
                        continue;
                if (sscanf(line, "started %llu %lld", &us, &wall) == 2) {
                        x->started_usec = us;
                        x->started_wall = (time_t)wall;
                        continue;
                }
                if ((r = parse_fd_line(line, "pidfile", &x->pidfile_fd)) ||
                    (r = parse_fd_line(line, "control", &x->control_fd)) ||
                    (r = parse_fd_line(line, "client", &x->client_fd)) ||
                    (r = parse_fd_line(line, "fallback", &fallback))) {
                        if (r < 0)
                                return r;
                        continue;
                }
                if (strncmp(line, "service ", 8) == 0)
                        r = parse_service(x, line);
                else if (strncmp(line, "server ", 7) == 0)
                        r = parse_server(x, line, version);
                else if (version >= 2 && strncmp(line, "cpsoff ", 7) == 0)
                        r = parse_cps_off(x, line);
                else if (version >= 2 && strncmp(line, "drainer ", 8) == 0)
                        r = parse_drainer(x, line);
                else if (version >= 2 && strncmp(line, "exitlog ", 8) == 0)
                        r = parse_exitlog(x, line);
                else if (version >= 2 && strncmp(line, "held ", 5) == 0)
                        r = parse_held(x, line);
                else if (strncmp(line, "arg ", 4) == 0)
                        r = parse_arg(x, line + 4);
                else if (strcmp(line, "end") == 0)
                        r = 0, ended = true;
                else
                        r = -EBADMSG;
                if (r < 0)
                        return r;
        }
        if (!ended || x->pidfile_fd < 0)
                return -EBADMSG;
        /* By key, for reexec_take_fd(): 10,000 services are matched in O(n log n). */
        if (x->n_services > 0)  /* (an inventory without services: no array to sort) */
                qsort(x->services, x->n_services, sizeof(*x->services),
                      inventory_cmp_service);
        /* The fallback binary: keep the one the old image ran, unless we are it. */
        if (fallback >= 0) {
                if (x->error) {
                        (void)close(fallback);
                } else {
                        (void)safe_close(x->exe_fd);
                        x->exe_fd = fallback;
                }
        }
        return 0;
}
