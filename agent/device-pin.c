/* SPDX-License-Identifier: Apache-2.0 */
/* Pinning a device by identity: open, claim, lock, and re-check the path before acting. */
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "device-pin.h"
#include "path-util.h"

static void describe_stat(const struct stat *st, char *buf, size_t size) {
        if (S_ISBLK(st->st_mode))
                (void) snprintf(buf, size, "block device %u:%u", major(st->st_rdev), minor(st->st_rdev));
        else
                (void) snprintf(buf, size, "file %u:%u inode %llu", major(st->st_dev), minor(st->st_dev),
                                (unsigned long long) st->st_ino);
}

static bool same_identity(const DevicePin *p, const struct stat *st) {
        if (p->block)
                return S_ISBLK(st->st_mode) && st->st_rdev == p->rdev;
        return S_ISREG(st->st_mode) && st->st_dev == p->dev && st->st_ino == p->ino;
}

static int pin_claim(DevicePin *p, NsError *error) {
        /* O_EXCL on a block device fails with EBUSY while the kernel has it mounted or a holder
         * (dm, md, another exclusive opener) claims it: such a device is in use, whatever it holds.
         * Opened through our own handle, so the claim is on the very device we pinned. */
        p->claim_fd = open(p->fd_path, O_RDONLY | O_CLOEXEC | O_EXCL | O_NONBLOCK | O_NOCTTY);
        if (p->claim_fd < 0 && errno == EBUSY)
                return ns_error_set(error, -EBUSY,
                                    "Device %s is in use (mounted, mapped or held by another device); not touching it",
                                    p->path);
        if (p->claim_fd < 0)
                return ns_error_set(error, -errno, "Device %s: cannot claim it: %s", p->path, strerror(errno));
        return 0;
}

/* 0 when only root can change what name means in directory dfd: the directory is root's and not
 * writable by others, or it is sticky (/var/tmp) and the entry itself is root's. -EPERM otherwise. */
static int dir_entry_is_roots(int dfd, const char *name) {
        struct stat d, e;

        if (fstat(dfd, &d) < 0)
                return -errno;
        if (d.st_uid != 0)
                return -EPERM;
        if (!(d.st_mode & 0022))
                return 0;
        if (!(d.st_mode & S_ISVTX) || fstatat(dfd, name, &e, AT_SYMLINK_NOFOLLOW) < 0 || e.st_uid != 0)
                return -EPERM;
        return 0;
}

/* Opens path from its directory, which only root may change (path-util.h): a device path in a
 * directory a datastore user can write (an image file in its home, a link it planted) could be
 * swapped for another device between any check and the format. The last component may be a
 * symlink (the /dev/disk/by-* links udev makes): only root can have put it there. */
int device_open_safe(const char *path, int *ret_fd, NsError *error) {
        _cleanup_free_ char *copy = NULL;
        _cleanup_close_ int dfd = -EBADF;
        const char *base;
        char *slash;
        NsError e = {};
        int r;

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        slash = strrchr(copy, '/');
        if (!slash || slash[1] == '\0')
                return ns_error_set(error, -EINVAL, "Device %s: not an absolute path to a device or file", path);
        base = slash + 1;
        *slash = '\0';
        r = path_open_dir_safe(copy[0] ? copy : "/", PATH_SAFE_ANY_OWNER, (uid_t) -1, (gid_t) -1, &dfd, &e);
        if (r < 0)
                return ns_error_set(error, r, "Device %s: %s; not touching it", path, e.message);
        r = dir_entry_is_roots(dfd, base);
        if (r < 0)
                return ns_error_set(error, r,
                                    "Device %s: Refusing %s: a user other than root can change that directory, and could swap the device; not touching it",
                                    path, copy[0] ? copy : "/");
        *ret_fd = openat(dfd, base, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (*ret_fd < 0)
                return ns_error_set(error, -errno, "Device %s: cannot open: %s", path, strerror(errno));
        return 0;
}

int device_pin_new(const char *path, DevicePin **ret, NsError *error) {
        _cleanup_(device_pin_freep) DevicePin *p = NULL;
        struct stat st;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->fd = p->claim_fd = -EBADF;
        p->path = strdup(path);
        if (!p->path)
                return -ENOMEM;

        r = device_open_safe(path, &p->fd, error);
        if (r < 0)
                return r;
        if (p->fd < 0)
                return ns_error_set(error, -errno, "Device %s: cannot open: %s", path, strerror(errno));
        if (fstat(p->fd, &st) < 0)
                return ns_error_set(error, -errno, "Device %s: %s", path, strerror(errno));
        if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
                return ns_error_set(error, -ENOTBLK, "Device %s: neither a block device nor a regular file", path);
        p->block = S_ISBLK(st.st_mode);
        p->rdev = st.st_rdev;
        p->dev = st.st_dev;
        p->ino = st.st_ino;
        (void) snprintf(p->fd_path, sizeof(p->fd_path), "/proc/self/fd/%d", p->fd);

        if (!p->block) {
                /* An image file is held by its inode; no lock: libcryptsetup flock()s the file itself
                 * to guard its metadata, and would wait for ours. */
                *ret = TAKE_PTR(p);
                return 0;
        }
        r = pin_claim(p, error);
        if (r < 0)
                return r;
        /* The lock udev and systemd honour: no probe or rule runs on the device while we decide
         * (libcryptsetup keeps its own locks of block devices under /run/cryptsetup). */
        if (flock(p->fd, LOCK_EX | LOCK_NB) < 0)
                return ns_error_set(error, errno == EWOULDBLOCK ? -EBUSY : -errno,
                                    "Device %s is locked by another process (flock): %s; not touching it", path, strerror(errno));
        *ret = TAKE_PTR(p);
        return 0;
}

DevicePin *device_pin_free(DevicePin *p) {
        if (!p)
                return NULL;
        safe_close(p->claim_fd);
        safe_close(p->fd);
        free(p->path);
        free(p);
        return NULL;
}

int device_pin_verify_path(const DevicePin *p, const char *path, NsError *error) {
        char now[96], pinned[96];
        struct stat st, held;

        if (fstat(p->fd, &held) < 0)
                return ns_error_set(error, -errno, "Device %s: %s", p->path, strerror(errno));
        describe_stat(&held, pinned, sizeof(pinned));
        if (stat(path, &st) < 0)
                return ns_error_set(error, -ESTALE,
                                    "Device %s went away while it was being prepared (it was %s): %s; refusing to format anything",
                                    path, pinned, strerror(errno));
        if (!same_identity(p, &st)) {
                describe_stat(&st, now, sizeof(now));
                return ns_error_set(error, -ESTALE,
                                    "Device %s now names %s, not %s that was probed; refusing to format anything (both are left as they are)",
                                    path, now, pinned);
        }
        return 0;
}

int device_pin_verify(const DevicePin *p, NsError *error) {
        return device_pin_verify_path(p, p->path, error);
}

void device_pin_release_claim(DevicePin *p) {
        p->claim_fd = safe_close(p->claim_fd);
}

int device_pin_size(const DevicePin *p, uint64_t *ret, NsError *error) {
        struct stat st;
        uint64_t size;

        if (p->block) {
                if (ioctl(p->fd, BLKGETSIZE64, &size) < 0)
                        return ns_error_set(error, -errno, "Device %s: cannot read its size: %s", p->path, strerror(errno));
        } else {
                if (fstat(p->fd, &st) < 0)
                        return ns_error_set(error, -errno, "Device %s: %s", p->path, strerror(errno));
                size = (uint64_t) st.st_size;
        }
        *ret = size;
        return 0;
}
