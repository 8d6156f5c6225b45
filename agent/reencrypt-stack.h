/* SPDX-License-Identifier: Apache-2.0 */
/* The helper mappings of an online re-encryption (NAME-overlay, NAME-hotzone-*) left by a killed process. */
#pragma once

#include <libcryptsetup.h>

#include "error.h"
#include "secret.h"

enum {
        REENCRYPT_STACK_HELPERS = 1 << 0,     /* at least one helper mapping of the device is there */
        REENCRYPT_STACK_SUSPENDED = 1 << 1,   /* one of them is suspended: killed in the middle of a hotzone */
};

/* Which helper mappings of NAME exist (REENCRYPT_STACK_* bits, 0 none); with luks_uuid, only those
 * that belong to that LUKS2 device count. */
int reencrypt_stack_helpers(const char *name, const char *luks_uuid);

/* Puts the header's table back into the active mapping NAME of cd's device (built from the
 * overlay's table, the volume keys read from the key slots with key) and removes the helpers. 1
 * when it did, 0 when there was nothing to do; -EBUSY when a helper is suspended (killed inside a
 * hotzone) and -EUCLEAN when the header needs a hotzone recovery: only a close and reopen helps
 * then, and error says so. */
int reencrypt_stack_restore(struct crypt_device *cd, const char *name, const SecretValue *key, NsError *error);

/* libcryptsetup's own lock of a device's re-encryption, which a process holds while it re-encrypts
 * (a flock on <lock dir>/LN_LUKS2-reencryption-<uuid>, lib/utils_device_locking.c, the same since
 * 2.2): held while a re-encryption's leftovers are put in order, so that a live one is never
 * touched. *ret_fd holds it (-EBADF: no lock directory, nobody does); -EBUSY while another
 * process holds it. */
int reencrypt_lock_take(const char *uuid, int *ret_fd);

/* A stack that a kill inside a hotzone left suspended (I/O to the volume waits) is resumed when it
 * can be without reading or writing a block under the wrong key: killed while the overlay was
 * switched to the next hotzone (its live table is still the header's: the next one is dropped),
 * or after the header recorded the hotzone as done (the helper resumes). Killed after the switch
 * and before the record, or while the hotzone's blocks were rewritten, the overlay maps blocks
 * under a key they are not (all) under: refused (-EUCLEAN) with the reason, nothing resumed; a
 * close and open (a reboot) recovers it. 1 when it resumed, 0 when nothing is suspended or a live
 * re-encryption holds libcryptsetup's lock. The helpers stay for reencrypt_stack_restore(). */
int reencrypt_stack_unsuspend(struct crypt_device *cd, const char *name, const SecretValue *key, NsError *error);
