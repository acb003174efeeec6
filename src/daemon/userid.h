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

/* A connection held by an admission step under way, for re-exec's hand-over (the same
 * typedef is in userid.h and revdns.h; C11 allows the repetition). */
typedef void (*HeldConnFn)(void *userdata, int fd, const struct sockaddr *peer,
                           const char *from);

/**
 * userid_each_gated() - call @fn for every connection of @s held for an IDONLY answer
 * @s: the service
 * @fn: the callback (the connection stays the lookup's)
 * @userdata: passed to it
 */
void userid_each_gated(Service *s, HeldConnFn fn, void *userdata);

#endif
