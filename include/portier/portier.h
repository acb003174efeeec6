/* SPDX-License-Identifier: MIT */
#ifndef PORTIER_PORTIER_H
#define PORTIER_PORTIER_H

/* libportier: everything, in one include. See libportier(3). */

#include <portier/daemon.h>
#include <portier/listenfds.h>
#include <portier/log.h>
#include <portier/notify.h>
#include <portier/pidfile.h>
#include <portier/signals.h>

#endif
