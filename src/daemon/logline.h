/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_LOGLINE_H
#define PORTIERD_LOGLINE_H

/*
 * logline — the per-connection log lines, byte for byte as xinetd 2.3.15 writes them, and
 * their destinations (a service's log_type: SYSLOG facility level, or FILE with soft and hard
 * limits).
 *
 *   START: <id>[ pid=<n>][ from=<addr>]                 when log_on_success is not empty
 *   EXIT: <id>[ status=<n>| signal=<n>][ pid=<n>][ duration=<s>(sec)]
 *                                                       when log_on_success has EXIT or DURATION
 *   FAIL: <id> <reason>[ from=<addr>]                   when log_on_failure is not empty
 *   TRAFFIC: <id> in=<n>(bytes) out=<n>(bytes)          redirect, log_on_success TRAFFIC
 *
 * FILE lines start with the time stamp "YY/M/D@HH:MM:SS: " (two-digit year, month and day not
 * padded). Two deliberate differences from xinetd (DESIGN.md decision 5): a v4-mapped client
 * is written as plain IPv4, and in-process connections log pid=0.
 *
 * File writes never happen on the accept path: lines are buffered per file and written by
 * logline_flush(), which the event loop calls before it sleeps.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <portier/log.h>

#include "conf/conf.h"

size_t logline_start(char *buf, size_t size, const char *id, unsigned log_on_success, pid_t pid,
                     const char *from);
size_t logline_exit(char *buf, size_t size, const char *id, unsigned log_on_success,
                    int wait_status, pid_t pid, long duration);
size_t logline_fail(char *buf, size_t size, const char *id, const char *reason,
                    unsigned log_on_failure, const char *from);
size_t logline_traffic(char *buf, size_t size, const char *id, uint64_t in, uint64_t out);
size_t logline_file_stamp(char *buf, size_t size, time_t t);

bool logline_wants_start(unsigned log_on_success);
bool logline_wants_exit(unsigned log_on_success);
bool logline_wants_fail(unsigned log_on_failure);

/* One log file, shared by every service that names the same path. */
typedef struct LogFile LogFile;

/* All destinations of one configuration generation, and the daemon's sinks they report to. */
typedef struct LogSet LogSet;

typedef struct LogTarget {
        ConfLogKind kind;
        int priority;           /* SYSLOG: facility | level */
        LogFile *file;          /* FILE */
} LogTarget;

int logset_new(LogSet **ret, PortierLog *syslog_sink, PortierLog *daemon_log);
void logset_set_opener(LogSet *s, int (*open_file)(void *userdata, const char *path),
                       void *userdata);
LogSet *logset_free(LogSet *s);
int logset_target(LogSet *s, const ConfLogType *t, LogTarget *ret);
void logset_write(LogSet *s, const LogTarget *t, const char *line, size_t len);
void logset_flush(LogSet *s);
int logset_reopen(LogSet *s);

#endif
