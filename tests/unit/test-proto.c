/* SPDX-License-Identifier: MIT */
/*
 * test-proto.c — the control protocol's frames (src/proto/proto.c): encode/decode round
 * trips, and every way a packet can be refused (short, magic, version, length, size, type,
 * flags, argument bytes), plus JSON string escaping.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

static uint8_t buf[PROTO_FRAME_MAX + 64];

static void test_request_round_trip(void **state)
{
        ProtoFrame f;
        ProtoRequest rq;
        int n = proto_request_encode(buf, sizeof(buf), PROTO_REQ_STATUS, PROTO_F_JSON, "echo");

        assert_int_equal(n, PROTO_HEADER_SIZE + 4 + 4);
        assert_memory_equal(buf, "PCTL\x01\x00\x03\x00\x08\x00\x00\x00", 12);
        assert_int_equal(proto_frame_decode(buf, (size_t)n, &f), 0);
        assert_int_equal(proto_request_decode(&f, &rq), 0);
        assert_int_equal(rq.type, PROTO_REQ_STATUS);
        assert_int_equal(rq.flags, PROTO_F_JSON);
        assert_string_equal(rq.arg, "echo");
}

static void test_end_round_trip(void **state)
{
        ProtoFrame f;
        char msg[PROTO_MESSAGE_MAX + 1];
        int32_t st;
        int n = proto_end_encode(buf, sizeof(buf), 4, "permission denied");

        assert_true(n > 0);
        assert_int_equal(proto_frame_decode(buf, (size_t)n, &f), 0);
        assert_int_equal(proto_end_decode(&f, &st, msg), 0);
        assert_int_equal(st, 4);
        assert_string_equal(msg, "permission denied");
        /* not a request */
        ProtoRequest rq;
        assert_int_equal(proto_request_decode(&f, &rq), -EBADMSG);
}

static void test_bad_frames(void **state)
{
        ProtoFrame f;
        int n = proto_request_encode(buf, sizeof(buf), PROTO_REQ_LIST, 0, "");

        assert_int_equal(proto_frame_decode(buf, 11, &f), -EBADMSG);          /* short */
        assert_int_equal(proto_frame_decode(buf, (size_t)n + 1, &f), -EBADMSG); /* length */
        assert_int_equal(proto_frame_decode(buf, PROTO_FRAME_MAX + 1, &f), -EMSGSIZE);
        buf[4] = 2;                                                             /* version */
        assert_int_equal(proto_frame_decode(buf, (size_t)n, &f), -EPROTONOSUPPORT);
        assert_int_equal(f.version, 2);
        buf[4] = 1;
        buf[0] = 'X';                                                           /* magic */
        assert_int_equal(proto_frame_decode(buf, (size_t)n, &f), -EBADMSG);
}

static void test_bad_requests(void **state)
{
        ProtoFrame f;
        ProtoRequest rq;
        char longarg[PROTO_ARG_MAX + 2];
        int n;

        memset(longarg, 'a', sizeof(longarg) - 1);
        longarg[sizeof(longarg) - 1] = '\0';
        assert_int_equal(proto_request_encode(buf, sizeof(buf), 3, 0, longarg), -EINVAL);
        assert_int_equal(proto_request_encode(buf, sizeof(buf), 3, 0, "a b"), -EINVAL);
        assert_int_equal(proto_request_encode(buf, sizeof(buf), 3, 0x80, ""), -EINVAL);
        /* unknown type, hand-made */
        n = proto_frame_encode(buf, sizeof(buf), 99, "\0\0\0\0", 4);
        assert_int_equal(proto_frame_decode(buf, (size_t)n, &f), 0);
        assert_int_equal(proto_request_decode(&f, &rq), -EBADMSG);
        /* no flags */
        n = proto_frame_encode(buf, sizeof(buf), PROTO_REQ_LIST, "", 0);
        assert_int_equal(proto_frame_decode(buf, (size_t)n, &f), 0);
        assert_int_equal(proto_request_decode(&f, &rq), -EBADMSG);
        /* a control byte in the argument */
        n = proto_frame_encode(buf, sizeof(buf), PROTO_REQ_STATUS, "\0\0\0\0a\nb", 7);
        assert_int_equal(proto_frame_decode(buf, (size_t)n, &f), 0);
        assert_int_equal(proto_request_decode(&f, &rq), -EBADMSG);
        /* a payload over the frame size cannot be encoded */
        static char big[PROTO_PAYLOAD_MAX + 1];
        assert_int_equal(proto_frame_encode(buf, sizeof(buf), PROTO_REPLY_DATA, big, sizeof(big)),
                         -EMSGSIZE);
        assert_int_equal(proto_frame_encode(buf, sizeof(buf), PROTO_REPLY_DATA, big,
                                            PROTO_PAYLOAD_MAX), PROTO_FRAME_MAX);
}

static void test_json_string(void **state)
{
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);

        /* quote, backslash, newline, a control byte, é (valid UTF-8), a lone 0xff, DEL */
        proto_json_string(f, "a\"b\\c\n\x01\xc3\xa9\xff\x7f");
        fclose(f);
        assert_string_equal(out, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\u00ff\\u007f\"");
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_request_round_trip),
                cmocka_unit_test(test_end_round_trip),
                cmocka_unit_test(test_bad_frames),
                cmocka_unit_test(test_bad_requests),
                cmocka_unit_test(test_json_string),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
