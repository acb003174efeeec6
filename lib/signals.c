/* SPDX-License-Identifier: MIT */
/*
 * signals.c — signals as descriptor events (signalfd).
 *
 * The chosen signals are blocked and read from a non-blocking, close-on-exec signalfd by the
 * event loop. Standard signals coalesce: one SIGCHLD may stand for several exited children,
 * so reap with waitpid(WNOHANG) in a loop. A process spawned from a daemon inherits the
 * blocked mask: clear it in the child before exec.
 */

#include <portier/signals.h>

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

/**
 * portier_signalfd_open() - block signals and get them on a descriptor
 * @signals: the signal numbers
 * @n: their number
 * @ret_fd: the signalfd (non-blocking, close-on-exec)
 *
 * Return: 0 or -errno.
 */
int portier_signalfd_open(const int *signals, size_t n, int *ret_fd)
{
        sigset_t set;
        int fd;

        if (!ret_fd || (n && !signals))
                return -EINVAL;
        sigemptyset(&set);
        for (size_t i = 0; i < n; i++)
                if (sigaddset(&set, signals[i]) < 0)
                        return -errno;
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return -errno;
        fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

/**
 * portier_signalfd_read() - take the next pending signal
 * @fd: a descriptor from portier_signalfd_open()
 * @ret: the signal, its sender, and for SIGCHLD the child's status
 *
 * Return: 1 when a signal was read, 0 when none is pending, or -errno.
 */
int portier_signalfd_read(int fd, PortierSignal *ret)
{
        struct signalfd_siginfo si;
        ssize_t n;

        if (!ret)
                return -EINVAL;
        do
                n = read(fd, &si, sizeof(si));
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN ? 0 : -errno;
        if ((size_t)n != sizeof(si))
                return -EIO;
        *ret = (PortierSignal){
                .signo = (int)si.ssi_signo,
                .pid = (pid_t)si.ssi_pid,
                .code = si.ssi_code,
                .status = si.ssi_status,
        };
        return 1;
}
