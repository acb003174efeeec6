/* SPDX-License-Identifier: MIT */
/*
 * log.c — a daemon's log sink: stderr, syslog or a file, never blocking on syslog.
 *
 * syslog(3) writes to /dev/log with a blocking send: a syslogd that stalls stalls the daemon.
 * This sender connects its own non-blocking datagram socket (stream sockets are supported for
 * syslog daemons configured that way), formats the line exactly as glibc does for the local
 * socket ("<PRI>Mmm dd hh:mm:ss ident[pid]: msg"), drops a message rather than wait, counts
 * every drop, and says how many were dropped with the next message that gets through. When
 * syslogd restarts, the next message reconnects.
 *
 * The AUTO target resolves at each message: stderr while descriptor 2 is open on something
 * other than /dev/null, syslog once a daemon has detached. When $JOURNAL_STREAM names fd 2,
 * stderr lines carry "<N>" priority prefixes instead of the identity.
 *
 * errno is preserved across every call, so "%m" works in formats and callers may log between
 * a failing call and their use of errno.
 */

#include <portier/log.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define LOG_LINE_MAX 4096
#define LOG_IDENT_MAX 64
#define LOG_DEFAULT_SOCKET "/dev/log"

struct PortierLog {
        char ident[LOG_IDENT_MAX];
        int facility;
        int max_level;
        PortierLogTarget target;
        char *file_path;
        int file_fd;
        char *syslog_path;
        int syslog_fd;
        int syslog_type;                /* SOCK_DGRAM or SOCK_STREAM, once connected */
        uint64_t dropped;               /* every message lost, ever */
        uint64_t dropped_untold;        /* lost since the last "dropped" notice */
};

/**
 * portier_log_new() - create a log sink
 * @ret: the new sink
 * @ident: the identity in each line (NULL: the program's name)
 * @facility: a syslog facility such as LOG_DAEMON (0, which user programs cannot use, means
 *            LOG_DAEMON)
 *
 * The sink starts with the AUTO target and level LOG_INFO.
 *
 * Return: 0 or -ENOMEM.
 */
int portier_log_new(PortierLog **ret, const char *ident, int facility)
{
        PortierLog *log = calloc(1, sizeof(*log));

        if (!log)
                return -ENOMEM;
        log->file_fd = -1;
        log->syslog_fd = -1;
        log->max_level = LOG_INFO;
        log->target = PORTIER_LOG_AUTO;
        portier_log_set_facility(log, facility);
        (void)portier_log_set_ident(log, ident);
        *ret = log;
        return 0;
}

/**
 * portier_log_free() - close and free a sink
 * @log: the sink, or NULL
 *
 * Return: NULL.
 */
PortierLog *portier_log_free(PortierLog *log)
{
        if (!log)
                return NULL;
        (void)safe_close(log->file_fd);
        (void)safe_close(log->syslog_fd);
        free(log->file_path);
        free(log->syslog_path);
        free(log);
        return NULL;
}

static int open_file(const char *path)
{
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

        return fd < 0 ? -errno : fd;
}

/**
 * portier_log_set_target() - choose where lines go
 * @log: the sink
 * @target: PORTIER_LOG_AUTO, _STDERR, _SYSLOG or _FILE
 * @path: the file for PORTIER_LOG_FILE (opened now, in append mode, created 0640); ignored
 *        otherwise
 *
 * Return: 0, or -errno when the file cannot be opened (the target is then unchanged).
 */
int portier_log_set_target(PortierLog *log, PortierLogTarget target, const char *path)
{
        if (!log || target < PORTIER_LOG_AUTO || target > PORTIER_LOG_FILE)
                return -EINVAL;
        if (target == PORTIER_LOG_FILE) {
                char *p;
                int fd;

                if (!path || !*path)
                        return -EINVAL;
                p = strdup(path);
                if (!p)
                        return -ENOMEM;
                fd = open_file(path);
                if (fd < 0) {
                        free(p);
                        return fd;
                }
                (void)safe_close(log->file_fd);
                free(log->file_path);
                log->file_fd = fd;
                log->file_path = p;
        }
        log->target = target;
        return 0;
}

/**
 * portier_log_get_target() - the target chosen (AUTO stays AUTO)
 * @log: the sink
 *
 * Return: the target.
 */
PortierLogTarget portier_log_get_target(const PortierLog *log)
{
        return log->target;
}

/**
 * portier_log_set_syslog_socket() - send syslog lines to another socket than /dev/log
 * @log: the sink
 * @path: an AF_UNIX socket path, or NULL for /dev/log
 *
 * Return: 0 or -ENOMEM.
 */
int portier_log_set_syslog_socket(PortierLog *log, const char *path)
{
        char *p = NULL;

        if (path && !(p = strdup(path)))
                return -ENOMEM;
        free(log->syslog_path);
        log->syslog_path = p;
        log->syslog_fd = safe_close(log->syslog_fd);
        return 0;
}

/**
 * portier_log_set_ident() - change the identity
 * @log: the sink
 * @ident: the identity (NULL: the program's name); longer than 63 bytes is cut
 *
 * Return: 0.
 */
int portier_log_set_ident(PortierLog *log, const char *ident)
{
        snprintf(log->ident, sizeof(log->ident), "%s",
                 ident ? ident : program_invocation_short_name);
        return 0;
}

/**
 * portier_log_set_facility() - change the syslog facility
 * @log: the sink
 * @facility: LOG_DAEMON, LOG_LOCAL0, ... (0 means LOG_DAEMON)
 */
void portier_log_set_facility(PortierLog *log, int facility)
{
        log->facility = (facility ? facility : LOG_DAEMON) & LOG_FACMASK;
}

/**
 * portier_log_set_max_level() - drop messages less important than a level
 * @log: the sink
 * @level: LOG_EMERG .. LOG_DEBUG (default LOG_INFO)
 */
void portier_log_set_max_level(PortierLog *log, int level)
{
        log->max_level = level;
}

/**
 * portier_log_reopen() - reopen the log file (after rotation) and the syslog socket
 * @log: the sink
 *
 * Return: 0, or -errno when the file cannot be reopened (the old descriptor is kept).
 */
int portier_log_reopen(PortierLog *log)
{
        log->syslog_fd = safe_close(log->syslog_fd);
        if (log->file_path) {
                int fd = open_file(log->file_path);

                if (fd < 0)
                        return fd;
                (void)safe_close(log->file_fd);
                log->file_fd = fd;
        }
        return 0;
}

/**
 * portier_log_dropped() - how many messages were lost
 * @log: the sink
 *
 * A message is lost when its destination would have blocked or was unreachable.
 *
 * Return: the count since the sink was created.
 */
uint64_t portier_log_dropped(const PortierLog *log)
{
        return log->dropped;
}

/**
 * portier_log_fds() - the descriptors a sink holds open (its file, its syslog socket)
 * @log: the sink
 * @fds: receives them
 * @n: room in @fds (2 is always enough)
 *
 * For code that closes descriptors wholesale; portier_daemon_start() keeps these when given
 * the sink in its options.
 *
 * Return: how many were stored.
 */
size_t portier_log_fds(const PortierLog *log, int *fds, size_t n)
{
        size_t k = 0;

        if (log && log->file_fd >= 0 && k < n)
                fds[k++] = log->file_fd;
        if (log && log->syslog_fd >= 0 && k < n)
                fds[k++] = log->syslog_fd;
        return k;
}

/* Is fd 2 open on something a person or a supervisor reads (not /dev/null, not closed)? */
static bool stderr_is_useful(struct stat *st)
{
        if (fstat(STDERR_FILENO, st) < 0)
                return false;
        return !(S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3));
}

static bool stderr_is_journal(const struct stat *st)
{
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        return st->st_dev == (dev_t)dev && st->st_ino == (ino_t)ino;
}

static int syslog_connect(PortierLog *log)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = log->syslog_path ? log->syslog_path : LOG_DEFAULT_SOCKET;
        static const int types[] = { SOCK_DGRAM, SOCK_STREAM };

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

                if (fd < 0)
                        return -errno;
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
                        log->syslog_fd = fd;
                        log->syslog_type = types[i];
                        return 0;
                }
                int r = -errno;

                (void)close(fd);
                if (r != -EPROTOTYPE)
                        return r;
        }
        return -EPROTOTYPE;
}

/* One line to syslog; the datagram (or, on a stream socket, the line and its NUL) is sent
 * whole or not at all. */
static int syslog_send(PortierLog *log, const char *line, size_t len)
{
        for (int attempt = 0; attempt < 2; attempt++) {
                if (log->syslog_fd < 0) {
                        int r = syslog_connect(log);

                        if (r < 0)
                                return r;
                }
                int type = log->syslog_type;
                size_t total = len + (type == SOCK_STREAM);
                ssize_t n = send(log->syslog_fd, line, total, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (n == (ssize_t)total)
                        return 0;
                if (n >= 0 || type == SOCK_STREAM)      /* a stream cut mid-line is lost */
                        log->syslog_fd = safe_close(log->syslog_fd);
                if (n >= 0)
                        return -EIO;
                if (errno == EAGAIN || errno == ENOBUFS || errno == EMSGSIZE)
                        return -errno;
                /* syslogd went away (ECONNREFUSED, ENOTCONN, EPIPE, ...): reconnect once.
                 * EBADF: someone closed our descriptor; its number may be another file's
                 * now, so forget it rather than close it. */
                if (errno == EBADF)
                        log->syslog_fd = -1;
                else
                        log->syslog_fd = safe_close(log->syslog_fd);
        }
        return -ECONNREFUSED;
}

static int fd_send(int fd, const char *line, size_t len, bool is_socket)
{
        ssize_t n = is_socket ? send(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL)
                              : write(fd, line, len);

        if (n < 0)
                return -errno;
        return (size_t)n == len ? 0 : -EIO;
}

/* Build the line for the resolved target into buf; return its length. */
static size_t format_line(const PortierLog *log, PortierLogTarget t, bool journal, int level,
                          const char *msg, char *buf, size_t size)
{
        char stamp[32] = "";
        int n;

        if (t == PORTIER_LOG_SYSLOG || t == PORTIER_LOG_FILE) {
                time_t now = time(NULL);
                struct tm tm;

                if (localtime_r(&now, &tm))
                        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        }
        switch (t) {
        case PORTIER_LOG_SYSLOG:
                n = snprintf(buf, size, "<%d>%s %s[%d]: %s",
                             ((level & LOG_FACMASK) ? (level & LOG_FACMASK) : log->facility) |
                                     (level & LOG_PRIMASK),
                             stamp, log->ident, (int)getpid(), msg);
                break;
        case PORTIER_LOG_FILE:
                n = snprintf(buf, size, "%s %s[%d]: %s\n", stamp, log->ident, (int)getpid(), msg);
                break;
        default:
                n = journal ? snprintf(buf, size, "<%d>%s\n", level & LOG_PRIMASK, msg)
                            : snprintf(buf, size, "%s: %s\n", log->ident, msg);
                break;
        }
        if (n < 0)
                return 0;
        if ((size_t)n >= size) {        /* cut, keeping the newline for line-based sinks */
                n = (int)size - 1;
                if (t != PORTIER_LOG_SYSLOG)
                        buf[n - 1] = '\n';
        }
        return (size_t)n;
}

static int emit(PortierLog *log, int level, const char *msg)
{
        char line[LOG_LINE_MAX + 128];
        PortierLogTarget t = log->target;
        bool journal = false, sock = false;
        struct stat st;
        size_t len;

        if (t == PORTIER_LOG_AUTO)
                t = stderr_is_useful(&st) ? PORTIER_LOG_STDERR : PORTIER_LOG_SYSLOG;
        else if (t == PORTIER_LOG_STDERR && fstat(STDERR_FILENO, &st) < 0)
                return -errno;
        if (t == PORTIER_LOG_STDERR) {
                journal = stderr_is_journal(&st);
                sock = S_ISSOCK(st.st_mode);
        }
        len = format_line(log, t, journal, level, msg, line, sizeof(line));
        switch (t) {
        case PORTIER_LOG_SYSLOG:
                return syslog_send(log, line, len);
        case PORTIER_LOG_FILE:
                return fd_send(log->file_fd, line, len, false);
        default:
                return fd_send(STDERR_FILENO, line, len, sock);
        }
}

/**
 * portier_logv() - log a message, va_list form
 * @log: the sink (NULL: the message is dropped)
 * @level: LOG_ERR, LOG_WARNING, LOG_INFO, ...; as with syslog(3), a facility may be or-ed
 *         in (LOG_LOCAL0 | LOG_NOTICE) to override the sink's for this message
 * @fmt: a printf format; "%m" is strerror(errno) of the caller's errno
 * @ap: the arguments
 *
 * Never blocks on syslog. Lines longer than 4 KiB are cut.
 *
 * Return: 0 when written or filtered out by level, -errno when the message was dropped
 * (and counted). errno is unchanged.
 */
int portier_logv(PortierLog *log, int level, const char *fmt, va_list ap)
{
        char msg[LOG_LINE_MAX];
        int saved = errno, r;

        if (!log || !fmt)
                return -EINVAL;
        if ((level & LOG_PRIMASK) > log->max_level)
                return 0;
        errno = saved;
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);

        if (log->dropped_untold) {
                char note[96];

                snprintf(note, sizeof(note), "%llu log messages were dropped",
                         (unsigned long long)log->dropped_untold);
                if (emit(log, LOG_WARNING, note) == 0)
                        log->dropped_untold = 0;
        }
        r = emit(log, level, msg);
        if (r < 0) {
                log->dropped++;
                log->dropped_untold++;
        }
        errno = saved;
        return r;
}

/**
 * portier_log() - log a message
 * @log: the sink
 * @level: LOG_ERR, LOG_WARNING, LOG_INFO, ...
 * @fmt: a printf format ("%m" allowed)
 *
 * Return: as portier_logv().
 */
int portier_log(PortierLog *log, int level, const char *fmt, ...)
{
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = portier_logv(log, level, fmt, ap);
        va_end(ap);
        return r;
}

static const struct {
        const char *name;
        int value;
} facilities[] = {
        { "auth", LOG_AUTH },     { "authpriv", LOG_AUTHPRIV }, { "cron", LOG_CRON },
        { "daemon", LOG_DAEMON }, { "ftp", LOG_FTP },           { "kern", LOG_KERN },
        { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },     { "local2", LOG_LOCAL2 },
        { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },     { "local5", LOG_LOCAL5 },
        { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },     { "lpr", LOG_LPR },
        { "mail", LOG_MAIL },     { "news", LOG_NEWS },         { "syslog", LOG_SYSLOG },
        { "user", LOG_USER },     { "uucp", LOG_UUCP },
}, levels[] = {
        { "emerg", LOG_EMERG },   { "alert", LOG_ALERT },       { "crit", LOG_CRIT },
        { "err", LOG_ERR },       { "warning", LOG_WARNING },   { "notice", LOG_NOTICE },
        { "info", LOG_INFO },     { "debug", LOG_DEBUG },
};

/**
 * portier_log_facility_from_name() - "daemon", "local0", ... to LOG_DAEMON, LOG_LOCAL0, ...
 * @name: the facility name (case-insensitive)
 *
 * Return: the facility value, or -EINVAL.
 */
int portier_log_facility_from_name(const char *name)
{
        for (size_t i = 0; name && i < ELEMENTSOF(facilities); i++)
                if (strcasecmp(name, facilities[i].name) == 0)
                        return facilities[i].value;
        return -EINVAL;
}

/**
 * portier_log_facility_name() - LOG_DAEMON, LOG_LOCAL0, ... to "daemon", "local0", ...
 * @facility: the facility value
 *
 * Return: its name, or NULL for a value that has none.
 */
const char *portier_log_facility_name(int facility)
{
        for (size_t i = 0; i < ELEMENTSOF(facilities); i++)
                if (facilities[i].value == facility)
                        return facilities[i].name;
        return NULL;
}

/**
 * portier_log_level_name() - LOG_ERR, LOG_INFO, ... to "err", "info", ...
 * @level: the level
 *
 * Return: its name, or NULL for a value that has none.
 */
const char *portier_log_level_name(int level)
{
        for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                if (levels[i].value == level)
                        return levels[i].name;
        return NULL;
}

/**
 * portier_log_level_from_name() - "err", "info", ... to LOG_ERR, LOG_INFO, ...
 * @name: the level name (case-insensitive; "error" and "warn" are accepted too)
 *
 * Return: the level, or -EINVAL.
 */
int portier_log_level_from_name(const char *name)
{
        if (name && strcasecmp(name, "error") == 0)
                return LOG_ERR;
        if (name && strcasecmp(name, "warn") == 0)
                return LOG_WARNING;
        for (size_t i = 0; name && i < ELEMENTSOF(levels); i++)
                if (strcasecmp(name, levels[i].name) == 0)
                        return levels[i].value;
        return -EINVAL;
}
