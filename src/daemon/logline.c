/* SPDX-License-Identifier: MIT */
/*
 * logline.c — xinetd's per-connection log lines and their destinations.
 *
 * Formatting is pure (tests/unit/test-logline.c checks it byte for byte). Destinations:
 * SYSLOG lines go through the daemon's non-blocking syslog sink with the service's facility
 * and level; FILE lines are appended to a per-file buffer and written by logset_flush() before
 * the loop sleeps, so a slow disk never delays an accept. A file past its soft limit is
 * reported once to the daemon log (at alert level, as xinetd does); past its hard limit
 * (default: soft + 1%, clamped to 5 KiB..20 KiB above soft) lines are dropped and counted.
 */

#include "daemon/logline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define LOGFILE_BUFFER (64 * 1024)
#define LOGFILE_MODE 0644               /* xinetd's LOG_FILE_MODE */
#define LOG_EXTRA_MIN (5 * 1024)
#define LOG_EXTRA_MAX (20 * 1024)

/* snprintf that appends at *len and never runs past size. */
static void put(char *buf, size_t size, size_t *len, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (*len >= size)
                return;
        va_start(ap, fmt);
        n = vsnprintf(buf + *len, size - *len, fmt, ap);
        va_end(ap);
        if (n > 0)
                *len += (size_t)n < size - *len ? (size_t)n : size - *len - 1;
}

bool logline_wants_start(unsigned log_on_success)
{
        return log_on_success != 0;
}

bool logline_wants_exit(unsigned log_on_success)
{
        return log_on_success & (CONF_LOG_EXIT | CONF_LOG_DURATION);
}

bool logline_wants_fail(unsigned log_on_failure)
{
        return log_on_failure != 0;
}

/**
 * logline_start() - "START: <id>[ pid=<n>][ from=<addr>]"
 * @buf: where to write (NUL-terminated)
 * @size: its size
 * @id: the service id
 * @log_on_success: CONF_LOG_* flags
 * @pid: the server's pid (0 for in-process connections)
 * @from: the client's numeric address, or NULL when unknown
 *
 * Return: the length written.
 */
size_t logline_start(char *buf, size_t size, const char *id, unsigned log_on_success, pid_t pid,
                     const char *from)
{
        size_t len = 0;

        put(buf, size, &len, "START: %s", id);
        if (log_on_success & CONF_LOG_PID)
                put(buf, size, &len, " pid=%d", (int)pid);
        if (log_on_success & CONF_LOG_HOST)
                put(buf, size, &len, " from=%s", from ? from : "<no address>");
        return len;
}

/**
 * logline_exit() - "EXIT: <id>[ status=<n>| signal=<n>][ pid=<n>][ duration=<s>(sec)]"
 * @buf: where to write
 * @size: its size
 * @id: the service id
 * @log_on_success: CONF_LOG_* flags
 * @wait_status: the status from waitpid()
 * @pid: the server's pid
 * @duration: seconds the server ran
 *
 * Return: the length written.
 */
size_t logline_exit(char *buf, size_t size, const char *id, unsigned log_on_success,
                    int wait_status, pid_t pid, long duration)
{
        size_t len = 0;

        put(buf, size, &len, "EXIT: %s", id);
        if (log_on_success & CONF_LOG_EXIT) {
                if (WIFEXITED(wait_status))
                        put(buf, size, &len, " status=%d", WEXITSTATUS(wait_status));
                else if (WIFSIGNALED(wait_status))
                        put(buf, size, &len, " signal=%d", WTERMSIG(wait_status));
        }
        if (log_on_success & CONF_LOG_PID)
                put(buf, size, &len, " pid=%d", (int)pid);
        if (log_on_success & CONF_LOG_DURATION)
                put(buf, size, &len, " duration=%ld(sec)", duration);
        return len;
}

/**
 * logline_traffic() - "TRAFFIC: <id> in=<n>(bytes) out=<n>(bytes)", a redirect's byte counts
 * @buf: where to write
 * @size: its size
 * @id: the service id
 * @in: bytes relayed from the client to the backend
 * @out: bytes relayed from the backend to the client
 *
 * Return: the length written.
 */
size_t logline_traffic(char *buf, size_t size, const char *id, uint64_t in, uint64_t out)
{
        size_t len = 0;

        put(buf, size, &len, "TRAFFIC: %s in=%llu(bytes) out=%llu(bytes)", id,
            (unsigned long long)in, (unsigned long long)out);
        return len;
}

/**
 * logline_fail() - "FAIL: <id> <reason>[ from=<addr>]"
 * @buf: where to write
 * @size: its size
 * @id: the service id
 * @reason: xinetd's reason word(s): "address", "service_limit", "fork", ...
 * @log_on_failure: CONF_LOG_* flags
 * @from: the client's numeric address, or NULL
 *
 * Return: the length written.
 */
size_t logline_fail(char *buf, size_t size, const char *id, const char *reason,
                    unsigned log_on_failure, const char *from)
{
        size_t len = 0;

        put(buf, size, &len, "FAIL: %s %s", id, reason);
        if (log_on_failure & CONF_LOG_HOST)
                put(buf, size, &len, " from=%s", from ? from : "<no address>");
        return len;
}

/**
 * logline_file_stamp() - xinetd's FILE time stamp, "YY/M/D@HH:MM:SS: "
 * @buf: where to write
 * @size: its size
 * @t: the time
 *
 * Return: the length written.
 */
size_t logline_file_stamp(char *buf, size_t size, time_t t)
{
        struct tm tm;
        size_t len = 0;

        if (!localtime_r(&t, &tm))
                memset(&tm, 0, sizeof(tm));
        put(buf, size, &len, "%02d/%d/%d@%02d:%02d:%02d: ", tm.tm_year % 100, tm.tm_mon + 1,
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        return len;
}

/* --- destinations ----------------------------------------------------------------------- */

struct LogFile {
        char *path;
        int fd;                 /* -1 when it could not be opened (reported once) */
        uint64_t size;          /* bytes in the file, as far as we know */
        uint64_t soft, hard;    /* 0: no limit */
        bool soft_told;
        char *buf;
        size_t n_buf;
        uint64_t dropped;
};

struct LogSet {
        PortierLog *syslog_sink;        /* per-connection SYSLOG lines */
        PortierLog *daemon_log;         /* portierd's own messages */
        LogFile **files;
        size_t n_files;
        int (*open_file)(void *userdata, const char *path);    /* NULL: open() here */
        void *open_userdata;
};

int logset_new(LogSet **ret, PortierLog *syslog_sink, PortierLog *daemon_log)
{
        LogSet *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->syslog_sink = syslog_sink;
        s->daemon_log = daemon_log;
        *ret = s;
        return 0;
}

/**
 * logset_set_opener() - who opens the files from now on (privilege separation: the monitor)
 * @s: the set
 * @open_file: returns a descriptor open for appending (non-blocking), or -errno
 * @userdata: for @open_file
 */
void logset_set_opener(LogSet *s, int (*open_file)(void *userdata, const char *path),
                       void *userdata)
{
        s->open_file = open_file;
        s->open_userdata = userdata;
}

static void logfile_close(LogFile *f)
{
        f->fd = safe_close(f->fd);
}

static int logfile_open(LogSet *s, LogFile *f)
{
        struct stat st;

        if (s->open_file) {
                f->fd = s->open_file(s->open_userdata, f->path);
                if (f->fd < 0) {
                        errno = -f->fd;
                        f->fd = -1;
                }
        } else {
                f->fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY |
                             O_NONBLOCK, LOGFILE_MODE);
        }
        if (f->fd < 0) {
                int r = -errno;

                portier_log(s->daemon_log, LOG_ERR, "cannot open log file '%s': %m", f->path);
                return r;
        }
        f->size = fstat(f->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
        f->soft_told = false;
        return 0;
}

LogSet *logset_free(LogSet *s)
{
        if (!s)
                return NULL;
        logset_flush(s);
        for (size_t i = 0; i < s->n_files; i++) {
                logfile_close(s->files[i]);
                free(s->files[i]->path);
                free(s->files[i]->buf);
                free(s->files[i]);
        }
        free(s->files);
        free(s);
        return NULL;
}

static uint64_t default_hard(uint64_t soft)
{
        uint64_t extra = soft / 100;

        if (extra < LOG_EXTRA_MIN)
                extra = LOG_EXTRA_MIN;
        if (extra > LOG_EXTRA_MAX)
                extra = LOG_EXTRA_MAX;
        return soft + extra;
}

/**
 * logset_target() - resolve a service's log_type to a destination
 * @s: the set
 * @t: the log_type
 * @ret: the destination (files are shared by path and opened once)
 *
 * A file that cannot be opened is reported in the daemon log; its lines are dropped.
 *
 * Return: 0 or -ENOMEM.
 */
int logset_target(LogSet *s, const ConfLogType *t, LogTarget *ret)
{
        *ret = (LogTarget){ .kind = t->kind };
        if (t->kind == CONF_LOG_SYSLOG) {
                ret->priority = t->facility | t->level;
                return 0;
        }
        if (t->kind != CONF_LOG_FILE)
                return 0;
        for (size_t i = 0; i < s->n_files; i++)
                if (strcmp(s->files[i]->path, t->path) == 0) {
                        ret->file = s->files[i];
                        return 0;
                }

        LogFile *f = calloc(1, sizeof(*f));
        LogFile **v = realloc(s->files, (s->n_files + 1) * sizeof(*v));

        if (!f || !v || !(f->path = strdup(t->path)) || !(f->buf = malloc(LOGFILE_BUFFER))) {
                if (f)
                        free(f->path);
                free(f);
                if (v)
                        s->files = v;
                return -ENOMEM;
        }
        s->files = v;
        f->soft = t->soft_limit;
        f->hard = t->hard_limit ? t->hard_limit : (t->soft_limit ? default_hard(t->soft_limit) : 0);
        (void)logfile_open(s, f);
        s->files[s->n_files++] = f;
        ret->file = f;
        return 0;
}

static void logfile_append(LogSet *s, LogFile *f, const char *line, size_t len)
{
        char stamp[32];
        size_t n = logline_file_stamp(stamp, sizeof(stamp), time(NULL));
        uint64_t pending = f->size + f->n_buf;

        if (f->fd < 0 || (f->hard && pending + n + len + 1 > f->hard)) {
                f->dropped++;
                return;
        }
        if (f->soft && !f->soft_told && pending + n + len + 1 > f->soft) {
                f->soft_told = true;
                portier_log(s->daemon_log, LOG_ALERT, "log file '%s' is over its soft limit "
                            "of %llu bytes", f->path, (unsigned long long)f->soft);
        }
        if (f->n_buf + n + len + 1 > LOGFILE_BUFFER)
                logset_flush(s);
        if (f->n_buf + n + len + 1 > LOGFILE_BUFFER) {
                f->dropped++;
                return;
        }
        memcpy(f->buf + f->n_buf, stamp, n);
        memcpy(f->buf + f->n_buf + n, line, len);
        f->buf[f->n_buf + n + len] = '\n';
        f->n_buf += n + len + 1;
}

/**
 * logset_write() - send one line to a destination
 * @s: the set
 * @t: the destination (kind NONE: nothing is written)
 * @line: the line, without newline
 * @len: its length
 */
void logset_write(LogSet *s, const LogTarget *t, const char *line, size_t len)
{
        if (t->kind == CONF_LOG_SYSLOG)
                (void)portier_log(s->syslog_sink, t->priority, "%.*s", (int)len, line);
        else if (t->kind == CONF_LOG_FILE && t->file)
                logfile_append(s, t->file, line, len);
}

/**
 * logset_flush() - write buffered file lines (called before the loop sleeps)
 * @s: the set
 *
 * The files are opened non-blocking; what the disk does not take now stays buffered.
 */
void logset_flush(LogSet *s)
{
        for (size_t i = 0; s && i < s->n_files; i++) {
                LogFile *f = s->files[i];

                while (f->n_buf > 0 && f->fd >= 0) {
                        ssize_t n = write(f->fd, f->buf, f->n_buf);

                        if (n <= 0) {
                                if (n < 0 && errno == EINTR)
                                        continue;
                                if (n < 0 && errno != EAGAIN) {
                                        portier_log(s->daemon_log, LOG_ERR,
                                                    "cannot write log file '%s': %m", f->path);
                                        f->dropped++;
                                        f->n_buf = 0;
                                }
                                break;
                        }
                        f->size += (uint64_t)n;
                        memmove(f->buf, f->buf + n, f->n_buf - (size_t)n);
                        f->n_buf -= (size_t)n;
                }
        }
}

/**
 * logset_reopen() - flush, then reopen every file (after log rotation, at reload)
 * @s: the set
 *
 * Return: 0, or the first -errno of a file that could not be reopened.
 */
int logset_reopen(LogSet *s)
{
        int r = 0;

        logset_flush(s);
        for (size_t i = 0; i < s->n_files; i++) {
                int k;

                logfile_close(s->files[i]);
                k = logfile_open(s, s->files[i]);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}
