/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_CONF_H
#define PORTIER_CONF_H

/*
 * conf — portier's configuration language: xinetd.conf(5) syntax (service blocks, defaults,
 * include, includedir, the operators =, += and -=), portier's own attributes, and the classic
 * inetd.conf format. The result of conf_load() is an immutable, fully resolved Config: every
 * service read, with its effective attributes after defaults, its source positions and, when
 * it cannot run, the reason.
 *
 * Thread safety: conf_load() keeps no global state and uses only re-entrant lookups
 * (getpwnam_r, getgrnam_r, getservbyname_r, getprotobyname_r, getaddrinfo), so it may run on a
 * worker thread while the event loop serves. A Config is never modified after conf_load()
 * returns it, so any number of threads may read it.
 *
 * Diagnostics are not printed: they are collected, in input order, in a ConfDiag owned by the
 * caller. conf_diag_print() formats them as
 *
 *      FILE:LINE[:COL]: [warning: ][service 'ID': ]MESSAGE
 *
 * Errors are exactly the cases in which the daemon does not run a service (DESIGN.md
 * decision 6) — plus errors outside any service (a missing include, a bad value in
 * 'defaults'); warnings never stop a service from running.
 *
 * Use:
 *
 *      ConfLoadOptions o = { .path = "/etc/portier.conf", .inetd_path = NULL };
 *      ConfDiag d = CONF_DIAG_NULL;
 *      Config *c;
 *      int r = conf_load(&o, &c, &d);          (off the event loop: it may block on NSS/DNS)
 *      if (r < 0)  -> the main file could not be read; d says why
 *      for (size_t i = 0; i < c->n_services; i++) {
 *              const ConfService *s = c->services[i];
 *              s->state: ACTIVE (serve it), DISABLED or SKIPPED (s->reason says why)
 *              s->kind: SERVER (s->server, s->argv, s->uid, ...), INTERNAL (s->builtin),
 *                       REDIRECT (s->redirect_addr), SENSOR
 *              listening key: s->protocol, s->family, s->has_bind/s->bind_addr, s->port
 *      }
 *      config_free(c); conf_diag_deinit(&d);
 *
 * Positions: s->pos (the 'service' line), s->open_line and s->close_line (the braces) and
 * conf_attr_line(s, CONF_ATTR_*) (the first line setting each attribute, in s->pos.file) let a
 * tool rewrite one line of one file, e.g. the 'disable' line, without a second parser.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

/* --- limits ---------------------------------------------------------------------------- */

#define CONF_MAX_FILE_SIZE      (16u << 20)     /* bytes in one file */
#define CONF_MAX_TOTAL_SIZE     (256u << 20)    /* bytes read in one load, all files */
#define CONF_MAX_LINE           (64u << 10)     /* bytes in one line */
#define CONF_MAX_INCLUDE_DEPTH  16              /* nested include/includedir */
#define CONF_MAX_FILES          100000u         /* files read in one load */
#define CONF_MAX_SERVICES       100000u         /* service blocks in one load */
#define CONF_MAX_DIAG           1000u           /* diagnostics kept (the rest are counted) */

#define CONF_UNLIMITED          UINT32_MAX      /* instances, per_source */
#define CONF_DEFAULT_CPS_RATE   50              /* cps when neither a service nor the */
#define CONF_DEFAULT_CPS_WAIT   10              /* defaults set it (xinetd's values) */
#define CONF_DEFAULT_IDLE_TIMEOUT 300           /* seconds; in-process connections */
#define CONF_DEFAULT_CONNECT_TIMEOUT 30         /* seconds; a redirect's connect to its backend */

/* --- diagnostics ----------------------------------------------------------------------- */

typedef enum ConfSeverity {
        CONF_WARNING = 1,
        CONF_ERROR = 2,
} ConfSeverity;

typedef struct ConfDiagEntry {
        char *file;             /* NULL when not tied to a file */
        unsigned line;          /* 1-based, 0 when unknown */
        unsigned col;           /* 1-based, 0 when not useful */
        ConfSeverity severity;
        char *service;          /* the service id (or name), NULL outside a service */
        char *message;
} ConfDiagEntry;

typedef struct ConfDiag {
        ConfDiagEntry *entries;
        size_t n_entries;
        size_t allocated;
        size_t n_errors;        /* counted even when entries were dropped */
        size_t n_warnings;
        size_t n_dropped;       /* entries not kept because of CONF_MAX_DIAG */
} ConfDiag;

#define CONF_DIAG_NULL ((ConfDiag) { 0 })

/**
 * conf_diag_add() - append one diagnostic (printf format).
 * @d: the list
 * @sev: CONF_WARNING or CONF_ERROR
 * @file: file name or NULL
 * @line: line (0: none)
 * @col: column (0: none)
 * @service: service id or NULL
 * @fmt: message format
 *
 * Return: 0, or -ENOMEM (the diagnostic is then counted but lost).
 */
int conf_diag_add(ConfDiag *d, ConfSeverity sev, const char *file, unsigned line, unsigned col,
                  const char *service, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/**
 * conf_diag_format() - format one diagnostic in the FILE:LINE[:COL]: form.
 * @e: the entry
 * @f: the stream; one line ending in a newline is written
 */
void conf_diag_format(const ConfDiagEntry *e, FILE *f);

/**
 * conf_diag_print() - print every diagnostic of @d, one per line, and a last line counting
 * dropped ones if any were dropped.
 */
void conf_diag_print(const ConfDiag *d, FILE *f);

/** conf_diag_deinit() - free the entries; @d is reset to CONF_DIAG_NULL. NULL is accepted. */
void conf_diag_deinit(ConfDiag *d);

/* --- attributes ------------------------------------------------------------------------ */

/* Every attribute name the parser knows, xinetd's first, then portier's. */
typedef enum ConfAttrId {
        CONF_ATTR_ID,
        CONF_ATTR_TYPE,
        CONF_ATTR_FLAGS,
        CONF_ATTR_DISABLE,
        CONF_ATTR_SOCKET_TYPE,
        CONF_ATTR_PROTOCOL,
        CONF_ATTR_WAIT,
        CONF_ATTR_USER,
        CONF_ATTR_GROUP,
        CONF_ATTR_GROUPS,
        CONF_ATTR_INSTANCES,
        CONF_ATTR_PER_SOURCE,
        CONF_ATTR_CPS,
        CONF_ATTR_MAX_LOAD,
        CONF_ATTR_NICE,
        CONF_ATTR_SERVER,
        CONF_ATTR_SERVER_ARGS,
        CONF_ATTR_LIBWRAP,
        CONF_ATTR_ONLY_FROM,
        CONF_ATTR_NO_ACCESS,
        CONF_ATTR_ACCESS_TIMES,
        CONF_ATTR_LOG_TYPE,
        CONF_ATTR_LOG_ON_SUCCESS,
        CONF_ATTR_LOG_ON_FAILURE,
        CONF_ATTR_RPC_VERSION,
        CONF_ATTR_RPC_NUMBER,
        CONF_ATTR_ENV,
        CONF_ATTR_PASSENV,
        CONF_ATTR_PORT,
        CONF_ATTR_REDIRECT,
        CONF_ATTR_BIND,                 /* also spelt 'interface' */
        CONF_ATTR_BANNER,
        CONF_ATTR_BANNER_SUCCESS,
        CONF_ATTR_BANNER_FAIL,
        CONF_ATTR_UMASK,
        CONF_ATTR_RLIMIT_AS,
        CONF_ATTR_RLIMIT_CPU,
        CONF_ATTR_RLIMIT_DATA,
        CONF_ATTR_RLIMIT_RSS,
        CONF_ATTR_RLIMIT_STACK,
        CONF_ATTR_RLIMIT_FILES,
        CONF_ATTR_DENY_TIME,
        CONF_ATTR_V6ONLY,
        CONF_ATTR_ENABLED,              /* defaults only */
        CONF_ATTR_DISABLED,             /* defaults only */
        CONF_ATTR_LEAKY_BUCKET,         /* xinetd parses it; portier warns and ignores it */
        CONF_ATTR_MDNS,                 /* obsolete: warning */
        /* portier's own (DESIGN.md, "portier's own names") */
        CONF_ATTR_MAX_CONNECTIONS,      /* defaults only */
        CONF_ATTR_BACKLOG,
        CONF_ATTR_PER_SOURCE_CPS,
        CONF_ATTR_AT_LIMIT,
        CONF_ATTR_LISTEN_FDS,
        CONF_ATTR_NO_NEW_PRIVS,
        CONF_ATTR_CHROOT,
        CONF_ATTR_RLIMIT_NPROC,
        CONF_ATTR_CAPABILITIES,
        CONF_ATTR_PRIVATE_TMP,
        CONF_ATTR_READ_ONLY_ROOT,
        CONF_ATTR_IDLE_TIMEOUT,
        CONF_ATTR_CONNECT_TIMEOUT,      /* redirect */
        CONF_ATTR_SOCKET_PATH,          /* an AF_UNIX listener */
        CONF_ATTR_SOCKET_OWNER,
        CONF_ATTR_SOCKET_MODE,
        _CONF_ATTR_MAX,
} ConfAttrId;

/** conf_attr_name() - the configuration-file name of @id ("bind" for CONF_ATTR_BIND). */
const char *conf_attr_name(ConfAttrId id);

#define CONF_CAP_MAX 41         /* capabilities(7) up to CAP_CHECKPOINT_RESTORE (40) */

/** conf_cap_name() - the capabilities(7) name of capability @cap without "CAP_", or NULL. */
const char *conf_cap_name(unsigned cap);

/* type = ... */
enum {
        CONF_TYPE_RPC           = 1u << 0,
        CONF_TYPE_INTERNAL      = 1u << 1,
        CONF_TYPE_TCPMUX        = 1u << 2,
        CONF_TYPE_TCPMUXPLUS    = 1u << 3,
        CONF_TYPE_UNLISTED      = 1u << 4,
        CONF_TYPE_SPECIAL       = 1u << 5,
};

/* flags = ... */
enum {
        CONF_FLAG_INTERCEPT     = 1u << 0,
        CONF_FLAG_NORETRY       = 1u << 1,
        CONF_FLAG_IDONLY        = 1u << 2,
        CONF_FLAG_NAMEINARGS    = 1u << 3,
        CONF_FLAG_NODELAY       = 1u << 4,
        CONF_FLAG_KEEPALIVE     = 1u << 5,
        CONF_FLAG_NOLIBWRAP     = 1u << 6,
        CONF_FLAG_SENSOR        = 1u << 7,
        CONF_FLAG_IPV4          = 1u << 8,
        CONF_FLAG_IPV6          = 1u << 9,
        CONF_FLAG_LABELED       = 1u << 10,
        CONF_FLAG_REUSE         = 1u << 11,
};

/* log_on_success = ... and log_on_failure = ... */
enum {
        CONF_LOG_PID            = 1u << 0,
        CONF_LOG_HOST           = 1u << 1,
        CONF_LOG_USERID         = 1u << 2,
        CONF_LOG_EXIT           = 1u << 3,
        CONF_LOG_DURATION       = 1u << 4,
        CONF_LOG_TRAFFIC        = 1u << 5,
        CONF_LOG_ATTEMPT        = 1u << 6,
};

/* --- values ---------------------------------------------------------------------------- */

/* An IPv4 or IPv6 socket address: 28 bytes, where sockaddr_storage takes 128. */
typedef union ConfSockaddr {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
} ConfSockaddr;

typedef struct ConfPos {
        const char *file;       /* owned by the Config; NULL when the value is a default */
        unsigned line;
        unsigned col;
} ConfPos;

typedef enum ConfAddrKind {
        CONF_ADDR_NET,          /* family/addr/prefix: dotted, .0 wildcards, CIDR, IPv6,
                                   networks, resolved host names */
        CONF_ADDR_HOST,         /* a host name, kept unresolved (CONF_LOAD_NO_RESOLVE) */
        CONF_ADDR_DOMAIN,       /* ".example.org": matched by reverse lookup of the client */
        CONF_ADDR_UID,          /* "uid:NAME": a unix-socket client's SO_PEERCRED uid (id) */
        CONF_ADDR_GID,          /* "gid:NAME": ... its gid (id) */
} ConfAddrKind;

typedef struct ConfAddr {
        ConfAddrKind kind;
        int family;             /* AF_INET or AF_INET6 for CONF_ADDR_NET */
        uint8_t addr[16];       /* network byte order, masked to prefix */
        uint8_t prefix;         /* bits */
        uint32_t id;            /* CONF_ADDR_UID, CONF_ADDR_GID: the uid or gid */
        const char *text;       /* as written (one word; a factorized form yields several) */
} ConfAddr;

typedef struct ConfAddrList {
        ConfAddr *addrs;
        size_t n_addrs;
        bool set;               /* specified (an empty set only_from means nobody) */
} ConfAddrList;

typedef struct ConfTimeRange {
        uint16_t start;         /* minutes after midnight */
        uint16_t end;           /* inclusive; end < start wraps past midnight */
} ConfTimeRange;

typedef enum ConfLogKind {
        CONF_LOG_NONE,
        CONF_LOG_SYSLOG,
        CONF_LOG_FILE,
} ConfLogKind;

typedef struct ConfLogType {
        ConfLogKind kind;
        int facility;           /* LOG_DAEMON, ... (SYSLOG) */
        int level;              /* LOG_INFO by default (SYSLOG) */
        const char *path;       /* FILE */
        uint64_t soft_limit;    /* bytes, 0: none (FILE) */
        uint64_t hard_limit;    /* bytes, 0: none (FILE) */
} ConfLogType;

typedef enum ConfRlimit {
        CONF_RLIMIT_AS,
        CONF_RLIMIT_CPU,
        CONF_RLIMIT_DATA,
        CONF_RLIMIT_RSS,
        CONF_RLIMIT_STACK,
        CONF_RLIMIT_FILES,
        CONF_RLIMIT_NPROC,
        _CONF_RLIMIT_MAX,
} ConfRlimit;

typedef enum ConfKind {
        CONF_KIND_SERVER,       /* exec 'server' */
        CONF_KIND_INTERNAL,     /* a built-in named by 'builtin' */
        CONF_KIND_REDIRECT,     /* in-process proxy to 'redirect' */
        CONF_KIND_SENSOR,       /* flags = SENSOR */
} ConfKind;

typedef enum ConfServiceState {
        CONF_SERVICE_ACTIVE,    /* to be served */
        CONF_SERVICE_DISABLED,  /* disable = yes, or the defaults' enabled/disabled lists */
        CONF_SERVICE_SKIPPED,   /* broken or unsupported; 'reason' says why */
} ConfServiceState;

typedef enum ConfAtLimit {
        CONF_AT_LIMIT_REFUSE,
        CONF_AT_LIMIT_DEFER,
} ConfAtLimit;

#define CONF_DENY_FOREVER (-1)  /* deny_time = FOREVER; NEVER is 0 */

/*
 * The attributes most services never set, apart from the ConfService: a service points at
 * the shared conf_rare_none (all unset) until it sets one. With 10,000 services that keeps
 * 1.2 MiB out of the daemon.
 */
#define CONF_REDIRECT_MORE 3            /* a redirect tries up to 1 + this many addresses */

typedef struct ConfRare {
        const struct ConfService *owner;        /* NULL for conf_rare_none */
        const char *libwrap;            /* hosts_access daemon name, NULL: the service id */
        uint32_t rpc_version_min, rpc_version_max, rpc_number;
        const char *banner, *banner_success, *banner_fail;
        uint8_t rlimit_set;             /* bit 1 << CONF_RLIMIT_*: rlimits[] holds a value */
        rlim_t rlimits[_CONF_RLIMIT_MAX];  /* RLIM_INFINITY for UNLIMITED */
        const char *listen_fds_name;    /* LISTEN_FDNAMES, NULL: the service id */
        const char *chroot;
        bool has_caps;                  /* capabilities = ... (maybe empty) */
        uint64_t caps;                  /* bit 1 << CAP_*: the capabilities the server keeps */
        bool private_tmp;               /* a private mount namespace with a fresh /tmp */
        bool read_only_root;            /* ... and / mounted read-only */
        const char *socket_path;        /* AF_UNIX listener: "/path" or "@abstract"; NULL: none */
        bool has_socket_uid, has_socket_gid;    /* socket_owner = [USER][:GROUP] */
        bool has_socket_mode;           /* else 0600, or 0660 with a group */
        uid_t socket_uid;
        gid_t socket_gid;
        unsigned socket_mode;
        const char **raw;               /* SKIPPED only: the block's lines as read */
        size_t n_raw;
        uint8_t n_redirect_more;        /* redirect: the name's further addresses, tried in */
        socklen_t redirect_more_len[CONF_REDIRECT_MORE];        /* turn when the ones */
        ConfSockaddr redirect_more[CONF_REDIRECT_MORE];         /* before fail */
} ConfRare;

extern const ConfRare conf_rare_none;

/*
 * One service, with every attribute resolved: values from defaults applied, implied values
 * filled in (protocol from socket_type and back, port from /etc/services, group from the
 * user's primary group, argv[0]), and names resolved.
 */
typedef struct ConfService {
        const char *name;               /* as in 'service NAME' */
        const char *id;                 /* 'id', defaulting to the name */
        ConfServiceState state;
        bool from_inetd;                /* read from inetd.conf */
        const char *reason;             /* why DISABLED or SKIPPED (first error), else NULL */

        ConfPos pos;                    /* the 'service' line (inetd.conf: the line) */
        unsigned open_line;             /* the '{' (in pos.file) */
        unsigned close_line;            /* the '}' */
        uint64_t attr_set;              /* bit CONF_ATTR_BIT(id): the attribute is set in this
                                           block (conf_attr_line() says where) */
        const uint32_t *attr_lines;     /* one line per bit of attr_set, in attribute order
                                           (a service sets a few attributes: 10,000 services
                                           would spend 2 MiB on a full table) */

        ConfKind kind;
        bool wait;
        bool port_set;                  /* 'port' given (0 is a valid, if odd, value) */
        bool has_bind;
        uint16_t port;                  /* host byte order */
        const char *builtin;            /* CONF_KIND_INTERNAL: "echo", "chargen", ... */
        unsigned type;                  /* CONF_TYPE_* */
        unsigned flags;                 /* CONF_FLAG_* */

        int socket_type;                /* SOCK_STREAM, ... */
        int protocol;                   /* IPPROTO_TCP, ... */
        const char *protocol_name;
        int family;                     /* AF_INET or AF_INET6; AF_UNIX with socket_path */
        ConfSockaddr bind_addr;         /* port 0; family decides v4/v6 */
        socklen_t bind_addr_len;        /* 0: a name not resolved (CONF_LOAD_NO_RESOLVE) */
        const char *bind_text;
        int v6only;                     /* -1: not given, 0, 1 */

        bool has_user;                  /* user and group below are meaningful */
        bool groups;                    /* initgroups() */
        bool has_nice;
        uid_t uid;
        gid_t gid;
        int nice;
        const char *user;
        const char *group;

        uint32_t instances;             /* CONF_UNLIMITED by default */
        uint32_t per_source;
        uint32_t cps_rate;              /* connections per second (default 50); 0: no limit */
        uint32_t cps_wait;              /* seconds off (default 10) */
        double max_load;                /* 0: none */

        const char *server;
        char **argv;                    /* NULL-terminated; argv[0] is the basename of 'server'
                                           unless NAMEINARGS */
        size_t argc;

        ConfAddrList only_from;
        ConfAddrList no_access;
        ConfTimeRange *access_times;
        size_t n_access_times;

        ConfLogType log_type;
        unsigned log_on_success;        /* CONF_LOG_* */
        unsigned log_on_failure;

        char **env;                     /* NULL-terminated "NAME=value" */
        size_t n_env;
        char **passenv;                 /* NULL-terminated names */
        size_t n_passenv;

        const char *redirect_host;      /* CONF_KIND_REDIRECT; a path: conf_redirect_unix() */
        uint16_t redirect_port;
        socklen_t redirect_addr_len;    /* 0: not resolved (CONF_LOAD_NO_RESOLVE) */
        ConfSockaddr redirect_addr;     /* resolved once, port included */

        int umask;                      /* -1: not set */
        int deny_time;                  /* minutes (or seconds, below); 0 NEVER; CONF_DENY_FOREVER */
        bool deny_in_seconds;           /* portier's "deny_time = 30s": deny_time counts seconds */

        /* portier's own */
        int backlog;                    /* 0: SOMAXCONN */
        uint32_t per_source_cps_rate;   /* 0: none */
        uint32_t per_source_cps_seconds;
        uint32_t idle_timeout;          /* seconds without traffic before an in-process
                                           connection is closed; 0: never */
        uint32_t connect_timeout;       /* redirect: seconds for the backend's connect; 0: the
                                           kernel's own limit */
        ConfAtLimit at_limit;
        bool listen_fds;
        bool no_new_privs;

        const ConfRare *rare;           /* never NULL: &conf_rare_none when none is set */
        size_t order;                   /* index in Config.services */
} ConfService;

/**
 * conf_redirect_unix() - does @s redirect to a unix socket ("redirect = /path" or "@name":
 * redirect_host is the path, redirect_port 0, nothing resolved)?
 */
static inline bool conf_redirect_unix(const ConfService *s)
{
        return s->redirect_host && (s->redirect_host[0] == '/' || s->redirect_host[0] == '@');
}

/**
 * conf_redirect_addr() - the @i-th address of a redirect's backend (0: redirect_addr, then
 * the name's further ones), or NULL past the last (or when nothing was resolved)
 */
static inline const ConfSockaddr *conf_redirect_addr(const ConfService *s, size_t i,
                                                     socklen_t *ret_len)
{
        if (!s->redirect_addr_len)
                return NULL;
        if (i == 0) {
                *ret_len = s->redirect_addr_len;
                return &s->redirect_addr;
        }
        if (i - 1 >= s->rare->n_redirect_more)
                return NULL;
        *ret_len = s->rare->redirect_more_len[i - 1];
        return &s->rare->redirect_more[i - 1];
}

_Static_assert(_CONF_ATTR_MAX <= 64, "attr_set is a 64-bit mask");
#define CONF_ATTR_BIT(id) (UINT64_C(1) << (id))

/**
 * conf_attr_line() - the line (in s->pos.file) that first sets attribute @id in @s's block
 * Return: the line, 0 when the block does not set it (a default or an implied value).
 */
static inline unsigned conf_attr_line(const ConfService *s, unsigned id)
{
        if (!(s->attr_set & CONF_ATTR_BIT(id)))
                return 0;
        return s->attr_lines[__builtin_popcountll(s->attr_set & (CONF_ATTR_BIT(id) - 1))];
}

typedef struct Config {
        ConfService **services;         /* every service read, in file order, inetd.conf last */
        size_t n_services;
        size_t n_active, n_disabled, n_skipped;
        uint32_t max_connections;       /* defaults 'max_connections'; 0: not set */
        const ConfService *defaults;    /* the 'defaults' block as read (values, pos, open_line,
                                           close_line, attr lines), NULL if there is none */
        char **enabled_ids;             /* defaults 'enabled' (NULL-terminated) */
        size_t n_enabled_ids;
        bool enabled_set;               /* 'enabled' given: only those ids run */
        char **disabled_ids;            /* defaults 'disabled' (NULL-terminated) */
        size_t n_disabled_ids;
        const char *path;               /* the main file */
        const char **files;             /* every file read, in order */
        size_t n_files;
        void *arena;                    /* private: owns every string and array above */
        ConfService **by_id;            /* private: services sorted by id, for config_find() */
} Config;

/* --- loading --------------------------------------------------------------------------- */

enum {
        CONF_LOAD_NO_INCLUDE    = 1u << 0,  /* include/includedir are errors (fuzzing) */
        CONF_LOAD_NO_RESOLVE    = 1u << 1,  /* no DNS: host names kept as written */
        CONF_LOAD_NO_FS_CHECKS  = 1u << 2,  /* do not check that servers are executable */
};

typedef struct ConfLoadOptions {
        const char *path;               /* main file (xinetd syntax) */
        const char *buffer;             /* if not NULL, the main file's contents (path is
                                           then only its name in diagnostics) */
        size_t buffer_size;
        const char *inetd_path;         /* inetd.conf to read after, NULL: none */
        const char *inetd_buffer;       /* as buffer, for inetd_path */
        size_t inetd_buffer_size;
        unsigned flags;                 /* CONF_LOAD_* */
        struct ConfBundle *record;      /* if not NULL, every file read is recorded there */
        const struct ConfBundle *replay; /* if not NULL, files are read from it, never from
                                           the file system (privilege separation: bundle.h) */
} ConfLoadOptions;

/**
 * conf_load() - read, validate and resolve a configuration.
 * @o: what to read
 * @ret: on success, the new Config (free with config_free())
 * @diag: receives every warning and error, in input order
 *
 * A broken service does not fail the load: it is kept with state CONF_SERVICE_SKIPPED and its
 * reason, and an error is added to @diag. The daemon serves the ACTIVE services; `portierd -n`
 * fails when @diag has errors.
 *
 * Return: 0 when a Config was built (look at @diag->n_errors); -ENOENT, -EACCES, ... when the
 * main file could not be read (also in @diag); -ENOMEM.
 */
int conf_load(const ConfLoadOptions *o, Config **ret, ConfDiag *diag);

/** config_free() - free @c and everything in it. NULL is accepted. Return: NULL. */
Config *config_free(Config *c);

/**
 * config_find() - the service with id @id, NULL if none (O(log n)). A disabled or skipped
 * service is returned too. When several services share an id (a warning), the first read is
 * returned.
 */
const ConfService *config_find(const Config *c, const char *id);

/**
 * conf_dump() - print @c in xinetd syntax: every service with its effective attributes, one
 * block per service. Disabled services have 'disable = yes'; a skipped service is printed as
 * written but commented out, after a comment with the reason. Read back, the output gives the
 * same active and disabled services.
 * Return: 0, or -errno from the stream.
 */
int conf_dump(const Config *c, FILE *f);

#endif
