/* SPDX-License-Identifier: MIT */
/*
 * fuzz-control — libFuzzer target for the control protocol's decoders (src/proto/proto.h):
 * every packet the daemon or portierctl may receive goes through proto_frame_decode(), then
 * proto_request_decode() or proto_end_decode().
 *
 * Input: one packet, as received. The first byte, when the input is long enough, also picks
 * a "received length" larger than the packet (what recv(MSG_TRUNC) reports for an oversized
 * one) so that the size check is reached. Promises checked (a broken one aborts): the payload
 * lies inside the packet; a decoded request re-encodes to the same bytes; a decoded END
 * message is terminated and NUL-free; nothing reads past the input (ASan).
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
        if (!ok)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static uint8_t out[PROTO_FRAME_MAX];
        static char message[PROTO_MESSAGE_MAX + 1];
        ProtoFrame f;
        ProtoRequest rq;
        int32_t status;
        int r, n;

        /* The size the receiver is told, as with MSG_TRUNC: now and then more than it got. */
        if (size > 0 && data[0] == 0xff) {
                r = proto_frame_decode(data, PROTO_FRAME_MAX + 1 + size, &f);
                check(r == -EMSGSIZE);
        }
        r = proto_frame_decode(data, size, &f);
        check(r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -EMSGSIZE);
        if (r < 0)
                return 0;
        check(f.payload == data + PROTO_HEADER_SIZE);
        check(PROTO_HEADER_SIZE + (size_t)f.length == size);

        if (proto_request_decode(&f, &rq) == 0) {
                check(strlen(rq.arg) <= PROTO_ARG_MAX);
                n = proto_request_encode(out, sizeof(out), rq.type, rq.flags, rq.arg);
                check(n > 0 && (size_t)n == size && memcmp(out, data, size) == 0);
        }
        if (proto_end_decode(&f, &status, message) == 0) {
                check(strlen(message) == f.length - 4);
                n = proto_end_encode(out, sizeof(out), status, message);
                check(n > 0 && (size_t)n == size && memcmp(out, data, size) == 0);
        }
        return 0;
}
