/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_DAEMON_H
#define PORTIERD_DAEMON_H

/*
 * daemon — portierd's state, the one context object (STYLE.md 7), and the table of contents
 * of the modules that work on it:
 *
 *   daemon.c      start, the loop's signal handling, stop, state dump
 *   generation.c  configuration generations: loaded (with spawn templates) on a worker
 *                 thread, never on the loop, and applied by diff (reload)
 *   service.c     a service at run time: its listener, accept, dispatch, reload
 *   admit.c       admission: the checks before anything is spawned, and refusals
 *   server.c      running servers: the pid table, reaping, EXIT lines, ending them
 *   inproc.c      connections served in-process (built-ins, redirect): their accounting
 *   builtin.c     the INTERNAL services (echo, discard, daytime, chargen, time)
 *   tcpmux.c      the tcpmux built-in (RFC 1078) and its dispatch to TCPMUX services
 *   control.c     the control socket (portierctl); report.c renders its answers (listing.c
 *                 the rows of `list`, shared with portierctl); reexec.c is the live upgrade
 *                 (control.h; inventory.c its hand-over format, drainer.c the fork that
 *                 serves the in-process connections on; private header reexec.h)
 *   redirect.c    redirect = host port: the in-process TCP proxy (splice)
 *
 * Ownership: the Daemon owns its Services; a Service holds a reference on the Generation its
 * configuration comes from and owns its running Servers' records. A Service removed by a
 * reload while servers of it still run is "retired": it stays, without a listener, until its
 * last server is reaped, so that the EXIT line is still written with its settings.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <portier/portier.h>

#include "conf/conf.h"
#include "daemon/access.h"
#include "daemon/ev.h"
#include "daemon/inproc.h"
#include "daemon/listener.h"
#include "daemon/loadavg.h"
#include "daemon/logline.h"
#include "daemon/ratelimit.h"
#include "daemon/revdns.h"
#include "daemon/sensor.h"
#include "daemon/options.h"
#include "daemon/spawn.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Why a connection was refused: xinetd's FAIL reasons, plus portier's. One counter each. */
typedef enum Refusal {
        REFUSE_ADDRESS,
        REFUSE_TIME,
        REFUSE_FORK,
        REFUSE_SERVICE_LIMIT,
        REFUSE_PER_SOURCE_LIMIT,
        REFUSE_PROCESS_LIMIT,
        REFUSE_LIBWRAP,
        REFUSE_LOAD,
        REFUSE_CPS,
        REFUSE_PER_SOURCE_CPS,          /* portier's per_source_cps */
        _REFUSE_MAX,
} Refusal;

const char *refusal_reason(Refusal r);

/* The banner files of a service, read when the configuration is loaded. */
typedef enum BannerKind {
        BANNER_ALWAYS,          /* banner: to every client, refused ones included */
        BANNER_SUCCESS,         /* banner_success */
        BANNER_FAIL,            /* banner_fail */
        _BANNER_MAX,
} BannerKind;

typedef struct Banners {
        char *data[_BANNER_MAX];
        size_t len[_BANNER_MAX];
} Banners;

/* A loaded configuration and what is prepared from it off the loop. */
typedef struct Generation {
        unsigned refs;
        unsigned number;                /* 1 for the first configuration, +1 per reload */
        Config *config;
        ConfDiag diag;
        SpawnTemplate **templates;      /* per config->services index; NULL where not exec'd */
        Banners **banners;              /* per index; NULL without banners */
        char **inherited_env;           /* for services without passenv (spawn.c) */
        char **envp_scratch;            /* spawn_run()'s vector, for all the templates */
} Generation;

Generation *generation_ref(Generation *g);
Generation *generation_unref(Generation *g);

typedef enum ServiceState {
        SERVICE_LISTENING,      /* watching its socket */
        SERVICE_SUSPENDED,      /* wait = yes: a server has the socket */
        SERVICE_BIND_RETRY,     /* the socket could not be opened; retried on a timer */
        SERVICE_CPS_OFF,        /* over its cps: socket closed until the timer reopens it */
        SERVICE_RETIRED,        /* removed by a reload; waits for its servers to exit */
        SERVICE_MUX,            /* type TCPMUX(PLUS): no socket, reached through tcpmux */
} ServiceState;

typedef struct Server Server;
typedef struct Daemon Daemon;

/* A connection waiting for another try at fork() (xinetd retries unless NORETRY). */
#define FORK_RETRY_MAX 16
typedef struct ForkRetry {
        int fd;
        struct sockaddr_storage peer;
        char from[46];                  /* INET6_ADDRSTRLEN */
        unsigned tries;
} ForkRetry;

/* The connections of a service waiting for a fork retry, with their timer: allocated on the
 * service's first fork failure (with 10,000 services, every byte of a Service counts). */
typedef struct ForkQueue {
        struct Service *svc;
        EvTimer timer;
        size_t n;
        ForkRetry e[FORK_RETRY_MAX];
} ForkQueue;

/* The timer that reports FAIL lines suppressed under a flood; allocated on the first. */
typedef struct FailReport {
        struct Service *svc;
        EvTimer timer;
} FailReport;

typedef struct ServiceCounters {
        uint64_t accepted;
        uint64_t started;
        uint64_t refused[_REFUSE_MAX];
        uint64_t spawn_failed;
        uint64_t exited;
        uint64_t noid;                  /* IDONLY clients without an ident answer */
        uint64_t dropped;               /* datagrams of built-ins not answered (loop,
                                           answer limit) */
} ServiceCounters;

typedef struct Service {
        Daemon *d;
        Generation *gen;
        const ConfService *conf;
        const SpawnTemplate *spawn;
        const Banners *banners;         /* NULL: none */
        LogTarget log;
        uint64_t key_hash;              /* listener_key_hash(), for matching across reloads */
        uint32_t index;                 /* of conf in gen->config (privsep names it so) */
        ServiceState state;
        int fd;                         /* the listening socket, -1 when closed */
        uint32_t n_inproc;              /* how many of `running` are in-process connections */
        ListenerFile *file;             /* socket_path "/...": the file it created
                                           (listener.c); NULL for every other service */
        EvFile ev;
        EvTimer retry;                  /* bind retry, cps return, accept pause */
        RatelimitCps cps;
        RatelimitTable *sources;        /* per_source and per_source_cps; NULL: neither */
        char *bind_error;               /* the last bind failure; NULL when listening */
        Server *servers;                /* the running servers' records (doubly linked) */
        InprocConn *inproc;             /* in-process connections (inproc.c), newest first */
        struct UseridJob *userid_jobs;  /* ident lookups under way (userid.c) */
        RevdnsJob *revdns_jobs;         /* reverse lookups under way (revdns.c) */
        ForkQueue *fork_queue;          /* NULL until a fork fails */
        uint32_t running;               /* servers, in-process connections, and spawns in
                                           flight (privsep: sent, no reply yet) now */
        uint64_t spawns_asked;          /* spawns sent to the monitor, and those it has */
        uint64_t spawns_answered;       /* answered (in order): the difference is how many
                                           of `running` are spawns in flight */
        uint32_t gated;                 /* connections held for an IDONLY answer */
        uint32_t fail_second;           /* FAIL lines under a flood: the current second, */
        uint32_t fail_logged;           /* the lines written in it, */
        bool matched;                   /* scratch, during a reload */
        bool accept_paused;             /* out of descriptors: said so once, until the
                                           queue is empty again (service.c) */
        uint64_t fail_suppressed;       /* those suppressed since the last report, */
        FailReport *fail_report;        /* and the timer that reports them (NULL until then) */
        struct HeldLine *held_lines;    /* FAIL lines waiting for spawns asked before them, */
        struct HeldLine **held_tail;    /* oldest first (service_log_after_spawns()) */
        ServiceCounters counters;
} Service;

/*
 * A spawn under way across privilege separation: what the network process needs once the
 * monitor's SPAWNED result comes (service.c service_spawn_done()). It is counted in its
 * service's and the daemon's `running` from the request on, so that instances, -limit and
 * the wait for servers at a stop or a service's retirement all count it.
 */
typedef struct SpawnJob {
        Service *svc;
        int fd;                         /* the connection (kept until the result: a fork
                                           failure is retried on it), or -1 for a wait = yes
                                           socket (the service's own) */
        unsigned tries;                 /* fork tries before this one */
        bool lookup;                    /* begin the USERID lookup once started */
        bool held;                      /* holds the per_source slot of key */
        bool has_peer, has_local;
        AccessAddr key;
        struct sockaddr_storage peer, local;
        char from[46];
        bool has_from;                  /* else the client is unknown ("<no address>") */
        bool after_owned;               /* after_start is the job's (malloc'd) */
        const char *after_start;        /* a line to log after START (the IDONLY gate's
                                           USERID line), or NULL */
        unsigned gen;                   /* the service's generation when it was asked for */
        uint32_t next_free;             /* privsep.c's free list of slots */
} SpawnJob;

struct Server {
        Service *svc;
        pid_t pid;
        bool src_held;                  /* holds a per_source slot for src */
        AccessAddr src;
        AccessAddr client;              /* for re-checking address rules at reload */
        bool has_client;
        time_t started;                 /* wall clock, for duration= */
        int report_fd;                  /* libwrap spawns: the child's verdict pipe, or -1 */
        EvFile report_ev;
        char from[46];                  /* the client, for a libwrap FAIL line */
        Server *next, *prev;            /* in the service's list */
        Server *hash_next;              /* in the daemon's pid table */
};

struct Daemon {
        const Options *opts;
        EvLoop *loop;
        PortierLog *log;                /* portierd's own messages */
        PortierLog *syslog;             /* per-connection SYSLOG lines */
        LogSet *logs;
        PortierDaemon *startup;         /* the start-up report, until ready */
        const char *config_path;        /* absolute */
        const char *pidfile_path;
        bool as_root;
        struct rlimit nofile;           /* RLIMIT_NOFILE as found at start, for servers */
        int listener_fd_max;            /* a listening socket must get a lower descriptor:
                                           those above are kept for connections (service.c) */
        bool watch_later;               /* at start: sockets are watched once ready is said
                                           (service_watch_all()) */
        bool accept_short;              /* a service paused accepting for lack of descriptors
                                           (service_descriptors_freed()) */

        Generation *gen;                /* the current configuration */
        Service **services;
        size_t n_services;
        Service **retired;
        size_t n_retired;

        Server **pid_table;             /* open hashing on pid */
        size_t pid_table_size;
        uint32_t running;               /* servers running, all services (-limit) */
        uint32_t inproc_running;        /* in-process connections, all services */
        struct Redirect *redirect;      /* redirect.c's pools, NULL until first used */
        uint32_t userid_running;        /* ident lookups under way (-logprocs) */
        SensorList *sensor;             /* the global deny list of SENSOR services */
        Revdns *revdns;
        EvTimer sensor_timer;
        Loadavg loadavg;

        int signal_fd;
        EvFile signal_ev;

        /* Reload: a worker thread builds the next generation; an eventfd wakes the loop. */
        int reload_fd;
        EvFile reload_ev;
        pthread_t reload_thread;
        bool reload_running;
        bool reload_again;
        Generation *reload_result;
        int reload_error;
        bool reload_parked;             /* loaded, waiting for the monitor's word (privsep) */

        struct Control *control;        /* the control socket (control.c) */
        struct Reexec *reexec;          /* live upgrade (reexec.c) */
        struct Privsep *privsep;        /* this is privilege separation's network process
                                           (privsep.c); NULL: one process does it all */
        pid_t main_pid;                 /* the pid file's: this process, or privilege
                                           separation's monitor (reports name it) */
        uid_t uid;                      /* portierd's user at start (the control socket
                                           answers it and root) */
        int pidfile_fd;                 /* the locked pid file, kept across reexec */

        bool stopping;
        bool draining;                  /* this process is re-exec's drainer (reexec.c) */
        EvTimer stop_timer;
        EvTimer cc_timer;               /* -cc */
        uint64_t started_usec;
        time_t started_wall;
        unsigned next_generation;
        uint64_t *builtin_udp_ports;    /* bit per port: UDP built-ins listen there (builtin.c) */
};

/* daemon.c */
#define DAEMON_N_SIGNALS 7
extern const int daemon_signals[DAEMON_N_SIGNALS];

int daemon_run(const Options *o);
int daemon_sensor_expire(EvTimer *t);
void daemon_dump_state(Daemon *d);
void daemon_dump_state_to(Daemon *d, FILE *f);
char *daemon_dump_path(const char *pidpath);

/* generation.c */
typedef struct GenerationSource {
        struct ConfBundle *record;              /* conf/bundle.h */
        const struct ConfBundle *replay;
} GenerationSource;

int generation_load(Daemon *d, unsigned number, Generation **ret);
int generation_load_from(Daemon *d, unsigned number, const GenerationSource *src,
                         Generation **ret);
void generation_log_diag(Daemon *d, const ConfDiag *diag);
int reload_start(Daemon *d);
int reload_init(Daemon *d);
void generation_reload_resume(Daemon *d);
void reload_deinit(Daemon *d);
int generation_apply(Daemon *d, Generation *g, bool initial);

/* service.c */
Service *service_new(Daemon *d, Generation *g, size_t index);
Service *service_free(Service *s);
int service_listen(Service *s);
void service_watch_all(Daemon *d);
void service_descriptors_freed(Daemon *d);
void service_close(Service *s);
void service_remove_socket_file(Service *s);
void service_update(Service *s, Generation *g, size_t index);
void service_retire(Service *s);
int service_take_socket(Service *s, Service *old);
void service_server_exited(Service *s, Server *srv, int status);
void service_spawn_done(SpawnJob *j, int r, pid_t pid, SpawnError err, int report_fd);
void service_start_server(Service *s, int fd, const struct sockaddr *peer, const char *from,
                          const char *after);
void service_drop_fork_retries(Service *s);
bool service_queue_fork_retry(Service *s, int fd, const struct sockaddr *peer, const char *from,
                              unsigned tries);
void service_resume_paused(Daemon *d);
void service_dispatch(Service *s, int fd, const struct sockaddr *peer, const char *from);
void service_log(Service *s, const char *line, size_t len);
void service_log_after_spawns(Service *s, const char *line, size_t len);

/* Privilege separation: spawns asked of the monitor and not answered yet. */
static inline uint32_t service_spawns_in_flight(const Service *s)
{
        return (uint32_t)(s->spawns_asked - s->spawns_answered);
}
void service_admit_with_name(Service *s, int fd, const struct sockaddr *peer, const char *from,
                             const char *name);
const char *service_state_name(ServiceState st);

/* admit.c */
void admit_send_banner(const Service *s, int fd, BannerKind k);
bool admit_wants_userid(const Service *s, unsigned log_flags);
void admit_refuse(Service *s, int fd, const struct sockaddr *peer, Refusal why,
                  const char *from);
bool admit_connection(Service *s, int fd, const struct sockaddr *peer, const char *from);
bool admit_source_rate(Service *s, int fd, const struct sockaddr *peer, const char *from);
bool admit_take_source_slot(Service *s, int fd, const struct sockaddr *peer, const char *from,
                            AccessAddr *ret_key);
bool admit_defer_at_limit(Service *s);
int admit_cps_return(EvTimer *t);
void admit_sensor_hit(Service *s, int fd, const struct sockaddr *peer, const char *from);

/* server.c */
int server_table_init(Daemon *d);
void server_table_deinit(Daemon *d);
Server *server_add(Daemon *d, Service *s, pid_t pid);
void server_reap(Daemon *d);
void server_exited(Daemon *d, pid_t pid, int status);
void server_signal(Service *s, Server *srv, int sig);
void server_kill_service(Service *s, int sig);
void server_kill_all(Daemon *d, int sig);

#endif
