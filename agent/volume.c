/* SPDX-License-Identifier: Apache-2.0 */
/* LUKS2 volumes through libcryptsetup: format only what is blank, open, rotate keys, mkfs, mount.
 *
 * The order of the checks is the safety argument: a device is formatted only when it is not in
 * use, libblkid finds nothing on it and the policy allows it, or when it carries a header that
 * nodeseal itself wrote for this volume and that never got a key slot (a format that was
 * interrupted: nothing can have been written through it). Everything else is opened, or refused
 * with what was found, and left as it was. */
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <limits.h>
#include <linux/loop.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "mount.h"
#include "probe.h"
#include "volume.h"

#define LUKS_SUBSYSTEM "nodeseal"
#define GENERATED_KEY_BYTES 64

static void crypt_freep(struct crypt_device **cd) {
        if (*cd)
                crypt_free(*cd);
}

static void on_crypt_log(int level, const char *msg, void *usrptr) {
        (void) usrptr;
        /* libcryptsetup's own words, at debug level: the caller reports the failure once, with context. */
        if (level != CRYPT_LOG_DEBUG && level != CRYPT_LOG_DEBUG_JSON)
                log_debug("libcryptsetup: %.*s", (int) strcspn(msg, "\n"), msg);
}

static void crypt_setup_logging(void) {
        static bool done;
        if (!done) {
                crypt_set_log_callback(NULL, on_crypt_log, NULL);
                done = true;
        }
}

/* A test seam: NODESEAL_TEST_KILL_AT=<step> makes the process SIGKILL itself right after that step,
 * so the suite can prove that a rerun converges from every intermediate state. */
static void kill_point(const char *step) {
        const char *at = secure_getenv("NODESEAL_TEST_KILL_AT");
        if (at && streq(at, step)) {
                log_warning("NODESEAL_TEST_KILL_AT=%s: killing myself now.", step);
                (void) raise(SIGKILL);
        }
}

int volume_mapper_path(const VolumeConfig *v, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/%s%s", crypt_get_dir(), VOLUME_MAPPER_PREFIX, v->name);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

static void mapper_name(const VolumeConfig *v, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s%s", VOLUME_MAPPER_PREFIX, v->name);
}

static uint32_t activation_flags(const LuksConfig *l) {
        return (l->allow_discards ? CRYPT_ACTIVATE_ALLOW_DISCARDS : 0) |
               (l->no_read_workqueue ? CRYPT_ACTIVATE_NO_READ_WORKQUEUE : 0) |
               (l->no_write_workqueue ? CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE : 0);
}

static int set_pbkdf(struct crypt_device *cd, const LuksConfig *l, NsError *error) {
        struct crypt_pbkdf_type p = {
                .hash = "sha256",
                .flags = CRYPT_PBKDF_NO_BENCHMARK,
        };
        int r;

        if (l->pbkdf == PBKDF_ARGON2ID) {
                p.type = CRYPT_KDF_ARGON2ID;
                p.iterations = l->argon2_time;
                p.max_memory_kb = l->argon2_memory_kib;
                p.parallel_threads = l->argon2_parallel;
        } else {
                /* The keys are random: the PBKDF adds nothing, so the cheapest one LUKS2 accepts. */
                p.type = CRYPT_KDF_PBKDF2;
                p.iterations = 1000;
        }
        r = crypt_set_pbkdf_type(cd, &p);
        if (r < 0)
                return ns_error_set(error, r, "Cannot use PBKDF %s: %s", p.type, strerror(-r));
        return 0;
}

/* Is the device behind an active mapping (crypt_get_device_name: a block device, a loop device
 * for an image file) the configured one? */
static bool same_device(const char *backing, const char *configured) {
        struct stat a, b;

        if (!backing || stat(backing, &a) < 0 || stat(configured, &b) < 0 || !S_ISBLK(a.st_mode))
                return false;
        if (S_ISBLK(b.st_mode))
                return a.st_rdev == b.st_rdev;
        if (S_ISREG(b.st_mode)) {
                struct loop_info64 info = {};
                _cleanup_close_ int fd = open(backing, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
                        return false;
                return info.lo_device == b.st_dev && info.lo_inode == b.st_ino;
        }
        return false;
}

/* 1 when nodeseal-<name> is active (on device, or -EEXIST naming the other device), 0 when not. */
static int mapper_active(const VolumeConfig *v, const char *device, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        char name[128];
        int r;

        mapper_name(v, name, sizeof(name));
        r = crypt_status(NULL, name);
        /* CRYPT_INVALID: no device-mapper at all, so nothing can be active; opening will say so. */
        if (r == CRYPT_INACTIVE || r == CRYPT_INVALID)
                return 0;

        r = crypt_init_by_name(&cd, name);
        if (r < 0)
                return ns_error_set(error, r, "%s is active but cannot be inspected: %s", name, strerror(-r));
        if (!crypt_get_type(cd) || !strneq(crypt_get_type(cd), "LUKS", 4))
                return ns_error_set(error, -EEXIST, "%s is active but is not a LUKS mapping (%s)", name,
                                    strna(crypt_get_type(cd)));
        if (device && !same_device(crypt_get_device_name(cd), device))
                return ns_error_set(error, -EEXIST, "%s is already active on %s, not on %s", name,
                                    strna(crypt_get_device_name(cd)), device);
        return 1;
}

static int keyslots_active(struct crypt_device *cd) {
        int n = 0, max = crypt_keyslot_max(crypt_get_type(cd));

        for (int i = 0; i < max; i++) {
                crypt_keyslot_info k = crypt_keyslot_status(cd, i);
                if (k == CRYPT_SLOT_ACTIVE || k == CRYPT_SLOT_ACTIVE_LAST)
                        n++;
        }
        return n;
}

/* The volume key from the Secret. When it is missing and the device is blank, a source that may
 * create keys gets a new random one and this returns what the source stored after reading it back
 * (another node may have won the race): the key is in the Secret before it formats anything. */
static int get_key(SecretSource *s, const VolumeConfig *v, bool may_generate, SecretValue **ret, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *fresh = NULL;
        NsError e = {};
        int r;

        r = secret_source_get_volume_key(s, v, false, ret, &e);
        if (r >= 0 || (r != -ENOENT && r != -ENOKEY) || !may_generate ||
            s->config->secrets.type != SECRET_SOURCE_KUBERNETES || !s->config->secrets.kubernetes.generate_missing_keys) {
                if (r < 0 && error && !ns_error_is_set(error))
                        *error = e;
                return r;
        }

        r = secret_value_new(GENERATED_KEY_BYTES, &fresh);
        if (r < 0)
                return r;
        r = random_bytes(fresh->data, fresh->size);
        if (r < 0)
                return ns_error_set(error, r, "Cannot get random bytes for a new volume key: %s", strerror(-r));
        log_info("Volume %s: key \"%s\" missing from Secret %s; creating it.", v->name, v->key ?: v->name,
                 s->config->secrets.keys_secret);
        r = secret_source_put_if_missing(s, s->config->secrets.keys_secret, v->key ?: v->name, fresh, ret, error);
        if (r < 0)
                return r;
        if ((*ret)->size < VOLUME_KEY_MIN_BYTES) {
                *ret = secret_value_free(*ret);
                return ns_error_set(error, -EMSGSIZE, "Key \"%s\" of Secret %s read back is shorter than %d bytes",
                                    v->key ?: v->name, s->config->secrets.keys_secret, VOLUME_KEY_MIN_BYTES);
        }
        return 0;
}

static int luks_format(const VolumeConfig *v, const char *device, const SecretValue *key, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_free_ char *cipher = NULL;
        char *mode;
        struct crypt_params_luks2 params = {
                .sector_size = v->luks.sector_size,
                .label = v->name,
                .subsystem = LUKS_SUBSYSTEM,
        };
        int r;

        cipher = strdup(v->luks.cipher);
        if (!cipher)
                return -ENOMEM;
        mode = strchr(cipher, '-');
        if (!mode)
                return ns_error_set(error, -EINVAL, "Cipher \"%s\" is not of the form cipher-mode (aes-xts-plain64)",
                                    v->luks.cipher);
        *mode++ = '\0';

        r = crypt_init(&cd, device);
        if (r < 0)
                return ns_error_set(error, r, "Cannot open %s: %s", device, strerror(-r));
        r = set_pbkdf(cd, &v->luks, error);
        if (r < 0)
                return r;

        log_info("Volume %s: formatting %s as LUKS2 (%s, %u-bit key, %u-byte sectors).", v->name, device,
                 v->luks.cipher, v->luks.key_size_bits, v->luks.sector_size);
        r = crypt_format(cd, CRYPT_LUKS2, cipher, mode, NULL, NULL, v->luks.key_size_bits / 8, &params);
        if (r < 0)
                return ns_error_set(error, r, "LUKS2 format of %s failed: %s", device, strerror(-r));
        kill_point("format");

        r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0, (const char *) key->data, key->size);
        if (r < 0)
                return ns_error_set(error, r, "Adding the key slot to %s failed: %s", device, strerror(-r));

        if (activation_flags(&v->luks) != 0) {
                r = crypt_persistent_flags_set(cd, CRYPT_FLAGS_ACTIVATION, activation_flags(&v->luks));
                if (r < 0)
                        return ns_error_set(error, r, "Storing the activation flags in %s failed: %s", device,
                                            strerror(-r));
        }
        kill_point("keyslot");
        return 0;
}

/* Which key slot a passphrase opens (without activating anything), or -EPERM. */
static int keyslot_of(struct crypt_device *cd, const SecretValue *key) {
        int r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size, 0);
        /* -ENOENT: no usable key slot at all; for the caller the same as a key that does not fit. */
        return r == -ENOENT ? -EPERM : r;
}

/* Key rotation: "<key>.previous" in the Secret holds the old key while "<key>" holds the new one.
 * Enrol the new key with the old, check that it opens, and only then destroy the old key's slot.
 * Each step is safe to interrupt: the slots only ever hold keys that the Secret still has. */
static int rotate_keys(struct crypt_device *cd, const VolumeConfig *v, SecretSource *s, const SecretValue *key,
                       const char *device, bool *ret_changed, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *previous = NULL;
        int r, current_slot, old_slot;
        NsError e = {};

        r = secret_source_get_volume_key(s, v, true, &previous, &e);
        if (r == -ENOENT || r == -ENOKEY)
                previous = NULL;
        else if (r < 0) {
                if (error && !ns_error_is_set(error))
                        *error = e;
                return r;
        }

        current_slot = keyslot_of(cd, key);
        if (current_slot < 0 && current_slot != -EPERM)
                return ns_error_set(error, current_slot, "Cannot try the key on %s: %s", device, strerror(-current_slot));

        if (!previous || (previous->size == key->size && secret_value_equal(previous, key))) {
                if (current_slot < 0)
                        return ns_error_set(error, -EKEYREJECTED,
                                            "The key \"%s\" in Secret %s does not open the LUKS device %s%s; refusing (the device is left as it is)",
                                            v->key ?: v->name, s->config->secrets.keys_secret, device,
                                            previous ? "" : " and there is no \".previous\" key");
                return 0;
        }

        old_slot = keyslot_of(cd, previous);
        if (old_slot < 0 && old_slot != -EPERM)
                return ns_error_set(error, old_slot, "Cannot try the previous key on %s: %s", device, strerror(-old_slot));

        if (current_slot < 0 && old_slot < 0)
                return ns_error_set(error, -EKEYREJECTED,
                                    "Neither key \"%1$s\" nor \"%1$s.previous\" in Secret %2$s opens the LUKS device %3$s; refusing (the device is left as it is)",
                                    v->key ?: v->name, s->config->secrets.keys_secret, device);

        if (current_slot < 0) {
                r = set_pbkdf(cd, &v->luks, error);
                if (r < 0)
                        return r;
                log_info("Volume %s: enrolling the new key (rotation from \"%s.previous\").", v->name, v->key ?: v->name);
                r = crypt_keyslot_add_by_passphrase(cd, CRYPT_ANY_SLOT, (const char *) previous->data, previous->size,
                                                    (const char *) key->data, key->size);
                if (r < 0)
                        return ns_error_set(error, r, "Enrolling the new key in %s failed: %s", device, strerror(-r));
                current_slot = keyslot_of(cd, key);
                if (current_slot < 0)
                        return ns_error_set(error, -EIO, "The new key was enrolled in %s but does not open it; the old key stays",
                                            device);
                *ret_changed = true;
                kill_point("rotate-add");
        }

        if (old_slot >= 0 && old_slot != current_slot) {
                log_info("Volume %s: removing the previous key's slot %d.", v->name, old_slot);
                r = crypt_keyslot_destroy(cd, old_slot);
                if (r < 0)
                        return ns_error_set(error, r, "Removing the old key slot %d of %s failed: %s", old_slot, device,
                                            strerror(-r));
                *ret_changed = true;
        }
        return 0;
}

/* Opens (or formats then opens) the LUKS device; *ret_changed when anything was done. */
static int luks_open(const Config *c, const VolumeConfig *v, SecretSource *s, const char *device, bool *ret_changed,
                     NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(secret_value_freep) SecretValue *key = NULL;
        char what[256], name[128];
        ProbeResult p;
        uint64_t offset = 0;
        bool changed = false;
        int r;

        (void) c;
        mapper_name(v, name, sizeof(name));

        r = mapper_active(v, device, error);
        if (r < 0)
                return r;
        if (r > 0) {
                /* Already open on this device: keep it, but let a pending rotation converge. */
                r = crypt_init_by_name(&cd, name);
                if (r < 0)
                        return ns_error_set(error, r, "Cannot inspect %s: %s", name, strerror(-r));
                r = get_key(s, v, false, &key, error);
                if (r < 0)
                        return r;
                r = rotate_keys(cd, v, s, key, device, &changed, error);
                if (r < 0)
                        return r;
                *ret_changed = changed;
                return 0;
        }

        r = probe_device(device, &p, error);
        if (r < 0)
                return r;
        (void) probe_result_describe(&p, what, sizeof(what));

        switch (p.kind) {
        case PROBE_BLANK:
                if (v->format != FORMAT_IF_BLANK)
                        return ns_error_set(error, -ENOMEDIUM,
                                            "Device %s is blank and the volume's format policy is \"%s\"; not formatting",
                                            device, format_policy_to_string(v->format));
                r = probe_device_unwritten(device, &offset, error);
                if (r < 0)
                        return r;
                if (r == 0)
                        return ns_error_set(error, -EUCLEAN,
                                            "Device %s has no signature libblkid knows, but it holds data (a non-zero byte at offset %" PRIu64 "); "
                                            "refusing to format it (the device is left as it is). Only a device that reads as zeros is blank: "
                                            "if nothing on it is needed, zero it (for example blkdiscard -z) and run again",
                                            device, offset);
                r = get_key(s, v, true, &key, error);
                if (r < 0)
                        return r;
                r = luks_format(v, device, key, error);
                if (r < 0)
                        return r;
                changed = true;
                break;

        case PROBE_LUKS:
                break;

        default:
                return ns_error_set(error, -EUCLEAN,
                                    "Device %s holds %s; refusing to format or open it (the device is left as it is)",
                                    device, what);
        }

        r = crypt_init(&cd, device);
        if (r < 0)
                return ns_error_set(error, r, "Cannot open %s: %s", device, strerror(-r));
        r = crypt_load(cd, CRYPT_LUKS, NULL);
        if (r < 0)
                return ns_error_set(error, r, "Device %s has a LUKS signature but its header cannot be loaded: %s; refusing",
                                    device, strerror(-r));

        if (!changed) {
                const char *type = crypt_get_type(cd), *label = crypt_get_label(cd), *sub = crypt_get_subsystem(cd);
                bool ours = streq(strempty(type), CRYPT_LUKS2) && streq(strempty(sub), LUKS_SUBSYSTEM);

                if (ours && !streq(strempty(label), v->name))
                        return ns_error_set(error, -EUCLEAN,
                                            "Device %s is nodeseal's LUKS2 volume \"%s\", not \"%s\"; refusing to open it",
                                            device, strempty(label), v->name);
                if (!ours && !v->adopt)
                        return ns_error_set(error, -EUCLEAN,
                                            "Device %s holds a foreign %s header (label \"%s\", subsystem \"%s\"), not one nodeseal wrote; set \"adopt\": true to open it",
                                            device, strna(type), strempty(label), strempty(sub));
                if (ours && keyslots_active(cd) == 0) {
                        /* nodeseal's own header without a key slot: a format that was interrupted
                         * before its key was added. No key can open it, so it can hold nothing. */
                        if (v->format != FORMAT_IF_BLANK)
                                return ns_error_set(error, -ENOMEDIUM,
                                                    "Device %s has an unfinished nodeseal header and the format policy is \"%s\"",
                                                    device, format_policy_to_string(v->format));
                        log_warning("Volume %s: %s has nodeseal's header without a key slot (an interrupted format); formatting again.",
                                    v->name, device);
                        crypt_free(TAKE_PTR(cd));
                        r = get_key(s, v, true, &key, error);
                        if (r < 0)
                                return r;
                        r = luks_format(v, device, key, error);
                        if (r < 0)
                                return r;
                        changed = true;
                        r = crypt_init(&cd, device);
                        if (r >= 0)
                                r = crypt_load(cd, CRYPT_LUKS, NULL);
                        if (r < 0)
                                return ns_error_set(error, r, "Cannot load the new header of %s: %s", device, strerror(-r));
                }
        }

        if (!key) {
                r = get_key(s, v, false, &key, error);
                if (r < 0)
                        return r;
        }
        r = rotate_keys(cd, v, s, key, device, &changed, error);
        if (r < 0)
                return r;

        r = crypt_activate_by_passphrase(cd, name, CRYPT_ANY_SLOT, (const char *) key->data, key->size,
                                         activation_flags(&v->luks));
        if (r == -EPERM || r == -ENOENT)
                return ns_error_set(error, -EKEYREJECTED, "The key in Secret %s does not open %s; refusing",
                                    s->config->secrets.keys_secret, device);
        if (r == -EEXIST)
                return ns_error_set(error, r, "%s appeared meanwhile; run again", name);
        if (r < 0 && crypt_status(NULL, name) == CRYPT_INVALID)
                return ns_error_set(error, r, "Opening %s as %s failed: device-mapper (dm-crypt) is not available in this kernel",
                                    device, name);
        if (r < 0)
                return ns_error_set(error, r, "Opening %s as %s failed: %s", device, name, strerror(-r));
        log_info("Volume %s: %s opened as %s/%s.", v->name, device, crypt_get_dir(), name);
        kill_point("activate");
        *ret_changed = true;
        return 0;
}

/* mkfs on a blank mapper; the configured filesystem is accepted, anything else refused. */
static int ensure_filesystem(const VolumeConfig *v, const char *mapper, bool *ret_changed, NsError *error) {
        const char *want = filesystem_type_to_string(v->filesystem);
        char what[256];
        ProbeResult p;
        int r;

        r = probe_device(mapper, &p, error);
        if (r == -EBUSY) {
                /* Held (mounted elsewhere): it has a filesystem; mount_find() below tells which. */
                if (error)
                        *error = NS_ERROR_NULL;
                return 0;
        }
        if (r < 0)
                return r;
        if (p.kind == PROBE_BLANK) {
                log_info("Volume %s: making an %s filesystem on %s.", v->name, want, mapper);
                r = mount_mkfs(mapper, v->filesystem, v->name, error);
                if (r < 0)
                        return r;
                kill_point("mkfs");
                *ret_changed = true;
                return 0;
        }
        if (p.kind == PROBE_FILESYSTEM && streq(p.type, want))
                return 0;
        (void) probe_result_describe(&p, what, sizeof(what));
        return ns_error_set(error, -EUCLEAN, "%s holds %s, but the volume's filesystem is %s; refusing", mapper, what, want);
}

static int resolve_root_owner(const VolumeConfig *v, uid_t *ret_uid, gid_t *ret_gid, NsError *error) {
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1, primary = (gid_t) -1;
        int r;

        if (v->owner) {
                r = config_resolve_user(v->owner, &uid, &primary);
                if (r < 0)
                        return ns_error_set(error, r, "Owner \"%s\" of %s: no such user", v->owner, v->mountpoint);
                gid = primary;
        }
        if (v->group) {
                r = config_resolve_group(v->group, &gid);
                if (r < 0)
                        return ns_error_set(error, r, "Group \"%s\" of %s: no such group", v->group, v->mountpoint);
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

/* Owner and mode of the mounted filesystem's root, set through an fd of the mount point reached
 * without symlinks (mount_point_open()), never by path. */
static int set_root_owner(const VolumeConfig *v, bool *ret_changed, NsError *error) {
        _cleanup_close_ int fd = -EBADF;
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        struct stat st;
        int r;

        r = resolve_root_owner(v, &uid, &gid, error);
        if (r < 0)
                return r;
        r = mount_point_open(v->mountpoint, false, &fd, error);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return ns_error_set(error, -errno, "%s: %s", v->mountpoint, strerror(errno));
        if ((uid != (uid_t) -1 && st.st_uid != uid) || (gid != (gid_t) -1 && st.st_gid != gid)) {
                if (fchown(fd, uid, gid) < 0)
                        return ns_error_set(error, -errno, "chown %s: %s", v->mountpoint, strerror(errno));
                *ret_changed = true;
                /* chown may have cleared the setgid bit: look again before comparing the mode. */
                if (fstat(fd, &st) < 0)
                        return ns_error_set(error, -errno, "%s: %s", v->mountpoint, strerror(errno));
        }
        if ((st.st_mode & 07777) != v->mode) {
                if (fchmod(fd, v->mode) < 0)
                        return ns_error_set(error, -errno, "chmod %s: %s", v->mountpoint, strerror(errno));
                *ret_changed = true;
        }
        return 0;
}

/* Only a warning depends on it: a mount point that cannot be opened safely counts as empty here
 * and is refused, with its reason, by the mount. */
static bool dir_is_empty(const char *path) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;

        if (mount_point_open(path, false, &fd, NULL) < 0)
                return true;
        d = fdopendir(fd);
        if (!d)
                return true;
        TAKE_FD(fd);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        return false;
        return true;
}

/* 1 when the mountpoint is the mapper device (the topmost mount there), 0 when nothing is mounted
 * there, -EEXIST (naming what is) when something else is. The mountpoint is looked up without
 * symlinks, below directories only root can change (-ELOOP, -EPERM otherwise). */
static int mounted_from(const VolumeConfig *v, const char *mapper, NsError *error) {
        _cleanup_free_ char *fstype = NULL;
        struct stat st;
        dev_t dev;
        int r;

        if (stat(mapper, &st) < 0)
                return ns_error_set(error, -errno, "%s: %s", mapper, strerror(errno));
        r = mount_point_find(v->mountpoint, &dev, &fstype, error);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (dev != st.st_rdev)
                return ns_error_set(error, -EEXIST, "%s is a mount point of another device (%u:%u, %s), not %s", v->mountpoint,
                                    major(dev), minor(dev), fstype, mapper);
        return 1;
}

int volume_provision(const Config *c, const VolumeConfig *v, SecretSource *s, NsError *error) {
        _cleanup_free_ char *device = NULL;
        char mapper[PATH_MAX];
        bool changed = false;
        int r;

        crypt_setup_logging();
        r = volume_mapper_path(v, mapper, sizeof(mapper));
        if (r < 0)
                return ns_error_set(error, r, "Volume name too long");
        r = probe_resolve_device(v->device, &device, error);
        if (r < 0)
                return r;

        r = luks_open(c, v, s, device, &changed, error);
        if (r < 0)
                return r;

        r = mount_point_create(v->mountpoint, error);
        if (r < 0)
                return r;

        r = mounted_from(v, mapper, error);
        if (r < 0)
                return r;
        if (r == 0) {
                r = ensure_filesystem(v, mapper, &changed, error);
                if (r < 0)
                        return r;
                if (!dir_is_empty(v->mountpoint))
                        log_warning("Volume %s: %s is not empty; what is in it stays hidden under the mount.", v->name,
                                    v->mountpoint);
                r = mount_device(mapper, v->mountpoint, filesystem_type_to_string(v->filesystem), v->mount_options,
                                 error);
                if (r < 0)
                        return r;
                changed = true;
                kill_point("mount");
        }

        r = set_root_owner(v, &changed, error);
        if (r < 0)
                return r;

        /* The proof that counts: the path the datastore will use is on the dm-crypt device. */
        r = mounted_from(v, mapper, error);
        if (r < 0)
                return r;
        if (r == 0)
                return ns_error_set(error, -EIO, "%s was mounted but mountinfo does not show it", v->mountpoint);
        return changed;
}

static int check_writable(const char *path, NsError *error) {
        _cleanup_close_ int fd = -EBADF;
        char tmpl[PATH_MAX];

        fd = open(path, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
                if (snprintf(tmpl, sizeof(tmpl), "%s/.nodeseal-check-XXXXXX", path) >= (int) sizeof(tmpl))
                        return -ENAMETOOLONG;
                fd = mkostemp(tmpl, O_CLOEXEC);
                if (fd >= 0)
                        (void) unlink(tmpl);
        }
        if (fd < 0 || write(fd, "x", 1) != 1)
                return ns_error_set(error, -errno, "%s is not writable: %s", path, strerror(errno));
        return 0;
}

int volume_check(const Config *c, const VolumeConfig *v, NsError *error) {
        _cleanup_free_ char *device = NULL;
        char mapper[PATH_MAX];
        int r;

        (void) c;
        crypt_setup_logging();
        r = volume_mapper_path(v, mapper, sizeof(mapper));
        if (r < 0)
                return r;
        r = probe_resolve_device(v->device, &device, error);
        if (r < 0)
                return r;
        r = mapper_active(v, device, error);
        if (r < 0)
                return r;
        if (r == 0)
                return ns_error_set(error, -ENODEV, "%s is not open%s", mapper,
                                    crypt_status(NULL, mapper + strlen(crypt_get_dir()) + 1) == CRYPT_INVALID
                                            ? " (device-mapper is not available in this kernel)" : "");
        r = mounted_from(v, mapper, error);
        if (r < 0)
                return r;
        if (r == 0)
                return ns_error_set(error, -ENOENT, "%s is not mounted at %s (a plain directory is there)", mapper,
                                    v->mountpoint);
        return check_writable(v->mountpoint, error);
}

int volume_close(const Config *c, const VolumeConfig *v, NsError *error) {
        char mapper[PATH_MAX], name[128];
        struct stat st;
        int r;

        (void) c;
        crypt_setup_logging();
        r = volume_mapper_path(v, mapper, sizeof(mapper));
        if (r < 0)
                return r;
        mapper_name(v, name, sizeof(name));

        r = crypt_status(NULL, name);
        if (r == CRYPT_INACTIVE || r == CRYPT_INVALID) {
                log_debug("Volume %s: not open.", v->name);
                return 0;
        }
        if (stat(mapper, &st) < 0)
                return ns_error_set(error, -errno, "%s: %s", mapper, strerror(errno));

        /* Unmount every layer of ours at the mount point, never lazily: a busy mount is refused. */
        while ((r = mounted_from(v, mapper, error)) > 0) {
                if (umount2(v->mountpoint, UMOUNT_NOFOLLOW) < 0) {
                        char holders[512];

                        if (errno != EBUSY)
                                return ns_error_set(error, -errno, "Unmounting %s failed: %s", v->mountpoint, strerror(errno));
                        mount_describe_holders(st.st_rdev, holders, sizeof(holders));
                        return ns_error_set(error, -EBUSY, "%s is busy%s%s; not unmounting", v->mountpoint,
                                            holders[0] ? ": in use by " : "", holders);
                }
                log_info("Volume %s: unmounted %s.", v->name, v->mountpoint);
        }
        if (r < 0)
                return r;

        r = crypt_deactivate(NULL, name);
        if (r == -EBUSY)
                return ns_error_set(error, r, "%s is still in use (mounted elsewhere or held by another device)", mapper);
        if (r < 0)
                return ns_error_set(error, r, "Closing %s failed: %s", mapper, strerror(-r));
        log_info("Volume %s: closed %s.", v->name, mapper);
        return 1;
}
