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

static const char *const probe_kind_table[_PROBE_KIND_MAX] = {
        [PROBE_BLANK] = "blank",
        [PROBE_LUKS] = "luks",
        [PROBE_FILESYSTEM] = "filesystem",
        [PROBE_PARTITION_TABLE] = "partition-table",
        [PROBE_AMBIVALENT] = "ambivalent",
};

const char *probe_kind_to_string(ProbeKind k) {
        return k >= 0 && k < _PROBE_KIND_MAX ? probe_kind_table[k] : NULL;
}

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

int probe_device(const char *path, ProbeResult *ret, NsError *error) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        _cleanup_close_ int fd = -EBADF;
        ProbeResult p = {};
        struct stat st;
        int r;

        /* O_EXCL on a block device fails with EBUSY while the kernel has it mounted or a holder
         * (dm, md, another exclusive opener) claims it: such a device is in use, whatever it holds. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return ns_error_set(error, -errno, "Device %s: cannot open: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return ns_error_set(error, -errno, "Device %s: %s", path, strerror(errno));
        if (S_ISBLK(st.st_mode)) {
                int excl = open(path, O_RDONLY | O_CLOEXEC | O_EXCL | O_NONBLOCK | O_NOCTTY);
                if (excl < 0 && errno == EBUSY)
                        return ns_error_set(error, -EBUSY,
                                            "Device %s is in use (mounted, mapped or held by another device); not touching it",
                                            path);
                if (excl >= 0)
                        (void) close(excl);
        }

        pr = blkid_new_probe();
        if (!pr)
                return -ENOMEM;
        r = blkid_probe_set_device(pr, fd, 0, 0);
        if (r < 0)
                return ns_error_set(error, -EIO, "Device %s: libblkid cannot probe it", path);

        (void) blkid_probe_enable_superblocks(pr, 1);
        (void) blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE |
                                                             BLKID_SUBLKS_LABEL | BLKID_SUBLKS_VERSION);
        (void) blkid_probe_enable_partitions(pr, 1);
        (void) blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);

        errno = 0;
        r = blkid_do_safeprobe(pr);
        switch (r) {
        case 1:
                p.kind = PROBE_BLANK;
                break;
        case -2:
                p.kind = PROBE_AMBIVALENT;
                (void) snprintf(p.type, sizeof(p.type), "several signatures");
                break;
        case 0:
                copy_value(pr, "TYPE", p.type, sizeof(p.type));
                copy_value(pr, "USAGE", p.usage, sizeof(p.usage));
                copy_value(pr, "LABEL", p.label, sizeof(p.label));
                if (p.type[0] == '\0') {
                        copy_value(pr, "PTTYPE", p.type, sizeof(p.type));
                        p.kind = PROBE_PARTITION_TABLE;
                        if (p.type[0] == '\0')
                                (void) snprintf(p.type, sizeof(p.type), "unknown");
                } else if (streq(p.type, "crypto_LUKS"))
                        p.kind = PROBE_LUKS;
                else
                        p.kind = PROBE_FILESYSTEM;
                break;
        default:
                return ns_error_set(error, errno > 0 ? -errno : -EIO, "Device %s: libblkid failed to probe it%s%s",
                                    path, errno > 0 ? ": " : "", errno > 0 ? strerror(errno) : "");
        }

        log_debug("Device %s: %s%s%s.", path, probe_kind_to_string(p.kind), p.type[0] ? " " : "", p.type);
        *ret = p;
        return 0;
}

#define UNWRITTEN_EDGE (1024 * 1024)   /* read whole at the start and the end */
#define UNWRITTEN_SAMPLE 4096           /* read at each point in between */
#define UNWRITTEN_POINTS 62

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

int probe_device_unwritten(const char *path, uint64_t *ret_offset, NsError *error) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint64_t size, at = 0;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ns_error_set(error, -errno, "Device %s: cannot open: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return ns_error_set(error, -errno, "Device %s: %s", path, strerror(errno));
        if (S_ISBLK(st.st_mode)) {
                if (ioctl(fd, BLKGETSIZE64, &size) < 0)
                        return ns_error_set(error, -errno, "Device %s: cannot read its size: %s", path, strerror(errno));
        } else
                size = (uint64_t) st.st_size;

        buf = malloc(UNWRITTEN_EDGE);
        if (!buf)
                return -ENOMEM;

        r = range_zero(fd, path, 0, (size_t) MIN(size, (uint64_t) UNWRITTEN_EDGE), buf, &at, error);
        if (r == 1 && size > UNWRITTEN_EDGE)
                r = range_zero(fd, path, size - MIN(size - UNWRITTEN_EDGE, (uint64_t) UNWRITTEN_EDGE),
                               (size_t) MIN(size - UNWRITTEN_EDGE, (uint64_t) UNWRITTEN_EDGE), buf, &at, error);
        if (r == 1 && size > 2 * UNWRITTEN_EDGE) {
                uint64_t span = size - 2 * UNWRITTEN_EDGE;

                for (unsigned i = 0; r == 1 && i < UNWRITTEN_POINTS; i++) {
                        uint64_t off = UNWRITTEN_EDGE + span / (UNWRITTEN_POINTS + 1) * (i + 1);
                        off -= off % UNWRITTEN_SAMPLE;
                        r = range_zero(fd, path, off, (size_t) MIN((uint64_t) UNWRITTEN_SAMPLE, size - off), buf, &at,
                                       error);
                }
        }
        if (r == 0 && ret_offset)
                *ret_offset = at;
        return r;
}

int probe_result_describe(const ProbeResult *p, char *buf, size_t size) {
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
