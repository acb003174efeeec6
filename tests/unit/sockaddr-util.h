/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_TEST_SOCKADDR_UTIL_H
#define PORTIER_TEST_SOCKADDR_UTIL_H

/*
 * sockaddr-util.h — for the unit tests (include after cmocka.h): a client address from its
 * text, IPv4 or IPv6, port 0.
 */

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static inline struct sockaddr_storage sa_of(const char *text)
{
        struct sockaddr_storage ss;

        memset(&ss, 0, sizeof(ss));
        if (strchr(text, ':')) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

                in6->sin6_family = AF_INET6;
                assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
        } else {
                struct sockaddr_in *in = (struct sockaddr_in *)&ss;

                in->sin_family = AF_INET;
                assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
        }
        return ss;
}

#endif
