/* SPDX-License-Identifier: Apache-2.0 */
/* The device stack of an online re-encryption left behind by a killed process, put back in order.
 *
 * While libcryptsetup re-encrypts an active LUKS2 mapping NAME online, NAME is a dm-linear mapping
 * onto NAME-overlay, whose table routes the hotzone through NAME-hotzone-forward. A clean stop
 * tears that down (NAME gets the header's table again); a SIGKILL or a crash of the process leaves
 * it in place, working but not what crypt_reencrypt_init_by_passphrase() expects of an active
 * device ("Mismatching parameters"): the re-encryption could then resume only after closing the
 * volume. libcryptsetup has no public call that reloads a mapping in the middle of a
 * re-encryption, so this does it from public parts: the header's own table comes from a second,
 * temporary activation of the device (libcryptsetup builds it, keys included), is loaded into
 * NAME (suspended without a flush for the swap, as libcryptsetup's own teardown does), and the
 * helpers and the temporary mapping are removed. Each step may be interrupted: the next run finds
 * helpers or the temporary mapping again and does it again. Key material passes through this
 * process's memory only (ioctl buffers wiped: dm_task_secure_data). */
#include <libcryptsetup.h>
#include <libdevmapper.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "reencrypt-stack.h"

static const char * const helper_suffixes[] = { "-overlay", "-hotzone-forward", "-hotzone-backward" };
#define RESUME_SUFFIX "-nsresume"
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

static int dm_remove(const char *name) {
        _cleanup_(dm_task_destroyp) struct dm_task *dmt = dm_task_create(DM_DEVICE_REMOVE);
        uint32_t cookie = 0;

        if (!dmt || !dm_task_set_name(dmt, name) || !dm_task_set_cookie(dmt, &cookie, 0))
                return -ENOMEM;
        if (!dm_task_run(dmt)) {
                (void) dm_udev_wait(cookie);
                return -EBUSY;
        }
        (void) dm_udev_wait(cookie);
        return 0;
}

/* The live table of from, loaded into to (not yet live there): keys are copied, buffers wiped. */
static int dm_copy_table(const char *from, const char *to) {
        _cleanup_(dm_task_destroyp) struct dm_task *get = dm_task_create(DM_DEVICE_TABLE);
        _cleanup_(dm_task_destroyp) struct dm_task *load = dm_task_create(DM_DEVICE_RELOAD);
        uint64_t start, length;
        char *type, *params;
        void *next = NULL;
        int n = 0;

        if (!get || !load || !dm_task_secure_data(get) || !dm_task_secure_data(load) || !dm_task_set_name(get, from) ||
            !dm_task_set_name(load, to))
                return -ENOMEM;
        if (!dm_task_run(get))
                return -EIO;
        do {
                next = dm_get_next_target(get, next, &start, &length, &type, &params);
                if (!type)
                        break;
                if (!dm_task_add_target(load, start, length, type, params))
                        return -ENOMEM;
                n++;
        } while (next);
        if (n == 0)
                return -ENODATA;
        return dm_task_run(load) ? 0 : -EIO;
}

/* Makes the table loaded into name live: suspended without a flush (I/O in flight is held, not
 * failed) and resumed, as libcryptsetup swaps tables under a mounted filesystem. */
static int dm_swap(const char *name) {
        _cleanup_(dm_task_destroyp) struct dm_task *suspend = dm_task_create(DM_DEVICE_SUSPEND);
        _cleanup_(dm_task_destroyp) struct dm_task *resume = dm_task_create(DM_DEVICE_RESUME);
        uint32_t cookie = 0;

        if (!suspend || !resume || !dm_task_set_name(suspend, name) || !dm_task_no_flush(suspend) ||
            !dm_task_skip_lockfs(suspend) || !dm_task_set_name(resume, name) || !dm_task_set_cookie(resume, &cookie, 0))
                return -ENOMEM;
        if (!dm_task_run(suspend))
                return -EIO;
        if (!dm_task_run(resume)) {
                (void) dm_udev_wait(cookie);
                return -EIO;
        }
        (void) dm_udev_wait(cookie);
        return 0;
}

int reencrypt_stack_restore(struct crypt_device *cd, const char *name, const SecretValue *key, NsError *error) {
        const char *uuid = crypt_get_uuid(cd);
        char tmp[256], tmp_uuid[DM_UUID_SIZE];
        struct dm_info info;
        int helpers, r;

        if (!uuid)
                return ns_error_set(error, -EINVAL, "%s: its LUKS2 header has no UUID", name);
        helpers = reencrypt_stack_helpers(name, uuid);
        (void) snprintf(tmp, sizeof(tmp), "%s" RESUME_SUFFIX, name);
        r = dm_info_of(tmp, &info, tmp_uuid, sizeof(tmp_uuid));
        if (r < 0 && r != -ENODEV)
                return ns_error_set(error, r, "%s: cannot look at device-mapper: %s", tmp, strerror(-r));
        if (r >= 0 && !uuid_of_device(tmp_uuid, uuid))
                return ns_error_set(error, -EEXIST, "%s exists and is not a mapping of %s's device; not touching it", tmp, name);
        if (helpers == 0 && r == -ENODEV)
                return 0;
        if (helpers & REENCRYPT_STACK_SUSPENDED)
                return ns_error_set(error, -EBUSY,
                                    "%s: a re-encryption was killed in the middle of a hotzone, whose helper mapping is still "
                                    "suspended (I/O to that part of the volume waits); the header's hotzone checksums keep the "
                                    "data safe, and it resumes after the volume is closed and opened again (a reboot)",
                                    name);
        if (crypt_reencrypt_status(cd, NULL) == CRYPT_REENCRYPT_CRASH)
                return ns_error_set(error, -EUCLEAN,
                                    "%s: the header says a hotzone needs recovery while its mapping is active; it resumes after "
                                    "the volume is closed and opened again (a reboot)", name);

        log_info("%s: a re-encryption killed while running left its device stack in place; putting the header's table back "
                 "under the mounted filesystem.", name);
        if (r == -ENODEV) {
                /* The header's own table, built by libcryptsetup; keys in the table rather than
                 * in a keyring of this process that would be gone when the table is copied. The
                 * lock libcryptsetup takes here fails while another process re-encrypts. */
                crypt_volume_key_keyring(cd, 0);
                r = crypt_activate_by_passphrase(cd, tmp, CRYPT_ANY_SLOT, (const char *) key->data, key->size,
                                                 CRYPT_ACTIVATE_SHARED | CRYPT_ACTIVATE_PRIVATE);
                crypt_volume_key_keyring(cd, 1);
                if (r == -EBUSY)
                        return ns_error_set(error, r, "%s: another process is re-encrypting it right now", name);
                if (r < 0)
                        return ns_error_set(error, r, "%s: building the header's table failed: %s", name, strerror(-r));
        }
        r = dm_copy_table(tmp, name);
        if (r >= 0)
                r = dm_swap(name);
        if (r < 0)
                return ns_error_set(error, r, "%s: loading the header's table failed: %s", name, strerror(-r));
        r = dm_remove(tmp);
        for (size_t i = 0; i < ELEMENTSOF(helper_suffixes); i++) {
                char helper[256], helper_uuid[DM_UUID_SIZE];

                (void) snprintf(helper, sizeof(helper), "%s%s", name, helper_suffixes[i]);
                if (dm_info_of(helper, &info, helper_uuid, sizeof(helper_uuid)) >= 0 && uuid_of_device(helper_uuid, uuid) &&
                    dm_remove(helper) < 0 && r >= 0)
                        r = -EBUSY;
        }
        if (r < 0)
                return ns_error_set(error, r, "%s: removing the helper mappings failed (the next run tries again)", name);
        return 1;
}
