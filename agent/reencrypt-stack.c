/* SPDX-License-Identifier: Apache-2.0 */
/* The device stack of an online re-encryption left behind by a killed process, put back in order.
 *
 * While libcryptsetup re-encrypts an active LUKS2 mapping NAME online, NAME is a dm-linear mapping
 * onto NAME-overlay, whose table routes the current hotzone through NAME-hotzone-forward (a linear
 * mapping of the data area). A clean stop tears that down (NAME gets the header's table again); a
 * SIGKILL or a crash leaves it in place, working, but not what crypt_reencrypt_init_by_passphrase()
 * accepts of an active device ("Mismatching parameters"): the re-encryption could resume only
 * after closing the volume. libcryptsetup has no public call that reloads a mapping in the middle
 * of a re-encryption, nor will it activate a second one (it wants the device exclusively), so
 * this builds the header's table from the overlay's: between two hotzones the overlay maps the
 * last hotzone (re-encrypted, committed) through the helper, under the new key; pointed at the
 * data device again and merged with its neighbour under the same key, that is the header's
 * segment layout. The keyring references in it become the volume keys themselves (from the key
 * slots, with the key from the Secret), since the keys a killed process put in its keyring are
 * gone. NAME gets that table (suspended without a flush for the swap, as libcryptsetup's own
 * teardown does), then the helpers are removed. Each step may be interrupted: the next run finds
 * the helpers again and does it again. Keys pass through this process's memory only (wiped; the
 * ioctl buffers too: dm_task_secure_data). */
#include <fcntl.h>
#include <libcryptsetup.h>
#include <libdevmapper.h>
#include <sys/file.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json-util.h"

#include "log.h"
#include "reencrypt-finish.h"
#include "reencrypt-stack.h"

/* libcryptsetup's lock directory (its --with-luks2-lock-path, Debian's default). */
#define CRYPTSETUP_LOCK_DIR "/run/cryptsetup"

static const char * const helper_suffixes[] = { "-overlay", "-hotzone-forward", "-hotzone-backward" };
/* A dm UUID is at most 128 bytes (DM_UUID_LEN in linux/dm-ioctl.h). */
#define DM_UUID_SIZE 129

DEFINE_TRIVIAL_CLEANUP_FUNC(struct dm_task *, dm_task_destroy);

/* The device's dm info, or -ENODEV when there is no such mapping. */
static int dm_info_of(const char *name, struct dm_info *ret, char *ret_uuid, size_t uuid_size) {
        _cleanup_(dm_task_destroyp) struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);

        if (!dmt || !dm_task_set_name(dmt, name) || !dm_task_run(dmt) || !dm_task_get_info(dmt, ret))
                return -EIO;
        if (!ret->exists)
                return -ENODEV;
        if (ret_uuid)
                (void) snprintf(ret_uuid, uuid_size, "%s", dm_task_get_uuid(dmt) ?: "");
        return 0;
}

/* The dm UUIDs libcryptsetup gives the mappings of a LUKS2 device carry its UUID without dashes. */
static bool uuid_of_device(const char *dm_uuid, const char *luks_uuid) {
        char plain[64];
        size_t n = 0;

        for (const char *p = luks_uuid; *p && n < sizeof(plain) - 1; p++)
                if (*p != '-')
                        plain[n++] = *p;
        plain[n] = '\0';
        return n > 0 && strstr(dm_uuid, plain);
}

int reencrypt_stack_helpers(const char *name, const char *luks_uuid) {
        int found = 0;

        for (size_t i = 0; i < ELEMENTSOF(helper_suffixes); i++) {
                char helper[256], uuid[DM_UUID_SIZE];
                struct dm_info info;

                (void) snprintf(helper, sizeof(helper), "%s%s", name, helper_suffixes[i]);
                if (dm_info_of(helper, &info, uuid, sizeof(uuid)) < 0)
                        continue;
                /* A mapping of that name that is not this device's: not ours to judge or touch. */
                if (luks_uuid && !uuid_of_device(uuid, luks_uuid))
                        continue;
                found |= info.suspended ? REENCRYPT_STACK_SUSPENDED | REENCRYPT_STACK_HELPERS : REENCRYPT_STACK_HELPERS;
        }
        return found;
}

/* Runs a task that changes a device node, waiting for udev (if it runs) either way; err on failure. */
static int dm_run_udev(struct dm_task *dmt, int err) {
        uint32_t cookie = 0;
        int ok;

        if (!dm_task_set_cookie(dmt, &cookie, 0))
                return -ENOMEM;
        ok = dm_task_run(dmt);
        (void) dm_udev_wait(cookie);
        return ok ? 0 : err;
}

static int dm_remove(const char *name) {
        _cleanup_(dm_task_destroyp) struct dm_task *dmt = dm_task_create(DM_DEVICE_REMOVE);

        if (!dmt || !dm_task_set_name(dmt, name))
                return -ENOMEM;
        return dm_run_udev(dmt, -EBUSY);
}

/* Makes the table loaded into name live: suspended without a flush (I/O in flight is held, not
 * failed) and resumed, as libcryptsetup swaps tables under a mounted filesystem. */
static int dm_swap(const char *name) {
        _cleanup_(dm_task_destroyp) struct dm_task *suspend = dm_task_create(DM_DEVICE_SUSPEND);
        _cleanup_(dm_task_destroyp) struct dm_task *resume = dm_task_create(DM_DEVICE_RESUME);

        if (!suspend || !resume || !dm_task_set_name(suspend, name) || !dm_task_no_flush(suspend) ||
            !dm_task_skip_lockfs(suspend) || !dm_task_set_name(resume, name))
                return -ENOMEM;
        if (!dm_task_run(suspend))
                return -EIO;
        return dm_run_udev(resume, -EIO);
}

/* One target of a table, its crypt parameters split out ("cipher key iv device offset [options]"). */
typedef struct Target {
        uint64_t start, length;
        char type[32];
        char *cipher, *key, *device, *options;   /* crypt only; options may be "" */
        uint64_t iv, offset;
        char *params;                            /* the rest, for other types */
} Target;

static void target_done(Target *t) {
        if (t->key)
                explicit_bzero(t->key, strlen(t->key));
        free(t->cipher);
        free(t->key);
        free(t->device);
        free(t->options);
        free(t->params);
        *t = (Target) {};
}

static int target_parse(uint64_t start, uint64_t length, const char *type, const char *params, Target *ret) {
        char cipher[128], device[64];
        int n = 0;
        Target t = { .start = start, .length = length };

        (void) snprintf(t.type, sizeof(t.type), "%s", type);
        if (!streq(type, "crypt")) {
                t.params = strdup(params);
                if (!t.params)
                        return -ENOMEM;
                *ret = t;
                return 0;
        }
        /* The key is not copied through a fixed buffer on the stack: its length is taken as is. */
        if (sscanf(params, "%127s %*s %" SCNu64 " %63s %" SCNu64 "%n", cipher, &t.iv, device, &t.offset, &n) != 4)
                return -EBADMSG;
        const char *k = strchr(params, ' ');
        size_t klen = k ? strcspn(k + 1, " ") : 0;
        if (!k || klen == 0)
                return -EBADMSG;
        t.cipher = strdup(cipher);
        t.key = strndup(k + 1, klen);
        t.device = strdup(device);
        t.options = strdup(params[n] == ' ' ? params + n + 1 : params + n);
        if (!t.cipher || !t.key || !t.device || !t.options) {
                target_done(&t);
                return -ENOMEM;
        }
        *ret = t;
        return 0;
}

/* A table, parsed; secure: the kernel's buffer is wiped. */
static int dm_read_table(const char *name, Target **ret, size_t *ret_n) {
        _cleanup_(dm_task_destroyp) struct dm_task *dmt = dm_task_create(DM_DEVICE_TABLE);
        Target *t = NULL;
        size_t n = 0;
        void *next = NULL;
        uint64_t start, length;
        char *type, *params;
        int r = 0;

        if (!dmt || !dm_task_secure_data(dmt) || !dm_task_set_name(dmt, name))
                return -ENOMEM;
        if (!dm_task_run(dmt))
                return -EIO;
        do {
                Target *grown;

                next = dm_get_next_target(dmt, next, &start, &length, &type, &params);
                if (!type)
                        break;
                grown = reallocarray(t, n + 1, sizeof(*t));
                if (!grown) {
                        r = -ENOMEM;
                        break;
                }
                t = grown;
                r = target_parse(start, length, type, params ?: "", t + n);
                if (r < 0)
                        break;
                n++;
        } while (next);
        if (r >= 0 && n == 0)
                r = -ENODATA;
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        target_done(t + i);
                free(t);
                return r;
        }
        *ret = t;
        *ret_n = n;
        return 0;
}

static void targets_free(Target *t, size_t n) {
        for (size_t i = 0; i < n; i++)
                target_done(t + i);
        free(t);
}

/* The volume key of each digest ("cryptsetup:<uuid>-d<N>" in a keyring reference), as hex, from a
 * key slot of that digest that the key from the Secret opens. */
static int digest_key_hex(struct crypt_device *cd, unsigned digest, const SecretValue *key, char **ret) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        const cJSON *slots, *slot;
        const char *json = NULL;
        char id[16];

        if (crypt_dump_json(cd, &json, 0) < 0 || !(root = cJSON_Parse(json)))
                return -EIO;
        (void) snprintf(id, sizeof(id), "%u", digest);
        slots = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "digests"), id), "keyslots");
        cJSON_ArrayForEach(slot, slots) {
                char vk[256], *hex;
                size_t size = sizeof(vk);
                int k = cJSON_IsString(slot) ? atoi(slot->valuestring) : -1;

                if (k < 0 || crypt_volume_key_get(cd, k, vk, &size, (const char *) key->data, key->size) < 0)
                        continue;
                hex = malloc(size * 2 + 1);
                if (!hex) {
                        explicit_bzero(vk, sizeof(vk));
                        return -ENOMEM;
                }
                for (size_t i = 0; i < size; i++)
                        (void) snprintf(hex + 2 * i, 3, "%02x", (unsigned char) vk[i]);
                explicit_bzero(vk, sizeof(vk));
                *ret = hex;
                return 0;
        }
        return -ENOKEY;
}

/* A keyring reference of this device's volume key becomes the key: the keyring that held it was the
 * killed process's. */
static int resolve_key(struct crypt_device *cd, const char *uuid, Target *t, const SecretValue *key) {
        char prefix[128];
        const char *p;
        char *hex = NULL;
        int r;

        if (t->key[0] != ':')
                return 0;
        (void) snprintf(prefix, sizeof(prefix), "logon:cryptsetup:%s-d", uuid);
        p = strchr(t->key + 1, ':');
        if (!p || !strneq(p + 1, prefix, strlen(prefix)))
                return -EBADMSG;
        r = digest_key_hex(cd, (unsigned) atoi(p + 1 + strlen(prefix)), key, &hex);
        if (r < 0)
                return r;
        explicit_bzero(t->key, strlen(t->key));
        free(t->key);
        t->key = hex;
        return 0;
}

/* A target on a hotzone helper (one linear target over the data device) pointed at the data
 * device itself; -ENOMEM only, a target on anything else is left as it is. */
static int redirect_hotzone(const char *name, Target *t) {
        for (size_t h = 1; h < ELEMENTSOF(helper_suffixes); h++) {
                Target *hz = NULL;
                size_t hz_n = 0;
                struct dm_info info;
                char dev[32], hz_name[256], under[64];
                uint64_t off = 0;
                char *d;

                (void) snprintf(hz_name, sizeof(hz_name), "%s%s", name, helper_suffixes[h]);
                if (dm_info_of(hz_name, &info, NULL, 0) < 0)
                        continue;
                (void) snprintf(dev, sizeof(dev), "%u:%u", info.major, info.minor);
                if (!streq(t->device, dev) || dm_read_table(hz_name, &hz, &hz_n) < 0)
                        continue;
                if (hz_n != 1 || !streq(hz[0].type, "linear") || sscanf(hz[0].params, "%63s %" SCNu64, under, &off) != 2) {
                        targets_free(hz, hz_n);
                        continue;
                }
                targets_free(hz, hz_n);
                d = strdup(under);
                if (!d)
                        return -ENOMEM;
                free(t->device);
                t->device = d;
                t->offset += off;
        }
        return 0;
}

/* t goes on where p ends: the same cipher, key, device and options, contiguous everywhere. */
static bool target_continues(const Target *p, const Target *t) {
        return streq(p->cipher, t->cipher) && streq(p->key, t->key) && streq(p->device, t->device) &&
               streq(p->options, t->options) && p->start + p->length == t->start && p->iv + p->length == t->iv &&
               p->offset + p->length == t->offset;
}

/* The header's table from the overlay's: the hotzone through the data device again, merged with
 * the segment before it when it continues it under the same key and options. */
static int header_table(struct crypt_device *cd, const char *uuid, const char *name, const SecretValue *key,
                        Target **ret, size_t *ret_n, NsError *error) {
        Target *t = NULL;
        size_t n = 0, out = 0;
        char overlay[256];
        int r;

        (void) snprintf(overlay, sizeof(overlay), "%s-overlay", name);
        r = dm_read_table(overlay, &t, &n);
        if (r < 0)
                return ns_error_set(error, r, "%s: cannot read its table: %s", overlay, strerror(-r));
        for (size_t i = 0; i < n; i++) {
                if (!streq(t[i].type, "crypt"))
                        r = ns_error_set(error, -EBADMSG, "%s: a %s target in its table, not a re-encryption's", overlay, t[i].type);
                else if ((r = redirect_hotzone(name, t + i)) >= 0 && (r = resolve_key(cd, uuid, t + i, key)) < 0)
                        r = ns_error_set(error, r, "%s: the volume key of a segment of its table cannot be read: %s", overlay,
                                         strerror(-r));
                if (r < 0) {
                        targets_free(t, n);
                        return r;
                }
                if (out > 0 && target_continues(t + out - 1, t + i)) {
                        t[out - 1].length += t[i].length;
                        target_done(t + i);
                        continue;
                }
                if (out != i) {
                        t[out] = t[i];
                        t[i] = (Target) {};
                }
                out++;
        }
        *ret = t;
        *ret_n = out;
        return 0;
}

/* Loads the targets into name (inactive until the swap); the parameter strings are wiped. */
static int dm_load(const char *name, const Target *t, size_t n) {
        _cleanup_(dm_task_destroyp) struct dm_task *load = dm_task_create(DM_DEVICE_RELOAD);
        int r = 0;

        if (!load || !dm_task_secure_data(load) || !dm_task_set_name(load, name))
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                char *params = NULL;
                int k = asprintf(&params, "%s %s %" PRIu64 " %s %" PRIu64 "%s%s", t[i].cipher, t[i].key, t[i].iv,
                                 t[i].device, t[i].offset, isempty(t[i].options) ? "" : " ", t[i].options);
                if (k < 0)
                        return -ENOMEM;
                if (!dm_task_add_target(load, t[i].start, t[i].length, "crypt", params))
                        r = -ENOMEM;
                explicit_bzero(params, (size_t) k);
                free(params);
        }
        if (r < 0)
                return r;
        return dm_task_run(load) ? 0 : -EIO;
}

int reencrypt_lock_take(const char *uuid, int *ret_fd) {
        _cleanup_close_ int dir = -EBADF, fd = -EBADF;
        char file[128];

        dir = open(CRYPTSETUP_LOCK_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir < 0 && errno == ENOENT) {
                *ret_fd = -EBADF;
                return 0;
        }
        if (dir < 0)
                return negative_errno();
        (void) snprintf(file, sizeof(file), "LN_LUKS2-reencryption-%s", uuid);
        fd = openat(dir, file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int reencrypt_stack_restore(struct crypt_device *cd, const char *name, const SecretValue *key, NsError *error) {
        _cleanup_close_ int lock = -EBADF;
        const char *uuid = crypt_get_uuid(cd);
        Target *t = NULL;
        size_t n = 0;
        int helpers, r;

        if (!uuid)
                return ns_error_set(error, -EINVAL, "%s: its LUKS2 header has no UUID", name);
        helpers = reencrypt_stack_helpers(name, uuid);
        if (helpers == 0)
                return 0;
        if (helpers & REENCRYPT_STACK_SUSPENDED)
                return ns_error_set(error, -EBUSY,
                                    "%s: a re-encryption was killed in the middle of a hotzone, whose helper mapping is still "
                                    "suspended (I/O to that part of the volume waits); the header's hotzone checksums keep the "
                                    "data safe, and it resumes after the volume is closed and opened again (a reboot)",
                                    name);
        r = reencrypt_lock_take(uuid, &lock);
        if (r == -EBUSY)
                return ns_error_set(error, r, "%s: another process is re-encrypting it right now", name);
        if (r < 0)
                return ns_error_set(error, r, "%s: cannot take libcryptsetup's re-encryption lock: %s", name, strerror(-r));
        /* Under the lock, again: a process that held it may have finished or torn its stack down. */
        r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r < 0)
                return ns_error_set(error, r, "%s: cannot load its header again: %s", name, strerror(-r));
        if (!(reencrypt_stack_helpers(name, uuid) & REENCRYPT_STACK_HELPERS))
                return 0;
        if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_CLEAN)
                return ns_error_set(error, -EUCLEAN,
                                    "%s: the header says a hotzone needs recovery while its mapping is active; it resumes after "
                                    "the volume is closed and opened again (a reboot)", name);
        log_info("%s: a re-encryption killed while running left its device stack in place; putting the header's table back "
                 "under the mounted filesystem.", name);
        r = header_table(cd, uuid, name, key, &t, &n, error);
        if (r < 0)
                return r;
        r = dm_load(name, t, n);
        targets_free(t, n);
        if (r >= 0)
                r = dm_swap(name);
        if (r < 0)
                return ns_error_set(error, r, "%s: loading the header's table failed: %s", name, strerror(-r));
        r = 0;
        for (size_t i = 0; i < ELEMENTSOF(helper_suffixes); i++) {
                char helper[256], helper_uuid[DM_UUID_SIZE];
                struct dm_info info;

                (void) snprintf(helper, sizeof(helper), "%s%s", name, helper_suffixes[i]);
                if (dm_info_of(helper, &info, helper_uuid, sizeof(helper_uuid)) >= 0 && uuid_of_device(helper_uuid, uuid) &&
                    dm_remove(helper) < 0)
                        r = -EBUSY;
        }
        if (r < 0)
                return ns_error_set(error, r, "%s: removing the helper mappings failed (the next run tries again)", name);
        return 1;
}

/* ---- a stack left suspended: a kill inside a hotzone ---- */

/* Resumes name, its inactive table dropped first when keep_live (resuming would make it live). */
static int dm_resume_live(const char *name, bool keep_live) {
        if (keep_live) {
                _cleanup_(dm_task_destroyp) struct dm_task *clear = dm_task_create(DM_DEVICE_CLEAR);

                if (!clear || !dm_task_set_name(clear, name))
                        return -ENOMEM;
                if (!dm_task_run(clear))
                        return -EIO;
        }
        _cleanup_(dm_task_destroyp) struct dm_task *resume = dm_task_create(DM_DEVICE_RESUME);
        if (!resume || !dm_task_set_name(resume, name))
                return -ENOMEM;
        return dm_run_udev(resume, -EIO);
}

/* The digest of the header's data segment over byte `at` of the data area; -1 for none, or for a
 * segment in the middle of its re-encryption. */
static int header_digest_at(struct crypt_device *cd, uint64_t at) {
        _cleanup_(cJSON_Deletep) cJSON *root = NULL;
        const cJSON *segments, *digests, *s;
        const char *json = NULL, *d_id;
        uint64_t base = crypt_get_data_offset(cd) * 512;

        if (crypt_dump_json(cd, &json, 0) < 0 || !(root = cJSON_Parse(json)))
                return -1;
        segments = cJSON_GetObjectItemCaseSensitive(root, "segments");
        digests = cJSON_GetObjectItemCaseSensitive(root, "digests");
        cJSON_ArrayForEach(s, segments) {
                const char *off = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "offset"));
                const char *size = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "size"));
                const cJSON *flags = cJSON_GetObjectItemCaseSensitive(s, "flags");
                uint64_t o, z;

                if (cJSON_GetArraySize(flags) > 0 || !off || !size)
                        continue;   /* backups; "in-reencryption" is never judged here */
                o = strtoull(off, NULL, 10);
                z = streq(size, "dynamic") ? UINT64_MAX : strtoull(size, NULL, 10);
                if (o < base || at < o - base || (z != UINT64_MAX && at - (o - base) >= z))
                        continue;
                d_id = luks2_digest_of_segment(digests, s->string);
                return d_id ? atoi(d_id) : -1;
        }
        return -1;
}

/* Whether the overlay's target routed through the hotzone helper hz maps the hotzone under the
 * volume key of the header's segment there (its keyring reference names that digest, or the key
 * it carries is that digest's); *ret_at, the hotzone's first byte in the data area. -ENOENT when
 * no target goes through hz. */
static int overlay_hotzone_matches(struct crypt_device *cd, const char *name, const char *uuid, const char *hz,
                                   const SecretValue *key, uint64_t *ret_at) {
        Target *t = NULL;
        size_t n = 0;
        struct dm_info info;
        char overlay[256], dev[32], prefix[128];
        int r = -ENOENT;

        if (dm_info_of(hz, &info, NULL, 0) < 0)
                return -ENOENT;
        (void) snprintf(dev, sizeof(dev), "%u:%u", info.major, info.minor);
        (void) snprintf(overlay, sizeof(overlay), "%s-overlay", name);
        (void) snprintf(prefix, sizeof(prefix), "logon:cryptsetup:%s-d", uuid);
        if (dm_read_table(overlay, &t, &n) < 0)
                return -EIO;
        for (size_t i = 0; i < n; i++) {
                const char *p;
                int want;

                if (!streq(t[i].type, "crypt") || !streq(t[i].device, dev))
                        continue;
                *ret_at = t[i].start * 512;
                want = header_digest_at(cd, *ret_at);
                p = t[i].key[0] == ':' ? strchr(t[i].key + 1, ':') : NULL;
                if (want < 0) {
                        log_debug("%s: no data segment of the header covers byte %" PRIu64 " of the data area.", name, *ret_at);
                        r = 0;
                } else if (p)
                        r = strneq(p + 1, prefix, strlen(prefix)) && atoi(p + 1 + strlen(prefix)) == want;
                else {
                        char *hex = NULL;

                        r = digest_key_hex(cd, (unsigned) want, key, &hex);
                        if (r >= 0) {
                                r = strcasecmp(hex, t[i].key) == 0;
                                explicit_bzero(hex, strlen(hex));
                                free(hex);
                        }
                }
                break;
        }
        targets_free(t, n);
        return r;
}

int reencrypt_stack_unsuspend(struct crypt_device *cd, const char *name, const SecretValue *key, NsError *error) {
        _cleanup_close_ int lock = -EBADF;
        const char *uuid = crypt_get_uuid(cd);
        char overlay[256], hz[256];
        struct dm_info oi = {}, hi = {};
        bool hz_found = false;
        int r;

        if (!uuid || !(reencrypt_stack_helpers(name, uuid) & REENCRYPT_STACK_SUSPENDED))
                return 0;
        r = reencrypt_lock_take(uuid, &lock);
        if (r == -EBUSY)
                return 0;   /* a live re-encryption suspends its helpers for a moment each hotzone */
        if (r < 0)
                return ns_error_set(error, r, "%s: cannot take libcryptsetup's re-encryption lock: %s", name, strerror(-r));
        r = crypt_load(cd, CRYPT_LUKS2, NULL);
        if (r < 0)
                return ns_error_set(error, r, "%s: cannot load its header again: %s", name, strerror(-r));
        if (!(reencrypt_stack_helpers(name, uuid) & REENCRYPT_STACK_SUSPENDED))
                return 0;
        (void) snprintf(overlay, sizeof(overlay), "%s-overlay", name);
        if (dm_info_of(overlay, &oi, NULL, 0) < 0)
                oi = (struct dm_info) {};
        for (size_t h = 1; h < ELEMENTSOF(helper_suffixes) && !hz_found; h++) {
                (void) snprintf(hz, sizeof(hz), "%s%s", name, helper_suffixes[h]);
                hz_found = dm_info_of(hz, &hi, NULL, 0) >= 0;
        }

        if (oi.exists && oi.suspended) {
                /* Killed while libcryptsetup switched the overlay to the next hotzone's table
                 * (loaded, not yet live): the live one is still the layout the header holds and no
                 * block of the next hotzone was touched. The next table is dropped. */
                if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_CLEAN)
                        return ns_error_set(error, -EUCLEAN, "%s: its overlay is suspended but its header is not in a clean state; refusing", name);
                log_warning("%s: a re-encryption was killed while it switched to its next hotzone: its device stack is "
                            "suspended (I/O to the volume waits). Resuming it with the table the header describes.", name);
                r = dm_resume_live(overlay, oi.inactive_table);
                if (r >= 0 && hz_found && hi.suspended)
                        r = dm_resume_live(hz, hi.inactive_table);
                if (r < 0)
                        return ns_error_set(error, r, "%s: resuming its helper mappings failed: %s", name, strerror(-r));
                return 1;
        }
        if (!hz_found || !hi.suspended)
                return 0;

        /* The overlay maps the hotzone under the new key through the suspended helper: right
         * once the header records every block of it as done. Killed while the blocks were being
         * rewritten, the header says so (a crash state): libcryptsetup recovers a hotzone from its
         * checksums only with the device not in use (its recovery opens the device exclusively,
         * and returns success having done nothing otherwise). */
        if (crypt_reencrypt_status(cd, NULL) == CRYPT_REENCRYPT_CRASH)
                return ns_error_set(error, -EUCLEAN,
                                    "%s: a re-encryption was killed while it rewrote a hotzone: some of its blocks are under the "
                                    "new key and some under the old, which the header's checksums tell apart. I/O to that part "
                                    "waits, and is left waiting (resuming would read and write blocks under the wrong key); "
                                    "libcryptsetup recovers the hotzone when the volume is opened again: close the volume and "
                                    "open it again (a reboot)", name);
        {
                uint64_t at = 0;

                r = overlay_hotzone_matches(cd, name, uuid, hz, key, &at);
                if (r < 0)
                        return ns_error_set(error, r, "%s: its overlay maps nothing through %s that can be judged (%s); refusing to touch it",
                                            name, hz, strerror(-r));
                if (crypt_reencrypt_status(cd, NULL) != CRYPT_REENCRYPT_CLEAN || r == 0)
                        return ns_error_set(error, -EUCLEAN,
                                            "%s: a re-encryption was killed after switching to a hotzone (at %" PRIu64 " MiB of the data) and "
                                            "before recording it: its blocks are under the old key while the device stack maps them "
                                            "under the new one. I/O to that part waits; resuming would read and write it under the "
                                            "wrong key, so it is left suspended; the header holds where the re-encryption was: close "
                                            "the volume and open it again (a reboot), and it resumes from there",
                                            name, at >> 20);
                log_warning("%s: a re-encryption was killed inside a hotzone (at %" PRIu64 " MiB of the data) that the header "
                            "records as done: resuming the suspended helper mapping.", name, at >> 20);
                r = dm_resume_live(hz, hi.inactive_table);
                if (r < 0)
                        return ns_error_set(error, r, "%s: resuming %s failed: %s", name, hz, strerror(-r));
        }
        return 1;
}
