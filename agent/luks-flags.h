/* SPDX-License-Identifier: Apache-2.0 */
/* The dm-crypt activation flags of a volume: decided from its config and its disk, kept in the header. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config.h"
#include "error.h"

struct crypt_device;

/* The flags nodeseal decides; any other persistent flag in a header is left as it is. */
#define LUKS_FLAGS_MANAGED (CRYPT_ACTIVATE_ALLOW_DISCARDS | CRYPT_ACTIVATE_NO_READ_WORKQUEUE | \
                            CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE)

/* Whether the disk under st (a block device, or the filesystem an image file is on) spins, from
 * queue/rotational in sysfs (the whole disk's for a partition): 1 rotational, 0 not, -ENODATA
 * when the kernel has no such entry (tmpfs, overlay, 9p, btrfs' anonymous devices). */
int luks_flags_rotational(const struct stat *st);

/* The flags for a volume on a disk whose rotational answer is rotational: "auto" turns the
 * no-workqueue flags on for a non-rotational disk only (an unknown one keeps the kernel's
 * workqueues, as a spinning disk does); true and false are taken as they are. */
uint32_t luks_flags_decide(const LuksConfig *l, int rotational);

/* luks_flags_decide() for the device at path. */
uint32_t luks_flags_for_device(const LuksConfig *l, const char *path);

/* "no_read_workqueue no_write_workqueue", "none": for messages. */
void luks_flags_describe(uint32_t flags, char *buf, size_t size);

/* Stores want as the managed persistent flags of cd's LUKS2 header when they differ; 1 when the
 * header was written, 0 when it already had them. device names the device in messages. */
int luks_flags_store(struct crypt_device *cd, uint32_t want, const char *device, NsError *error);
