/* SPDX-License-Identifier: MIT */
/*
 * harden.c — the load-time half of the per-service protections (DESIGN.md decision 10): each
 * check answers "could the spawn child do this step here?" without running a server.
 */

#include "daemon/harden.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>      /* the ST_* flags of f_flags */
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The steps of harden_mount_ns(), for the probe's message (the probe child reports one). */
enum { MNT_OK, MNT_UNSHARE, MNT_PRIVATE, MNT_TMPFS, MNT_READ_ONLY, MNT_FORK };

static const char *const mount_step_name[] = {
        [MNT_UNSHARE] = "unshare(CLONE_NEWNS)",
        [MNT_PRIVATE] = "making / private",
        [MNT_TMPFS] = "mounting a tmpfs on /tmp",
        [MNT_READ_ONLY] = "remounting the mounts read-only",
        [MNT_FORK] = "forking the probe",
};

/* The flags a remount must keep: dropping a locked one (nosuid, nodev, ...) fails. */
static unsigned long mount_flags(const char *path)
{
        static const struct { unsigned long st, ms; } map[] = {
                { ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
                { ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
                { ST_RELATIME, MS_RELATIME },
        };
        struct statfs sf;
        unsigned long ms = 0;

        if (statfs(path, &sf) < 0)
                return 0;
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
                if ((unsigned long)sf.f_flags & map[i].st)
                        ms |= map[i].ms;
        return ms;
}

static int make_read_only(const char *path)
{
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

        /* mount_setattr() changes that one flag; the older remount must restate the rest */
        if (mount_setattr(AT_FDCWD, path, 0, &attr, sizeof(attr)) == 0)
                return 0;
        if (errno != ENOSYS)
                return -1;
        return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | mount_flags(path),
                     NULL);
}

/* The kernel's own file systems stay as they are, as systemd's ProtectSystem=strict does:
 * /dev/null must stay writable, and /proc and /sys have their own permission checks. */
static bool api_mount(const char *path)
{
        static const char *const api[] = { "/dev", "/proc", "/sys" };

        for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
                size_t n = strlen(api[i]);

                if (strncmp(path, api[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
                        return true;
        }
        return false;
}

/* A mount point of /proc/self/mountinfo (its 5th field, with \ooo escapes) into @out. */
static bool mount_point(const char *line, char *out, size_t size)
{
        const char *p = line;
        size_t n = 0;

        for (int field = 0; field < 4; field++) {
                if (!(p = strchr(p, ' ')))
                        return false;
                p++;
        }
        for (; *p && *p != ' '; p++) {
                char c = *p;

                if (c == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        c = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
                        p += 3;
                }
                if (n + 1 >= size)
                        return false;
                out[n++] = c;
        }
        out[n] = '\0';
        return n > 0;
}

/*
 * Every mount of this namespace read-only, but the kernel's (api_mount()). It runs in the
 * vfork() child of a spawn, so no allocation: mountinfo is read through a stack buffer.
 * A mount point that is gone (ENOENT) is skipped; any other failure fails the step.
 */
static int all_read_only(void)
{
        char chunk[2048], line[PATH_MAX + 256], path[PATH_MAX];
        size_t len = 0;
        bool overlong = false;
        int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC), r = -1, e;
        ssize_t n;

        if (fd < 0)
                return -1;
        while ((n = read(fd, chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
                for (ssize_t i = 0; i < n; i++) {
                        if (chunk[i] != '\n') {
                                if (len + 1 < sizeof(line))
                                        line[len++] = chunk[i];
                                else
                                        overlong = true;
                                continue;
                        }
                        line[len] = '\0';
                        len = 0;
                        if (overlong || !mount_point(line, path, sizeof(path))) {
                                errno = ENAMETOOLONG;   /* a mount we could not name */
                                goto out;
                        }
                        if (!api_mount(path) && make_read_only(path) < 0 && errno != ENOENT)
                                goto out;
                }
        if (n == 0)
                r = 0;
out:
        e = errno;
        (void)close(fd);
        errno = e;
        return r;
}

/* Read-only first, then the tmpfs: it is a new mount, and stays writable. */
static int mount_ns_step(const char *tmp, bool read_only_root, int *ret_step)
{
        *ret_step = MNT_UNSHARE;
        if (unshare(CLONE_NEWNS) < 0)
                return -1;
        *ret_step = MNT_PRIVATE;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return -1;
        *ret_step = MNT_READ_ONLY;
        if (read_only_root && all_read_only() < 0)
                return -1;
        *ret_step = MNT_TMPFS;
        if (tmp && mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
                return -1;
        *ret_step = MNT_OK;
        return 0;
}

int harden_mount_ns(const char *tmp, bool read_only_root)
{
        int step;

        return mount_ns_step(tmp, read_only_root, &step);
}

/* Try the steps of @want (1: private_tmp, 2: read_only_root) in a throwaway child (its
 * namespace dies with it): an EPERM in a container or without root is found here, at load,
 * rather than at every connection. The child reports the failed step and its errno on a
 * pipe. */
static void probe_mount_ns(HardenProbe *p, int want)
{
        int report[2] = { MNT_FORK, 0 }, pfd[2];
        pid_t pid;

        p->mount_ns[want] = 1;
        if (pipe2(pfd, O_CLOEXEC) < 0) {
                report[1] = errno;
                goto failed;
        }
        pid = fork();
        if (pid == 0) {
                int r[2] = { MNT_OK, 0 };

                (void)close(pfd[0]);
                if (mount_ns_step(want & 1 ? "/tmp" : NULL, want & 2, &r[0]) < 0)
                        r[1] = errno;
                _exit(write(pfd[1], r, sizeof(r)) == sizeof(r) ? 0 : 1);
        }
        report[1] = errno;
        (void)close(pfd[1]);
        if (pid > 0) {
                ssize_t n;

                do
                        n = read(pfd[0], report, sizeof(report));
                while (n < 0 && errno == EINTR);
                if (n != sizeof(report))
                        report[0] = MNT_FORK, report[1] = EIO;
                (void)waitpid(pid, NULL, 0);
        }
        (void)close(pfd[0]);
        if (report[0] == MNT_OK)
                return;
failed:
        p->mount_ns[want] = -(report[1] ? report[1] : EIO);
        p->mount_ns_step[want] = mount_step_name[report[0]];
}

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
        if (r->private_tmp || r->read_only_root) {
                int want = (r->private_tmp ? 1 : 0) | (r->read_only_root ? 2 : 0);

                if (p->mount_ns[want] == 0)
                        probe_mount_ns(p, want);
                if (p->mount_ns[want] < 0) {
                        /* Name the attribute whose step failed (the read-only remount
                         * only read_only_root has). */
                        bool ro = !r->private_tmp ||
                                  p->mount_ns_step[want] == mount_step_name[MNT_READ_ONLY];
                        const char *name = ro ? "read_only_root" : "private_tmp";

                        *ret_attr = ro ? CONF_ATTR_READ_ONLY_ROOT : CONF_ATTR_PRIVATE_TMP;
                        snprintf(buf, size, "%s = yes: this machine does not allow a private "
                                 "mount namespace (%s: %s)%s; the service is not served", name,
                                 p->mount_ns_step[want], strerror(-p->mount_ns[want]),
                                 p->as_root ? "" : " (portierd does not run as root)");
                        return "a private mount namespace is not allowed here";
                }
        }
        if (r->private_tmp && r->chroot) {
                char tmp[PATH_MAX];
                struct stat st;
                int e = 0;

                /* the fresh tmpfs goes on the jail's /tmp: it must be there */
                if (snprintf(tmp, sizeof(tmp), "%s/tmp", r->chroot) >= (int)sizeof(tmp))
                        e = ENAMETOOLONG;
                else if (stat(tmp, &st) < 0)
                        e = errno;
                else if (!S_ISDIR(st.st_mode))
                        e = ENOTDIR;
                if (e) {
                        *ret_attr = CONF_ATTR_PRIVATE_TMP;
                        snprintf(buf, size, "private_tmp = yes with chroot = %s: its /tmp, where "
                                 "the private /tmp is mounted, is not a directory (%s); the "
                                 "service is not served", r->chroot, strerror(e));
                        return "no /tmp in the chroot for private_tmp";
                }
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
