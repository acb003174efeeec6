/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_PIDFILE_H
#define PORTIER_PIDFILE_H

/*
 * Single instance through a locked pid file.
 *
 * The lock is an OFD lock (F_OFD_SETLK) on the whole file: it belongs to the open file
 * description, so it survives fork() and is held by the daemon until it exits. Take it before
 * detaching, so that "already running" reaches the terminal. The file holds the pid and a
 * newline. Whether an instance runs is told by the lock, never by the pid alone.
 */

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct PortierPidfile PortierPidfile;

int portier_pidfile_open(const char *path, mode_t mode, PortierPidfile **ret, pid_t *ret_other);
int portier_pidfile_adopt(int fd, const char *path, PortierPidfile **ret);
int portier_pidfile_write(PortierPidfile *pf);
int portier_pidfile_fd(const PortierPidfile *pf);
const char *portier_pidfile_path(const PortierPidfile *pf);
int portier_pidfile_remove(PortierPidfile *pf);
PortierPidfile *portier_pidfile_free(PortierPidfile *pf);
int portier_pidfile_running(const char *path, pid_t *ret_pid);

#ifdef __cplusplus
}
#endif
#endif
