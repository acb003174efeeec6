/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_LISTENER_H
#define PORTIERD_LISTENER_H

/*
 * listener — the socket a service listens on: family, address, socket options, bind, listen;
 * for an AF_UNIX listener (socket_path) also its file: the old socket removed, the owner and
 * mode set, and the file removed again when the service goes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "conf/conf.h"

/* The file of an AF_UNIX listener, as created: removed later only if it is still this one
 * (device and inode, and its change time, since a freed inode number is soon reused). */
typedef struct ListenerFile {
        bool set;
        dev_t dev;
        ino_t ino;
        struct timespec ctime;
} ListenerFile;

int listener_open(const ConfService *cs, int fd_max, ListenerFile *ret_file, char *err,
                  size_t errsize);
void listener_identify_file(const ConfService *cs, ListenerFile *ret);
void listener_remove_file(const ConfService *cs, ListenerFile *f);
unsigned listener_socket_mode(const ConfService *cs);
bool listener_accepts(const ConfService *cs);
void listener_address(const ConfService *cs, struct sockaddr_storage *ret, socklen_t *ret_len);
int listener_key(const ConfService *cs, char *buf, size_t size);
uint64_t listener_key_hash(const ConfService *cs);
bool listener_same_key(const ConfService *a, const ConfService *b);
int listener_set_blocking(int fd, const ConfService *cs);
int listener_update(int fd, const ConfService *old, const ConfService *cs, bool server_has_it);
bool listener_same_socket(const ConfService *a, const ConfService *b);

#endif
