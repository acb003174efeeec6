/* SPDX-License-Identifier: MIT */
/*
 * harden.c — the load-time half of the per-service protections (DESIGN.md decision 10): each
 * check answers "could the spawn child do this step here?" without running a server.
 */

#include "daemon/harden.h"

#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int harden_cap_last(void)
{
        int cap = 0;

        while (cap < 63 && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
                cap++;
        return cap;
}

static uint64_t own_permitted(void)
{
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2];

        if (syscall(SYS_capget, &hdr, data) < 0)
                return 0;
        return (uint64_t)data[1].permitted << 32 | data[0].permitted;
}

void harden_probe_init(HardenProbe *p, bool as_root)
{
        *p = (HardenProbe){ .as_root = as_root, .cap_last = harden_cap_last(),
                            .permitted = own_permitted() };
}

/* The names of the capabilities in @caps, "CAP_A CAP_B", cut short to fit. */
static void cap_list(uint64_t caps, char *buf, size_t size)
{
        size_t n = 0;

        buf[0] = '\0';
        for (unsigned i = 0; i < 64 && n < size; i++) {
                if (!(caps & UINT64_C(1) << i))
                        continue;
                int k = conf_cap_name(i) ? snprintf(buf + n, size - n, "%sCAP_%s", n ? " " : "",
                                                    conf_cap_name(i))
                                         : snprintf(buf + n, size - n, "%s%u", n ? " " : "", i);
                n += k > 0 ? (size_t)k : 0;
        }
}

/* A server can keep only what portierd has and the kernel knows. */
static const char *caps_refusal(const ConfRare *r, const HardenProbe *p, char *buf,
                                size_t size)
{
        uint64_t known = p->cap_last >= 63 ? UINT64_MAX : (UINT64_C(1) << (p->cap_last + 1)) - 1;
        char names[256];

        if (!p->as_root) {
                snprintf(buf, size, "capabilities: portierd does not run as root, so it cannot "
                         "set a server's capabilities; the service is not served");
                return "capabilities needs portierd to run as root";
        }
        if (r->caps & ~known) {
                cap_list(r->caps & ~known, names, sizeof(names));
                snprintf(buf, size, "capabilities: the running kernel does not know %s; the "
                         "service is not served", names);
                return "capabilities unknown to the kernel";
        }
        if (r->caps & ~p->permitted) {
                cap_list(r->caps & ~p->permitted, names, sizeof(names));
                snprintf(buf, size, "capabilities: portierd itself does not have %s (a "
                         "container or its own bounding set withholds it), so the server "
                         "cannot get it; the service is not served", names);
                return "capabilities portierd does not have";
        }
        return NULL;
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
        if (r->has_caps) {
                const char *reason = caps_refusal(r, p, buf, size);

                if (reason) {
                        *ret_attr = CONF_ATTR_CAPABILITIES;
                        return reason;
                }
        }
        return NULL;
}
