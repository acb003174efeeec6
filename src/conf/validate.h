/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_VALIDATE_H
#define PORTIER_CONF_VALIDATE_H

/*
 * validate — checks on a whole service once its attributes are known, and across services.
 */

#include <stddef.h>

#include "conf/attr.h"
#include "conf/conf.h"

#define CONF_TYPE_MUX_ANY (CONF_TYPE_TCPMUX | CONF_TYPE_TCPMUXPLUS)

/**
 * validate_service() - fill in implied values (protocol from socket_type and back, port from
 * /etc/services, kind, builtin, family, argv) and check the service can run.
 * Return: 0, or 1 when an error was reported (the service must be skipped).
 */
int validate_service(ConfCtx *c, ConfService *s);

/**
 * validate_duplicates() - skip (with an error) every active service whose address, port and
 * protocol an earlier active service already has.
 * Return: 0 or -ENOMEM.
 */
int validate_duplicates(ConfCtx *c, ConfService **v, size_t n);

#endif
