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

#include "crypt-util.h"
#include "device-pin.h"
#include "format-record.h"
#include "header-backup.h"
#include "header-repair.h"
#include "log.h"
#include "luks-flags.h"
#include "mount.h"
#include "probe.h"
#include "seam.h"
#include "volume.h"
#include "volume-grow.h"
#include "volume-reencrypt.h"
#include "reencrypt-finish.h"
#include "reencrypt-stack.h"

#define LUKS_SUBSYSTEM "nodeseal"
#define GENERATED_KEY_BYTES 64

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

int volume_mapper_path(const VolumeConfig *v, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/%s%s", crypt_get_dir(), VOLUME_MAPPER_PREFIX, v->name);
        return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : 0;
}

static void mapper_name(const VolumeConfig *v, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s%s", VOLUME_MAPPER_PREFIX, v->name);
}

int volume_set_pbkdf(struct crypt_device *cd, const LuksConfig *l, NsError *error) {
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

/* The mapping is the helper stack of a re-encryption of device killed while running online (a
 * dm-linear onto NAME-overlay, which libcryptsetup need not recognise as LUKS): the header on
 * device is in re-encryption and the helpers are its own. volume_reencrypt() puts it in order. */
static bool in_reencryption_stack(const char *name, const char *device) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;

        if (crypt_init(&cd, device) < 0 || crypt_load(cd, CRYPT_LUKS2, NULL) < 0 ||
            crypt_reencrypt_status(cd, NULL) == CRYPT_REENCRYPT_NONE)
                return false;
        return reencrypt_stack_helpers(name, crypt_get_uuid(cd)) & REENCRYPT_STACK_HELPERS;
}

/* 1 when nodeseal-<name> is active (on device, or -EEXIST naming the other device), 0 when not;
 * also when it is the helper stack of a re-encryption of device killed while running online.
 * A mapping whose header does not load (libcryptsetup then gives it no type) is examined: why,
 * and, when may_repair, a torn header copy is rewritten from the whole one where that is safe. */
static int mapper_active(const VolumeConfig *v, const char *device, bool may_repair, NsError *error) {
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
        if ((!crypt_get_type(cd) || !strneq(crypt_get_type(cd), "LUKS", 4)) && device && in_reencryption_stack(name, device))
                return 1;
        if (!crypt_get_type(cd)) {
                r = header_repair_mapping(name, crypt_get_device_name(cd), may_repair, error);
                if (r < 0)
                        return r;
                crypt_free(TAKE_PTR(cd));
                r = crypt_init_by_name(&cd, name);
                if (r < 0)
                        return ns_error_set(error, r, "%s is active but cannot be inspected: %s", name, strerror(-r));
        }
        if (!crypt_get_type(cd))
                return ns_error_set(error, -EIO,
                                    "%s is active and the LUKS2 header on %s loads, yet libcryptsetup does not match it to the mapping; "
                                    "compare cryptsetup status %s with cryptsetup luksDump %s",
                                    name, strna(crypt_get_device_name(cd)), name, strna(crypt_get_device_name(cd)));
        if (!strneq(crypt_get_type(cd), "LUKS", 4))
                return ns_error_set(error, -EEXIST, "%s is active but is not a LUKS mapping (%s)", name, crypt_get_type(cd));
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
            !secret_source_generates_keys(s)) {
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
        return secret_source_store_new_volume_key(s, v, fresh, ret, error);
}

/* The LUKS2 token that marks "the filesystem of nodeseal's first format is not made yet": written
 * with the header, removed once mkfs succeeded. A mapper without a filesystem and without this
 * token is someone's damaged filesystem, never a reason to run mkfs. */
#define MKFS_TOKEN_TYPE "nodeseal-mkfs-pending"
#define MKFS_TOKEN_JSON "{\"type\":\"" MKFS_TOKEN_TYPE "\",\"keyslots\":[]}"

/* The token number of the mkfs-pending token in cd's header, or -ENOENT. */
static int mkfs_token(struct crypt_device *cd) {
        for (int t = 0; t < 32; t++) {
                const char *type = NULL;
                crypt_token_info i = crypt_token_status(cd, t, &type);

                if (i != CRYPT_TOKEN_INVALID && i != CRYPT_TOKEN_INACTIVE && type && streq(type, MKFS_TOKEN_TYPE))
                        return t;
        }
        return -ENOENT;
}

/* Writes a new LUKS2 header with uuid on the pinned device (by its handle, never by path again),
 * the mkfs-pending token, and the key's slot. */
static int luks_format(const VolumeConfig *v, DevicePin *pin, const char *uuid, const SecretValue *key,
                       NsError *error) {
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

        r = crypt_init(&cd, pin->fd_path);
        if (r < 0)
                return ns_error_set(error, r, "Cannot open %s: %s", pin->path, strerror(-r));
        r = volume_set_pbkdf(cd, &v->luks, error);
        if (r < 0)
                return r;
        r = header_backup_format_layout(v, cd, error);
        if (r < 0)
                return r;

        log_info("Volume %s: formatting %s as LUKS2 %s (%s, %u-bit key, %u-byte sectors).", v->name, pin->path, uuid,
                 v->luks.cipher, v->luks.key_size_bits, v->luks.sector_size);
        /* libcryptsetup claims the device itself for the format: give ours up at the last moment. */
        device_pin_release_claim(pin);
        r = crypt_format(cd, CRYPT_LUKS2, cipher, mode, uuid, NULL, v->luks.key_size_bits / 8, &params);
        if (r < 0)
                return ns_error_set(error, r, "LUKS2 format of %s failed: %s", pin->path, strerror(-r));
        r = crypt_token_json_set(cd, CRYPT_ANY_TOKEN, MKFS_TOKEN_JSON);
        if (r < 0)
                return ns_error_set(error, r, "Marking the new header of %s as awaiting its filesystem failed: %s",
                                    pin->path, strerror(-r));
        seam_kill("format");

        r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0, (const char *) key->data, key->size);
        if (r < 0)
                return ns_error_set(error, r, "Adding the key slot to %s failed: %s", pin->path, strerror(-r));

        seam_kill("keyslot");
        return 0;
}

/* Which key slot a passphrase opens (without activating anything), or -EPERM. */
static int keyslot_of(struct crypt_device *cd, const SecretValue *key) {
        int r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *) key->data, key->size, 0);
        /* -ENOENT: no usable key slot at all; for the caller the same as a key that does not fit. */
        return r == -ENOENT ? -EPERM : r;
}

/* 1 when the Secret, read afresh, still holds key as the volume's key; 0 (with a warning) when it
 * changed meanwhile: a slot is destroyed only while the key that replaces it is the current one. */
static int key_still_current(SecretSource *s, const VolumeConfig *v, const SecretValue *key, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *now = NULL;
        NsError e = {};
        int r;

        secret_source_invalidate(s);
        r = secret_source_get_volume_key(s, v, false, &now, &e);
        if (r < 0 && r != -ENOENT && r != -ENOKEY && r != -EMSGSIZE)
                return ns_error_set(error, r, "Volume %s: cannot read the key again before removing the old key slot: %s",
                                    v->name, e.message);
        if (r >= 0 && secret_value_equal(now, key))
                return 1;
        log_warning("Volume %s: key \"%s\" of Secret %s changed while the rotation was under way; keeping both key slots, "
                    "the rotation goes on at the next attempt.", v->name, v->key ?: v->name, s->config->secrets.keys_secret);
        return 0;
}

/* Key rotation: "<key>.previous" in the Secret holds the old key while "<key>" holds the new one.
 * Enrol the new key with the old, check that it opens, and only then destroy the old key's slot.
 * Each step is safe to interrupt: the slots only ever hold keys that the Secret still has.
 * During a re-encryption LUKS2 takes no new key slot: the rotation waits for its end, and *io_key
 * becomes the previous key, the one that opens meanwhile. */
static int rotate_keys(struct crypt_device *cd, const VolumeConfig *v, SecretSource *s, SecretValue **io_key,
                       const char *device, bool *ret_changed, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *previous = NULL;
        const SecretValue *key = *io_key;
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

        if (current_slot < 0 && old_slot >= 0 && crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_NONE) {
                log_info("Volume %s: the key rotation waits for the re-encryption under way to finish (LUKS2 takes no new "
                         "key slot during one); \"%s.previous\" opens the volume meanwhile.", v->name, v->key ?: v->name);
                secret_value_free(*io_key);
                *io_key = TAKE_PTR(previous);
                return 0;
        }
        if (current_slot < 0) {
                r = volume_set_pbkdf(cd, &v->luks, error);
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
                seam_kill("rotate-add");
        }

        if (old_slot >= 0 && old_slot != current_slot) {
                seam_pause("rotate-destroy");
                r = key_still_current(s, v, key, error);
                if (r <= 0)
                        return r;
                log_info("Volume %s: removing the previous key's slot %d.", v->name, old_slot);
                r = crypt_keyslot_destroy(cd, old_slot);
                if (r < 0)
                        return ns_error_set(error, r, "Removing the old key slot %d of %s failed: %s", old_slot, device,
                                            strerror(-r));
                *ret_changed = true;
        }
        return 0;
}

typedef enum Verdict {
        VERDICT_FORMAT,         /* blank, unwritten, and no record of an earlier format */
        VERDICT_REFORMAT,       /* nodeseal's header of an interrupted format, provably so */
        VERDICT_OPEN,           /* a LUKS header to open */
} Verdict;

/* Loads the LUKS header of the pinned device into *ret_cd. One that does not load is examined: a
 * torn copy of the header the format record names is repaired from the whole copy where safe. */
static int load_header(const DevicePin *pin, const FormatRecord *rec, struct crypt_device **ret_cd, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        int r;

        r = crypt_init(&cd, pin->fd_path);
        if (r < 0)
                return ns_error_set(error, r, "Cannot open %s: %s", pin->path, strerror(-r));
        r = crypt_load(cd, CRYPT_LUKS, NULL);
        if (r < 0) {
                NsError e = {};

                if (header_repair_examine(pin->fd_path, pin->path, rec->uuid, true, &e) > 0)
                        r = crypt_load(cd, CRYPT_LUKS, NULL);
                if (r < 0)
                        return ns_error_set(error, r,
                                            "Device %s has a LUKS signature but its header cannot be loaded: %s; refusing (the device is left as it is)",
                                            pin->path, ns_error_message(&e, r));
        }
        *ret_cd = TAKE_PTR(cd);
        return 0;
}

static bool header_is_ours(struct crypt_device *cd) {
        return streq(strempty(crypt_get_type(cd)), CRYPT_LUKS2) && streq(strempty(crypt_get_subsystem(cd)), LUKS_SUBSYSTEM);
}

/* A blank device: formatted only when the policy allows, it reads as zeros, and no record says that
 * this volume was formatted before. */
static int judge_blank(const VolumeConfig *v, const DevicePin *pin, const FormatRecord *rec, NsError *error) {
        char what[192];
        uint64_t offset = 0;
        int r;

        if (v->format != FORMAT_IF_BLANK)
                return ns_error_set(error, -ENOMEDIUM,
                                    "Device %s is blank and the volume's format policy is \"%s\"; not formatting",
                                    pin->path, format_policy_to_string(v->format));
        r = probe_fd_unwritten(pin->fd, pin->path, 0, &offset, error);
        if (r < 0)
                return r;
        if (r == 0)
                return ns_error_set(error, -EUCLEAN,
                                    "Device %s has no signature libblkid knows, but it holds data (a non-zero byte at offset %" PRIu64 "); "
                                    "refusing to format it (the device is left as it is). Only a device that reads as zeros is blank: "
                                    "if nothing on it is needed, zero it (for example blkdiscard -z) and run again",
                                    pin->path, offset);
        if (rec->done) {
                format_record_describe(rec, what, sizeof(what));
                return ns_error_set(error, -EUCLEAN,
                                    "Volume %s %s (record \"%s%s\" in Secret %s); the device %s reads blank now: refusing to format it "
                                    "(the device is left as it is). A backend that returns zeros, a wiped or replaced disk: find the data first. "
                                    "To start this volume afresh on purpose, delete the records \"%s%s\" and \"%s%s\" from the Secret",
                                    v->name, what, v->key ?: v->name, FORMAT_RECORD_DONE_SUFFIX, rec->secret,
                                    pin->path, v->key ?: v->name, FORMAT_RECORD_BEGUN_SUFFIX, v->key ?: v->name,
                                    FORMAT_RECORD_DONE_SUFFIX);
        }
        return VERDICT_FORMAT;
}

/* nodeseal's own header without a key slot. Reformatted only when it is provably the header of a
 * format that was interrupted before its key slot: the record says that format began with this
 * very UUID and never completed, and the data area reads as zeros. Anything else (the slots were
 * killed or erased by a tool, an older nodeseal left it) may hold data that a header backup opens. */
static int judge_no_keyslot(const VolumeConfig *v, const DevicePin *pin, struct crypt_device *cd,
                            const FormatRecord *rec, NsError *error) {
        const char *uuid = strempty(crypt_get_uuid(cd));
        uint64_t data = crypt_get_data_offset(cd) * 512, offset = 0;
        char what[192];
        int r;

        if (!rec->uuid[0])
                return ns_error_set(error, -EUCLEAN,
                                    "Device %s has nodeseal's LUKS2 header %s for volume %s but no key slot, and no format record says a format of it was "
                                    "interrupted; it may hold data that a header backup opens (cryptsetup luksHeaderRestore): refusing "
                                    "(the device is left as it is)",
                                    pin->path, uuid, v->name);
        format_record_describe(rec, what, sizeof(what));
        if (rec->done || strcasecmp(rec->uuid, uuid) != 0)
                return ns_error_set(error, -EUCLEAN,
                                    "Device %s has nodeseal's LUKS2 header %s for volume %s but no key slot, and volume %s %s; "
                                    "its slots were removed after it held data: refusing (the device is left as it is; "
                                    "a header backup may open it: cryptsetup luksHeaderRestore)",
                                    pin->path, uuid, v->name, v->name, what);
        r = probe_fd_unwritten(pin->fd, pin->path, data, &offset, error);
        if (r < 0)
                return r;
        if (r == 0)
                return ns_error_set(error, -EUCLEAN,
                                    "Device %s has nodeseal's LUKS2 header %s without a key slot, from a format that never completed, "
                                    "yet its data area holds data (a non-zero byte at offset %" PRIu64 "): refusing (the device is left as it is)",
                                    pin->path, uuid, offset);
        if (v->format != FORMAT_IF_BLANK)
                return ns_error_set(error, -ENOMEDIUM,
                                    "Device %s has an unfinished nodeseal header and the format policy is \"%s\"",
                                    pin->path, format_policy_to_string(v->format));
        return VERDICT_REFORMAT;
}

/* A LUKS header at the start of the device: whose, for which volume, and does the record agree. */
static int judge_luks(const VolumeConfig *v, const DevicePin *pin, const FormatRecord *rec, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        const char *label, *uuid;
        int r;

        r = load_header(pin, rec, &cd, error);
        if (r < 0)
                return r;
        label = strempty(crypt_get_label(cd));
        uuid = strempty(crypt_get_uuid(cd));
        if (!header_is_ours(cd)) {
                if (!v->adopt)
                        return ns_error_set(error, -EUCLEAN,
                                            "Device %s holds a foreign %s header (label \"%s\", subsystem \"%s\"), not one nodeseal wrote; set \"adopt\": true to open it",
                                            pin->path, strna(crypt_get_type(cd)), label, strempty(crypt_get_subsystem(cd)));
                return VERDICT_OPEN;
        }
        if (!streq(label, v->name))
                return ns_error_set(error, -EUCLEAN, "Device %s is nodeseal's LUKS2 volume \"%s\", not \"%s\"; refusing to open it",
                                    pin->path, label, v->name);
        if (rec->uuid[0] && strcasecmp(rec->uuid, uuid) != 0)
                return ns_error_set(error, -EUCLEAN,
                                    "Device %s holds nodeseal's LUKS2 volume %s with UUID %s, but the format record of volume %s names LUKS %s; "
                                    "is this the right disk? refusing (the device is left as it is)",
                                    pin->path, v->name, uuid, v->name, rec->uuid);
        if (keyslots_active(cd) == 0)
                return judge_no_keyslot(v, pin, cd, rec, error);
        return VERDICT_OPEN;
}

/* What may be done with the pinned device, judged from what is on it and from the record. */
static int judge_device(const VolumeConfig *v, const DevicePin *pin, const FormatRecord *rec, NsError *error) {
        char what[384];
        ProbeResult p;
        int r;

        r = probe_fd(pin->fd, pin->path, &p, error);
        if (r < 0)
                return r;
        if (p.kind == PROBE_AMBIVALENT) {
                /* A torn copy of this volume's own LUKS2 header beside a signature inside it (what an
                 * interrupted metadata write can leave, which libcryptsetup will not recover alone). */
                NsError e = {};

                r = header_repair_examine(pin->fd_path, pin->path, rec->uuid, true, &e);
                if (r > 0)
                        r = probe_fd(pin->fd, pin->path, &p, error);
                else if (r < 0 && r != -EMEDIUMTYPE) {
                        if (error)
                                *error = e;
                        return r;
                }
                if (r < 0)
                        return r;
        }
        if (p.kind == PROBE_BLANK)
                return judge_blank(v, pin, rec, error);
        if (p.kind == PROBE_LUKS && p.offset == 0)
                return judge_luks(v, pin, rec, error);
        (void) probe_result_describe(&p, what, sizeof(what));
        return ns_error_set(error, -EUCLEAN, "Device %s holds %s; refusing to format or open it (the device is left as it is)",
                            pin->path, what);
}

/* The configured device spec (UUID=, LABEL=, PARTLABEL=, a path), resolved again, still names the
 * pinned device: a label that moved to another disk meanwhile is caught like a re-pointed link. */
static int spec_still_names(const VolumeConfig *v, const DevicePin *pin, NsError *error) {
        _cleanup_free_ char *now = NULL;
        int r;

        r = probe_resolve_device(v->device, &now, error);
        if (r < 0)
                return r;
        r = device_pin_verify_path(pin, now, error);
        if (r < 0)
                return ns_error_prefix(error, r, "%s", v->device);
        return 0;
}

/* The UUID the new header gets: the recorded one when a format of this volume began before. */
static int format_uuid(const FormatRecord *rec, char buf[static 40]) {
        if (rec->uuid[0]) {
                memcpy(buf, rec->uuid, 40);
                return 0;
        }
        return format_record_new_uuid(buf);
}

/* Formats the pinned device once its verdict allows it: the key (generated and stored first, when
 * the source may), then the record of the format, stored and read back; then everything is
 * judged again (the record afresh from the Secret, the device through its handle, the path against
 * the pinned identity) just before the header is written. Minutes may have passed meanwhile. */
static int format_pinned(const VolumeConfig *v, SecretSource *s, DevicePin *pin, const FormatRecord *rec,
                         Verdict verdict, SecretValue **ret_key, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *key = NULL;
        FormatRecord stored, again;
        char uuid[40];
        int r;

        r = get_key(s, v, true, &key, error);
        if (r < 0)
                return r;
        r = format_uuid(rec, uuid);
        if (r < 0)
                return r;
        r = format_record_begin(s, v, uuid, pin->path, &stored, error);
        if (r < 0)
                return r;
        seam_pause("before-format");

        r = format_record_read(s, v, &again, error);
        if (r < 0)
                return r;
        if (r == 0 || strcasecmp(again.uuid, stored.uuid) != 0 || again.done)
                return ns_error_set(error, -ESTALE, "The format record of volume %s changed while it was being formatted; refusing (run again)",
                                    v->name);
        r = device_pin_verify(pin, error);
        if (r < 0)
                return r;
        r = spec_still_names(v, pin, error);
        if (r < 0)
                return r;
        r = judge_device(v, pin, &again, error);
        if (r < 0)
                return r;
        if (r != (int) verdict)
                return ns_error_set(error, -ESTALE, "Device %s changed while volume %s was being prepared; refusing (run again)",
                                    pin->path, v->name);
        if (verdict == VERDICT_REFORMAT)
                log_warning("Volume %s: %s has nodeseal's header of a format that never completed (%s), and its data area reads as zeros; formatting again.",
                            v->name, pin->path, again.uuid);

        r = luks_format(v, pin, stored.uuid, key, error);
        if (r < 0)
                return r;
        *ret_key = TAKE_PTR(key);
        return 0;
}

/* Records that the volume may hold data from now on. Required when nodeseal's own format began it;
 * for a volume from before records existed it is stored when possible, else only warned about. */
static int complete_record(const VolumeConfig *v, SecretSource *s, struct crypt_device *cd, const FormatRecord *rec,
                           NsError *error) {
        NsError e = {};
        int r;

        if (!header_is_ours(cd) || rec->done)
                return 0;
        r = format_record_complete(s, v, crypt_get_uuid(cd), &e);
        if (r >= 0 || rec->uuid[0]) {
                if (r < 0 && error && !ns_error_is_set(error))
                        *error = e;
                return r;
        }
        log_warning("Volume %s: no format record, and it cannot be stored (%s); the volume lacks the protection of one.",
                    v->name, e.message);
        return 0;
}

static int activate(const VolumeConfig *v, SecretSource *s, struct crypt_device *cd, const char *device,
                    const SecretValue *key, uint32_t flags, NsError *error) {
        char name[128];
        int r;

        mapper_name(v, name, sizeof(name));
        r = crypt_activate_by_passphrase(cd, name, CRYPT_ANY_SLOT, (const char *) key->data, key->size, flags);
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
        seam_kill("activate");
        return 0;
}

/* The decided activation flags into nodeseal's own header (an adopted one is not rewritten for
 * them: its own persistent flags apply along with the configured ones). */
static int store_flags(const VolumeConfig *v, struct crypt_device *cd, uint32_t flags, const char *device,
                       bool *ret_changed, NsError *error) {
        char what[96];
        int r;

        if (!header_is_ours(cd))
                return 0;
        r = luks_flags_store(cd, flags, device, error);
        if (r <= 0)
                return r;
        luks_flags_describe(flags, what, sizeof(what));
        log_info("Volume %s: activation flags in the header of %s: %s.", v->name, device, what);
        *ret_changed = true;
        return 0;
}

/* An active mapping whose flags differ from the decided ones gets them on the fly (a table
 * reload, as cryptsetup refresh does: the filesystem stays mounted). */
static int refresh_flags(const VolumeConfig *v, struct crypt_device *cd, const SecretValue *key, uint32_t flags,
                         bool *ret_changed, NsError *error) {
        struct crypt_active_device cad = {};
        char name[128], what[96];
        int r;

        mapper_name(v, name, sizeof(name));
        r = crypt_get_active_device(cd, name, &cad);
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the state of %s: %s", name, strerror(-r));
        if ((cad.flags & LUKS_FLAGS_MANAGED) == flags)
                return 0;
        luks_flags_describe(flags, what, sizeof(what));
        r = crypt_activate_by_passphrase(cd, name, CRYPT_ANY_SLOT, (const char *) key->data, key->size,
                                         flags | CRYPT_ACTIVATE_REFRESH);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: reloading %s with the flags %s failed: %s", v->name, name, what,
                                    strerror(-r));
        log_info("Volume %s: %s reloaded with the flags %s.", v->name, name, what);
        *ret_changed = true;
        return 0;
}

/* A re-encryption killed in libcryptsetup's last steps left a header that no key opens although
 * every block is under the new volume key: its last header write is made, before anything else
 * reads the header (a key rotation, the flags, the activation). */
static int finish_interrupted(const VolumeConfig *v, SecretSource *s, struct crypt_device *cd, const char *device,
                              const SecretValue *key, bool *ret_changed, NsError *error) {
        int r = volume_reencrypt_finish(v, s, cd, device, key, error);

        if (r > 0)
                *ret_changed = true;
        return r;
}

/* Already open on this device: keep it, but let a pending rotation and changed flags converge. */
static int luks_reuse(const VolumeConfig *v, SecretSource *s, const char *device, bool *ret_changed, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(secret_value_freep) SecretValue *key = NULL;
        uint32_t flags = luks_flags_for_device(&v->luks, device);
        char name[128];
        int r;

        mapper_name(v, name, sizeof(name));
        r = crypt_init_by_name(&cd, name);
        if (r < 0)
                return ns_error_set(error, r, "Cannot inspect %s: %s", name, strerror(-r));
        r = get_key(s, v, false, &key, error);
        if (r < 0)
                return r;
        r = finish_interrupted(v, s, cd, device, key, ret_changed, error);
        if (r < 0)
                return r;
        r = rotate_keys(cd, v, s, &key, device, ret_changed, error);
        if (r < 0)
                return r;
        r = store_flags(v, cd, flags, device, ret_changed, error);
        if (r < 0)
                return r;
        r = refresh_flags(v, cd, key, flags, ret_changed, error);
        if (r < 0)
                return r;
        r = volume_grow_mapping(v, cd, key, error);
        if (r < 0)
                return r;
        if (r > 0) {
                *ret_changed = true;
                seam_kill("grow-mapping");
        }
        return 0;
}

/* A header backup that cannot be made is reported, not fatal: the volume works without it. */
static void backup_report(int r, NsError *e) {
        if (r < 0)
                log_warning("%s (the volume stays in use, without a current header backup).", ns_error_message(e, r));
}

/* Of the pinned device, before it is mapped: the header just judged and loaded through the pin. */
static void backup_header_pinned(const VolumeConfig *v, SecretSource *s, const DevicePin *pin, struct crypt_device *cd) {
        NsError e = {};

        backup_report(header_backup_sync(v, s, pin->fd, pin->path, crypt_get_uuid(cd), &e), &e);
}

/* Of the disk the active mapping sits on, never of what the configured path names now. */
static void backup_header_mapping(const VolumeConfig *v, SecretSource *s, const char *mapper) {
        NsError e = {};

        backup_report(header_backup_sync_mapping(v, s, mapper, &e), &e);
}

/* Opens (or formats then opens) the LUKS device; *ret_changed when anything was done. */
static int luks_open(const VolumeConfig *v, SecretSource *s, const char *device, bool *ret_changed, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(secret_value_freep) SecretValue *key = NULL;
        _cleanup_(device_pin_freep) DevicePin *pin = NULL;
        FormatRecord rec;
        bool changed = false;
        struct stat st;
        uint32_t flags;
        int r, verdict;

        r = mapper_active(v, device, true, error);
        if (r < 0)
                return r;
        if (r > 0)
                return luks_reuse(v, s, device, ret_changed, error);

        r = device_pin_new(device, &pin, error);
        if (r < 0)
                return r;
        r = format_record_read(s, v, &rec, error);
        if (r < 0)
                return r;
        verdict = judge_device(v, pin, &rec, error);
        if (verdict < 0)
                return verdict;
        if (verdict != VERDICT_OPEN) {
                r = format_pinned(v, s, pin, &rec, (Verdict) verdict, &key, error);
                if (r < 0)
                        return r;
                changed = true;
        }

        r = load_header(pin, &rec, &cd, error);
        if (r < 0)
                return r;
        if (!key) {
                r = get_key(s, v, false, &key, error);
                if (r < 0)
                        return r;
        }
        r = finish_interrupted(v, s, cd, pin->path, key, &changed, error);
        if (r < 0)
                return r;
        r = rotate_keys(cd, v, s, &key, device, &changed, error);
        if (r < 0)
                return r;
        flags = luks_flags_decide(&v->luks, fstat(pin->fd, &st) < 0 ? -ENODATA : luks_flags_rotational(&st));
        r = device_pin_verify(pin, error);
        if (r < 0)
                return r;
        r = store_flags(v, cd, flags, pin->path, &changed, error);
        if (r < 0)
                return r;
        r = format_record_read(s, v, &rec, error);
        if (r >= 0)
                r = complete_record(v, s, cd, &rec, error);
        if (r < 0)
                return r;
        backup_header_pinned(v, s, pin, cd);

        /* device-mapper claims the device for the mapping: the pin gives up its claim, but the
         * mapping is made on the pinned device by its handle, never on the path again. A path
         * re-pointed here (a /dev/disk/by-* link, a swapped symlink) would otherwise put this
         * header's mapping on another disk: a mapping whose header does not load ("active but
         * not a LUKS mapping", found by the chaos soak), with the pending mkfs a step away. */
        crypt_free(TAKE_PTR(cd));
        device_pin_release_claim(pin);
        r = crypt_init(&cd, pin->fd_path);
        if (r >= 0)
                r = crypt_load(cd, CRYPT_LUKS, NULL);
        if (r < 0)
                return ns_error_set(error, r, "Cannot load the LUKS header of %s: %s", device, strerror(-r));
        seam_pause("before-activate");
        r = activate(v, s, cd, device, key, flags, error);
        if (r < 0)
                return r;
        *ret_changed = true;
        return 0;
}

/* The header of the active mapping of v, to read or clear its mkfs-pending token. */
static int mapping_header(const VolumeConfig *v, struct crypt_device **ret_cd, NsError *error) {
        char name[128];
        int r;

        mapper_name(v, name, sizeof(name));
        r = crypt_init_by_name(ret_cd, name);
        if (r < 0)
                return ns_error_set(error, r, "Cannot inspect %s: %s", name, strerror(-r));
        return 0;
}

static int clear_mkfs_token(const VolumeConfig *v, struct crypt_device *cd, int token, NsError *error) {
        int r = crypt_token_json_set(cd, token, NULL);
        if (r < 0)
                return ns_error_set(error, r, "Volume %s: cannot clear the mkfs-pending mark of its header: %s", v->name,
                                    strerror(-r));
        return 0;
}

/* mkfs on the mapper only while nodeseal's own format says its filesystem step is pending; the
 * configured filesystem is accepted, anything else refused, and a mapper without a filesystem that
 * nodeseal did not just format is a damaged one, left for fsck. */
static int ensure_filesystem(const VolumeConfig *v, const char *mapper, bool *ret_changed, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        const char *want = filesystem_type_to_string(v->filesystem);
        char what[384];
        ProbeResult p;
        int r, token;

        r = probe_device(mapper, &p, error);
        if (r == -EBUSY) {
                /* Held (mounted elsewhere): it has a filesystem; mount_find() below tells which. */
                if (error)
                        *error = NS_ERROR_NULL;
                return 0;
        }
        if (r < 0)
                return r;
        r = mapping_header(v, &cd, error);
        if (r < 0)
                return r;
        token = mkfs_token(cd);

        if (p.kind == PROBE_FILESYSTEM && p.offset == 0 && streq(p.type, want))
                /* mkfs done, its mark not yet cleared (a crash in between): clear it now. */
                return token >= 0 ? clear_mkfs_token(v, cd, token, error) : 0;
        if (p.kind == PROBE_BLANK && token >= 0) {
                log_info("Volume %s: making an %s filesystem on %s.", v->name, want, mapper);
                r = mount_mkfs(mapper, v->filesystem, v->name, error);
                if (r < 0)
                        return r;
                seam_kill("mkfs");
                r = clear_mkfs_token(v, cd, token, error);
                if (r < 0)
                        return r;
                *ret_changed = true;
                return 0;
        }
        if (p.kind == PROBE_BLANK)
                return ns_error_set(error, -EUCLEAN,
                                    "%s shows no filesystem, but volume %s was not just formatted by nodeseal: its %s filesystem is damaged "
                                    "(a torn primary superblock reads as nothing). Refusing to run mkfs (the volume is left as it is): "
                                    "repair it from a backup superblock, for example e2fsck -b 32768 %s (ext4 with 4 KiB blocks; mke2fs -n %s lists the "
                                    "backups without writing) or xfs_repair %s (xfs), then run again",
                                    mapper, v->name, want, mapper, mapper, mapper);
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

/* Progress in the log, every tenth. */
static void reencrypt_progress_log(const VolumeConfig *v, const ReencryptStatus *st, void *userdata) {
        static unsigned last = 0;
        unsigned tenth = st->total ? (unsigned) ((double) st->done * 10 / (double) st->total) : 0;

        if (st->state != REENCRYPT_STATE_RUNNING)
                return;
        if (tenth != last && tenth < 10)
                log_info("Volume %s: re-encryption %u%% done.", v->name, tenth * 10);
        last = tenth;
}

/* A re-encryption killed inside a hotzone can leave the volume's device stack suspended: every
 * step below that touches the mounted filesystem would wait on it, for ever. Put in order first,
 * or refused with the reason, without touching the filesystem. */
static int unsuspend_stack(const VolumeConfig *v, SecretSource *s, const char *device, const char *mapper,
                           bool *ret_changed, NsError *error) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(secret_value_freep) SecretValue *key = NULL;
        char name[128];
        int r;

        /* No mapping, no stack (and no device-mapper calls, which talk on stderr where there is none). */
        if (access(mapper, F_OK) < 0)
                return 0;
        mapper_name(v, name, sizeof(name));
        if (!(reencrypt_stack_helpers(name, NULL) & REENCRYPT_STACK_SUSPENDED))
                return 0;
        if (crypt_init(&cd, device) < 0 || crypt_load(cd, CRYPT_LUKS2, NULL) < 0)
                return 0;   /* not this device's stack: the steps below say what is there */
        r = get_key(s, v, false, &key, error);
        if (r < 0)
                return r;
        r = reencrypt_stack_unsuspend(cd, name, key, error);
        if (r > 0)
                *ret_changed = true;
        return r;
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

        r = unsuspend_stack(v, s, device, mapper, &changed, error);
        if (r < 0)
                return r;

        /* The mount point first: one that a non-root user could redirect is refused before the
         * volume is opened (or formatted). */
        r = mount_point_create(v->mountpoint, error);
        if (r < 0)
                return r;

        r = luks_open(v, s, device, &changed, error);
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
                seam_kill("mount");
        }

        /* The mapping may be larger than its filesystem: grown above, or opened on a grown device. */
        r = volume_grow_filesystem(v, mapper, error);
        if (r < 0)
                return r;
        if (r > 0)
                changed = true;
        /* A re-encryption the Secret requests, online, under the mounted filesystem. One that
         * cannot go on now is reported, not fatal: the volume is in place and usable meanwhile. */
        {
                NsError e = {};

                r = volume_reencrypt(v, s, device, reencrypt_progress_log, NULL, &e);
                if (r < 0)
                        log_warning("%s", ns_error_message(&e, r));
                if (r > 0) {
                        /* A key rotation that waited for the re-encryption's end goes on now. */
                        changed = true;
                        r = luks_reuse(v, s, device, &changed, error);
                        if (r < 0)
                                return r;
                }
        }

        r = set_root_owner(v, &changed, error);
        if (r < 0)
                return r;
        /* After the last header change of this pass (the mkfs-pending token cleared, a rotation). */
        backup_header_mapping(v, s, mapper);

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
        r = mapper_active(v, device, false, error);
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
