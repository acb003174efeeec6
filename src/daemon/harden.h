/* SPDX-License-Identifier: MIT */
#ifndef PORTIERD_HARDEN_H
#define PORTIERD_HARDEN_H

/*
 * harden — can this machine give a service the protections it asks for? Asked when a
 * configuration is loaded (generation.c) and by `portierd -n` (check.c), with the same
 * answer: a protection portierd cannot give refuses the service, never a server that runs
 * silently unprotected. The protections themselves are set up in the spawn child (spawn.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

/* What the machine can do, found once per load and shared by its services. */
typedef struct HardenProbe {
        bool as_root;                   /* portierd runs as root (euid 0) */
        int cap_last;                   /* the kernel's highest capability number */
        uint64_t permitted;             /* portierd's own permitted capabilities */
        /* Per request (1: private_tmp, 2: read_only_root, 3: both), tried when a service
         * first asks for it: 0 not tried yet, 1 works, else -errno. */
        int mount_ns[4];
        const char *mount_ns_step[4];   /* what failed */
} HardenProbe;

/**
 * harden_cap_last() - the highest capability number the running kernel knows
 *
 * Return: a number from 0 (found with PR_CAPBSET_READ, which fails past the last one).
 */
int harden_cap_last(void);

/**
 * harden_probe_init() - start a probe for this process
 * @p: the probe
 * @as_root: portierd runs as root
 */
void harden_probe_init(HardenProbe *p, bool as_root);

/**
 * harden_mount_ns() - move the calling process into a private mount namespace
 * @tmp: where to mount a fresh tmpfs ("/tmp", or the chroot's), or NULL for none
 * @read_only_root: make the mount of / read-only
 *
 * Nothing mounted there propagates back (/ is made private recursively first). Only system
 * calls: safe in the vfork() child of spawn.c.
 *
 * Return: 0, or -1 with errno set.
 */
int harden_mount_ns(const char *tmp, bool read_only_root);

/**
 * harden_refusal() - why @cs cannot have its protections here
 * @cs: an active server service
 * @p: the probe (may learn more on the way)
 * @buf: receives the message for the diagnostic (it names the attribute and its value)
 * @size: its size
 * @ret_attr: the attribute that is refused (for the line of the diagnostic)
 *
 * Return: NULL when every protection can be given, else the short reason for the service
 * state (a static string), with the full message in @buf.
 */
const char *harden_refusal(const ConfService *cs, HardenProbe *p, char *buf, size_t size,
                           ConfAttrId *ret_attr);

#endif
