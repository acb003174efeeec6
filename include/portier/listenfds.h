/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_LISTENFDS_H
#define PORTIER_LISTENFDS_H

/*
 * Receiving sockets passed by a service manager (sd_listen_fds(3) semantics): descriptors
 * PORTIER_LISTEN_FDS_START .. +n-1, announced by $LISTEN_FDS for the process $LISTEN_PID, with
 * optional names in $LISTEN_FDNAMES.
 */

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PORTIER_LISTEN_FDS_START 3

int portier_listen_fds(bool unset_environment, char ***ret_names);
int portier_is_socket(int fd, int family, int type, int listening);
char **portier_strv_free(char **v);

#ifdef __cplusplus
}
#endif
#endif
