/* SPDX-License-Identifier: Apache-2.0 */
/* LUKS2 header backups: one file per volume in a root-only directory and/or one key of a Secret,
 * always read from the disk the volume is on through one open handle, kept current by comparing the
 * header's sequence id (LUKS2 increments it on every metadata write: format, key slot added or
 * removed, flags, tokens, re-encryption), and restored by "nodeseal recover" onto a device whose
 * header is damaged, only after the backup, the format record and the device's own data agree
 * that it is this volume's disk.
 *
 * Why the data check: with the header gone nothing on the disk says whose it is, and writing a
 * header onto the wrong disk hides what that disk held. The backup's volume key decrypts the first
 * sector of the data area; only the volume's own filesystem superblock there lets the restore go on. */
#include <ctype.h>
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "crypt-util.h"
#include "device-pin.h"
#include "format-record.h"
#include "header-backup.h"
#include "log.h"
#include "path-util.h"
#include "probe.h"
#include "seam.h"
#include "secure.h"

#define LUKS2_MAGIC_1ST "LUKS\xba\xbe"
#define BACKUP_SUFFIX ".luks-header"

static void copy_field(char *dst, size_t dst_size, const uint8_t *src, size_t src_size) {
        size_t n = strnlen((const char *) src, src_size);
        if (n >= dst_size)
                n = dst_size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
}

static int identity_parse(const uint8_t *h, size_t n, HeaderIdentity *ret) {
        uint64_t seqid;

        if (n < 512 || memcmp(h, LUKS2_MAGIC_1ST, 6) != 0 || h[6] != 0 || h[7] != 2)
                return -EBADMSG;
        memcpy(&seqid, h + 16, sizeof(seqid));
        *ret = (HeaderIdentity) { .seqid = be64toh(seqid) };
        copy_field(ret->label, sizeof(ret->label), h + 24, 48);
        copy_field(ret->uuid, sizeof(ret->uuid), h + 168, 40);
        copy_field(ret->subsystem, sizeof(ret->subsystem), h + 208, 48);
        return 0;
}

int header_identity_read(int fd, HeaderIdentity *ret) {
        uint8_t h[512];
        ssize_t n;

        n = pread(fd, h, sizeof(h), 0);
        if (n < 0)
                return -errno;
        return identity_parse(h, (size_t) n, ret);
}

static int identity_of_path(const char *path, HeaderIdentity *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return header_identity_read(fd, ret);
}

/* 1 when the LUKS2 header at path (a device or a header file) records a re-encryption under way
 * (or one whose last step was cut short), 0 when not or when it does not load. */
static int header_in_reencryption(const char *path) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;

        if (crypt_init(&cd, path) < 0 || crypt_load(cd, CRYPT_LUKS2, NULL) < 0)
                return 0;
        return crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE;
}

int header_backup_path(const VolumeConfig *v, char *buf, size_t size) {
        int n;

        if (!v->header_backup)
                return -ENOENT;
        n = snprintf(buf, size, "%s/%s%s", v->header_backup, v->name, BACKUP_SUFFIX);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

/* The backup directory, created root-only when missing, reached without symlinks below
 * directories only root can change. */
static int open_backup_dir(const VolumeConfig *v, bool create, int *ret_fd, NsError *error) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        r = path_open_dir_safe(v->header_backup, create ? PATH_SAFE_MKDIR : 0, (uid_t) -1, (gid_t) -1, &fd, error);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return ns_error_set(error, -errno, "%s: %s", v->header_backup, strerror(errno));
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return ns_error_set(error, -EPERM, "Header backup directory %s is not root's; refusing", v->header_backup);
        if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
                return ns_error_set(error, -errno, "chmod 0700 %s: %s", v->header_backup, strerror(errno));
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* "/proc/self/fd/N/name": a file in the opened directory, for libcryptsetup, which takes paths. */
static void at_path(int dir_fd, const char *name, char *buf, size_t size) {
        (void) snprintf(buf, size, "/proc/self/fd/%d/%s", dir_fd, name);
}

/* The backup file of v in its directory, from the header on dev_path (/proc/self/fd/N). */
static int file_sync(const VolumeConfig *v, const char *dev_path, const HeaderIdentity *dev, const char *display,
                     NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        HeaderIdentity have, made;
        char name[128], tmp[160], p[512], q[512];
        int r;

        r = open_backup_dir(v, true, &dir_fd, error);
        if (r < 0)
                return ns_error_prefix(error, r, "Volume %s: header backup", v->name);
        (void) snprintf(name, sizeof(name), "%s%s", v->name, BACKUP_SUFFIX);
        at_path(dir_fd, name, p, sizeof(p));
        if (identity_of_path(p, &have) >= 0 && streq(have.uuid, dev->uuid) && have.seqid == dev->seqid)
                return 0;

        (void) snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
        at_path(dir_fd, tmp, q, sizeof(q));
        (void) unlinkat(dir_fd, tmp, 0);
        r = crypt_init(&cd, dev_path);
        if (r >= 0)
                r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r >= 0)
                r = crypt_header_backup(cd, CRYPT_LUKS2, q);
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return ns_error_set(error, r, "Volume %s: backing up the LUKS2 header of %s into %s failed: %s", v->name,
                                    display, v->header_backup, strerror(-r));
        }
        /* What was written must be the header that was read: else (a change meanwhile) keep the old. */
        r = identity_of_path(q, &made);
        if (r < 0 || !streq(made.uuid, dev->uuid) || made.seqid < dev->seqid) {
                (void) unlinkat(dir_fd, tmp, 0);
                return ns_error_set(error, -ESTALE, "Volume %s: the header backup of %s does not match its header; kept the previous one",
                                    v->name, display);
        }
        {
                _cleanup_close_ int fd = openat(dir_fd, tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 || fchmod(fd, 0400) < 0 || fsync(fd) < 0) {
                        (void) unlinkat(dir_fd, tmp, 0);
                        return ns_error_set(error, -errno, "Volume %s: %s/%s: %s", v->name, v->header_backup, tmp, strerror(errno));
                }
        }
        if (renameat(dir_fd, tmp, dir_fd, name) < 0 || fsync(dir_fd) < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return ns_error_set(error, -errno, "Volume %s: storing %s/%s: %s", v->name, v->header_backup, name,
                                    strerror(errno));
        }
        log_info("Volume %s: LUKS2 header of %s (UUID %s, seqid %" PRIu64 ") backed up to %s/%s.", v->name, display,
                 made.uuid, made.seqid, v->header_backup, name);
        return 1;
}

int header_backup_format_layout(const VolumeConfig *v, struct crypt_device *cd, NsError *error) {
        int r;

        if (!v->header_backup_secret)
                return 0;
        r = crypt_set_metadata_size(cd, HEADER_BACKUP_SECRET_METADATA_BYTES, HEADER_BACKUP_SECRET_KEYSLOTS_BYTES);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: cannot set the LUKS2 header size that fits Secret %s: %s", v->name,
                                    v->header_backup_secret, strerror(-r));
        return 0;
}

/* A directory only root can change, for a header on its way to or from a Secret (libcryptsetup
 * takes paths; the file itself is root's, 0400): the volume's backup directory when it has one,
 * else the runtime directory. */
static int scratch_dir(const VolumeConfig *v, SecretSource *s, int *ret_fd, NsError *error) {
        if (v->header_backup)
                return open_backup_dir(v, true, ret_fd, error);
        return path_open_dir_safe(s->config->runtime_dir, PATH_SAFE_MKDIR, (uid_t) -1, (gid_t) -1, ret_fd, error);
}

/* The header backup of the device at dev_path, in memory: refused with its size when larger than
 * a Secret holds. */
static int header_bytes(const VolumeConfig *v, SecretSource *s, const char *dev_path, const char *display,
                        SecretValue **ret, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(secret_value_freep) SecretValue *b = NULL;
        _cleanup_close_ int dir_fd = -EBADF, fd = -EBADF;
        uint64_t md = 0, ks = 0, size;
        char tmp[160], q[512];
        struct stat st;
        ssize_t n;
        int r;

        r = crypt_init(&cd, dev_path);
        if (r >= 0)
                r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r >= 0)
                r = crypt_get_metadata_size(cd, &md, &ks);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: cannot load the LUKS2 header of %s: %s", v->name, display, strerror(-r));
        size = 2 * md + ks;
        if (size > HEADER_BACKUP_SECRET_MAX)
                return ns_error_set(error, -EFBIG,
                                    "Volume %s: its LUKS2 header is %" PRIu64 " bytes (metadata 2 x %" PRIu64 ", key slot area %" PRIu64
                                    "), more than a Secret holds (%" PRIu64 "): not stored in Secret %s. Only a volume formatted while "
                                    "header_backup.secret was set has a header that fits (%" PRIu64 " bytes); back this one up in a "
                                    "directory (header_backup.directory)",
                                    v->name, size, md, ks, HEADER_BACKUP_SECRET_MAX, v->header_backup_secret,
                                    2 * HEADER_BACKUP_SECRET_METADATA_BYTES + HEADER_BACKUP_SECRET_KEYSLOTS_BYTES);

        r = scratch_dir(v, s, &dir_fd, error);
        if (r < 0)
                return ns_error_prefix(error, r, "Volume %s: header backup for Secret %s", v->name, v->header_backup_secret);
        (void) snprintf(tmp, sizeof(tmp), ".%s.secret.tmp", v->name);
        at_path(dir_fd, tmp, q, sizeof(q));
        (void) unlinkat(dir_fd, tmp, 0);
        r = crypt_header_backup(cd, CRYPT_LUKS2, q);
        if (r >= 0) {
                fd = openat(dir_fd, tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                r = fd < 0 || fstat(fd, &st) < 0 ? -errno : 0;
        }
        (void) unlinkat(dir_fd, tmp, 0);
        if (r >= 0 && (uint64_t) st.st_size > HEADER_BACKUP_SECRET_MAX)
                r = -EFBIG;
        if (r >= 0)
                r = secret_value_new((size_t) st.st_size, &b);
        if (r >= 0) {
                n = pread(fd, b->data, b->size, 0);
                r = n < 0 ? -errno : (size_t) n != b->size ? -EIO : 0;
        }
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: backing up the LUKS2 header of %s for Secret %s failed: %s", v->name,
                                    display, v->header_backup_secret, strerror(-r));
        *ret = TAKE_PTR(b);
        return 0;
}

/* The key of v's header backup in its Secret: "<volume>.luks-header". */
static void secret_key_of(const VolumeConfig *v, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s%s", v->name, HEADER_BACKUP_SECRET_SUFFIX);
}

/* The backup in v's Secret, made current from the header on dev_path. */
/* b under key of secret: replacing old (what was read; NULL: absent) only while it is still there. */
static int secret_store(SecretSource *s, const char *secret, const char *key, const SecretValue *old, const SecretValue *b,
                        NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *stored = NULL;
        int r;

        if (old) {
                const char *keys[] = { key };
                SecretValue *expected[] = { (SecretValue *) old }, *values[] = { (SecretValue *) b };
                NsError e = {};

                r = secret_source_replace(s, secret, keys, expected, values, 1, &e);
                if (r != -EOPNOTSUPP) {
                        if (r < 0 && error)
                                *error = e;
                        return r;
                }
                /* A source that cannot replace (the API's merge patches add or remove a key, each
                 * guarded by what was read): the old backup goes, then the new one is added. Killed
                 * in between, the next pass adds it (the header is on disk). */
                r = secret_source_remove_key_if(s, secret, key, old, error);
                if (r < 0 && r != -ENOKEY)
                        return r;
                if (error)
                        *error = NS_ERROR_NULL;
        }
        r = secret_source_put_record(s, secret, key, b, &stored, error);
        if (r >= 0 && !secret_value_equal(stored, b))
                r = ns_error_set(error, -ESTALE, "Secret %s key %s changed meanwhile; the header backup is made again on the next pass",
                                 secret, key);
        return r;
}

static int secret_sync(const VolumeConfig *v, SecretSource *s, const char *dev_path, const HeaderIdentity *dev,
                       const char *display, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *old = NULL, *b = NULL;
        const char *secret = v->header_backup_secret;
        HeaderIdentity have, made;
        char key[128];
        int r;

        secret_key_of(v, key, sizeof(key));
        r = secret_source_get(s, secret, key, &old, error);
        if (r < 0 && r != -ENOKEY && r != -ENOENT)
                return ns_error_prefix(error, r, "Volume %s: header backup", v->name);
        if (error && (r == -ENOKEY || r == -ENOENT))
                *error = NS_ERROR_NULL;
        if (old && identity_parse(old->data, old->size, &have) >= 0 && streq(have.uuid, dev->uuid) && have.seqid == dev->seqid)
                return 0;

        r = header_bytes(v, s, dev_path, display, &b, error);
        if (r < 0)
                return r;
        r = identity_parse(b->data, b->size, &made);
        if (r < 0 || !streq(made.uuid, dev->uuid) || made.seqid < dev->seqid)
                return ns_error_set(error, -ESTALE, "Volume %s: the header backup of %s does not match its header; kept the one in Secret %s",
                                    v->name, display, secret);
        r = secret_store(s, secret, key, old, b, error);
        if (r < 0)
                return ns_error_prefix(error, r, "Volume %s: storing the header backup in Secret %s", v->name, secret);
        log_info("Volume %s: LUKS2 header of %s (UUID %s, seqid %" PRIu64 ", %zu bytes) backed up to Secret %s, key %s.", v->name,
                 display, made.uuid, made.seqid, b->size, secret, key);
        return 1;
}

int header_backup_sync(const VolumeConfig *v, SecretSource *s, int device_fd, const char *display, const char *expect_uuid,
                       NsError *error) {
        HeaderIdentity dev;
        char dev_path[32];
        int r, q = 0;

        if (!v->header_backup && !v->header_backup_secret)
                return 0;
        if (v->header_backup_secret && !s)
                return ns_error_set(error, -EINVAL, "Volume %s: no secret source to store its header backup in", v->name);
        seam_pause("header-backup");
        /* One handle for all: the identity read here, the header libcryptsetup copies (through
         * /proc/self/fd, the same open device), whatever a path names meanwhile. */
        r = header_identity_read(device_fd, &dev);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: cannot read the LUKS2 header of %s to back it up: %s", v->name,
                                    display, strerror(-r));
        if (expect_uuid && !luks_uuid_same(dev.uuid, expect_uuid))
                return ns_error_set(error, -EUCLEAN,
                                    "Volume %s: %s carries the LUKS2 header of UUID %s, but the volume's is %s: not this volume's "
                                    "disk; kept the previous header backup",
                                    v->name, display, dev.uuid, expect_uuid);
        (void) snprintf(dev_path, sizeof(dev_path), "/proc/self/fd/%d", device_fd);
        /* Half-way through a re-encryption the header says where the new volume key's data ends
         * now; restored later, after the re-encryption went on, the blocks re-encrypted since would
         * be read (and re-encrypted again) under the old key. The backup from before stays (its
         * volume key no longer decrypts the data area once the first hotzone is done, so recover
         * refuses it); the next after the end replaces it. */
        if (header_in_reencryption(dev_path) > 0) {
                log_info("Volume %s: %s is being re-encrypted: kept the previous header backup (a header taken half-way "
                         "is never one to restore; the first after the re-encryption's end replaces it).", v->name, display);
                return 0;
        }
        if (v->header_backup)
                r = file_sync(v, dev_path, &dev, display, error);
        if (v->header_backup_secret) {
                NsError e = {};

                q = secret_sync(v, s, dev_path, &dev, display, &e);
                /* Both failed: the first error is returned, the second said here. */
                if (q < 0 && r < 0)
                        log_debug("%s", ns_error_message(&e, q));
                else if (q < 0 && error)
                        *error = e;
        }
        if (r < 0 || q < 0)
                return r < 0 ? r : q;
        return r > 0 || q > 0;
}

static int read_sysfs(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        while (n > 0 && buf[n - 1] == '\n')
                n--;
        buf[n] = '\0';
        return 0;
}

/* The one disk under the device-mapper device devt, as the kernel's table says (sysfs "slaves"):
 * down through stacked device-mapper devices (a re-encryption's hotzone and overlay) to the
 * device that is not one. -ENOTUNIQ when there are several. */
static int mapping_disk(dev_t devt, unsigned depth, dev_t *leaf, char *name, size_t size) {
        _cleanup_(closedirp) DIR *d = NULL;
        char dir[128], path[PATH_MAX], buf[64];
        struct dirent *de;
        int r;

        if (depth > 4)
                return -ELOOP;
        (void) snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u/slaves", major(devt), minor(devt));
        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                unsigned ma, mi;
                struct stat st;

                if (de->d_name[0] == '.')
                        continue;
                (void) snprintf(path, sizeof(path), "%s/%s/dev", dir, de->d_name);
                r = read_sysfs(path, buf, sizeof(buf));
                if (r < 0)
                        return r;
                if (sscanf(buf, "%u:%u", &ma, &mi) != 2)
                        return -EBADMSG;
                (void) snprintf(path, sizeof(path), "%s/%s/dm", dir, de->d_name);
                if (stat(path, &st) == 0) {
                        r = mapping_disk(makedev(ma, mi), depth + 1, leaf, name, size);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (*leaf != 0 && *leaf != makedev(ma, mi))
                        return -ENOTUNIQ;
                *leaf = makedev(ma, mi);
                (void) snprintf(name, size, "/dev/%s", de->d_name);
                /* sysfs writes '/' in a device's name as '!' (cciss!c0d0). */
                for (char *c = name; *c; c++)
                        if (*c == '!')
                                *c = '/';
        }
        return *leaf != 0 ? 0 : -ENODEV;
}

/* The LUKS UUID the mapping was made from, with its dashes: its device-mapper UUID is
 * "CRYPT-LUKS2-<the 32 hex digits>-<name>". */
static int mapping_uuid(dev_t devt, char buf[static 37]) {
        char path[128], u[256];
        const char *hex;
        int r;

        (void) snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/uuid", major(devt), minor(devt));
        r = read_sysfs(path, u, sizeof(u));
        if (r < 0)
                return r;
        if (strncmp(u, "CRYPT-LUKS2-", 12) != 0)
                return -EMEDIUMTYPE;
        hex = u + 12;
        if (strspn(hex, "0123456789abcdefABCDEF") != 32 || hex[32] != '-')
                return -EBADMSG;
        (void) snprintf(buf, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
        return 0;
}

int header_backup_sync_mapping(const VolumeConfig *v, SecretSource *s, const char *mapper, NsError *error) {
        _cleanup_close_ int fd = -EBADF;
        char disk[PATH_MAX] = "", uuid[64], display[PATH_MAX + 64];
        struct stat st;
        dev_t leaf = 0;
        int r;

        if (!v->header_backup && !v->header_backup_secret)
                return 0;
        if (stat(mapper, &st) < 0)
                return ns_error_set(error, -errno, "Volume %s: header backup: %s: %s", v->name, mapper, strerror(errno));
        if (!S_ISBLK(st.st_mode))
                return ns_error_set(error, -ENOTBLK, "Volume %s: header backup: %s is not a block device", v->name, mapper);
        r = mapping_uuid(st.st_rdev, uuid);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: header backup: cannot tell the LUKS2 UUID of the mapping %s: %s",
                                    v->name, mapper, strerror(-r));
        r = mapping_disk(st.st_rdev, 0, &leaf, disk, sizeof(disk));
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: header backup: cannot tell the disk under %s: %s", v->name, mapper,
                                    strerror(-r));

        /* The node found by the kernel's name must be that very device: pinned by dev_t. */
        fd = open(disk, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return ns_error_set(error, -errno, "Volume %s: header backup: %s (under %s): %s", v->name, disk, mapper,
                                    strerror(errno));
        if (fstat(fd, &st) < 0)
                return ns_error_set(error, -errno, "Volume %s: header backup: %s: %s", v->name, disk, strerror(errno));
        if (!S_ISBLK(st.st_mode) || st.st_rdev != leaf)
                return ns_error_set(error, -ESTALE, "Volume %s: header backup: %s is not the device %u:%u under %s", v->name,
                                    disk, major(leaf), minor(leaf), mapper);
        (void) snprintf(display, sizeof(display), "%s under %s", disk, mapper);
        return header_backup_sync(v, s, fd, display, uuid, error);
}

/* Decrypts the first sector of the data area with the volume key in cd (the backup's header, the
 * device as data device) and looks for the volume's filesystem there. 0 when found. */
static int data_is_volume(const VolumeConfig *v, struct crypt_device *cd, int data_fd, const SecretValue *key,
                          const char *display, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *vk = NULL;
        EVP_CIPHER_CTX *ctx = NULL;
        uint8_t in[4096], out[4096], iv[16] = {};
        size_t vk_size = (size_t) crypt_get_volume_key_size(cd);
        uint64_t offset = crypt_get_data_offset(cd) * 512;
        int r, n = 0, m = 0;
        bool found;

        if (!streq(strempty(crypt_get_cipher(cd)), "aes") || !streq(strempty(crypt_get_cipher_mode(cd)), "xts-plain64") ||
            (vk_size != 32 && vk_size != 64))
                return ns_error_set(error, -EOPNOTSUPP, "Volume %s: the backup's cipher %s-%s cannot be checked against the data of %s; refusing",
                                    v->name, strna(crypt_get_cipher(cd)), strna(crypt_get_cipher_mode(cd)), display);
        r = secret_value_new(vk_size, &vk);
        if (r < 0)
                return r;
        r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *) vk->data, &vk_size, (const char *) key->data, key->size);
        if (r < 0)
                return ns_error_set(error, -EKEYREJECTED, "Volume %s: the key in the Secret does not open the header backup; refusing",
                                    v->name);
        if (pread(data_fd, in, sizeof(in), (off_t) offset) != (ssize_t) sizeof(in))
                return ns_error_set(error, -EIO, "Volume %s: cannot read the data area of %s at %" PRIu64, v->name, display, offset);

        /* aes-xts-plain64: the first sector's IV is 0 whatever the sector size. */
        ctx = EVP_CIPHER_CTX_new();
        r = ctx && EVP_DecryptInit_ex(ctx, vk_size == 64 ? EVP_aes_256_xts() : EVP_aes_128_xts(), NULL, vk->data, iv) == 1 &&
            EVP_DecryptUpdate(ctx, out, &n, in, (int) crypt_get_sector_size(cd)) == 1 &&
            EVP_DecryptFinal_ex(ctx, out + n, &m) == 1;
        EVP_CIPHER_CTX_free(ctx);
        if (!r) {
                OPENSSL_cleanse(out, sizeof(out));
                return ns_error_set(error, -EIO, "Volume %s: decrypting the data area of %s failed", v->name, display);
        }
        if (v->filesystem == FILESYSTEM_XFS)
                found = memcmp(out, "XFSB", 4) == 0;
        else
                found = out[1024 + 0x38] == 0x53 && out[1024 + 0x39] == 0xEF;
        OPENSSL_cleanse(out, sizeof(out));
        if (!found)
                return ns_error_set(error, -EUCLEAN,
                                    "Volume %s: the data area of %s does not decrypt to an %s filesystem with the backup's volume key: "
                                    "this is not the disk the backup was taken of (or its filesystem is damaged too, or its data was re-encrypted "
                                    "under another volume key since); refusing (nothing written)",
                                    v->name, display, filesystem_type_to_string(v->filesystem));
        return 0;
}

/* The backup's identity, checked against the format record and the volume. */
static int check_backup(const VolumeConfig *v, SecretSource *s, const char *path, HeaderIdentity *ret, NsError *error) {
        FormatRecord rec;
        int r;

        r = identity_of_path(path, ret);
        if (r == -ENOENT)
                return ns_error_set(error, r, "Volume %s has no header backup at %s", v->name, path);
        if (r < 0)
                return ns_error_set(error, r, "%s is not a LUKS2 header backup: %s", path,
                                    r == -EBADMSG ? "no LUKS2 header in it" : strerror(-r));
        r = format_record_read(s, v, &rec, error);
        if (r < 0)
                return r;
        if (!rec.uuid[0])
                return ns_error_set(error, -EUCLEAN,
                                    "No format record of volume %s names its LUKS UUID, so nothing tells whether the backup %s (UUID %s) is of its disk; refusing",
                                    v->name, path, ret->uuid);
        if (strcasecmp(rec.uuid, ret->uuid) != 0)
                return ns_error_set(error, -EUCLEAN,
                                    "The backup %s is of LUKS UUID %s, but the format record of volume %s names %s: it is a backup of another device; refusing (nothing written)",
                                    path, ret->uuid, v->name, rec.uuid);
        if (!streq(ret->label, v->name))
                return ns_error_set(error, -EUCLEAN, "The backup %s is of volume \"%s\", not \"%s\"; refusing", path, ret->label,
                                    v->name);
        if (header_in_reencryption(path) > 0)
                return ns_error_set(error, -EUCLEAN,
                                    "The backup %s was taken during a re-encryption: it says how far the re-encryption had come "
                                    "then, and restored after it went on, the blocks re-encrypted since would be read under the "
                                    "old volume key and lost; refusing (nothing written)",
                                    path);
        return 0;
}

/* What the device's header is now: 0 and a description when damaged (the restore may go on), 1
 * when it is intact and the key opens it (nothing to do), an error when it is another header. */
static int judge_damage(const VolumeConfig *v, const DevicePin *pin, const HeaderIdentity *b, const SecretValue *key,
                        char *what, size_t size, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        int r;

        r = crypt_init(&cd, pin->fd_path);
        if (r < 0)
                return ns_error_set(error, r, "Cannot open %s: %s", pin->path, strerror(-r));
        r = crypt_load(cd, CRYPT_LUKS, NULL);
        if (r < 0) {
                (void) snprintf(what, size, "no LUKS header that loads (%s)", strerror(-r));
                return 0;
        }
        if (strcasecmp(strempty(crypt_get_uuid(cd)), b->uuid) != 0)
                return ns_error_set(error, -EUCLEAN,
                                    "%s holds a LUKS header with UUID %s, not the backup's %s: another volume's disk; refusing (nothing written)",
                                    pin->path, strna(crypt_get_uuid(cd)), b->uuid);
        if (crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size, 0) >= 0) {
                log_info("Volume %s: the LUKS2 header of %s is intact and the key opens it; nothing to restore.", v->name,
                         pin->path);
                return 1;
        }
        (void) snprintf(what, size, "its LUKS2 header (UUID %s) loads, but the key no longer opens it", b->uuid);
        return 0;
}

static int restore(const VolumeConfig *v, DevicePin *pin, const char *backup, const SecretValue *key, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_free_ char *now = NULL;
        int r;

        /* The device as configured still names the pinned one, just before the write. */
        r = device_pin_verify(pin, error);
        if (r >= 0)
                r = probe_resolve_device(v->device, &now, error);
        if (r >= 0)
                r = device_pin_verify_path(pin, now, error);
        if (r < 0)
                return r;
        r = crypt_init(&cd, pin->fd_path);
        if (r < 0)
                return ns_error_set(error, r, "Cannot open %s: %s", pin->path, strerror(-r));
        device_pin_release_claim(pin);
        r = crypt_header_restore(cd, CRYPT_LUKS2, backup);
        if (r < 0)
                return ns_error_set(error, r, "Restoring the header backup %s onto %s failed: %s", backup, pin->path, strerror(-r));
        crypt_free(TAKE_PTR(cd));
        r = crypt_init(&cd, pin->fd_path);
        if (r >= 0)
                r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r >= 0)
                r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size, 0);
        if (r < 0)
                return ns_error_set(error, r, "The header restored onto %s does not open with the key: %s", pin->path, strerror(-r));
        return 0;
}

/* The restore from the backup file at backup (path: what it is, for messages). */
static int recover_from(const VolumeConfig *v, SecretSource *s, const char *backup, const char *path,
                        HeaderRestoreConfirm confirm, void *userdata, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *bcd = NULL;
        _cleanup_(secret_value_freep) SecretValue *key = NULL;
        _cleanup_(device_pin_freep) DevicePin *pin = NULL;
        _cleanup_free_ char *device = NULL;
        char mapper[128], what[256], plan[2048];
        HeaderIdentity b;
        int r;

        r = check_backup(v, s, backup, &b, error);
        if (r < 0)
                return ns_error_prefix(error, r, "%s", path);

        (void) snprintf(mapper, sizeof(mapper), "nodeseal-%s", v->name);
        r = crypt_status(NULL, mapper);
        if (r == CRYPT_ACTIVE || r == CRYPT_BUSY)
                return ns_error_set(error, -EBUSY, "Volume %s is open (%s): its header is not damaged; close it first", v->name,
                                    mapper);
        r = probe_resolve_device(v->device, &device, error);
        if (r < 0)
                return r;
        r = device_pin_new(device, &pin, error);
        if (r < 0)
                return r;
        r = secret_source_get_volume_key(s, v, false, &key, error);
        if (r < 0)
                return r;
        r = judge_damage(v, pin, &b, key, what, sizeof(what), error);
        if (r != 0)
                return r < 0 ? r : 0;

        r = crypt_init_data_device(&bcd, backup, pin->fd_path);
        if (r >= 0)
                r = crypt_load(bcd, CRYPT_LUKS2, NULL);
        if (r < 0)
                return ns_error_set(error, r, "The header backup %s does not load: %s", path, strerror(-r));
        r = data_is_volume(v, bcd, pin->fd, key, pin->path, error);
        if (r < 0)
                return r;

        (void) snprintf(plan, sizeof(plan),
                        "Volume %s: the device %s has %s.\n"
                        "Restore the LUKS2 header backup %s (UUID %s, seqid %" PRIu64 ", the UUID the format record names) onto %s.\n"
                        "The data area of %s decrypts with that header's volume key to an %s filesystem: it is this volume's disk.\n"
                        "Only the header area (the first %" PRIu64 " bytes) is written.\n",
                        v->name, pin->path, what, path, b.uuid, b.seqid, pin->path, pin->path,
                        filesystem_type_to_string(v->filesystem), crypt_get_data_offset(bcd) * 512);
        crypt_free(TAKE_PTR(bcd));
        r = confirm(plan, userdata);
        if (r < 0)
                return r;
        if (r == 0)
                return ns_error_set(error, -ECANCELED, "Not confirmed; nothing written");

        r = restore(v, pin, backup, key, error);
        if (r < 0)
                return r;
        log_info("Volume %s: header restored onto %s from %s; the key opens it. Run nodeseal provision to open it.", v->name,
                 pin->path, path);
        return 1;
}

/* The backup in v's Secret, put into a root-only file (libcryptsetup reads headers from files)
 * that the caller removes: its name in dir_fd into name. */
static int secret_to_file(const VolumeConfig *v, SecretSource *s, int *ret_dir_fd, char *name, size_t size, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *b = NULL;
        _cleanup_close_ int dir_fd = -EBADF, fd = -EBADF;
        char key[128];
        int r;

        secret_key_of(v, key, sizeof(key));
        r = secret_source_get(s, v->header_backup_secret, key, &b, error);
        if (r == -ENOENT || r == -ENOKEY) {
                if (error)
                        *error = NS_ERROR_NULL;
                return ns_error_set(error, r, "Volume %s has no header backup in Secret %s (key %s)", v->name,
                                    v->header_backup_secret, key);
        }
        if (r < 0)
                return r;
        r = scratch_dir(v, s, &dir_fd, error);
        if (r < 0)
                return r;
        (void) snprintf(name, size, ".%s.recover.tmp", v->name);
        (void) unlinkat(dir_fd, name, 0);
        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
        if (fd < 0)
                return ns_error_set(error, -errno, "Volume %s: cannot write the header backup from Secret %s to a file: %s", v->name,
                                    v->header_backup_secret, strerror(errno));
        if (write(fd, b->data, b->size) != (ssize_t) b->size || fsync(fd) < 0) {
                r = -errno ?: -EIO;
                (void) unlinkat(dir_fd, name, 0);
                return ns_error_set(error, r, "Volume %s: writing the header backup from Secret %s failed: %s", v->name,
                                    v->header_backup_secret, strerror(-r));
        }
        *ret_dir_fd = TAKE_FD(dir_fd);
        return 0;
}

int header_backup_recover(const VolumeConfig *v, SecretSource *s, HeaderRestoreConfirm confirm, void *userdata,
                          NsError *error) {
        _cleanup_close_ int dir_fd = -EBADF;
        char path[512], backup[512], name[160];
        struct stat st;
        int r;

        /* The directory's backup when there is one, else the Secret's. */
        if (v->header_backup) {
                (void) header_backup_path(v, path, sizeof(path));
                r = open_backup_dir(v, false, &dir_fd, error);
                if (r < 0 && !(r == -ENOENT && v->header_backup_secret))
                        return r;
                (void) snprintf(name, sizeof(name), "%s%s", v->name, BACKUP_SUFFIX);
                if (r >= 0 && (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || !v->header_backup_secret)) {
                        at_path(dir_fd, name, backup, sizeof(backup));
                        return recover_from(v, s, backup, path, confirm, userdata, error);
                }
                if (error)
                        *error = NS_ERROR_NULL;
                dir_fd = safe_close(dir_fd);
        }
        if (!v->header_backup_secret)
                return ns_error_set(error, -ENOENT, "Volume %s keeps no header backup (\"header_backup\": false)", v->name);

        r = secret_to_file(v, s, &dir_fd, name, sizeof(name), error);
        if (r < 0)
                return r;
        (void) snprintf(path, sizeof(path), "Secret %s (key %s%s)", v->header_backup_secret, v->name, HEADER_BACKUP_SECRET_SUFFIX);
        at_path(dir_fd, name, backup, sizeof(backup));
        r = recover_from(v, s, backup, path, confirm, userdata, error);
        (void) unlinkat(dir_fd, name, 0);
        return r;
}
