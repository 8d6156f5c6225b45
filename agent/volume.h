/* SPDX-License-Identifier: Apache-2.0 */
/* LUKS2 volume lifecycle: format-if-blank, open, mkfs, mount, check, close. */
#pragma once

#include <libcryptsetup.h>

#include "config.h"
#include "error.h"
#include "secret.h"

#define VOLUME_MAPPER_PREFIX "nodeseal-"


/* "/dev/mapper/nodeseal-<name>" into buf. */
int volume_mapper_path(const VolumeConfig *v, char *buf, size_t size);
/* The PBKDF of new key slots: pbkdf2 at the minimum (the keys are random) or the configured argon2id. */
int volume_set_pbkdf(struct crypt_device *cd, const LuksConfig *l, NsError *error);

/* Brings v to "open and mounted", converging from any state; never formats a device that holds
 * anything. Returns 0 when everything was already in place, >0 when something was done. */
int volume_provision(const Config *c, const VolumeConfig *v, SecretSource *s, NsError *error);

/* Checks without changing anything that v is open, mounted at its mountpoint from its own mapper
 * device, and writable. */
int volume_check(const Config *c, const VolumeConfig *v, NsError *error);

/* Unmounts and closes v; -EBUSY (naming the holder) when the mountpoint is in use. */
int volume_close(const Config *c, const VolumeConfig *v, NsError *error);
