/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_LISTING_H
#define PORTIERD_LISTING_H

/*
 * listing — the rows of `portierctl list` (text and JSON; portierctl(8) has the schema), from
 * a service's configuration and, when a daemon serves it, its live state. Pure: it needs the
 * configuration only (no Daemon, no socket), so that portierctl renders the very same rows
 * from the files when portierd is not running (then without live state: `running` is left
 * out, and the header says so), and report.c renders them for a running daemon.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/conf.h"

/* A service's live state, when a daemon runs it. */
typedef struct ListingLive {
        const char *state;              /* "listening", "cps-off", ... */
        uint32_t running;               /* servers and in-process connections */
} ListingLive;

#define LISTING_ADDR_MAX 128   /* an IPv6 address and port, or a unix socket_path (108) */

/** listing_addr() - "127.0.0.1:7", "[::1]:7", "*:7" or "[::]:7" into @buf; a unix service's
 * socket_path ("/run/x.sock", "@name"). */
void listing_addr(const ConfService *cs, char *buf, size_t size);
/** listing_kind_word() - "server", "internal", "redirect" or "sensor". */
const char *listing_kind_word(ConfKind k);
/** listing_conf_state_word() - "on", "off" or "broken". */
const char *listing_conf_state_word(const ConfService *cs);
/** listing_proto_word() - the protocol's name, "?" when unknown. */
const char *listing_proto_word(const ConfService *cs);

/**
 * listing_write() - the whole `list` answer
 * @f: where to
 * @c: the configuration (NULL: none loaded; an empty list)
 * @config_path: its main file
 * @generation: the daemon's configuration generation (0 when offline)
 * @live: per @c->services index, the live state or NULL; NULL when no daemon runs
 * @json: JSON instead of text
 */
void listing_write(FILE *f, const Config *c, const char *config_path, unsigned generation,
                   const ListingLive *const *live, bool json);

#endif
