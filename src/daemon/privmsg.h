/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_PRIVMSG_H
#define PORTIERD_PRIVMSG_H

/*
 * privmsg — the messages between portierd's privileged monitor and its unprivileged network
 * process (privsep.c, monitor.c), and their checked decoding.
 *
 * One message is one SOCK_SEQPACKET datagram: a fixed header (type, payload length, number
 * of descriptors) and a payload whose size is fixed per type (strings are carried in a
 * bounded field and must be NUL-terminated inside it). Descriptors travel as SCM_RIGHTS. The
 * decoder is pure (no system call) so that it can be unit-tested and fuzzed: it refuses a
 * message of an unknown type, of the wrong size for its type, or carrying a number of
 * descriptors its type does not carry. The monitor trusts nothing else in a message either:
 * generation and service index are checked against its own configuration, a pid against
 * its own servers, a path against its own configuration's log files (monitor.c).
 *
 * Requests (network process -> monitor, each answered by one reply on the same socket,
 * except SPAWN):
 *   HELLO      the network process dropped its privileges and runs     -> RESULT
 *   BIND       open the listening socket of service @index of @gen     -> BOUND (+1 fd)
 *   SPAWN      start the server of @index of @gen on the fd (+1 fd); pipelined: answered
 *              on the event socket by a SPAWNED event carrying the request's @id
 *   SIGNAL     send @sig to server @pid (and its process group)        -> RESULT
 *   OPEN_LOG   open the log file @path for appending                   -> OPENED (+0/1 fd)
 *   OPEN_DUMP  open the state dump file (portierd.dump by the pid file) -> OPENED (+0/1 fd)
 *   STATUS     sd_notify this STATUS= line (only STATUS=, one line)     -> RESULT
 *   REMOVE_FILE remove the socket file of unix service @index of @gen, if it is still
 *              the file with this identity (a socket)                   -> RESULT
 *   RELOAD     please reload the configuration (SIGHUP, portierctl)    -> RESULT
 *   RELOADED   generation @gen is applied; @oldest is the oldest still in use -> RESULT
 *   REEXEC     re-execute portierd with the inventory of @size bytes in the memfd (+1 fd)
 *              -> REEXEC_FAILED (why) when it did not; on success the monitor execve()s:
 *              the socket closes
 * Events (monitor -> network process, on a second socket, never answered):
 *   SPAWNED    the results of @n SPAWN requests, each with the request's id (batched, up
 *              to PRIVMSG_SPAWNED_MAX: a success whose request had PRIVMSG_SPAWN_HOLD waits
 *              up to 2 ms for its server's exit and goes just before its EXITED). A result
 *              carrying a descriptor travels alone: libwrap's report pipe of a started
 *              server, or the connection back after a failed fork (the network process
 *              retries it; it closed its own copy when it asked). On the event socket, so that a server's EXITED can
 *              never overtake its SPAWNED.
 *   EXITED     @n servers exited: each a pid and its wait status (batched: one message for
 *              what one SIGCHLD reaped, up to PRIVMSG_EXITED_MAX)
 *   NEWCONF    load generation @gen from the bundle in the memfd (+1 fd)
 *   CONFSTREAM load generation @gen from the bundle streaming on this pipe, while the
 *              monitor loads it (+1 fd); then
 *   CONFDONE   the monitor has loaded generation @gen: @held 1 when it holds it (spawns may
 *              name it), 0 when not (the network process must not apply it)
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PRIVMSG_PATH_MAX 1024
#define PRIVMSG_TEXT_MAX 256
#define PRIVMSG_FDS_MAX 1
#define PRIVMSG_EXITED_MAX 32
#define PRIVMSG_SPAWNED_MAX 32

/* SPAWN's flags */
#define PRIVMSG_SPAWN_FIRST_TRY 1u      /* not a fork retry: banner_success goes first */
#define PRIVMSG_SPAWN_HOLD 2u           /* the result may wait for the server's exit, and
                                           the exit for the monitor's next wake-up (up to
                                           2 ms): no limit counts the service's servers,
                                           and it is not wait = yes */
#define PRIVMSG_SIZE_MAX 2048           /* bigger than any message: a receive buffer */

typedef enum PrivMsgType {
        PRIVMSG_HELLO = 1,
        PRIVMSG_BIND,
        PRIVMSG_SPAWN,
        PRIVMSG_SIGNAL,
        PRIVMSG_OPEN_LOG,
        PRIVMSG_RELOAD,
        PRIVMSG_RELOADED,
        PRIVMSG_OPEN_DUMP,
        PRIVMSG_STATUS,
        PRIVMSG_REMOVE_FILE,
        /* replies (SPAWNED: an event) */
        PRIVMSG_RESULT,
        PRIVMSG_BOUND,
        PRIVMSG_SPAWNED,
        PRIVMSG_OPENED,
        /* events */
        PRIVMSG_EXITED,
        PRIVMSG_NEWCONF,
        PRIVMSG_CONFSTREAM,
        PRIVMSG_CONFDONE,
        /* (a request, after the events: types only ever join at the end) */
        PRIVMSG_REEXEC,
        PRIVMSG_REEXEC_FAILED,          /* its reply */
        _PRIVMSG_MAX,
} PrivMsgType;

/* A client address as the network process saw it (datagram services: there is no
 * connection the monitor could ask). */
typedef struct PrivMsgAddr {
        uint16_t family;                /* AF_INET, AF_INET6, or 0: none */
        uint16_t port;                  /* host order */
        uint8_t addr[16];
} PrivMsgAddr;

/* The identity of a unix listener's socket file (listener.h ListenerFile). */
typedef struct PrivMsgFile {
        uint32_t set;                   /* 0: none (not a unix service, or abstract) */
        uint32_t pad;
        uint64_t dev, ino;
        int64_t ctime_sec, ctime_nsec;
} PrivMsgFile;

typedef struct PrivMsg {
        uint32_t type;                  /* PrivMsgType */
        union {
                struct { uint32_t gen, index; } bind;
                struct { uint32_t gen, index, flags; PrivMsgAddr peer; uint32_t id; } spawn;
                struct { int32_t pid, sig; } signal;
                struct { char path[PRIVMSG_PATH_MAX]; } open_log;
                struct { uint32_t gen, oldest; } reloaded;
                struct { char text[PRIVMSG_TEXT_MAX]; } status;
                struct { uint32_t gen, index; PrivMsgFile file; } remove_file;
                struct { int32_t result; } result;
                struct { int32_t result; char text[PRIVMSG_TEXT_MAX]; PrivMsgFile file; } bound;
                struct {
                        uint32_t n;
                        struct { uint32_t id; int32_t result, pid, step, error, has_fd; }
                                e[PRIVMSG_SPAWNED_MAX];
                } spawned;
                struct { int32_t result; } opened;
                struct {
                        uint32_t n;
                        struct { int32_t pid, status; } e[PRIVMSG_EXITED_MAX];
                } exited;
                struct { uint32_t gen; uint64_t size; } newconf;
                struct { uint32_t gen; } confstream;
                struct { uint32_t gen, held; } confdone;
                struct { uint64_t size; } reexec;
                struct { int32_t result; char text[PRIVMSG_TEXT_MAX]; } reexec_failed;
        } u;
} PrivMsg;

/**
 * privmsg_fds() - how many descriptors a message of this content carries
 * @m: the message
 *
 * Return: 0 or 1.
 */
size_t privmsg_fds(const PrivMsg *m);

/**
 * privmsg_encode() - the wire form of a message
 * @m: the message (its strings NUL-terminated)
 * @buf: receives it
 * @size: its size (PRIVMSG_SIZE_MAX is always enough)
 *
 * Return: the length, or -EINVAL for an unknown type or an unterminated string, -ENOBUFS.
 */
int privmsg_encode(const PrivMsg *m, void *buf, size_t size);

/**
 * privmsg_decode() - check and read a received message
 * @buf: the datagram
 * @len: its length
 * @n_fds: the descriptors that came with it
 * @ret: the message
 *
 * Return: 0, or -EBADMSG (unknown type, wrong size, a string without its NUL, a field out of
 * range) or -EPROTO (a number of descriptors this message does not carry).
 */
int privmsg_decode(const void *buf, size_t len, size_t n_fds, PrivMsg *ret);

const char *privmsg_type_name(uint32_t type);

/**
 * privmsg_send() - send a message and its descriptor
 * @sock: the socket (SOCK_SEQPACKET)
 * @m: the message
 * @fd: the descriptor it carries (privmsg_fds() says whether), else -1
 *
 * Return: 0 or -errno.
 */
int privmsg_send(int sock, const PrivMsg *m, int fd);

/**
 * privmsg_recv() - receive and check one message
 * @sock: the socket
 * @ret: the message
 * @ret_fd: the descriptor it carried (close-on-exec), or -1
 * @flags: recvmsg() flags (MSG_DONTWAIT)
 *
 * Descriptors of a refused message are closed.
 *
 * Return: 0; -EMFILE when the message is good but its descriptor could not be received
 * (this process is out of descriptors: @ret is set, *@ret_fd is -1); -EPIPE at end of
 * stream; -EBADMSG/-EPROTO for a refused message (truncated, oversized, malformed, wrong
 * descriptors); -EAGAIN; -errno.
 */
int privmsg_recv(int sock, PrivMsg *ret, int *ret_fd, int flags);

void privmsg_addr_from_sockaddr(const struct sockaddr *sa, PrivMsgAddr *ret);
bool privmsg_addr_to_sockaddr(const PrivMsgAddr *a, struct sockaddr_storage *ret);

#endif
