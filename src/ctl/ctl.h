/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CTL_H
#define PORTIER_CTL_H

/*
 * portierctl — the operator's tool (portierctl(8)):
 *
 *   portierctl.c  command line, the commands, exit codes
 *   client.c      one request over the control socket (src/proto/proto.h)
 *   edit.c        enable/disable: one line of one file, rewritten atomically
 */

#include <stdbool.h>
#include <stdio.h>

/* Exit codes, in the LSB / systemctl tradition (portierctl(8), EXIT STATUS). */
enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAILED = 1,            /* the operation failed */
        CTL_EXIT_USAGE = 2,             /* bad command line */
        CTL_EXIT_INACTIVE = 3,          /* status: not running / the service is not active */
        CTL_EXIT_DENIED = 4,            /* not allowed; status: no such service */
        CTL_EXIT_UNKNOWN = 5,           /* no such service (enable, disable) */
        CTL_EXIT_NOTCONFIGURED = 6,     /* the configuration cannot be read */
        CTL_EXIT_NOTRUNNING = 7,        /* the command needs portierd, which is not running */
        CTL_EXIT_NOCHANGE = 100,        /* internal: nothing to change (exits 0) */
};

int ctl_connect(const char *path, int *ret_fd);
int ctl_request(const char *path, int type, unsigned flags, const char *arg, int timeout_ms,
                FILE *out, int *ret_status, char *message);
int edit_switch(const char *config, const char *inetd, const char *id, bool on, FILE *out,
                FILE *err);

#endif
