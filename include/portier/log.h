/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_LOG_H
#define PORTIER_LOG_H

/*
 * Logging for daemons: to stderr, to syslog or to a file, chosen automatically.
 *
 * The syslog sink is our own non-blocking datagram sender to /dev/log (it never blocks the
 * caller, reconnects when syslogd restarts, and counts what it had to drop); it does not use
 * syslog(3). Levels are syslog's LOG_EMERG .. LOG_DEBUG. Formats are printf's, %m included.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum PortierLogTarget {
        PORTIER_LOG_AUTO,       /* stderr while fd 2 is open on something, else syslog */
        PORTIER_LOG_STDERR,     /* "ident: msg", or "<N>msg" when fd 2 is the journal */
        PORTIER_LOG_SYSLOG,     /* "<PRI>Mmm dd hh:mm:ss ident[pid]: msg" to /dev/log */
        PORTIER_LOG_FILE,       /* "Mmm dd hh:mm:ss ident[pid]: msg" appended to a file */
} PortierLogTarget;

typedef struct PortierLog PortierLog;

int portier_log_new(PortierLog **ret, const char *ident, int facility);
PortierLog *portier_log_free(PortierLog *log);
int portier_log_set_target(PortierLog *log, PortierLogTarget target, const char *path);
PortierLogTarget portier_log_get_target(const PortierLog *log);
int portier_log_set_syslog_socket(PortierLog *log, const char *path);
int portier_log_set_ident(PortierLog *log, const char *ident);
void portier_log_set_facility(PortierLog *log, int facility);
void portier_log_set_max_level(PortierLog *log, int level);
int portier_log_reopen(PortierLog *log);
uint64_t portier_log_dropped(const PortierLog *log);
size_t portier_log_fds(const PortierLog *log, int *fds, size_t n);
int portier_log_facility_from_name(const char *name);
int portier_log_level_from_name(const char *name);
const char *portier_log_facility_name(int facility);
const char *portier_log_level_name(int level);

int portier_log(PortierLog *log, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int portier_logv(PortierLog *log, int level, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

#ifdef __cplusplus
}
#endif
#endif
