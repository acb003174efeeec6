/* SPDX-License-Identifier: MIT */
/*
 * server.c — the servers portierd started: a pid table, reaping, and ending them.
 *
 * Records come from a free list that grows in chunks and never shrinks, so the spawn path
 * allocates only when more servers run at once than ever before. The pid table is a
 * fixed-size array of chains (pids are spread well by a multiplicative hash).
 *
 * Reaping: SIGCHLD arrives on the signalfd and may stand for several children, so
 * server_reap() calls waitpid(WNOHANG) until nothing is left. A child that is not in the
 * table (a spawn that failed before exec was already reaped by spawn_run()) is ignored.
 */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/privsep.h"

#define PID_TABLE_SIZE 4096     /* chains; a power of two */
#define SERVER_CHUNK 256

typedef struct ServerChunk {
        struct ServerChunk *next;
        Server servers[SERVER_CHUNK];
} ServerChunk;

/* The free list and its chunks hang off the pid table allocation's end. */
typedef struct ServerPool {
        Server *free;
        ServerChunk *chunks;
} ServerPool;

static ServerPool *pool_of(Daemon *d)
{
        return (ServerPool *)(d->pid_table + d->pid_table_size);
}

static size_t pid_hash(pid_t pid)
{
        return ((uint32_t)pid * 2654435761u) & (PID_TABLE_SIZE - 1);
}

int server_table_init(Daemon *d)
{
        d->pid_table_size = PID_TABLE_SIZE;
        d->pid_table = calloc(1, PID_TABLE_SIZE * sizeof(Server *) + sizeof(ServerPool));
        return d->pid_table ? 0 : -ENOMEM;
}

void server_table_deinit(Daemon *d)
{
        ServerChunk *c, *next;

        if (!d->pid_table)
                return;
        for (c = pool_of(d)->chunks; c; c = next) {
                next = c->next;
                free(c);
        }
        free(d->pid_table);
        d->pid_table = NULL;
}

static Server *server_alloc(Daemon *d)
{
        ServerPool *p = pool_of(d);
        Server *srv;

        if (!p->free) {
                ServerChunk *c = calloc(1, sizeof(*c));

                if (!c)
                        return NULL;
                c->next = p->chunks;
                p->chunks = c;
                for (size_t i = 0; i < SERVER_CHUNK; i++) {
                        c->servers[i].next = p->free;
                        p->free = &c->servers[i];
                }
        }
        srv = p->free;
        p->free = srv->next;
        *srv = (Server){ 0 };
        return srv;
}

/**
 * server_add() - record a server that was just started
 * @d: the daemon
 * @s: its service
 * @pid: its pid
 *
 * Return: the record, or NULL when out of memory (the server then runs unrecorded: its exit
 * is reaped but not logged).
 */
Server *server_add(Daemon *d, Service *s, pid_t pid)
{
        Server *srv = server_alloc(d);
        size_t h = pid_hash(pid);

        if (!srv)
                return NULL;
        srv->svc = s;
        srv->pid = pid;
        srv->report_fd = -1;
        srv->report_ev = EV_FILE_NULL;
        srv->started = time(NULL);
        srv->hash_next = d->pid_table[h];
        d->pid_table[h] = srv;
        srv->next = s->servers;
        if (s->servers)
                s->servers->prev = srv;
        s->servers = srv;
        s->running++;
        d->running++;
        return srv;
}

static Server *server_take(Daemon *d, pid_t pid)
{
        for (Server **p = &d->pid_table[pid_hash(pid)]; *p; p = &(*p)->hash_next)
                if ((*p)->pid == pid) {
                        Server *srv = *p;

                        *p = srv->hash_next;
                        return srv;
                }
        return NULL;
}

static void server_release(Daemon *d, Server *srv)
{
        Service *s = srv->svc;
        ServerPool *p = pool_of(d);

        if (srv->prev)
                srv->prev->next = srv->next;
        else
                s->servers = srv->next;
        if (srv->next)
                srv->next->prev = srv->prev;
        s->running--;
        d->running--;
        srv->next = p->free;
        p->free = srv;
}

/**
 * server_reap() - collect every exited child and account for it
 * @d: the daemon
 */
void server_reap(Daemon *d)
{
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);

                if (pid <= 0) {
                        if (pid < 0 && errno == EINTR)
                                continue;
                        return;
                }
                server_exited(d, pid, status);
        }
}

/**
 * server_exited() - account for a child that exited: reaped here (server_reap()), or by
 * the monitor of privilege separation, which reports it
 * @d: the daemon
 * @pid: the child
 * @status: its wait status
 */
void server_exited(Daemon *d, pid_t pid, int status)
{
        Server *srv = server_take(d, pid);

        if (!srv) {
                /* re-exec's drainer, or a spawn reaped already */
                (void)reexec_child_exited(d, pid, status);
                return;
        }
        Service *s = srv->svc;

        control_note_exit(d, s, srv, status);
        service_server_exited(s, srv, status);
        server_release(d, srv);
        if (s->state == SERVICE_RETIRED && s->running == 0)
                service_free(s);        /* unlinks itself from d->retired */
}

/* Signal a server and its process group: through the monitor under privilege separation. */
static void signal_server(Daemon *d, pid_t pid, int sig)
{
        if (d->privsep) {
                (void)privsep_signal(d, pid, sig);
                return;
        }
        if (kill(-pid, sig) < 0)
                (void)kill(pid, sig);
}

/**
 * server_signal() - signal one running server (and the process group it leads)
 * @s: its service
 * @srv: the server
 * @sig: the signal
 */
void server_signal(Service *s, Server *srv, int sig)
{
        signal_server(s->d, srv->pid, sig);
}

/**
 * server_kill_service() - signal every running server of a service
 * @s: the service
 * @sig: the signal
 */
void server_kill_service(Service *s, int sig)
{
        /* A server leads its own session and process group: end what it started too. */
        for (Server *srv = s->servers; srv; srv = srv->next)
                signal_server(s->d, srv->pid, sig);
}

/**
 * server_kill_all() - signal every running server
 * @d: the daemon
 * @sig: the signal
 */
void server_kill_all(Daemon *d, int sig)
{
        for (size_t i = 0; i < d->n_services; i++)
                server_kill_service(d->services[i], sig);
        for (size_t i = 0; i < d->n_retired; i++)
                server_kill_service(d->retired[i], sig);
}
