/* SPDX-License-Identifier: MIT */
/*
 * pidfile.c — single instance through a pid file locked for the daemon's whole life.
 *
 * The lock is an open-file-description lock (F_OFD_SETLK, Linux 3.15+) on the whole file.
 * Unlike a classic fcntl() lock it is not dropped by fork() nor by closing some other
 * descriptor of the same file, and unlike flock() its holder can be probed with F_OFD_GETLK
 * without taking (and so briefly stealing) the lock. Liveness comes from the lock, the pid
 * from the file's contents.
 *
 * Writing the pid never leaves the file empty: the pid and its newline are written at offset
 * 0, then the file is cut to that length, so a reader sees either the old or the new first
 * line. Removal checks that the path still names the file we locked, so a daemon never
 * deletes a newer instance's file.
 */

#include <portier/pidfile.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct PortierPidfile {
        int fd;
        char *path;
        dev_t dev;
        ino_t ino;
        pid_t written;          /* pid written by portier_pidfile_write(), 0 before */
};

/* How long a starting instance waits for a running one to write its pid (20 x 10 ms). */
#define PIDFILE_READ_TRIES 20

/* The handle for a locked file @fd (taken only on success) opened as @path. */
static PortierPidfile *pidfile_new(const char *path, int fd, const struct stat *st)
{
        PortierPidfile *pf = calloc(1, sizeof(*pf));

        if (!pf)
                return NULL;
        pf->path = strdup(path);
        if (!pf->path) {
                free(pf);
                return NULL;
        }
        pf->fd = fd;
        pf->dev = st->st_dev;
        pf->ino = st->st_ino;
        return pf;
}

static int lock_whole(int fd)
{
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

        if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
                return errno == EACCES ? -EAGAIN : -errno;
        return 0;
}

/* 1 when some open file description holds a lock on fd's file, 0 when none, or -errno. */
static int is_locked(int fd)
{
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

        if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
                return -errno;
        return fl.l_type != F_UNLCK;
}

/* Parse the first line of the file as a pid: 0 and the pid, or -ENODATA / -EBADMSG. */
static int read_pid(int fd, pid_t *ret)
{
        char buf[32];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        long v = 0;
        size_t i;

        if (n < 0)
                return -errno;
        if (n == 0)
                return -ENODATA;
        buf[n] = '\0';
        for (i = 0; i < (size_t)n && buf[i] != '\n'; i++) {
                if (buf[i] < '0' || buf[i] > '9' || v > (INT_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (buf[i] - '0');
        }
        if (i == 0 || v <= 0)
                return -EBADMSG;
        *ret = (pid_t)v;
        return 0;
}

/* Read the pid a lock holder wrote, giving a starting holder a moment to write it. */
static pid_t read_holder_pid(int fd)
{
        pid_t pid = 0;

        for (int i = 0; i < PIDFILE_READ_TRIES; i++) {
                if (read_pid(fd, &pid) == 0)
                        return pid;
                (void)nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        return 0;
}

/**
 * portier_pidfile_open() - open and lock a pid file, or find who holds it
 * @path: the pid file (on a local file system, e.g. /run)
 * @mode: permissions when it is created (0 means 0644)
 * @ret: the locked pid file on success
 * @ret_other: if not NULL, set on -EEXIST to the running instance's pid (0 if it has not
 *             written one yet)
 *
 * A file nobody holds a lock on (left over by a crash) is taken over silently. The lock
 * stays held until the pid file is freed and every process that inherited its descriptor by
 * fork() without exec has exited. The descriptor is close-on-exec.
 *
 * Return: 0, -EEXIST when another instance holds the lock, -EINVAL when @path is not a
 * regular file, or another -errno.
 */
int portier_pidfile_open(const char *path, mode_t mode, PortierPidfile **ret, pid_t *ret_other)
{
        if (!path || !*path || !ret)
                return -EINVAL;
        if (mode == 0)
                mode = 0644;

        /* Retry when the file we locked was unlinked or replaced under us (a stopping instance
         * removes its file between our open() and our lock). */
        for (int attempt = 0; attempt < 16; attempt++) {
                _cleanup_close_ int fd = -1;
                struct stat st, st_path;
                int r;

                fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
                if (fd < 0)
                        return -errno;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (!S_ISREG(st.st_mode))
                        return -EINVAL;

                r = lock_whole(fd);
                if (r == -EAGAIN) {
                        if (ret_other)
                                *ret_other = read_holder_pid(fd);
                        return -EEXIST;
                }
                if (r < 0)
                        return r;

                if (lstat(path, &st_path) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return -errno;
                }
                if (st_path.st_dev != st.st_dev || st_path.st_ino != st.st_ino)
                        continue;

                PortierPidfile *pf = pidfile_new(path, fd, &st);

                if (!pf)
                        return -ENOMEM;
                fd = -1;        /* the pid file's now */
                *ret = pf;
                return 0;
        }
        return -EAGAIN;
}

/**
 * portier_pidfile_adopt() - take over a pid file locked by this process's previous image
 * @fd: the locked descriptor, inherited across execve() (OFD locks survive it)
 * @path: the path it was opened with
 * @ret: the pid file; portier_pidfile_remove() works as for the image that wrote it
 *
 * For daemons that re-execute themselves in place (same pid): the lock is never released.
 *
 * Return: 0, -EINVAL (not a regular file), or -errno.
 */
int portier_pidfile_adopt(int fd, const char *path, PortierPidfile **ret)
{
        struct stat st;
        PortierPidfile *pf;

        if (fd < 0 || !path || !ret)
                return -EINVAL;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        pf = pidfile_new(path, fd, &st);
        if (!pf)
                return -ENOMEM;
        pf->written = getpid();
        *ret = pf;
        return 0;
}

/**
 * portier_pidfile_write() - write the calling process's pid into the locked file
 * @pf: a pid file from portier_pidfile_open()
 *
 * Call it in the process that will stay (after detaching) and before reporting readiness.
 *
 * Return: 0 or -errno.
 */
int portier_pidfile_write(PortierPidfile *pf)
{
        char buf[24];
        pid_t pid = getpid();
        int len;

        if (!pf)
                return -EINVAL;
        len = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
        ssize_t n = pwrite(pf->fd, buf, (size_t)len, 0);

        if (n < 0)
                return -errno;
        if (n != len)
                return -EIO;
        if (ftruncate(pf->fd, len) < 0)
                return -errno;
        if (fdatasync(pf->fd) < 0 && errno != EINVAL)
                return -errno;
        pf->written = pid;
        return 0;
}

/**
 * portier_pidfile_fd() - the locked descriptor, to keep open when detaching
 * @pf: a pid file
 *
 * Return: the descriptor, or -1 for NULL.
 */
int portier_pidfile_fd(const PortierPidfile *pf)
{
        return pf ? pf->fd : -1;
}

/**
 * portier_pidfile_path() - the path the pid file was opened with
 * @pf: a pid file
 *
 * Return: the path, or NULL for NULL.
 */
const char *portier_pidfile_path(const PortierPidfile *pf)
{
        return pf ? pf->path : NULL;
}

/**
 * portier_pidfile_remove() - unlink the pid file if it is still ours
 * @pf: a pid file
 *
 * The file is removed only when its path still names the file we hold locked, and only by
 * the process that wrote its pid into it (a forked child may not remove its parent's file).
 * The lock is kept until portier_pidfile_free().
 *
 * Return: 0 when removed, -ESTALE when the path names another file or none, -EPERM in a
 * process other than the writer, or -errno.
 */
int portier_pidfile_remove(PortierPidfile *pf)
{
        struct stat st;

        if (!pf)
                return -EINVAL;
        if (pf->written && pf->written != getpid())
                return -EPERM;
        if (lstat(pf->path, &st) < 0)
                return errno == ENOENT ? -ESTALE : -errno;
        if (st.st_dev != pf->dev || st.st_ino != pf->ino)
                return -ESTALE;
        if (unlink(pf->path) < 0)
                return -errno;
        return 0;
}

/**
 * portier_pidfile_free() - close the pid file, releasing the lock
 * @pf: a pid file, or NULL
 *
 * The file itself is left in place; call portier_pidfile_remove() first on a clean exit.
 *
 * Return: NULL.
 */
PortierPidfile *portier_pidfile_free(PortierPidfile *pf)
{
        if (!pf)
                return NULL;
        (void)safe_close(pf->fd);
        free(pf->path);
        free(pf);
        return NULL;
}

/**
 * portier_pidfile_running() - is an instance running, and which pid is it?
 * @path: the pid file
 * @ret_pid: if not NULL, set to the running instance's pid (0 if it has not written one yet)
 *
 * For stop and status tools. Only the lock says whether an instance is alive; a file whose
 * lock nobody holds is stale, whatever pid it names. The lock is probed, never taken.
 *
 * Return: 1 when running, 0 when not (no file, or a stale one), or -errno.
 */
int portier_pidfile_running(const char *path, pid_t *ret_pid)
{
        _cleanup_close_ int fd = -1;
        int r;

        if (!path)
                return -EINVAL;
        if (ret_pid)
                *ret_pid = 0;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = is_locked(fd);
        if (r <= 0)
                return r;
        if (ret_pid)
                *ret_pid = read_holder_pid(fd);
        return 1;
}
