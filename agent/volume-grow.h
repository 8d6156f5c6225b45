/* SPDX-License-Identifier: Apache-2.0 */
/* Online grow: the dm-crypt mapping follows its grown device, then the filesystem follows the mapping. */
#pragma once

#include <stdint.h>

#include "config.h"
#include "error.h"
#include "secure.h"

struct crypt_device;

/* A gap smaller than this is left alone (alignment, a last ext4 group too small to add). */
#define VOLUME_GROW_MIN_BYTES (UINT64_C(4) << 20)

/* The active mapping name (cd loaded by name) grown to the whole of its device when the device is
 * larger by at least VOLUME_GROW_MIN_BYTES: the volume key is loaded into the kernel keyring with
 * key (LUKS2 keeps it there), then crypt_resize. 1 when grown, 0 when nothing to do. */
int volume_grow_mapping(const VolumeConfig *v, struct crypt_device *cd, const SecretValue *key, NsError *error);

/* The filesystem on mapper (mounted at v's mountpoint) grown online to the mapper's size when it is
 * smaller by at least VOLUME_GROW_MIN_BYTES. 1 when grown, 0 when nothing to do. */
int volume_grow_filesystem(const VolumeConfig *v, const char *mapper, NsError *error);

/* Without changing anything: 1 (with what grew in error's message) when the mapping or its
 * filesystem is smaller than what it lies on, 0 when not, an error when it cannot tell. */
int volume_grow_pending(const VolumeConfig *v, NsError *error);
