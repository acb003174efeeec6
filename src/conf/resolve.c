/* SPDX-License-Identifier: MIT */
/*
 * resolve — thin wrappers over the _r lookups with bounded, growing buffers (ERANGE is
 * retried up to 1 MiB).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/resolve.h"
#include "conf/value.h"

#define RESOLVE_BUF_MAX (1u << 20)

int resolve_user(const char *name, uid_t *ret_uid, gid_t *ret_gid, bool *ret_has_gid)
{
        struct passwd pw, *res = NULL;
        size_t size = 1024;
        uint64_t num;
        bool numeric = value_uint(name, UINT32_MAX - 1, &num) == 0;
        int r;

        for (;;) {
                char *buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                if (numeric)
                        r = getpwuid_r((uid_t) num, &pw, buf, size, &res);
                else
                        r = getpwnam_r(name, &pw, buf, size, &res);
                if (r == 0 && res) {
                        *ret_uid = pw.pw_uid;
                        *ret_gid = pw.pw_gid;
                        *ret_has_gid = true;
                }
                free(buf);
                if (r == ERANGE && size < RESOLVE_BUF_MAX) {
                        size *= 2;
                        continue;
                }
                break;
        }
        if (res)
                return 0;
        if (numeric) {
                *ret_uid = (uid_t) num;
                *ret_has_gid = false;
                return 0;
        }
        return r > 0 ? -r : -ENOENT;
}

int resolve_group(const char *name, gid_t *ret_gid)
{
        struct group gr, *res = NULL;
        size_t size = 1024;
        uint64_t num;
        int r;

        if (value_uint(name, UINT32_MAX - 1, &num) == 0) {
                *ret_gid = (gid_t) num;
                return 0;
        }
        for (;;) {
                char *buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                r = getgrnam_r(name, &gr, buf, size, &res);
                if (r == 0 && res)
                        *ret_gid = gr.gr_gid;
                free(buf);
                if (r == ERANGE && size < RESOLVE_BUF_MAX) {
                        size *= 2;
                        continue;
                }
                break;
        }
        if (res)
                return 0;
        return r > 0 ? -r : -ENOENT;
}

int resolve_service(const char *name, const char *proto, uint16_t *ret_port)
{
        struct servent se, *res = NULL;
        char buf[4096];

        if (getservbyname_r(name, proto, &se, buf, sizeof(buf), &res) != 0 || !res)
                return -ENOENT;
        *ret_port = ntohs((uint16_t) se.s_port);
        return 0;
}

int resolve_protocol(const char *name, int *ret_proto)
{
        struct protoent pe, *res = NULL;
        char buf[4096];

        if (getprotobyname_r(name, &pe, buf, sizeof(buf), &res) != 0 || !res)
                return -ENOENT;
        *ret_proto = pe.p_proto;
        return 0;
}

int resolve_address(const char *host, uint16_t port, int family, bool allow_dns,
                    struct sockaddr_storage *ret, socklen_t *ret_len)
{
        struct addrinfo hints = {
                .ai_family = family,
                .ai_socktype = SOCK_STREAM,
                .ai_flags = AI_NUMERICSERV | (allow_dns ? 0 : AI_NUMERICHOST),
        };
        struct addrinfo *res = NULL;
        char pbuf[8];
        int r;

        snprintf(pbuf, sizeof(pbuf), "%u", port);
        r = getaddrinfo(host, pbuf, &hints, &res);
        if (r != 0 || !res) {
                if (r == EAI_NONAME && !allow_dns)
                        return -EINVAL;
                return -ENOENT;
        }
        memcpy(ret, res->ai_addr, res->ai_addrlen);
        *ret_len = res->ai_addrlen;
        freeaddrinfo(res);
        return 0;
}
