/* SPDX-License-Identifier: MIT */
/*
 * loadavg.c — /proc/loadavg, read at most once per second (loadavg.h). The read is one
 * open/read/close of a procfs file with O_NONBLOCK|O_CLOEXEC; nothing is allocated.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon/loadavg.h"

int loadavg_parse(const char *buf, size_t len, double *ret)
{
        char num[32];
        bool dot = false;
        size_t i = 0, n = 0;
        double v;
        char *end;

        while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
                i++;
        for (; i < len; i++) {
                char c = buf[i];

                if (c == ' ' || c == '\t' || c == '\n' || c == '\0')
                        break;
                if (!((c >= '0' && c <= '9') || (c == '.' && !dot)))
                        return -EINVAL;
                if (c == '.')
                        dot = true;
                if (n + 1 >= sizeof(num))
                        return -EINVAL;
                num[n++] = c;
        }
        num[n] = 0;
        if (n == 0 || (n == 1 && dot))
                return -EINVAL;
        /* The same conversion as the parser's for max_load (strtod; portierd keeps the C
         * locale), so that a load equal to max_load compares equal. */
        v = strtod(num, &end);
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int read_file(const char *path, double *ret)
{
        char buf[128];
        ssize_t n;
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                n = read(fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        r = n < 0 ? -errno : 0;
        (void)close(fd);
        if (r < 0)
                return r;
        return loadavg_parse(buf, (size_t)n, ret);
}

double loadavg_get(Loadavg *l, uint64_t now)
{
        double v;
        int r;

        if (l->read_once && now >= l->read_at && now - l->read_at < LOADAVG_PERIOD_USEC)
                return l->value;
        r = read_file(l->path ? l->path : LOADAVG_PATH, &v);
        l->read_once = true;
        l->read_at = now;
        l->error = r;
        l->value = r < 0 ? -1.0 : v;
        return l->value;
}

bool loadavg_over(Loadavg *l, double max_load, uint64_t now)
{
        double v;

        if (!(max_load > 0.0))
                return false;
        v = loadavg_get(l, now);
        return v >= 0.0 && v >= max_load;
}
