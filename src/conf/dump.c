/* SPDX-License-Identifier: MIT */
/*
 * dump — a Config back to xinetd syntax, one block per service with every effective
 * attribute (defaults applied, implied values filled in), so that the output reads back to the
 * same services. Host names are written as the addresses they resolved to.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "conf/addr.h"
#include "conf/conf.h"
#include "conf/value.h"

static void words(FILE *f, const char *name, unsigned mask, const char *const *names,
                  const unsigned *bits, size_t n, bool always)
{
        if (!mask && !always)
                return;
        fprintf(f, "\t%-16s=", name);
        for (size_t i = 0; i < n; i++)
                if (mask & bits[i])
                        fprintf(f, " %s", names[i]);
        fputc('\n', f);
}

static void addrs(FILE *f, const char *name, const ConfAddrList *l)
{
        char buf[300];

        if (!l->set)
                return;
        fprintf(f, "\t%-16s=", name);
        for (size_t i = 0; i < l->n_addrs; i++) {
                addr_format(&l->addrs[i], buf, sizeof(buf));
                fprintf(f, " %s", buf);
        }
        fputc('\n', f);
}

static void limit(FILE *f, const char *name, uint32_t v)
{
        if (v == CONF_UNLIMITED)
                fprintf(f, "\t%-16s= UNLIMITED\n", name);
        else
                fprintf(f, "\t%-16s= %" PRIu32 "\n", name, v);
}

static void list(FILE *f, const char *name, char **v, size_t n)
{
        fprintf(f, "\t%-16s=", name);
        for (size_t i = 0; i < n; i++)
                fprintf(f, " %s", v[i]);
        fputc('\n', f);
}

static const char *sock_name(int t)
{
        switch (t) {
        case SOCK_STREAM: return "stream";
        case SOCK_DGRAM: return "dgram";
        case SOCK_RAW: return "raw";
        case SOCK_SEQPACKET: return "seqpacket";
        default: return NULL;
        }
}

/* numeric, with the %scope of a link-local IPv6 address */
static void sockaddr_text(const ConfSockaddr *ss, char *buf, size_t size)
{
        socklen_t len = ss->sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                     : sizeof(struct sockaddr_in);
        if (getnameinfo(&ss->sa, len, buf, (socklen_t) size, NULL, 0,
                        NI_NUMERICHOST) != 0)
                snprintf(buf, size, "?");
}

/* socket_path and the attributes of its file (owner as numbers: they read back the same). */
static void socket_file(FILE *f, const ConfRare *r)
{
        if (!r->socket_path)
                return;
        fprintf(f, "\t%-16s= %s\n", "socket_path", r->socket_path);
        if (r->has_socket_uid && r->has_socket_gid)
                fprintf(f, "\t%-16s= %u:%u\n", "socket_owner", (unsigned)r->socket_uid,
                        (unsigned)r->socket_gid);
        else if (r->has_socket_uid || r->has_socket_gid)
                fprintf(f, "\t%-16s= %s%u\n", "socket_owner", r->has_socket_gid ? ":" : "",
                        r->has_socket_uid ? (unsigned)r->socket_uid : (unsigned)r->socket_gid);
        if (r->has_socket_mode)
                fprintf(f, "\t%-16s= %04o\n", "socket_mode", r->socket_mode);
}

static void dump_service(const ConfService *s, FILE *f)
{
        static const char *const tnames[] = { "RPC", "INTERNAL", "TCPMUX", "TCPMUXPLUS",
                                              "UNLISTED" };
        static const unsigned tbits[] = { CONF_TYPE_RPC, CONF_TYPE_INTERNAL, CONF_TYPE_TCPMUX,
                                          CONF_TYPE_TCPMUXPLUS, CONF_TYPE_UNLISTED };
        static const char *const fnames[] = { "INTERCEPT", "NORETRY", "IDONLY", "NAMEINARGS",
                                              "NODELAY", "KEEPALIVE", "NOLIBWRAP", "SENSOR",
                                              "IPv4", "IPv6", "REUSE" };
        static const unsigned fbits[] = { CONF_FLAG_INTERCEPT, CONF_FLAG_NORETRY,
                                          CONF_FLAG_IDONLY, CONF_FLAG_NAMEINARGS,
                                          CONF_FLAG_NODELAY, CONF_FLAG_KEEPALIVE,
                                          CONF_FLAG_NOLIBWRAP, CONF_FLAG_SENSOR,
                                          CONF_FLAG_IPV4, CONF_FLAG_IPV6, CONF_FLAG_REUSE };
        static const char *const snames[] = { "PID", "HOST", "USERID", "EXIT", "DURATION",
                                              "TRAFFIC" };
        static const unsigned sbits[] = { CONF_LOG_PID, CONF_LOG_HOST, CONF_LOG_USERID,
                                          CONF_LOG_EXIT, CONF_LOG_DURATION, CONF_LOG_TRAFFIC };
        static const char *const fanames[] = { "HOST", "USERID", "ATTEMPT" };
        static const unsigned fabits[] = { CONF_LOG_HOST, CONF_LOG_USERID, CONF_LOG_ATTEMPT };
        static const char *const rnames[] = { "rlimit_as", "rlimit_cpu", "rlimit_data",
                                              "rlimit_rss", "rlimit_stack", "rlimit_files",
                                              "rlimit_nproc" };
        char buf[NI_MAXHOST];

        fprintf(f, "# %s:%u%s\n", s->pos.file ? s->pos.file : "?", s->pos.line,
                s->from_inetd ? " (inetd.conf)" : "");
        if (s->state == CONF_SERVICE_SKIPPED) {
                /* commented out: the dump read back gives exactly the services that run */
                fprintf(f, "# skipped: %s\n", s->reason);
                fprintf(f, "#service %s\n#{\n", s->name);
                for (size_t i = 0; i < s->rare->n_raw; i++)
                        fprintf(f, "#\t%s\n", s->rare->raw[i]);
                fputs("#}\n\n", f);
                return;
        }
        if (s->state == CONF_SERVICE_DISABLED)
                fprintf(f, "# disabled: %s\n", s->reason);
        fprintf(f, "service %s\n{\n", s->name);
        fprintf(f, "\t%-16s= %s\n", "id", s->id);
        if (s->state == CONF_SERVICE_DISABLED)
                fprintf(f, "\t%-16s= yes\n", "disable");
        words(f, "type", s->type, tnames, tbits, 5, false);
        words(f, "flags", s->flags, fnames, fbits, 11, false);
        if (sock_name(s->socket_type))
                fprintf(f, "\t%-16s= %s\n", "socket_type", sock_name(s->socket_type));
        if (s->protocol_name && s->family != AF_UNIX)
                fprintf(f, "\t%-16s= %s\n", "protocol", s->protocol_name);
        socket_file(f, s->rare);
        fprintf(f, "\t%-16s= %s\n", "wait", s->wait ? "yes" : "no");
        if (s->port || s->port_set)
                fprintf(f, "\t%-16s= %u\n", "port", s->port);
        if (s->has_bind && s->bind_addr_len) {
                sockaddr_text(&s->bind_addr, buf, sizeof(buf));
                fprintf(f, "\t%-16s= %s\n", "bind", buf);
        } else if (s->has_bind)
                fprintf(f, "\t%-16s= %s\n", "bind", s->bind_text);
        if (s->v6only >= 0)
                fprintf(f, "\t%-16s= %s\n", "v6only", s->v6only ? "yes" : "no");
        if (s->user)
                fprintf(f, "\t%-16s= %s\n", "user", s->user);
        if (s->group)
                fprintf(f, "\t%-16s= %s\n", "group", s->group);
        fprintf(f, "\t%-16s= %s\n", "groups", s->groups ? "yes" : "no");
        if (s->server)
                fprintf(f, "\t%-16s= %s\n", "server", s->server);
        if (s->argv && s->argc > 0) {
                size_t from = (s->flags & CONF_FLAG_NAMEINARGS) ? 0 : 1;
                if (s->argc > from)
                        list(f, "server_args", s->argv + from, s->argc - from);
        }
        if (conf_redirect_unix(s))
                fprintf(f, "\t%-16s= %s\n", "redirect", s->redirect_host);
        else if (s->redirect_host) {
                if (s->redirect_addr_len)
                        sockaddr_text(&s->redirect_addr, buf, sizeof(buf));
                fprintf(f, "\t%-16s= %s %u\n", "redirect",
                        s->redirect_addr_len ? buf : s->redirect_host, s->redirect_port);
        }
        if (s->rare->libwrap)
                fprintf(f, "\t%-16s= %s\n", "libwrap", s->rare->libwrap);
        limit(f, "instances", s->instances);
        limit(f, "per_source", s->per_source);
        fprintf(f, "\t%-16s= %" PRIu32 " %" PRIu32 "\n", "cps", s->cps_rate, s->cps_wait);
        if (s->max_load > 0)
                fprintf(f, "\t%-16s= %.2f\n", "max_load", s->max_load);
        if (s->has_nice)
                fprintf(f, "\t%-16s= %d\n", "nice", s->nice);
        if (s->umask >= 0)
                fprintf(f, "\t%-16s= %03o\n", "umask", (unsigned) s->umask);
        addrs(f, "only_from", &s->only_from);
        addrs(f, "no_access", &s->no_access);
        if (s->n_access_times) {
                fprintf(f, "\t%-16s=", "access_times");
                for (size_t i = 0; i < s->n_access_times; i++)
                        fprintf(f, " %02u:%02u-%02u:%02u", s->access_times[i].start / 60,
                                s->access_times[i].start % 60, s->access_times[i].end / 60,
                                s->access_times[i].end % 60);
                fputc('\n', f);
        }
        if (s->log_type.kind == CONF_LOG_SYSLOG)
                fprintf(f, "\t%-16s= SYSLOG %s %s\n", "log_type",
                        value_facility_name(s->log_type.facility),
                        value_level_name(s->log_type.level));
        else if (s->log_type.kind == CONF_LOG_FILE) {
                fprintf(f, "\t%-16s= FILE %s", "log_type", s->log_type.path);
                if (s->log_type.soft_limit)
                        fprintf(f, " %" PRIu64 " %" PRIu64, s->log_type.soft_limit,
                                s->log_type.hard_limit);
                fputc('\n', f);
        }
        words(f, "log_on_success", s->log_on_success, snames, sbits, 6, true);
        words(f, "log_on_failure", s->log_on_failure, fanames, fabits, 3, true);
        /* Whenever set (a non-RPC service ignores them, but the dump reads back the same). */
        if ((s->type & CONF_TYPE_RPC) || s->rare->rpc_version_max)
                fprintf(f, "\t%-16s= %" PRIu32 "-%" PRIu32 "\n", "rpc_version",
                        s->rare->rpc_version_min, s->rare->rpc_version_max);
        if (s->rare->rpc_number)
                fprintf(f, "\t%-16s= %" PRIu32 "\n", "rpc_number", s->rare->rpc_number);
        if (s->n_env)
                list(f, "env", s->env, s->n_env);
        if (s->passenv)
                list(f, "passenv", s->passenv, s->n_passenv);
        if (s->rare->banner)
                fprintf(f, "\t%-16s= %s\n", "banner", s->rare->banner);
        if (s->rare->banner_success)
                fprintf(f, "\t%-16s= %s\n", "banner_success", s->rare->banner_success);
        if (s->rare->banner_fail)
                fprintf(f, "\t%-16s= %s\n", "banner_fail", s->rare->banner_fail);
        for (int i = 0; i < _CONF_RLIMIT_MAX; i++) {
                if (!(s->rare->rlimit_set & 1u << i))
                        continue;
                if (s->rare->rlimits[i] == RLIM_INFINITY)
                        fprintf(f, "\t%-16s= UNLIMITED\n", rnames[i]);
                else
                        fprintf(f, "\t%-16s= %llu\n", rnames[i],
                                (unsigned long long) s->rare->rlimits[i]);
        }
        if (s->deny_time == CONF_DENY_FOREVER)
                fprintf(f, "\t%-16s= FOREVER\n", "deny_time");
        else if (s->deny_time > 0)
                fprintf(f, "\t%-16s= %d%s\n", "deny_time", s->deny_time,
                        s->deny_in_seconds ? "s" : "");
        if (s->backlog)
                fprintf(f, "\t%-16s= %d\n", "backlog", s->backlog);
        if (s->kind == CONF_KIND_REDIRECT && s->connect_timeout != CONF_DEFAULT_CONNECT_TIMEOUT)
                fprintf(f, "\t%-16s= %" PRIu32 "\n", "connect_timeout", s->connect_timeout);
        if (s->per_source_cps_rate)
                fprintf(f, "\t%-16s= %" PRIu32 " %" PRIu32 "\n", "per_source_cps",
                        s->per_source_cps_rate, s->per_source_cps_seconds);
        if (s->idle_timeout != CONF_DEFAULT_IDLE_TIMEOUT)
                fprintf(f, "\t%-16s= %" PRIu32 "\n", "idle_timeout", s->idle_timeout);
        if (s->at_limit == CONF_AT_LIMIT_DEFER)
                fprintf(f, "\t%-16s= defer\n", "at_limit");
        if (s->listen_fds)
                fprintf(f, "\t%-16s= yes%s%s\n", "listen_fds",
                        s->rare->listen_fds_name ? " " : "",
                        s->rare->listen_fds_name ? s->rare->listen_fds_name : "");
        if (s->no_new_privs)
                fprintf(f, "\t%-16s= yes\n", "no_new_privs");
        if (s->rare->chroot)
                fprintf(f, "\t%-16s= %s\n", "chroot", s->rare->chroot);
        if (s->rare->private_tmp)
                fprintf(f, "\t%-16s= yes\n", "private_tmp");
        if (s->rare->read_only_root)
                fprintf(f, "\t%-16s= yes\n", "read_only_root");
        if (s->rare->has_caps) {
                fprintf(f, "\t%-16s=", "capabilities");
                for (unsigned i = 0; i < CONF_CAP_MAX; i++)
                        if (s->rare->caps & UINT64_C(1) << i)
                                fprintf(f, " CAP_%s", conf_cap_name(i));
                fputc('\n', f);
        }
        fputs("}\n\n", f);
}

int conf_dump(const Config *c, FILE *f)
{
        fprintf(f, "# portierd --dump-config: %zu services (%zu active, %zu disabled, "
                "%zu skipped) from %s\n\n", c->n_services, c->n_active, c->n_disabled,
                c->n_skipped, c->path);
        if (c->max_connections)
                fprintf(f, "defaults\n{\n\t%-16s= %" PRIu32 "\n}\n\n", "max_connections",
                        c->max_connections);
        for (size_t i = 0; i < c->n_services; i++)
                dump_service(c->services[i], f);
        if (fflush(f) != 0 || ferror(f))
                return -(errno ? errno : EIO);
        return 0;
}
