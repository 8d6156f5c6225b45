/* SPDX-License-Identifier: Apache-2.0 */
/* libblkid probing: superblocks (LUKS included), partition tables and tag lookup. */
#include <blkid/blkid.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "probe.h"
#include "string-table.h"

DEFINE_STRING_TABLE_TO_STRING(probe_kind, ProbeKind, PROBE_KIND,
                              [PROBE_BLANK] = "blank",
                              [PROBE_LUKS] = "luks",
                              [PROBE_FILESYSTEM] = "filesystem",
                              [PROBE_PARTITION_TABLE] = "partition-table",
                              [PROBE_AMBIVALENT] = "ambivalent");

static void blkid_free_probep(blkid_probe *p) {
        if (*p)
                blkid_free_probe(*p);
}

int probe_resolve_device(const char *spec, char **ret_path, NsError *error) {
        static const char *const tags[] = { "UUID=", "LABEL=", "PARTLABEL=" };
        _cleanup_free_ char *path = NULL;
        struct stat st;

        for (size_t i = 0; i < ELEMENTSOF(tags); i++) {
                if (strncmp(spec, tags[i], strlen(tags[i])) != 0)
                        continue;
                if (spec[strlen(tags[i])] == '\0')
                        return ns_error_set(error, -EINVAL, "Device %s: empty %.*s value", spec,
                                            (int) strlen(tags[i]) - 1, tags[i]);
                /* blkid_evaluate_spec() looks at udev's /dev/disk/by-* links first and falls back to
                 * probing every block device, so it works early in boot and without udevd. */
                path = blkid_evaluate_spec(spec, NULL);
                if (!path)
                        return ns_error_set(error, -ENOENT, "Device %s: no block device carries that %.*s", spec,
                                            (int) strlen(tags[i]) - 1, tags[i]);
                break;
        }
        if (!path) {
                if (spec[0] != '/')
                        return ns_error_set(error, -EINVAL,
                                            "Device %s: not an absolute path, nor UUID=, LABEL= or PARTLABEL=", spec);
                path = strdup(spec);
                if (!path)
                        return -ENOMEM;
        }

        if (stat(path, &st) < 0)
                return ns_error_set(error, -errno, "Device %s: %s", path, strerror(errno));
        if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode))
                return ns_error_set(error, -ENOTBLK, "Device %s: neither a block device nor a regular file", path);

        *ret_path = TAKE_PTR(path);
        return 0;
}

static void copy_value(blkid_probe pr, const char *name, char *buf, size_t size) {
        const char *v = NULL;

        buf[0] = '\0';
        if (blkid_probe_lookup_value(pr, name, &v, NULL) == 0 && v)
                (void) snprintf(buf, size, "%s", v);
}

/* One libblkid pass over fd from offset: 1 and *ret when something was found, 0 when blank. */
static int probe_at(int fd, const char *path, uint64_t offset, bool partitions, ProbeResult *ret, NsError *error) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        ProbeResult p = { .offset = offset };
        int r;

        pr = blkid_new_probe();
        if (!pr)
                return -ENOMEM;
        if (blkid_probe_set_device(pr, fd, (blkid_loff_t) offset, 0) < 0)
                return ns_error_set(error, -EIO, "Device %s: libblkid cannot probe it at offset %" PRIu64, path, offset);

        (void) blkid_probe_enable_superblocks(pr, 1);
        (void) blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE |
                                                             BLKID_SUBLKS_LABEL | BLKID_SUBLKS_VERSION);
        (void) blkid_probe_enable_partitions(pr, partitions);
        if (partitions)
                (void) blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);

        errno = 0;
        r = blkid_do_safeprobe(pr);
        if (r == 1)
                return 0;
        if (r == -2) {
                p.kind = PROBE_AMBIVALENT;
                (void) snprintf(p.type, sizeof(p.type), "several signatures");
        } else if (r == 0) {
                copy_value(pr, "TYPE", p.type, sizeof(p.type));
                copy_value(pr, "USAGE", p.usage, sizeof(p.usage));
                copy_value(pr, "LABEL", p.label, sizeof(p.label));
                if (p.type[0] == '\0') {
                        copy_value(pr, "PTTYPE", p.type, sizeof(p.type));
                        p.kind = PROBE_PARTITION_TABLE;
                        if (p.type[0] == '\0')
                                (void) snprintf(p.type, sizeof(p.type), "unknown");
                } else
                        p.kind = streq(p.type, "crypto_LUKS") ? PROBE_LUKS : PROBE_FILESYSTEM;
        } else
                return ns_error_set(error, errno > 0 ? -errno : -EIO, "Device %s: libblkid failed to probe it%s%s",
                                    path, errno > 0 ? ": " : "", errno > 0 ? strerror(errno) : "");
        *ret = p;
        return 1;
}

int probe_fd(int fd, const char *path, ProbeResult *ret, NsError *error) {
        static const uint64_t offsets[] = PROBE_PARTITION_OFFSETS;
        ProbeResult p = { .kind = PROBE_BLANK };
        int r;

        r = probe_at(fd, path, 0, true, &p, error);
        /* Nothing at the start: a partition table may have been zapped (sgdisk --zap-all, wipefs on
         * the disk only) with the partitions' contents still in place behind it. */
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(offsets); i++)
                r = probe_at(fd, path, offsets[i], false, &p, error);
        if (r < 0)
                return r;

        log_debug("Device %s: %s%s%s at offset %" PRIu64 ".", path, probe_kind_to_string(p.kind), p.type[0] ? " " : "",
                  p.type, p.offset);
        *ret = p;
        return 0;
}

int probe_device(const char *path, ProbeResult *ret, NsError *error) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return ns_error_set(error, -errno, "Device %s: cannot open: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return ns_error_set(error, -errno, "Device %s: %s", path, strerror(errno));
        if (S_ISBLK(st.st_mode)) {
                /* O_EXCL fails with EBUSY while the kernel has the device mounted or a holder (dm, md,
                 * another exclusive opener) claims it: such a device is in use, whatever it holds. */
                int excl = open(path, O_RDONLY | O_CLOEXEC | O_EXCL | O_NONBLOCK | O_NOCTTY);
                if (excl < 0 && errno == EBUSY)
                        return ns_error_set(error, -EBUSY,
                                            "Device %s is in use (mounted, mapped or held by another device); not touching it",
                                            path);
                if (excl >= 0)
                        (void) close(excl);
        }
        return probe_fd(fd, path, ret, error);
}

#define UNWRITTEN_HEAD (4 * 1024 * 1024)  /* read whole at the start: partition starts, headers */
#define UNWRITTEN_TAIL (1024 * 1024)      /* read whole at the end: backup GPT, md and ZFS labels */
#define UNWRITTEN_SAMPLE 4096             /* read at each point in between */
#define UNWRITTEN_POINTS 1024

/* 1 when [offset, offset + size) reads as zeros; 0 and *ret_at otherwise. */
static int range_zero(int fd, const char *path, uint64_t offset, size_t size, uint8_t *buf, uint64_t *ret_at,
                      NsError *error) {
        size_t done = 0;

        while (done < size) {
                ssize_t n = pread(fd, buf, size - done, (off_t) (offset + done));
                if (n < 0)
                        return ns_error_set(error, -errno, "Device %s: cannot read at offset %" PRIu64 ": %s", path,
                                            offset + done, strerror(errno));
                if (n == 0)
                        break;
                for (ssize_t i = 0; i < n; i++)
                        if (buf[i] != 0) {
                                *ret_at = offset + done + (uint64_t) i;
                                return 0;
                        }
                done += (size_t) n;
        }
        return 1;
}

static int fd_size(int fd, const char *path, uint64_t *ret, NsError *error) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return ns_error_set(error, -errno, "Device %s: %s", path, strerror(errno));
        if (!S_ISBLK(st.st_mode)) {
                *ret = (uint64_t) st.st_size;
                return 0;
        }
        if (ioctl(fd, BLKGETSIZE64, ret) < 0)
                return ns_error_set(error, -errno, "Device %s: cannot read its size: %s", path, strerror(errno));
        return 0;
}

int probe_fd_unwritten(int fd, const char *path, uint64_t from, uint64_t *ret_offset, NsError *error) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t size, head, tail, span, at = 0;
        int r;

        r = fd_size(fd, path, &size, error);
        if (r < 0)
                return r;
        if (from >= size)
                return 1;
        buf = malloc(UNWRITTEN_HEAD);
        if (!buf)
                return -ENOMEM;

        head = MIN(size - from, (uint64_t) UNWRITTEN_HEAD);
        tail = MIN(size - from - head, (uint64_t) UNWRITTEN_TAIL);
        span = size - from - head - tail;
        r = range_zero(fd, path, from, (size_t) head, buf, &at, error);
        if (r == 1 && tail > 0)
                r = range_zero(fd, path, size - tail, (size_t) tail, buf, &at, error);
        for (unsigned i = 0; r == 1 && span > 0 && i < UNWRITTEN_POINTS; i++) {
                uint64_t off = from + head + span / UNWRITTEN_POINTS * i + span / (2 * UNWRITTEN_POINTS);
                off -= off % UNWRITTEN_SAMPLE;
                r = range_zero(fd, path, off, (size_t) MIN((uint64_t) UNWRITTEN_SAMPLE, size - off), buf, &at, error);
        }
        if (r == 0 && ret_offset)
                *ret_offset = at;
        return r;
}

int probe_device_unwritten(const char *path, uint64_t *ret_offset, NsError *error) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ns_error_set(error, -errno, "Device %s: cannot open: %s", path, strerror(errno));
        return probe_fd_unwritten(fd, path, 0, ret_offset, error);
}

static int describe_kind(const ProbeResult *p, char *buf, size_t size) {
        switch (p->kind) {
        case PROBE_BLANK:
                return snprintf(buf, size, "nothing (blank)");
        case PROBE_LUKS:
                return snprintf(buf, size, "a LUKS header%s%s%s", p->label[0] ? " labelled \"" : "", p->label,
                                p->label[0] ? "\"" : "");
        case PROBE_FILESYSTEM:
                return snprintf(buf, size, "%s %s signature%s%s%s", p->type,
                                streq(p->usage, "filesystem") ? "filesystem" : p->usage[0] ? p->usage : "data",
                                p->label[0] ? " labelled \"" : "", p->label, p->label[0] ? "\"" : "");
        case PROBE_PARTITION_TABLE:
                return snprintf(buf, size, "a %s partition table", p->type);
        case PROBE_AMBIVALENT:
                return snprintf(buf, size, "several conflicting signatures");
        default:
                return snprintf(buf, size, "something unknown");
        }
}

int probe_result_describe(const ProbeResult *p, char *buf, size_t size) {
        int n = describe_kind(p, buf, size);

        if (n < 0 || (size_t) n >= size || p->offset == 0)
                return n;
        /* Found only behind the start: the contents of a partition whose table is gone. */
        return n + snprintf(buf + n, size - (size_t) n,
                            " at offset %" PRIu64 " (%" PRIu64 " KiB), behind the start of the device: a partition whose table was wiped "
                            "but not its contents, or a backup superblock of a filesystem whose primary one is gone",
                            p->offset, p->offset / 1024);
}
