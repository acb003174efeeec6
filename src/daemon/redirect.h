/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_REDIRECT_H
#define PORTIERD_REDIRECT_H

/*
 * redirect — `redirect = host port`: an in-process TCP proxy on the event loop, one "pair"
 * (client socket, backend socket) per admitted connection and no process (DESIGN.md "How a
 * connection flows").
 *
 * A pair relays each direction through a pipe with splice(2) (zero copy), falling back to a
 * bounded read/write buffer where splice cannot be used; it never holds more than one window
 * (64 KiB, up to 1 MiB for a destination that keeps up) per direction: a side that does not
 * read stops the reading of the other (backpressure). A client that shuts down its write side gets shutdown(SHUT_WR)
 * passed on to the backend, and the backend's reply still flows back until it closes too.
 */

#include <stdint.h>
#include <sys/socket.h>

typedef struct Daemon Daemon;
typedef struct Service Service;

void redirect_start(Service *s, int fd, const struct sockaddr *peer, const char *from);
uint32_t redirect_idle_timeout(const Service *s);
void redirect_deinit(Daemon *d);

#endif
