/* SPDX-License-Identifier: Apache-2.0 */
/* Online grow. A device that grew (a cloud volume resized, a LUN extended, a loop device's file
 * extended then losetup -c) is noticed by comparing sizes: the device against the mapping, the
 * mapping against the filesystem's own size in its superblock. Each step is idempotent and judged
 * again from the sizes, so a kill between crypt_resize and the filesystem's grow is finished by
 * the next pass; nothing is ever shrunk. */
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <libcryptsetup.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "crypt-util.h"
#include "log.h"
#include "mount.h"
#include "volume.h"
#include "volume-grow.h"

static int block_size_of(const char *path, uint64_t *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, BLKGETSIZE64, ret) < 0)
                return -errno;
        return 0;
}

/* A mounted xfs keeps its superblock in its own buffers and log, so the device may read an older
 * one than a grow it has done (seen: 304 MiB read back after xfs_growfs to 464 MiB, again at every
 * re-check, each one growing it again). While it is mounted its size comes from the filesystem:
 * statfs counts the data blocks less an internal log, whose size (fixed at mkfs) the superblock on
 * the device does tell. 0 and *ret when the mount point holds this device's xfs, -ENOENT if not. */
static int xfs_mounted_size(const VolumeConfig *v, int dev_fd, uint64_t log_bytes, uint64_t *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct stat dev, mnt;
        struct statfs sfs;

        if (!v->mountpoint || fstat(dev_fd, &dev) < 0 || !S_ISBLK(dev.st_mode))
                return -ENOENT;
        if (mount_point_open(v->mountpoint, false, &fd, NULL) < 0)
                return -ENOENT;
        if (fstat(fd, &mnt) < 0 || mnt.st_dev != dev.st_rdev || fstatfs(fd, &sfs) < 0 || sfs.f_type != XFS_SUPER_MAGIC)
                return -ENOENT;
        *ret = (uint64_t) sfs.f_blocks * (uint64_t) sfs.f_bsize + log_bytes;
        return 0;
}

/* The filesystem's size: ext4 blocks_count * block size from its primary superblock; xfs dblocks *
 * blocksize, from the filesystem itself while it is mounted on v's mount point, else from its
 * primary superblock. -EBADMSG when the superblock is not of type. */
static int filesystem_size(const VolumeConfig *v, const char *device, uint64_t *ret) {
        _cleanup_close_ int fd = open(device, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        uint8_t sb[1024];
        uint32_t lo, hi = 0, log_block, incompat, bsize, log_blocks;
        uint64_t blocks, log_start;

        if (fd < 0)
                return -errno;
        if (v->filesystem == FILESYSTEM_XFS) {
                if (pread(fd, sb, 100, 0) != 100 || memcmp(sb, "XFSB", 4) != 0)
                        return -EBADMSG;
                memcpy(&bsize, sb + 4, 4);
                memcpy(&blocks, sb + 8, 8);
                memcpy(&log_start, sb + 48, 8);
                memcpy(&log_blocks, sb + 96, 4);
                if (xfs_mounted_size(v, fd, log_start ? (uint64_t) be32toh(bsize) * be32toh(log_blocks) : 0, ret) == 0)
                        return 0;
                *ret = (uint64_t) be32toh(bsize) * be64toh(blocks);
                return 0;
        }
        if (pread(fd, sb, sizeof(sb), 1024) != (ssize_t) sizeof(sb) || sb[0x38] != 0x53 || sb[0x39] != 0xEF)
                return -EBADMSG;
        memcpy(&lo, sb + 4, 4);
        memcpy(&log_block, sb + 24, 4);
        memcpy(&incompat, sb + 0x60, 4);
        if (le32toh(incompat) & 0x80)   /* INCOMPAT_64BIT */
                memcpy(&hi, sb + 0x150, 4);
        if (le32toh(log_block) > 6)
                return -EBADMSG;
        *ret = (((uint64_t) le32toh(hi) << 32) | le32toh(lo)) * (UINT64_C(1024) << le32toh(log_block));
        return 0;
}

/* The mapping's size and what it could be (its device's size past the data offset), in bytes. */
static int mapping_sizes(struct crypt_device *cd, const char *name, uint64_t *ret_mapped, uint64_t *ret_possible,
                         NsError *error) {
        struct crypt_active_device cad = {};
        const char *device = crypt_get_device_name(cd);
        uint64_t size;
        int r;

        r = crypt_get_active_device(cd, name, &cad);
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the state of %s: %s", name, strerror(-r));
        r = device ? block_size_of(device, &size) : -ENODEV;
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the size of the device under %s: %s", name, strerror(-r));
        /* During a re-encryption the mapping is a stack of segments, sized by libcryptsetup: not
         * grown until it finished (the next pass). */
        if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE)
                size = 0;
        *ret_mapped = cad.size * 512;
        *ret_possible = size > crypt_get_data_offset(cd) * 512 ? size - crypt_get_data_offset(cd) * 512 : 0;
        return 0;
}

int volume_grow_mapping(const VolumeConfig *v, struct crypt_device *cd, const SecretValue *key, NsError *error) {
        char name[128];
        uint64_t mapped, possible;
        int r;

        (void) snprintf(name, sizeof(name), "%s%s", VOLUME_MAPPER_PREFIX, v->name);
        r = mapping_sizes(cd, name, &mapped, &possible, error);
        if (r < 0)
                return r;
        if (possible < mapped + VOLUME_GROW_MIN_BYTES)
                return 0;
        log_info("Volume %s: %s grew; growing %s from %" PRIu64 " to %" PRIu64 " MiB.", v->name,
                 strna(crypt_get_device_name(cd)), name, mapped >> 20, possible >> 20);
        /* LUKS2 keeps the volume key in the kernel keyring; crypt_resize needs it there. */
        r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size,
                                         CRYPT_ACTIVATE_KEYRING_KEY);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: the key does not load the volume key for the resize: %s", v->name,
                                    strerror(-r));
        r = crypt_resize(cd, name, 0);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: growing %s failed: %s", v->name, name, strerror(-r));
        return 1;
}

int volume_grow_filesystem(const VolumeConfig *v, const char *mapper, NsError *error) {
        uint64_t fs, size;
        int r;

        r = block_size_of(mapper, &size);
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the size of %s: %s", mapper, strerror(-r));
        r = filesystem_size(v, mapper, &fs);
        if (r < 0) {
                /* Nothing to judge by: never grow on a guess. */
                log_debug("Volume %s: the size of the filesystem on %s is unknown (%s); not growing it.", v->name, mapper,
                          strerror(-r));
                return 0;
        }
        if (size < fs + VOLUME_GROW_MIN_BYTES)
                return 0;
        log_info("Volume %s: growing its %s filesystem from %" PRIu64 " to %" PRIu64 " MiB.", v->name,
                 filesystem_type_to_string(v->filesystem), fs >> 20, size >> 20);
        r = mount_grow_filesystem(mapper, v->mountpoint, v->filesystem, error);
        if (r < 0)
                return r;
        return 1;
}

int volume_grow_pending(const VolumeConfig *v, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        char name[128], mapper[PATH_MAX];
        uint64_t mapped, possible, fs;
        int r;

        (void) snprintf(name, sizeof(name), "%s%s", VOLUME_MAPPER_PREFIX, v->name);
        r = volume_mapper_path(v, mapper, sizeof(mapper));
        if (r < 0)
                return r;
        r = crypt_init_by_name(&cd, name);
        if (r < 0)
                return ns_error_set(error, r, "Cannot inspect %s: %s", name, strerror(-r));
        r = mapping_sizes(cd, name, &mapped, &possible, error);
        if (r < 0)
                return r;
        if (possible >= mapped + VOLUME_GROW_MIN_BYTES) {
                (void) ns_error_set(error, -EAGAIN, "its device grew (%" PRIu64 " MiB mapped of %" PRIu64 " MiB)",
                                    mapped >> 20, possible >> 20);
                return 1;
        }
        r = filesystem_size(v, mapper, &fs);
        if (r < 0)
                return 0;   /* not this module's to judge: check and provision say what is wrong */
        if (mapped >= fs + VOLUME_GROW_MIN_BYTES) {
                (void) ns_error_set(error, -EAGAIN, "its filesystem is smaller than its device (%" PRIu64 " of %" PRIu64 " MiB)",
                                    fs >> 20, mapped >> 20);
                return 1;
        }
        return 0;
}
