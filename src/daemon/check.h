/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_CHECK_H
#define PORTIERD_CHECK_H

/*
 * check — `portierd -n` (--check) and `portierd --dump-config`: load the configuration off
 * any event loop, report, and return the process exit status.
 */

#include "daemon/options.h"

/**
 * check_main() - validate the configuration named by @o (and /etc/inetd.conf with
 * -inetd_compat). Prints every warning and error on stderr, then `configuration OK` on stdout
 * when there is no error.
 * Return: the exit status: 0 when there is no error, 1 otherwise.
 */
int check_main(const Options *o);

/**
 * dump_config_main() - print every service read, in xinetd syntax, with its effective
 * attributes (disabled ones included, skipped ones after a comment giving the reason).
 * Diagnostics go to stderr.
 * Return: 0 when the configuration could be read (even with broken services), 1 otherwise.
 */
int dump_config_main(const Options *o);

#endif
