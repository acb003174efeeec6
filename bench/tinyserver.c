/* SPDX-License-Identifier: MIT */
/*
 * tinyserver.c — the exec'd server every contender of the benchmark spawns.
 *
 * It does the least a real inetd server does: write one line to its standard output (the
 * connection) and exit. Built static (make bench links it with -static) so that exec costs
 * no dynamic loading: what is measured is the super-server's spawn path, not ld.so.
 *
 * The line is fixed ("portier-bench\n"); the load generator counts a connection that ends
 * before a full line as an error ("short"), so a contender that accepts and closes without
 * running the server cannot look fast.
 */

#include <errno.h>
#include <unistd.h>

static const char line[] = "portier-bench\n";

int main(void)
{
        size_t off = 0;
        int tries = 0;

        /* One write nearly always; loop on a short write or EINTR, bounded. */
        while (off < sizeof(line) - 1 && tries++ < 16) {
                ssize_t n = write(1, line + off, sizeof(line) - 1 - off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                off += (size_t)n;
        }
        return off == sizeof(line) - 1 ? 0 : 1;
}
