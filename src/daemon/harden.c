/* SPDX-License-Identifier: MIT */
/*
 * harden.c — the load-time half of the per-service protections (DESIGN.md decision 10): each
 * check answers "could the spawn child do this step here?" without running a server.
 */

#include "daemon/harden.h"

#include <stdio.h>
#include <sys/resource.h>

void harden_probe_init(HardenProbe *p, bool as_root)
{
        *p = (HardenProbe){ .as_root = as_root };
}

/* Raising a hard limit above portierd's own needs CAP_SYS_RESOURCE, which only the spawn
 * child would find missing (as EPERM, for every connection). */
static bool rlimit_reachable(int resource, rlim_t want)
{
        struct rlimit now;

        if (getrlimit(resource, &now) < 0)
                return true;    /* the child will say what is wrong */
        if (now.rlim_max == RLIM_INFINITY || (want != RLIM_INFINITY && want <= now.rlim_max))
                return true;
        /* Try it on ourselves: setting the hard limit to what it is raises nothing, so ask
         * prlimit() the real question in a way that leaves our limits as they are. */
        struct rlimit probe = { now.rlim_cur, want };

        if (prlimit(0, resource, &probe, NULL) < 0)
                return false;
        (void)prlimit(0, resource, &now, NULL);
        return true;
}

const char *harden_refusal(const ConfService *cs, HardenProbe *p, char *buf, size_t size,
                           ConfAttrId *ret_attr)
{
        const ConfRare *r = cs->rare;

        if (r->chroot && !p->as_root) {
                *ret_attr = CONF_ATTR_CHROOT;
                snprintf(buf, size, "chroot = %s: portierd does not run as root, so it cannot "
                         "change the server's root; the service is not served", r->chroot);
                return "chroot needs portierd to run as root";
        }
        if ((r->rlimit_set & 1u << CONF_RLIMIT_NPROC) &&
            !rlimit_reachable(RLIMIT_NPROC, r->rlimits[CONF_RLIMIT_NPROC])) {
                *ret_attr = CONF_ATTR_RLIMIT_NPROC;
                snprintf(buf, size, "rlimit_nproc: above portierd's own hard limit, which it "
                         "cannot raise (no CAP_SYS_RESOURCE); the service is not served");
                return "rlimit_nproc above portierd's hard limit";
        }
        return NULL;
}
