/* SPDX-License-Identifier: MIT */
/*
 * proto.c — encoding and checking the control protocol's frames (proto.h). Pure functions:
 * no allocation, no state; every length is checked before the bytes it covers are read.
 */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "proto/proto.h"

static void put_u16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
               (uint32_t)p[3] << 24;
}

int proto_frame_encode(uint8_t *buf, size_t size, uint16_t type, const void *payload,
                       size_t length)
{
        if (length > PROTO_PAYLOAD_MAX || PROTO_HEADER_SIZE + length > size)
                return -EMSGSIZE;
        put_u32(buf, PROTO_MAGIC);
        put_u16(buf + 4, PROTO_VERSION);
        put_u16(buf + 6, type);
        put_u32(buf + 8, (uint32_t)length);
        if (length)
                memcpy(buf + PROTO_HEADER_SIZE, payload, length);
        return (int)(PROTO_HEADER_SIZE + length);
}

int proto_frame_decode(const uint8_t *buf, size_t size, ProtoFrame *ret)
{
        *ret = (ProtoFrame){ 0 };
        if (size > PROTO_FRAME_MAX)
                return -EMSGSIZE;
        if (size < PROTO_HEADER_SIZE || get_u32(buf) != PROTO_MAGIC)
                return -EBADMSG;
        ret->version = get_u16(buf + 4);
        if (ret->version != PROTO_VERSION)
                return -EPROTONOSUPPORT;
        ret->type = get_u16(buf + 6);
        ret->length = get_u32(buf + 8);
        if (ret->length != size - PROTO_HEADER_SIZE)
                return -EBADMSG;
        ret->payload = buf + PROTO_HEADER_SIZE;
        return 0;
}

static bool arg_ok(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
                        return false;
        return true;
}

int proto_request_encode(uint8_t *buf, size_t size, uint16_t type, uint32_t flags,
                         const char *arg)
{
        uint8_t payload[4 + PROTO_ARG_MAX];
        size_t n = arg ? strlen(arg) : 0;

        if (n > PROTO_ARG_MAX || !arg_ok(arg ? arg : "", n) || (flags & ~_PROTO_F_ALL))
                return -EINVAL;
        put_u32(payload, flags);
        if (n)
                memcpy(payload + 4, arg, n);
        return proto_frame_encode(buf, size, type, payload, 4 + n);
}

int proto_request_decode(const ProtoFrame *f, ProtoRequest *ret)
{
        size_t n;

        *ret = (ProtoRequest){ 0 };
        if (f->type < PROTO_REQ_INFO || f->type >= _PROTO_REQ_MAX || f->length < 4)
                return -EBADMSG;
        n = f->length - 4;
        if (n > PROTO_ARG_MAX || !arg_ok((const char *)f->payload + 4, n))
                return -EBADMSG;
        ret->flags = get_u32(f->payload);
        if (ret->flags & ~_PROTO_F_ALL)
                return -EBADMSG;
        ret->type = f->type;
        memcpy(ret->arg, f->payload + 4, n);
        ret->arg[n] = '\0';
        return 0;
}

int proto_end_encode(uint8_t *buf, size_t size, int32_t status, const char *message)
{
        uint8_t payload[4 + PROTO_MESSAGE_MAX];
        size_t n = message ? strnlen(message, PROTO_MESSAGE_MAX) : 0;

        put_u32(payload, (uint32_t)status);
        if (n)
                memcpy(payload + 4, message, n);
        return proto_frame_encode(buf, size, PROTO_REPLY_END, payload, 4 + n);
}

int proto_end_decode(const ProtoFrame *f, int32_t *ret_status, char *ret_message)
{
        size_t n;

        ret_message[0] = '\0';
        if (f->type != PROTO_REPLY_END || f->length < 4 || f->length - 4 > PROTO_MESSAGE_MAX)
                return -EBADMSG;
        n = f->length - 4;
        if (memchr(f->payload + 4, '\0', n))
                return -EBADMSG;
        *ret_status = (int32_t)get_u32(f->payload);
        memcpy(ret_message, f->payload + 4, n);
        ret_message[n] = '\0';
        return 0;
}

const char *proto_type_name(uint16_t type)
{
        static const char *const names[] = {
                [PROTO_REQ_INFO] = "info", [PROTO_REQ_LIST] = "list",
                [PROTO_REQ_STATUS] = "status", [PROTO_REQ_SOCKETS] = "sockets",
                [PROTO_REQ_DUMP] = "dump", [PROTO_REQ_RELOAD] = "reload",
                [PROTO_REQ_REEXEC] = "reexec",
        };

        return type < sizeof(names) / sizeof(names[0]) ? names[type] : NULL;
}

/* The length of a valid UTF-8 sequence at @p (not overlong, no surrogates, at most
 * U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p)
{
        size_t n;
        uint32_t c;

        if (*p >= 0xc2 && *p <= 0xdf)
                n = 2, c = *p & 0x1f;
        else if (*p >= 0xe0 && *p <= 0xef)
                n = 3, c = *p & 0x0f;
        else if (*p >= 0xf0 && *p <= 0xf4)
                n = 4, c = *p & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (p[i] & 0x3f);
        }
        if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
            (n == 4 && (c < 0x10000 || c > 0x10ffff)))
                return 0;
        return n;
}

void proto_json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
                size_t n;

                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p == '\n')
                        fputs("\\n", f);
                else if (*p == '\t')
                        fputs("\\t", f);
                else if (*p >= 0x80 && (n = utf8_len(p)) > 0) {
                        fwrite(p, 1, n, f);     /* valid UTF-8 passes as it is */
                        p += n - 1;
                } else if (*p < 0x20 || *p >= 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}
