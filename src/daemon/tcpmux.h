/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_TCPMUX_H
#define PORTIERD_TCPMUX_H

/*
 * tcpmux — the `tcpmux` built-in (RFC 1078): the client sends a service name and CR LF; the
 * daemon hands the connection to the service of that name, which must be of type TCPMUX or
 * TCPMUXPLUS (for TCPMUXPLUS the daemon sends the "+Go" acknowledgement itself; a TCPMUX
 * server sends its own "+" or "-"). "help" lists those services, one name a line. Names are
 * compared without regard to case (RFC 1078).
 *
 * Only services of type TCPMUX/TCPMUXPLUS are reachable this way (xinetd's CVE-2012-0862
 * let a client reach any service by name), and the named service is started through its own
 * admission and its own spawn template, so its user, group and every access rule apply
 * (xinetd's CVE-2013-4342 ran TCPMUX servers as root).
 *
 * The name line is read on the loop without blocking and without reading past it (what the
 * client sends after the line belongs to the server): at most TCPMUX_LINE_MAX bytes, within
 * TCPMUX_NAME_TIMEOUT_SEC seconds (or the tcpmux service's idle_timeout when shorter). A
 * line ends with LF; one CR before it is dropped. A name must be 1 to TCPMUX_NAME_MAX
 * printable ASCII characters without spaces; anything else is answered with a "-" line and
 * the connection closed. What a client sent is escaped (escape.h) before it is logged.
 */

#include <stddef.h>
#include <sys/socket.h>

typedef struct Service Service;

#define TCPMUX_LINE_MAX         258     /* bytes of a name line, CR LF included */
#define TCPMUX_NAME_MAX         256     /* characters of a service name */
#define TCPMUX_NAME_TIMEOUT_SEC 30

/* Outcomes of tcpmux_parse_name() (0: a name). */
enum {
        TCPMUX_E_EMPTY = 1,     /* an empty line */
        TCPMUX_E_BADCHAR = 2,   /* a control character, space, DEL or non-ASCII byte */
        TCPMUX_E_TOO_LONG = 3,  /* longer than TCPMUX_NAME_MAX (or than @size allows) */
};

/* The name line as it is read, and the outcomes of tcpmux_line_take(). */
typedef struct TcpmuxLine {
        size_t len;
        char buf[TCPMUX_LINE_MAX];
} TcpmuxLine;

enum {
        TCPMUX_LINE_MORE = 0,   /* no LF yet: read more */
        TCPMUX_LINE_DONE = 1,   /* buf[0 .. len - 1) is the line, buf[len - 1] its LF */
        TCPMUX_LINE_OVERLONG = 2, /* TCPMUX_LINE_MAX bytes without an LF */
};

/**
 * tcpmux_line_take() - add the bytes waiting on the socket to the line, up to its LF
 * @l: the line so far (zeroed at first)
 * @data: the bytes available (peeked, not yet consumed)
 * @n: their number
 * @ret_take: how many of them belong to the line; the caller consumes exactly those, so that
 *            what follows the line stays on the socket for the server
 *
 * Return: TCPMUX_LINE_MORE, TCPMUX_LINE_DONE or TCPMUX_LINE_OVERLONG.
 */
int tcpmux_line_take(TcpmuxLine *l, const char *data, size_t n, size_t *ret_take);

/**
 * tcpmux_parse_name() - the service name in one line
 * @line: the line's bytes, without its LF (a CR at the end is dropped)
 * @len: their number
 * @name: receives the name, NUL-terminated (untouched unless 0 is returned)
 * @size: its size
 *
 * Return: 0, or TCPMUX_E_EMPTY, TCPMUX_E_BADCHAR, TCPMUX_E_TOO_LONG.
 */
int tcpmux_parse_name(const char *line, size_t len, char *name, size_t size);

/**
 * tcpmux_serve() - serve an admitted connection of the tcpmux built-in
 * @s: the tcpmux service
 * @fd: the connection, taken over
 * @peer: the client
 * @from: the client as text
 */
void tcpmux_serve(Service *s, int fd, const struct sockaddr *peer, const char *from);

#endif
