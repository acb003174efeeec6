/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_PROTO_H
#define PORTIER_PROTO_H

/*
 * proto — the control protocol between portierd and portierctl, shared by both.
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socket, so the kernel keeps message boundaries: one
 * frame is one packet, and a packet longer than PROTO_FRAME_MAX is an error (the receiver
 * reads with MSG_TRUNC and sees the real length). Every frame starts with a 12-byte header,
 * little endian:
 *
 *      u32 magic    PROTO_MAGIC ("PCTL")
 *      u16 version  PROTO_VERSION; a peer answers another version with an error and closes
 *      u16 type     PROTO_REQ_* (client to daemon) or PROTO_REPLY_* (daemon to client)
 *      u32 length   bytes of payload that follow; must equal the packet's length - 12
 *
 * A request is one frame: payload u32 flags (PROTO_F_*), then an argument of at most
 * PROTO_ARG_MAX printable bytes (a service id; may be empty). The reply is zero or more
 * PROTO_REPLY_DATA frames (text or JSON, concatenated by the client) and one PROTO_REPLY_END
 * frame: payload i32 status (the exit status portierctl should use), then a message of at
 * most PROTO_MESSAGE_MAX bytes. One request per connection.
 *
 * Every decoder checks sizes before it reads; nothing here allocates or keeps state, so the
 * functions are fuzzed as they are (fuzz/fuzz-control.c).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROTO_MAGIC             0x4c544350u     /* "PCTL" in little endian */
#define PROTO_VERSION           1
#define PROTO_HEADER_SIZE       12
#define PROTO_FRAME_MAX         (64u * 1024)
#define PROTO_PAYLOAD_MAX       (PROTO_FRAME_MAX - PROTO_HEADER_SIZE)
#define PROTO_ARG_MAX           255
#define PROTO_MESSAGE_MAX       4096

typedef enum ProtoType {
        PROTO_REQ_INFO = 1,     /* daemon facts for portierctl: pid, config path, inetd path */
        PROTO_REQ_LIST,
        PROTO_REQ_STATUS,       /* argument: a service id, or empty for all */
        PROTO_REQ_SOCKETS,
        PROTO_REQ_DUMP,
        PROTO_REQ_RELOAD,       /* the END frame comes once the reload is done */
        PROTO_REQ_REEXEC,       /* the END frame comes from the new image (or the old one) */
        _PROTO_REQ_MAX,
        PROTO_REPLY_DATA = 100,
        PROTO_REPLY_END,
} ProtoType;

enum {
        PROTO_F_JSON = 1u << 0, /* answer in JSON (the schemas are in portierctl(8)) */
        _PROTO_F_ALL = PROTO_F_JSON,
};

/* END status values: portierctl's exit codes (LSB / systemctl, portierctl(8)). */
enum {
        PROTO_OK = 0,
        PROTO_E_FAILED = 1,             /* the operation failed (a reload with errors, ...) */
        PROTO_E_USAGE = 2,              /* malformed or unknown request */
        PROTO_E_INACTIVE = 3,           /* status: the service is not active */
        PROTO_E_DENIED = 4,             /* not root nor the daemon's user; status: unknown id */
        PROTO_E_UNKNOWN = 5,            /* no such service */
        PROTO_E_BUSY = 1,               /* try again later (same code as a failure) */
};

typedef struct ProtoFrame {
        uint16_t version;
        uint16_t type;
        const uint8_t *payload;         /* points into the decoded buffer */
        uint32_t length;
} ProtoFrame;

typedef struct ProtoRequest {
        uint16_t type;
        uint32_t flags;
        char arg[PROTO_ARG_MAX + 1];    /* NUL-terminated */
} ProtoRequest;

/**
 * proto_frame_encode() - write a header and payload into @buf
 * Return: the frame length, or -EMSGSIZE when it would exceed @size or PROTO_FRAME_MAX.
 */
int proto_frame_encode(uint8_t *buf, size_t size, uint16_t type, const void *payload,
                       size_t length);

/**
 * proto_frame_decode() - check and split one received packet
 * @buf: the packet
 * @size: its length as received (with MSG_TRUNC: the real length, possibly more than was read)
 * @ret: the frame (payload points into @buf)
 *
 * Return: 0; -EMSGSIZE (over PROTO_FRAME_MAX); -EBADMSG (short, wrong magic, or a length that
 * disagrees with the packet); -EPROTONOSUPPORT (another version: @ret->version is set).
 */
int proto_frame_decode(const uint8_t *buf, size_t size, ProtoFrame *ret);

/** proto_request_encode() - a whole request frame. Return: its length, or -EINVAL/-EMSGSIZE. */
int proto_request_encode(uint8_t *buf, size_t size, uint16_t type, uint32_t flags,
                         const char *arg);

/**
 * proto_request_decode() - the request in a decoded frame
 * Return: 0; -EBADMSG (not a request type, short payload, unknown flags, an argument too long
 * or with a byte outside printable ASCII).
 */
int proto_request_decode(const ProtoFrame *f, ProtoRequest *ret);

/** proto_end_encode() - an END frame; a longer message is cut. Return: the frame length. */
int proto_end_encode(uint8_t *buf, size_t size, int32_t status, const char *message);

/**
 * proto_end_decode() - the status and message of an END frame
 * @ret_message: a buffer of PROTO_MESSAGE_MAX + 1 bytes, NUL-terminated on return
 * Return: 0, or -EBADMSG.
 */
int proto_end_decode(const ProtoFrame *f, int32_t *ret_status, char *ret_message);

/** proto_type_name() - "list", "status", ... for a request type, NULL if unknown. */
const char *proto_type_name(uint16_t type);

/**
 * proto_json_string() - write @s as a JSON string (quotes included) to @f: valid UTF-8 as it
 * is, control characters and bytes that are not valid UTF-8 as \u00XX escapes, so that the
 * output is always valid JSON whatever the input.
 */
void proto_json_string(FILE *f, const char *s);

#endif
