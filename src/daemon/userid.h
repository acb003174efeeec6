/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_USERID_H
#define PORTIERD_USERID_H

/*
 * userid — the ident (RFC 1413) step of admission: USERID lines and IDONLY (see userid.c).
 */

#include <sys/socket.h>

typedef struct Service Service;
typedef struct UseridJob UseridJob;

typedef enum UseridKind {
        USERID_GATE,            /* IDONLY: the answer decides whether the server starts */
        USERID_LOG,             /* the server runs; log the answer */
        USERID_AFTER_FAIL,      /* the connection was refused; log the answer */
} UseridKind;

int userid_start(Service *s, UseridKind kind, int fd, const struct sockaddr *peer,
                 const struct sockaddr *local, const char *from);
void userid_cancel_service(Service *s);

#endif
