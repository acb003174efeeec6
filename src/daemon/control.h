/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_CONTROL_H
#define PORTIERD_CONTROL_H

/*
 * control — portierd's side of the control socket (protocol: src/proto/proto.h), and the
 * little state portierctl shows that the services do not keep themselves (the ring of the
 * last server exits).
 *
 * report.c renders the answers (list, status, sockets, info; text or JSON) and sd_notify's
 * STATUS= line; reexec.c is the live upgrade (`portierctl reexec`).
 */

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "conf/conf.h"

typedef struct Daemon Daemon;
typedef struct Service Service;
typedef struct Server Server;
typedef struct Control Control;

#define CONTROL_EXITS 64                /* the last server exits kept, all services */
#define CONTROL_EXIT_ID_MAX 63

typedef struct ControlExit {
        char id[CONTROL_EXIT_ID_MAX + 1];       /* the service id (cut when longer) */
        pid_t pid;
        int status;                     /* waitpid() status */
        time_t ended;
        long duration;                  /* seconds */
} ControlExit;

/* control.c */
int control_new(Daemon *d, const char *path, int inherited_fd, Control **ret);
Control *control_free(Control *c, bool keep_socket);
Control *control_forget(Control *c);
int control_socket_fd(const Control *c);
const char *control_socket_path(const Control *c);
void control_reload_done(Daemon *d, int error, const ConfDiag *diag);
void control_note_exit(Daemon *d, const Service *s, const Server *srv, int status);
size_t control_exits(const Daemon *d, const char *id, const ControlExit **ret, size_t max);
void control_reply_fd(int fd, int status, const char *data, const char *message);

/* report.c */
typedef enum ReportKind {
        REPORT_INFO,
        REPORT_LIST,
        REPORT_STATUS,
        REPORT_SOCKETS,
        REPORT_DUMP,
} ReportKind;

int report_write(Daemon *d, ReportKind kind, const char *id, bool json, FILE *f,
                 char *message, size_t message_size);
void report_status_line(Daemon *d, char *buf, size_t size);

/* reexec.c */
typedef struct Reexec Reexec;
int reexec_init(Daemon *d);
void reexec_free(Daemon *d);
int reexec_start(Daemon *d, int client_fd, char *err, size_t errsize);
int reexec_load(Daemon *d, char *err, size_t errsize);
void reexec_fail(Daemon *d, const char *why);
int reexec_take_fd(Daemon *d, const ConfService *cs);
int reexec_control_fd(Daemon *d);
void reexec_adopt(Daemon *d);
void reexec_adopt_held(Daemon *d);
void reexec_drop_held(Daemon *d);
bool reexec_child_exited(Daemon *d, pid_t pid, int status);
size_t reexec_signal_children(Daemon *d, int sig);
bool reexec_cps_pause(Service *s);

#endif
