/* SPDX-License-Identifier: MIT */
/*
 * drainer.c — the live upgrade's drainer: a fork of the old image that serves the in-process
 * connections open at a re-exec to their end (why a fork rather than a hand-over, and its
 * rules, are in reexec.c's header). Forked just before execve(), it waits on a pipe whose
 * write end is close-on-exec in the daemon: EOF means the exec succeeded. Under privilege
 * separation no fork is needed: the old network process itself becomes the drainer when its
 * monitor's request socket closes at the exec (monitor_reexec.c).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/privsep.h"
#include "daemon/reexec.h"
#include "daemon/revdns.h"
#include "daemon/userid.h"
#include "util.h"


/* The drainer's own loop state (on its stack; found again with container_of). */
typedef struct Drainer {
        Daemon *d;
        EvFile sig_ev;
        EvTimer done;
} Drainer;

static int drainer_exit(EvTimer *t)
{
        return EV_EXIT;
}

/* SIGTERM/SIGINT (the daemon stops, or the operator's ^C): end every connection now, with
 * its EXIT (and TRAFFIC) line; the loop then ends. */
static int drainer_on_signal(EvFile *f, uint32_t events)
{
        Drainer *dr = container_of(f, Drainer, sig_ev);
        PortierSignal sig;

        while (portier_signalfd_read(dr->d->signal_fd, &sig) > 0)
                if (sig.signo == SIGTERM || sig.signo == SIGINT || sig.signo == SIGQUIT)
                        inproc_end_all(dr->d);
        return 0;
}

static void drainer_before_sleep(void *userdata)
{
        Drainer *dr = userdata;

        logset_flush(dr->d->logs);
        if (dr->d->inproc_running == 0 && !ev_timer_armed(&dr->done))
                ev_timer_arm(dr->d->loop, &dr->done, 0, drainer_exit);
}

/* Admissions under way were handed over to the new image (the inventory's held lines): the
 * drainer's copies of their connections are closed, nothing logged. */
static void drainer_end_admissions(Service *s)
{
        ForkQueue *q = s->fork_queue;

        for (size_t i = 0; q && i < q->n; i++)
                (void)close(q->e[i].fd);
        if (q)
                q->n = 0;
        userid_cancel_service(s);
        for (RevdnsJob *j = s->revdns_jobs; j; j = revdns_job_next(j))
                revdns_job_close(j);
}

/* Close what belongs to the daemon, not to the connections: listening sockets, the control
 * socket and its clients (without a read, an answer or an unlink: they are shared), the pid
 * file (its lock is the daemon's), the reload eventfd. */
static void drainer_release(Drainer *dr)
{
        Daemon *d = dr->d;

        for (size_t k = 0; k < 2; k++) {
                Service **v = k ? d->retired : d->services;
                size_t n = k ? d->n_retired : d->n_services;

                for (size_t i = 0; i < n; i++) {
                        drainer_end_admissions(v[i]);
                        v[i]->fd = safe_close(v[i]->fd);
                }
        }
        d->control = control_forget(d->control);
        /* (the old network process: its monitor is the new image, with new sockets) */
        d->privsep = privsep_free(d->privsep);
        d->pidfile_fd = safe_close(d->pidfile_fd);
        d->reload_fd = safe_close(d->reload_fd);
}

/*
 * The drainer's life: wait until the daemon's execve() succeeded (the pipe's write end is
 * close-on-exec: EOF) or failed (a byte: exit at once, untouched, the old image serves on),
 * then serve the in-process connections from a loop of its own until the last one ends.
 * The old loop's epoll instance is not touched again (after the exec no one else holds it,
 * but it still names the daemon's listening sockets).
 */
static _Noreturn void drainer_run(Daemon *d, int go_fd)
{
        ssize_t n;
        char c;

        do
                n = read(go_fd, &c, 1);
        while (n < 0 && errno == EINTR);
        if (n != 0)
                _exit(0);
        (void)close(go_fd);
        drainer_serve(d);
}

/**
 * drainer_serve() - become the drainer: the daemon's execve() succeeded
 * @d: the daemon (a fork of the old image, or under privilege separation the old network
 *     process itself, whose monitor has just executed the new image)
 *
 * Serves the in-process connections from a loop of its own until the last one ended.
 */
_Noreturn void drainer_serve(Daemon *d)
{
        Drainer dr = { .d = d, .sig_ev = EV_FILE_NULL, .done = EV_TIMER_NULL };
        EvLoop *loop = NULL;

        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        d->draining = true;
        d->stopping = true;
        if (ev_loop_new(&loop) < 0) {
                portier_log(d->log, LOG_ERR, "re-exec drainer: cannot make its loop: %m; "
                            "its connections end now");
                inproc_end_all(d);
                logset_flush(d->logs);
                _exit(1);
        }
        inproc_move_all(d, loop);
        drainer_release(&dr);
        d->loop = loop;
        ev_loop_set_before_sleep(loop, drainer_before_sleep, &dr);
        if (ev_file_add(loop, &dr.sig_ev, d->signal_fd, EPOLLIN, drainer_on_signal) < 0)
                portier_log(d->log, LOG_WARNING, "re-exec drainer: cannot watch signals: %m");
        portier_log(d->log, LOG_NOTICE, "re-exec: pid %d serves %u in-process connections "
                    "until they end", (int)getpid(), d->inproc_running);
        (void)ev_loop_run(loop);
        logset_flush(d->logs);
        _exit(0);
}

/* Fork the drainer when in-process connections are open. Return: its pid (and the pipe's
 * write end in *ret_go), 0 when none is needed, or -errno. */
pid_t drainer_fork(Daemon *d, int *ret_go)
{
        int go[2];
        pid_t pid;

        *ret_go = -1;
        if (d->inproc_running == 0)
                return 0;
        if (pipe2(go, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;

                (void)close(go[0]);
                (void)close(go[1]);
                return r;
        }
        if (pid == 0) {
                (void)close(go[1]);
                drainer_run(d, go[0]);
        }
        (void)close(go[0]);
        *ret_go = go[1];
        return pid;
}

/* execve() failed: the drainer leaves without touching anything (it is reaped as a child
 * that is no server). */
void drainer_abort(int go_fd)
{
        if (go_fd < 0)
                return;
        (void)!write(go_fd, "x", 1);
        (void)close(go_fd);
}
