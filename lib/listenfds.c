/* SPDX-License-Identifier: MIT */
/*
 * listenfds.c — receiving sockets from a service manager (sd_listen_fds(3) semantics).
 *
 * $LISTEN_PID must name this process (a child that inherited the environment must not take
 * its parent's sockets); $LISTEN_FDS counts descriptors from 3 up; $LISTEN_FDNAMES, when set,
 * names each of them (colon-separated). The descriptors are made close-on-exec.
 */

#include <portier/listenfds.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Upper bound on passed descriptors we accept (systemd caps the fd store far lower). */
#define LISTEN_FDS_MAX 65536

static int parse_ulong(const char *s, unsigned long max, unsigned long *ret)
{
        char *end;
        unsigned long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/**
 * portier_strv_free() - free a NULL-terminated string vector
 * @v: the vector, or NULL
 *
 * Return: NULL.
 */
char **portier_strv_free(char **v)
{
        if (v)
                for (char **p = v; *p; p++)
                        free(*p);
        free(v);
        return NULL;
}

/* Split $LISTEN_FDNAMES into exactly n names; without it, every name is "unknown". */
static int split_names(const char *s, int n, char ***ret)
{
        char **v = calloc((size_t)n + 1, sizeof(char *));

        if (!v)
                return -ENOMEM;
        for (int k = 0; k < n; k++) {
                const char *end = s ? strchrnul(s, ':') : NULL;

                if (s && !*end && k < n - 1) {  /* fewer names than descriptors */
                        portier_strv_free(v);
                        return -EINVAL;
                }
                v[k] = s ? strndup(s, (size_t)(end - s)) : strdup("unknown");
                if (!v[k]) {
                        portier_strv_free(v);
                        return -ENOMEM;
                }
                if (s)
                        s = *end ? end + 1 : NULL;
        }
        if (s) {        /* more names than descriptors */
                portier_strv_free(v);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/**
 * portier_listen_fds() - how many sockets were passed to this process
 * @unset_environment: unset LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES afterwards
 * @ret_names: if not NULL, set to a NULL-terminated vector of the names ("unknown" without
 *             $LISTEN_FDNAMES), to free with portier_strv_free(); NULL when none were passed
 *
 * Return: the number n of descriptors (PORTIER_LISTEN_FDS_START .. +n-1), 0 when none were
 * passed to this process, -EINVAL for malformed variables or a names count that does not
 * match, -EBADF when an announced descriptor is not open.
 */
int portier_listen_fds(bool unset_environment, char ***ret_names)
{
        unsigned long pid, n = 0;
        int r = 0;

        if (ret_names)
                *ret_names = NULL;
        if (!getenv("LISTEN_PID"))
                goto out;
        if (parse_ulong(getenv("LISTEN_PID"), INT_MAX, &pid) < 0) {
                r = -EINVAL;
                goto out;
        }
        if ((pid_t)pid != getpid())
                goto out;
        if (parse_ulong(getenv("LISTEN_FDS"), LISTEN_FDS_MAX, &n) < 0) {
                r = -EINVAL;
                goto out;
        }
        for (unsigned long i = 0; i < n; i++) {
                int fd = PORTIER_LISTEN_FDS_START + (int)i;
                int flags = fcntl(fd, F_GETFD);

                if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
                        r = -errno;
                        goto out;
                }
        }
        if (ret_names && n > 0) {
                r = split_names(getenv("LISTEN_FDNAMES"), (int)n, ret_names);
                if (r < 0)
                        goto out;
        }
        r = (int)n;
out:
        if (unset_environment) {
                (void)unsetenv("LISTEN_PID");
                (void)unsetenv("LISTEN_FDS");
                (void)unsetenv("LISTEN_FDNAMES");
        }
        return r;
}

/**
 * portier_is_socket() - check what kind of socket a descriptor is
 * @fd: the descriptor
 * @family: AF_INET, AF_INET6, AF_UNIX, ... or 0 for any
 * @type: SOCK_STREAM, SOCK_DGRAM, ... or 0 for any
 * @listening: 1 for a listening socket, 0 for one that is not, -1 for either
 *
 * Return: 1 when it matches, 0 when not, or -errno.
 */
int portier_is_socket(int fd, int family, int type, int listening)
{
        struct stat st;
        int v;
        socklen_t l = sizeof(v);

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return 0;
        if (family) {
                if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0)
                        return -errno;
                if (v != family)
                        return 0;
        }
        if (type) {
                l = sizeof(v);
                if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0)
                        return -errno;
                if (v != type)
                        return 0;
        }
        if (listening >= 0) {
                l = sizeof(v);
                if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0)
                        return -errno;
                if (!!v != !!listening)
                        return 0;
        }
        return 1;
}
