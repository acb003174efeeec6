/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_UTIL_H
#define PORTIER_UTIL_H

/*
 * Small helpers shared by libportier and the programs built on it (not installed): cleanup
 * attributes for locals, descriptor hand-off, and a few one-liners every module would
 * otherwise repeat.
 */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;

                (void)close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void freep(void *p)
{
        free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Take ownership of a descriptor out of a cleanup-guarded variable. */
static inline int take_fd(int *fd)
{
        int r = *fd;

        *fd = -1;
        return r;
}
#define TAKE_FD(fd) take_fd(&(fd))

static inline void *take_ptr(void *pp)
{
        void **p = pp, *r = *p;

        *p = NULL;
        return r;
}
#define TAKE_PTR(p) take_ptr(&(p))

/* close() that keeps errno, for error paths; returns -1 for "fd = safe_close(fd)". */
static inline int safe_close(int fd)
{
        if (fd >= 0) {
                int saved = errno;

                (void)close(fd);
                errno = saved;
        }
        return -1;
}

/* Write all of buf, retrying on EINTR and short writes (blocking descriptors only). */
static inline int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

#endif
