/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_BUILTIN_H
#define PORTIERD_BUILTIN_H

/*
 * builtin — the INTERNAL services echo, discard, daytime, chargen and time (RFC 862, 863,
 * 867, 864, 868), on TCP and UDP, served on the event loop without a process.
 *
 * Stream: each connection is an InprocConn (inproc.h: instances, per_source, START/EXIT with
 * pid=0). echo peeks at what the client sent, sends it, and consumes only what the socket
 * took, so the daemon holds no copy of a client's data and stops reading while the client
 * does not read (backpressure through the kernel's buffers); chargen writes while the socket
 * takes it; a callback moves a bounded amount (BUILTIN_BATCH_BYTES) before other clients get
 * their turn. A connection without traffic for the service's idle_timeout is closed.
 * daytime and time answer and close.
 *
 * Datagrams: answered inline, with three protections against loops and amplification: no
 * answer to a source port below 1024, equal to a built-in's well-known port (7, 9, 13, 19,
 * 37) or to a port this daemon serves a UDP built-in on (two built-ins on unprivileged ports
 * could otherwise be set talking to each other with one spoofed datagram), and at
 * most a bounded number of answers per source per second (per_source_cps when the service
 * sets it; BUILTIN_UDP_RATE answers a second otherwise, then BUILTIN_UDP_BLOCK_SEC seconds
 * without any). Every datagram passes admission first (address rules, access_times, cps,
 * max_load); an answered one logs START with pid=0, as xinetd does (no EXIT line).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct Service Service;
typedef struct Daemon Daemon;

#define BUILTIN_BATCH_BYTES     (256u * 1024)   /* per connection per callback */
#define BUILTIN_UDP_RATE        100u            /* answers a second per source (default) */
#define BUILTIN_UDP_BLOCK_SEC   1u              /* then none for this long */
#define BUILTIN_UDP_CHARGEN     512u            /* bytes in a chargen datagram (RFC 864 max) */
#define BUILTIN_DGRAM_BATCH     64u             /* datagrams per callback */

#define CHARGEN_LINE            72u             /* characters, then CR LF */

/**
 * builtin_serve() - serve an admitted stream connection of an INTERNAL service
 * @s: the service (s->conf->builtin names the built-in)
 * @fd: the connection, taken over
 * @peer: the client
 * @from: the client as text
 */
void builtin_serve(Service *s, int fd, const struct sockaddr *peer, const char *from);

/**
 * builtin_datagrams() - answer the datagrams waiting on an INTERNAL dgram service's socket
 * @s: the service
 */
void builtin_datagrams(Service *s);

/**
 * builtin_udp_ports_update() - note the ports of the current UDP built-ins (after a
 * configuration is applied), for the loop check
 * @d: the daemon
 */
void builtin_udp_ports_update(Daemon *d);

/* Pure helpers (unit-tested). */

/**
 * builtin_chargen_fill() - RFC 864 output: bytes [@offset, @offset + @len) of the endless
 * stream of 72-character lines (each CR LF terminated) whose first line starts with '!' and
 * each next line one character further along the 95 printable ASCII characters
 * @buf: receives @len bytes
 * @len: bytes wanted
 * @offset: position in the stream
 */
void builtin_chargen_fill(char *buf, size_t len, uint64_t offset);

/**
 * builtin_daytime() - the daytime answer (xinetd's form): "DD MON YYYY HH:MM:SS ZONE\r\n"
 * @buf: receives it, NUL-terminated
 * @size: its size (64 is enough)
 * @t: the time (local time zone)
 *
 * Return: the length without the NUL.
 */
size_t builtin_daytime(char *buf, size_t size, int64_t t);

/**
 * builtin_time() - the time answer (RFC 868): seconds since 1900-01-01 00:00 UTC, 32 bits,
 * big endian (wrapping in 2036, as the RFC's clients expect)
 * @buf: receives 4 bytes
 * @t: the time (seconds since the Unix epoch)
 */
void builtin_time(unsigned char buf[4], int64_t t);

/**
 * builtin_udp_source_refused() - whether a datagram from this source port gets no answer:
 * below 1024, or a built-in service's port (the echo/chargen loop)
 * @port: host byte order
 */
int builtin_udp_source_refused(uint16_t port);

#endif
