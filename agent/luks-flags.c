/* SPDX-License-Identifier: Apache-2.0 */
/* dm-crypt activation flags: no_read_workqueue and no_write_workqueue on by default for a disk that
 * does not spin (as Rook does for SSDs: the kernel's crypto workqueues only add latency there),
 * allow_discards only when configured; stored in the LUKS2 header so that any tool opening the
 * device (cryptsetup open, systemd-cryptsetup) applies them too. */
#include <libcryptsetup.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "luks-flags.h"
#include "macro.h"
#include "secure.h"

/* 0 or 1 from a sysfs attribute; -ENOENT when there is none. */
static int read_bool_attribute(const char *path) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_full_file(path, 16, &s, NULL);
        if (r < 0)
                return r;
        if (s[0] == '0' || s[0] == '1')
                return s[0] == '1';
        return -EINVAL;
}

int luks_flags_rotational(const struct stat *st) {
        dev_t d = S_ISBLK(st->st_mode) ? st->st_rdev : st->st_dev;
        char path[128];
        int r;

        /* Major 0: an anonymous device (tmpfs, overlay, 9p, btrfs): no disk to ask. */
        if (major(d) == 0)
                return -ENODATA;
        (void) snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/rotational", major(d), minor(d));
        r = read_bool_attribute(path);
        if (r != -ENOENT)
                return r < 0 ? -ENODATA : r;
        /* A partition has no queue of its own: its disk is the directory above it. */
        (void) snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", major(d), minor(d));
        if (access(path, F_OK) < 0)
                return -ENODATA;
        (void) snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../queue/rotational", major(d), minor(d));
        r = read_bool_attribute(path);
        return r < 0 ? -ENODATA : r;
}

static bool auto_bool_decide(AutoBool b, bool automatic) {
        return b == AUTO_BOOL_TRUE || (b == AUTO_BOOL_AUTO && automatic);
}

uint32_t luks_flags_decide(const LuksConfig *l, int rotational) {
        bool solid = rotational == 0;

        return (l->allow_discards ? CRYPT_ACTIVATE_ALLOW_DISCARDS : 0) |
               (auto_bool_decide(l->no_read_workqueue, solid) ? CRYPT_ACTIVATE_NO_READ_WORKQUEUE : 0) |
               (auto_bool_decide(l->no_write_workqueue, solid) ? CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE : 0);
}

uint32_t luks_flags_for_device(const LuksConfig *l, const char *path) {
        struct stat st;

        return luks_flags_decide(l, stat(path, &st) < 0 ? -ENODATA : luks_flags_rotational(&st));
}

void luks_flags_describe(uint32_t flags, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s%s%s%s",
                        flags & CRYPT_ACTIVATE_ALLOW_DISCARDS ? "allow_discards " : "",
                        flags & CRYPT_ACTIVATE_NO_READ_WORKQUEUE ? "no_read_workqueue " : "",
                        flags & CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE ? "no_write_workqueue " : "",
                        flags & LUKS_FLAGS_MANAGED ? "" : "none");
        if (size > 0 && buf[0] && buf[strlen(buf) - 1] == ' ')
                buf[strlen(buf) - 1] = '\0';
}

int luks_flags_store(struct crypt_device *cd, uint32_t want, const char *device, NsError *error) {
        uint32_t have = 0;
        char a[96], b[96];
        int r;

        r = crypt_persistent_flags_get(cd, CRYPT_FLAGS_ACTIVATION, &have);
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the activation flags of %s: %s", device, strerror(-r));
        if ((have & LUKS_FLAGS_MANAGED) == want)
                return 0;
        luks_flags_describe(have & LUKS_FLAGS_MANAGED, a, sizeof(a));
        luks_flags_describe(want, b, sizeof(b));
        r = crypt_persistent_flags_set(cd, CRYPT_FLAGS_ACTIVATION, (have & ~LUKS_FLAGS_MANAGED) | want);
        if (r < 0)
                return ns_error_set(error, r, "Storing the activation flags %s in the header of %s failed: %s", b, device,
                                    strerror(-r));
        log_debug("%s: activation flags %s -> %s.", device, a, b);
        return 1;
}
