/* SPDX-License-Identifier: MIT */
/*
 * fuzz-privmsg — libFuzzer target for what privilege separation's monitor and network
 * process accept from each other: privmsg_decode() (src/daemon/privmsg.h) and the
 * configuration bundle parser (src/conf/bundle.h).
 *
 * Input: the first byte picks the decoder and, for messages, the number of descriptors said
 * to have come with it (0 to 3); the rest is the datagram or the bundle. Promises checked (a
 * broken one aborts): a decoded message re-encodes to the same bytes and carries the
 * descriptors its type says; every entry of a parsed bundle lies inside it, with its strings
 * terminated; nothing reads past the input (ASan).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/bundle.h"
#include "daemon/privmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
        if (!ok)
                abort();
}

static void fuzz_message(const uint8_t *data, size_t size, size_t n_fds)
{
        static char out[PRIVMSG_SIZE_MAX];
        PrivMsg m;

        if (privmsg_decode(data, size, n_fds, &m) != 0)
                return;
        check(privmsg_fds(&m) == n_fds);
        int n = privmsg_encode(&m, out, sizeof(out));

        check(n >= 0 && (size_t)n == size && memcmp(out, data, size) == 0);
}

static void fuzz_bundle(const uint8_t *data, size_t size)
{
        ConfBundle *b;

        if (conf_bundle_parse(data, size, &b) != 0)
                return;
        /* Every entry can be found again and its strings end inside it. */
        for (size_t i = 0; i < 2; i++) {
                const ConfBundleEntry *e = conf_bundle_find(b, i ? CONF_BUNDLE_DIR
                                                                 : CONF_BUNDLE_FILE, "/x");
                if (e)
                        check(strlen(e->path) == 2 && e->size <= size);
        }
        conf_bundle_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        if (data[0] & 0x80)
                fuzz_bundle(data + 1, size - 1);
        else
                fuzz_message(data + 1, size - 1, data[0] & 3);
        return 0;
}
