/* SPDX-License-Identifier: MIT */
/*
 * listing.c — the rows of `portierctl list`, shared by the daemon (report.c, live) and by
 * portierctl (from the files, when no daemon runs). See listing.h.
 */

#include "daemon/listing.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/proto.h"

void listing_addr(const ConfService *cs, char *buf, size_t size)
{
        char host[INET6_ADDRSTRLEN] = "?";

        if (cs->family == AF_UNIX) {            /* a path, or "@name" (abstract) */
                snprintf(buf, size, "%s", cs->rare->socket_path);
                return;
        }
        if (!cs->has_bind) {
                snprintf(buf, size, "%s:%u", cs->family == AF_INET6 ? "[::]" : "*", cs->port);
                return;
        }
        if (cs->bind_addr.sa.sa_family == AF_INET6) {
                inet_ntop(AF_INET6, &cs->bind_addr.in6.sin6_addr, host, sizeof(host));
                snprintf(buf, size, "[%s]:%u", host, cs->port);
                return;
        }
        if (cs->bind_addr.sa.sa_family == AF_INET)
                inet_ntop(AF_INET, &cs->bind_addr.in.sin_addr, host, sizeof(host));
        snprintf(buf, size, "%s:%u", host, cs->port);
}

const char *listing_kind_word(ConfKind k)
{
        switch (k) {
        case CONF_KIND_SERVER:
                return "server";
        case CONF_KIND_INTERNAL:
                return "internal";
        case CONF_KIND_REDIRECT:
                return "redirect";
        case CONF_KIND_SENSOR:
                return "sensor";
        }
        return "unknown";
}

const char *listing_conf_state_word(const ConfService *cs)
{
        return cs->state == CONF_SERVICE_ACTIVE ? "on" :
               cs->state == CONF_SERVICE_DISABLED ? "off" : "broken";
}

const char *listing_proto_word(const ConfService *cs)
{
        return cs->protocol_name ? cs->protocol_name : "?";
}

static void text_row(FILE *f, const ConfService *cs, const ListingLive *s)
{
        char name[80], addr[LISTING_ADDR_MAX];

        snprintf(name, sizeof(name), "%s:", cs->id);
        listing_addr(cs, addr, sizeof(addr));
        fprintf(f, "\t%-15s\t%-3s\t%-4s %-22s %-8s", name, listing_conf_state_word(cs),
                listing_proto_word(cs), addr, listing_kind_word(cs->kind));
        if (s)
                fprintf(f, " running %u%s%s", s->running,
                        strcmp(s->state, "listening") == 0 ? "" : ", ",
                        strcmp(s->state, "listening") == 0 ? "" : s->state);
        else if (cs->reason)
                fprintf(f, " (%s)", cs->reason);
        fputc('\n', f);
}

static void json_row(FILE *f, const ConfService *cs, const ListingLive *s, bool offline,
                     bool first)
{
        char addr[LISTING_ADDR_MAX];

        listing_addr(cs, addr, sizeof(addr));
        fputs(first ? "\n {\"id\":" : ",\n {\"id\":", f);
        proto_json_string(f, cs->id);
        fputs(",\"name\":", f);
        proto_json_string(f, cs->name);
        fprintf(f, ",\"enabled\":%s,\"config_state\":\"%s\",\"kind\":\"%s\",\"protocol\":",
                cs->state == CONF_SERVICE_ACTIVE ? "true" : "false",
                cs->state == CONF_SERVICE_ACTIVE ? "active" :
                cs->state == CONF_SERVICE_DISABLED ? "disabled" : "skipped",
                listing_kind_word(cs->kind));
        proto_json_string(f, listing_proto_word(cs));
        fputs(",\"address\":", f);
        proto_json_string(f, addr);
        fprintf(f, ",\"port\":%u,\"wait\":%s,\"reason\":", cs->port, cs->wait ? "true" : "false");
        if (cs->reason)
                proto_json_string(f, cs->reason);
        else
                fputs("null", f);
        fputs(",\"file\":", f);
        proto_json_string(f, cs->pos.file);
        fprintf(f, ",\"line\":%u,\"state\":", cs->pos.line);
        if (s)
                fprintf(f, "\"%s\",\"running\":%u}", s->state, s->running);
        else
                fprintf(f, "null,\"running\":%s}", offline ? "null" : "0");
}

void listing_write(FILE *f, const Config *c, const char *config_path, unsigned generation,
                   const ListingLive *const *live, bool json)
{
        bool offline = live == NULL;

        if (json) {
                fputs("{\"config\":", f);
                proto_json_string(f, config_path);
                if (offline)
                        fputs(",\"daemon_running\":false,\"generation\":null,\"services\":[", f);
                else
                        fprintf(f, ",\"daemon_running\":true,\"generation\":%u,\"services\":[",
                                generation);
        } else if (offline) {
                fprintf(f, "portierd based services (%s; portierd is not running: "
                        "read from the files):\n", config_path);
        } else {
                fprintf(f, "portierd based services (%s):\n", config_path);
        }
        for (size_t i = 0; c && i < c->n_services; i++) {
                const ListingLive *s = live ? live[i] : NULL;

                if (json)
                        json_row(f, c->services[i], s, offline, i == 0);
                else
                        text_row(f, c->services[i], s);
        }
        if (json)
                fputs("\n]}\n", f);
}
