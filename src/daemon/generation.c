/* SPDX-License-Identifier: MIT */
/*
 * generation.c — configuration generations: loading off the loop, and reload by diff.
 *
 * Loading a configuration may wait on the disk and on NSS (users, groups, services, host
 * names): it runs on a worker thread, which also prepares the spawn templates (argv,
 * environment, supplementary groups). The loop learns that it is done through an eventfd and
 * applies the result; a SIGHUP that arrives meanwhile starts one more load afterwards.
 *
 * Applying (DESIGN.md decision 6) matches services by key — id, protocol, address, port:
 *   - same key: the service takes the new definition and keeps its socket;
 *   - new key: a new service opens its socket;
 *   - gone: the socket is closed and the service's servers are ended (as xinetd does);
 *   - a service that serves now and whose new definition is broken keeps the old one,
 *     with the error logged: a reload never loses a working service.
 * A load that fails as a whole (the main file unreadable) changes nothing.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "conf/arena.h"
#include "conf/bundle.h"
#include "daemon/builtin.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/harden.h"
#include "daemon/listener.h"
#include "daemon/privsep.h"
#include "util.h"

#define INETD_CONF "/etc/inetd.conf"
#define BANNER_MAX (64 * 1024)          /* bytes of a banner file that are sent */
#define LISTED_MAX 32                   /* "listening on" lines per apply; then a count */

Generation *generation_ref(Generation *g)
{
        if (g)
                g->refs++;
        return g;
}

static void banners_free(Banners *b)
{
        if (!b)
                return;
        for (int k = 0; k < _BANNER_MAX; k++)
                free(b->data[k]);
        free(b);
}

static void generation_free(Generation *g)
{
        if (g->config)
                for (size_t i = 0; i < g->config->n_services; i++) {
                        spawn_template_free(g->templates[i]);
                        if (g->banners)
                                banners_free(g->banners[i]);
                }
        free(g->templates);
        free(g->banners);
        for (size_t i = 0; g->inherited_env && g->inherited_env[i]; i++)
                free(g->inherited_env[i]);
        free(g->inherited_env);
        free(g->envp_scratch);
        config_free(g->config);
        conf_diag_deinit(&g->diag);
        free(g);
}

Generation *generation_unref(Generation *g)
{
        if (g && --g->refs == 0)
                generation_free(g);
        return NULL;
}

/* Read a banner file (its first BANNER_MAX bytes); a file that cannot be read is a warning
 * and no banner. */
static int read_banner_file(const char *path, char **ret, size_t *ret_len)
{
        char *buf;
        size_t len = 0;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        buf = malloc(BANNER_MAX);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        while (len < BANNER_MAX) {
                ssize_t n = read(fd, buf + len, BANNER_MAX - len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
        }
        close(fd);
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* A banner as the privileged load recorded it (privilege separation: the network process
 * may not be able to read the file). */
static int replay_banner(const ConfBundle *replay, const char *path, char **ret,
                         size_t *ret_len)
{
        const ConfBundleEntry *e = conf_bundle_find(replay, CONF_BUNDLE_FILE, path);

        if (!e)
                return -ENOENT;
        if (e->error)
                return -e->error;
        if (!(*ret = malloc(e->size ? e->size : 1)))
                return -ENOMEM;
        memcpy(*ret, e->data, e->size);
        *ret_len = e->size;
        return 0;
}

static int read_banner(Generation *g, const GenerationSource *src, const ConfService *cs,
                       const char *path, Banners *b, BannerKind k)
{
        char *buf = NULL;
        size_t len = 0;
        int r;

        if (!path)
                return 0;
        if (src && src->replay)
                r = replay_banner(src->replay, path, &buf, &len);
        else
                r = read_banner_file(path, &buf, &len);
        if (r == -ENOMEM)
                return r;
        if (src && src->record &&
            conf_bundle_add_file(src->record, path, r < 0 ? -r : 0, NULL, 0, 0, buf, len) < 0) {
                free(buf);
                return -ENOMEM;
        }
        if (r < 0) {
                conf_diag_add(&g->diag, CONF_WARNING, cs->pos.file, cs->pos.line, 0, cs->id,
                              "cannot read banner '%s': %s; no banner is sent", path,
                              strerror(-r));
                return 0;
        }
        b->data[k] = buf;
        b->len[k] = len;
        return 0;
}

static int load_banners(Generation *g, const GenerationSource *src, size_t i)
{
        const ConfService *cs = g->config->services[i];
        Banners *b;
        int r;

        if (!cs->rare->banner && !cs->rare->banner_success && !cs->rare->banner_fail)
                return 0;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        g->banners[i] = b;
        if ((r = read_banner(g, src, cs, cs->rare->banner, b, BANNER_ALWAYS)) < 0 ||
            (r = read_banner(g, src, cs, cs->rare->banner_success, b, BANNER_SUCCESS)) < 0 ||
            (r = read_banner(g, src, cs, cs->rare->banner_fail, b, BANNER_FAIL)) < 0)
                return r;
        return 0;
}

/* Can the service have its protections here? Asked of the machine (harden.c), and recorded
 * for privilege separation's network process, which takes the monitor's answer instead of
 * probing (it could not: it has no privileges). Return: NULL, or the short reason with the
 * message in @why. */
static const char *load_refusal(Generation *g, const GenerationSource *src, HardenProbe *probe,
                                size_t i, char *why, size_t size, ConfAttrId *ret_attr)
{
        const ConfService *cs = g->config->services[i];
        const char *refused;

        if (src->replay) {
                char key[24];
                const ConfBundleEntry *e;

                snprintf(key, sizeof(key), "%zu", i);
                e = conf_bundle_find(src->replay, CONF_BUNDLE_REFUSAL, key);
                if (!e || e->error >= _CONF_ATTR_MAX)
                        return NULL;
                snprintf(why, size, "%s", e->errtext);
                *ret_attr = (ConfAttrId)e->error;
                refused = arena_strdup(g->config->arena, e->data);
                return refused ? refused : "refused by the privileged process";
        }
        refused = harden_refusal(cs, probe, why, size, ret_attr);
        if (refused && src->record &&
            conf_bundle_add_refusal(src->record, i, *ret_attr, why, refused) < 0)
                return "out of memory";
        return refused;
}

/**
 * generation_load() - read the configuration and prepare it (callable off the loop)
 * @d: the daemon (only its immutable settings are read)
 * @number: the generation's number
 * @ret: the generation, with its diagnostics; returned even when the load failed as a
 *       whole, so that the caller can log why (config is then NULL)
 *
 * The network process of privilege separation reads the files from the bundle the monitor
 * sent (privsep_bundle()).
 *
 * Return: 0, or -errno when the main file could not be read (*ret is still set), or -ENOMEM.
 */
int generation_load(Daemon *d, unsigned number, Generation **ret)
{
        GenerationSource src = { .replay = privsep_bundle(d) };

        return generation_load_from(d, number, &src, ret);
}

/**
 * generation_load_from() - generation_load(), recording what it reads or reading a record
 * @d: the daemon
 * @number: the generation's number
 * @src: record into src->record, or read from src->replay (then the protections a service
 *       asks for are not probed here: the privileged monitor, which loaded the same bytes,
 *       probed them and refuses to spawn what it refused)
 * @ret: as generation_load()
 *
 * Return: as generation_load().
 */
int generation_load_from(Daemon *d, unsigned number, const GenerationSource *src,
                         Generation **ret)
{
        ConfLoadOptions lo = {
                .path = d->config_path,
                .inetd_path = d->opts->inetd_compat ? INETD_CONF : NULL,
                .record = src->record,
                .replay = src->replay,
        };
        Generation *g = calloc(1, sizeof(*g));
        int r;

        if (!g)
                return -ENOMEM;
        g->refs = 1;
        g->number = number;
        r = conf_load(&lo, &g->config, &g->diag);
        if (r < 0) {
                g->config = NULL;
                *ret = g;
                return r;
        }
        g->templates = calloc(g->config->n_services ? g->config->n_services : 1,
                              sizeof(SpawnTemplate *));
        g->banners = calloc(g->config->n_services ? g->config->n_services : 1,
                            sizeof(Banners *));
        if (!g->templates || !g->banners) {
                generation_free(g);
                return -ENOMEM;
        }
        bool libwrap_rules = spawn_libwrap_has_rules();
        HardenProbe probe;

        harden_probe_init(&probe, d->as_root);
        for (size_t i = 0; i < g->config->n_services; i++) {
                ConfService *cs = g->config->services[i];
                const char *refused;
                ConfAttrId attr;
                char why[512];

                if (cs->state != CONF_SERVICE_ACTIVE)
                        continue;
                if ((cs->kind == CONF_KIND_SERVER || cs->kind == CONF_KIND_SENSOR ||
                     cs->kind == CONF_KIND_INTERNAL ||
                     cs->kind == CONF_KIND_REDIRECT) && load_banners(g, src, i) < 0) {
                        generation_free(g);
                        return -ENOMEM;
                }
                if (cs->kind != CONF_KIND_SERVER)
                        continue;
                bool pass_all = !conf_attr_line(cs, CONF_ATTR_PASSENV) &&
                                !(g->config->defaults &&
                                  conf_attr_line(g->config->defaults, CONF_ATTR_PASSENV));

                if (pass_all && !g->inherited_env && !(g->inherited_env = spawn_inherited_env())) {
                        generation_free(g);
                        return -ENOMEM;
                }
                if ((refused = load_refusal(g, src, &probe, i, why, sizeof(why), &attr))) {
                        /* Never a silently unprotected server: a protection this machine
                         * cannot give (chroot without root, ...) keeps the service from
                         * running at all. */
                        cs->state = CONF_SERVICE_SKIPPED;
                        cs->reason = refused;
                        conf_diag_add(&g->diag, CONF_ERROR, cs->pos.file,
                                      conf_attr_line(cs, attr) ?: cs->pos.line, 0, cs->id,
                                      "%s", why);
                        continue;
                }
                r = spawn_template_new(cs, d->as_root, pass_all ? g->inherited_env : NULL,
                                       &d->nofile, &g->templates[i]);
                /* libwrap (hosts.allow/hosts.deny), for exec'd services the daemon accepts
                 * for, unless NOLIBWRAP, and only when the files hold a rule at all. The
                 * daemon name is xinetd's: `libwrap`, else the server's (argv[0]'s with
                 * NAMEINARGS) base name, as tcpd would see it. Not for unix services:
                 * hosts_access() knows no local clients. */
                if (r == 0 && libwrap_rules && listener_accepts(cs) &&
                    cs->family != AF_UNIX && !(cs->flags & CONF_FLAG_NOLIBWRAP)) {
                        const char *prog = (cs->flags & CONF_FLAG_NAMEINARGS) && cs->argv[0]
                                                   ? cs->argv[0] : cs->server;
                        const char *base = strrchr(prog, '/');

                        /* Into the Config, which outlives the template. */
                        g->templates[i]->libwrap = cs->rare->libwrap ? cs->rare->libwrap
                                                               : base ? base + 1 : prog;
                }
                if (r < 0) {
                        /* The Config is immutable for everyone else; until it is published,
                         * the loader may still mark a service it cannot prepare. */
                        cs->state = CONF_SERVICE_SKIPPED;
                        cs->reason = "cannot prepare its server";
                        conf_diag_add(&g->diag, CONF_ERROR, cs->pos.file, cs->pos.line, 0, cs->id,
                                      "cannot prepare the server: %s", strerror(-r));
                }
        }
        /* One scratch vector for every template's environment at spawn time. */
        size_t need = 1;

        for (size_t i = 0; i < g->config->n_services; i++)
                if (g->templates[i] && spawn_template_envp_size(g->templates[i]) > need)
                        need = spawn_template_envp_size(g->templates[i]);
        g->envp_scratch = calloc(need, sizeof(char *));
        if (!g->envp_scratch) {
                generation_free(g);
                return -ENOMEM;
        }
        for (size_t i = 0; i < g->config->n_services; i++)
                if (g->templates[i])
                        g->templates[i]->envp = g->envp_scratch;
        *ret = g;
        return 0;
}

void generation_log_diag(Daemon *d, const ConfDiag *diag)
{
        for (size_t i = 0; i < diag->n_entries; i++) {
                const ConfDiagEntry *e = &diag->entries[i];
                char *text = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&text, &len);

                if (!f)
                        continue;
                conf_diag_format(e, f);
                fclose(f);
                if (len > 0 && text[len - 1] == '\n')
                        text[--len] = '\0';
                portier_log(d->log, e->severity == CONF_ERROR ? LOG_ERR : LOG_WARNING, "%s", text);
                free(text);
        }
        if (diag->n_dropped)
                portier_log(d->log, LOG_WARNING, "%zu more diagnostics not shown",
                            diag->n_dropped);
}

static void log_listening(Daemon *d, const Service *s)
{
        struct sockaddr_storage ss;
        socklen_t len;
        char host[INET6_ADDRSTRLEN];

        if (s->conf->family == AF_UNIX) {
                portier_log(d->log, LOG_INFO, "service '%s': listening on unix socket '%s' (%s)",
                            s->conf->id, s->conf->rare->socket_path,
                            s->conf->socket_type == SOCK_DGRAM ? "dgram" :
                            s->conf->socket_type == SOCK_SEQPACKET ? "seqpacket" : "stream");
                return;
        }
        listener_address(s->conf, &ss, &len);
        (void)spawn_format_addr((struct sockaddr *)&ss, host, sizeof(host), NULL);
        portier_log(d->log, LOG_INFO, ss.ss_family == AF_INET6 ? "service '%s': listening on "
                    "[%s]:%u/%s" : "service '%s': listening on %s:%u/%s", s->conf->id, host,
                    s->conf->port, s->conf->protocol_name ? s->conf->protocol_name : "?");
}

/* A small open-addressing index of the current services by key, for the diff. */
typedef struct KeyIndex {
        Service **slots;
        size_t size;
} KeyIndex;

static int index_build(KeyIndex *ix, Service **v, size_t n)
{
        ix->size = 16;
        while (ix->size < n * 2)
                ix->size *= 2;
        ix->slots = calloc(ix->size, sizeof(Service *));
        if (!ix->slots)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t h = v[i]->key_hash & (ix->size - 1);

                while (ix->slots[h])
                        h = (h + 1) & (ix->size - 1);
                ix->slots[h] = v[i];
        }
        return 0;
}

/* The current service with the listener key of @cs, not yet matched, or NULL. */
static Service *index_find(const KeyIndex *ix, const ConfService *cs)
{
        uint64_t key = listener_key_hash(cs);

        for (size_t h = key & (ix->size - 1); ix->slots[h]; h = (h + 1) & (ix->size - 1)) {
                Service *s = ix->slots[h];

                if (!s->matched && s->key_hash == key && listener_same_key(s->conf, cs))
                        return s;
        }
        return NULL;
}

/* The current service with this id (for a broken new definition), or NULL. */
static Service *find_by_id(Daemon *d, const char *id)
{
        for (size_t i = 0; i < d->n_services; i++)
                if (!d->services[i]->matched && strcmp(d->services[i]->conf->id, id) == 0)
                        return d->services[i];
        return NULL;
}

/**
 * generation_apply() - make a loaded generation the current one
 * @d: the daemon
 * @g: the generation (the caller's reference is consumed)
 * @initial: the first configuration (no old services; log "Started working")
 *
 * Return: 0, or -ENOMEM (the old configuration then stays in force).
 */
int generation_apply(Daemon *d, Generation *g, bool initial)
{
        const Config *c = g->config;
        Service **next = calloc(c->n_services + d->n_services + 1, sizeof(Service *));
        size_t n = 0, n_new = 0, n_kept = 0, n_dropped = 0, n_listed = 0;
        KeyIndex ix = { 0 };

        generation_log_diag(d, &g->diag);
        if (!next || index_build(&ix, d->services, d->n_services) < 0) {
                free(next);
                generation_unref(g);
                portier_log(d->log, LOG_ERR, "reload failed: out of memory; keeping the old "
                            "configuration");
                return -ENOMEM;
        }
        for (size_t i = 0; i < d->n_services; i++)
                d->services[i]->matched = false;

        for (size_t i = 0; i < c->n_services; i++) {
                const ConfService *cs = c->services[i];
                Service *s;

                if (cs->state == CONF_SERVICE_SKIPPED && !initial) {
                        s = find_by_id(d, cs->id);
                        if (s) {
                                portier_log(d->log, LOG_ERR, "service '%s': the new definition "
                                            "is broken (%s); keeping the old one", cs->id,
                                            cs->reason ? cs->reason : "see above");
                                s->matched = true;
                                next[n++] = s;
                                n_kept++;
                        }
                        continue;
                }
                if (cs->state != CONF_SERVICE_ACTIVE)
                        continue;
                s = index_find(&ix, cs);
                if (s) {
                        service_update(s, g, i);
                        s->matched = true;
                        n_kept++;
                } else {
                        s = service_new(d, g, i);
                        if (!s) {
                                portier_log(d->log, LOG_ERR, "service '%s': out of memory",
                                            cs->id);
                                continue;
                        }
                        s->matched = true;
                        if (cs->type & (CONF_TYPE_TCPMUX | CONF_TYPE_TCPMUXPLUS))
                                s->state = SERVICE_MUX;         /* no socket: tcpmux.c */
                        if (cs->has_user && !d->as_root)
                                portier_log(d->log, LOG_WARNING, "service '%s': not running as "
                                            "root: 'user' and 'group' are ignored (the server "
                                            "runs as uid %d)", cs->id, (int)geteuid());
                        n_new++;
                }
                next[n++] = s;
        }

        /* A new service on the socket of a removed one (renamed, or ports moved between
         * services) takes that socket over: not a moment without a listener. */
        for (size_t i = 0; i < n; i++) {
                if (next[i]->fd >= 0 || next[i]->state != SERVICE_BIND_RETRY ||
                    ev_timer_armed(&next[i]->retry))
                        continue;
                for (size_t k = 0; k < d->n_services; k++) {
                        Service *old = d->services[k];

                        if (!old->matched && old->fd >= 0 &&
                            listener_same_socket(old->conf, next[i]->conf) &&
                            service_take_socket(next[i], old) == 0)
                                break;
                }
        }
        for (size_t i = 0; i < d->n_services; i++)
                if (!d->services[i]->matched) {
                        service_retire(d->services[i]);
                        n_dropped++;
                }
        /* The remaining new services bind once the removed ones let go of their ports. */
        for (size_t i = 0; i < n; i++) {
                Service *s = next[i];

                if (s->fd >= 0 || s->state != SERVICE_BIND_RETRY || ev_timer_armed(&s->retry))
                        continue;
                if (service_listen(s) < 0)
                        portier_log(d->log, LOG_ERR, "service '%s': %s; retrying every 5 "
                                    "seconds", s->conf->id,
                                    s->bind_error ? s->bind_error : "cannot listen");
                else if (n_listed++ < LISTED_MAX)
                        log_listening(d, s);
        }
        if (n_listed > LISTED_MAX)
                portier_log(d->log, LOG_INFO, "... and %zu more services listening",
                            n_listed - LISTED_MAX);
        free(ix.slots);
        free(d->services);
        d->services = next;
        d->n_services = n;
        generation_unref(d->gen);
        d->gen = g;
        /* A load builds a whole syntax tree; give its pages back, so that RSS does not
         * climb with each reload of a large configuration. */
        malloc_trim(0);

        builtin_udp_ports_update(d);
        /* As xinetd, TCPMUX services (reached through tcpmux) are not counted. */
        size_t n_mux = 0;

        for (size_t i = 0; i < n; i++)
                n_mux += next[i]->state == SERVICE_MUX;
        if (initial)
                portier_log(d->log, LOG_NOTICE, "Started working: %zu available services",
                            n - n_mux);
        else
                portier_log(d->log, LOG_NOTICE, "Reconfigured: new=%zu old=%zu dropped=%zu "
                            "(services)", n_new, n_kept, n_dropped);
        return 0;
}

/* --- the worker ------------------------------------------------------------------------ */

static void *reload_worker(void *arg)
{
        Daemon *d = arg;
        Generation *g = NULL;
        uint64_t one = 1;

        d->reload_error = generation_load(d, d->next_generation, &g);
        if (d->privsep) {
                /* a load from the monitor's stream: only a complete stream counts */
                int r = privsep_stream_finish(d);

                if (r < 0 && d->reload_error == 0)
                        d->reload_error = r;
        }
        d->reload_result = g;
        /* The eventfd write publishes the result to the loop thread. */
        if (write(d->reload_fd, &one, sizeof(one)) < 0)
                abort();
        return NULL;
}

/* What a load gave, applied (or, when it failed, logged); then the next reload if one is due. */
static void reload_finish(Daemon *d)
{
        Generation *g = d->reload_result;
        /* the monitor does not hold what was loaded here: it would refuse its servers */
        bool refused = d->reload_error == 0 && g && g->config && d->privsep &&
                       privsep_conf_refused(d);

        d->reload_result = NULL;
        d->reload_parked = false;
        if (refused) {
                portier_log(d->log, LOG_ERR, "reload failed: the monitor did not take the new "
                            "configuration; keeping the old configuration");
                d->reload_error = -EIO;
                generation_unref(g);
                g = NULL;
        }
        /* Log rotation sends SIGHUP: the daemon's own file follows it even when the new
         * configuration turns out to be unreadable. */
        int r = d->privsep ? privsep_reopen_daemon_log(d) : portier_log_reopen(d->log);
        if (r < 0)
                portier_log(d->log, LOG_ERR, "cannot reopen the log file: %s; still writing "
                            "to the old one", strerror(-r));
        /* The portierctl clients waiting for this reload learn its outcome. */
        control_reload_done(d, d->stopping ? -ESHUTDOWN :
                               d->reload_error < 0 ? d->reload_error : 0, g ? &g->diag : NULL);
        if (refused) {
                /* said above */
        } else if (d->reload_error < 0 || !g || !g->config) {
                if (g)
                        generation_log_diag(d, &g->diag);
                portier_log(d->log, LOG_ERR, "reload failed: cannot read '%s': %s; keeping the "
                            "old configuration", d->config_path,
                            strerror(d->reload_error < 0 ? -d->reload_error : ENOMEM));
                if (g)
                        generation_unref(g);
        } else if (!d->stopping) {
                tzset();
                (void)logset_reopen(d->logs);
                (void)generation_apply(d, g, false);
        } else {
                generation_unref(g);
        }
        (void)portier_notify(false, "READY=1");
        if (d->privsep)
                privsep_reloaded(d);    /* the monitor may drop older generations */
        if (d->reload_again && !d->stopping) {
                d->reload_again = false;
                (void)reload_start(d);
        }
}

static int on_reload_done(EvFile *f, uint32_t events)
{
        Daemon *d = container_of(f, Daemon, reload_ev);
        uint64_t v;

        if (read(d->reload_fd, &v, sizeof(v)) < 0)
                return 0;
        /* The worker has written its result and is returning: this wait is short. */
        (void)pthread_join(d->reload_thread, NULL);
        d->reload_running = false;
        /* Privilege separation, a load from the monitor's stream: applied once the monitor
         * says it holds that generation too (CONFDONE), so that no spawn names it before. */
        if (d->privsep && privsep_conf_pending(d)) {
                d->reload_parked = true;
                return 0;
        }
        reload_finish(d);
        return 0;
}

/**
 * generation_reload_resume() - the monitor's word came: apply a load that waited for it
 * @d: the daemon
 */
void generation_reload_resume(Daemon *d)
{
        if (d->reload_parked)
                reload_finish(d);
}

/**
 * reload_start() - begin loading the configuration again (SIGHUP)
 * @d: the daemon
 *
 * Return: 0, or -errno when the worker could not be started.
 */
int reload_start(Daemon *d)
{
        int r;

        /* Privilege separation: the monitor loads first and sends what it read. */
        if (d->privsep && !privsep_take_reload_grant(d))
                return privsep_ask_reload(d);
        if (d->reload_running || d->reload_parked) {
                d->reload_again = true;
                return 0;
        }
        portier_log(d->log, LOG_NOTICE, "Starting reconfiguration");
        (void)portier_notify_reloading();
        d->next_generation++;
        d->reload_running = true;
        r = -pthread_create(&d->reload_thread, NULL, reload_worker, d);
        if (r < 0) {
                d->reload_running = false;
                portier_log(d->log, LOG_ERR, "reload failed: cannot start a thread: %s",
                            strerror(-r));
                (void)portier_notify(false, "READY=1");
        }
        return r;
}

int reload_init(Daemon *d)
{
        d->reload_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->reload_fd < 0)
                return -errno;
        d->reload_ev = EV_FILE_NULL;
        return ev_file_add(d->loop, &d->reload_ev, d->reload_fd, EPOLLIN, on_reload_done);
}

void reload_deinit(Daemon *d)
{
        if (d->reload_running) {
                (void)pthread_join(d->reload_thread, NULL);
                d->reload_running = false;
                generation_unref(d->reload_result);
                d->reload_result = NULL;
        }
        if (d->reload_parked) {
                generation_unref(d->reload_result);
                d->reload_result = NULL;
                d->reload_parked = false;
        }
        ev_file_remove(&d->reload_ev);
        d->reload_fd = safe_close(d->reload_fd);
}
