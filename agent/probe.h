/* SPDX-License-Identifier: Apache-2.0 */
/* What is on a device, through libblkid: the one place that decides whether a device is blank. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

typedef enum ProbeKind {
        PROBE_BLANK,            /* libblkid found no superblock and no partition table */
        PROBE_LUKS,             /* a LUKS header (version, label, subsystem below) */
        PROBE_FILESYSTEM,       /* a filesystem, swap, RAID or other superblock (type below) */
        PROBE_PARTITION_TABLE,  /* a partition table (type below) */
        PROBE_AMBIVALENT,       /* more than one signature: refused, never guessed */
        _PROBE_KIND_MAX,
        _PROBE_KIND_INVALID = -EINVAL,
} ProbeKind;

typedef struct ProbeResult {
        ProbeKind kind;
        char type[64];          /* blkid TYPE or PTTYPE: "ext4", "crypto_LUKS", "gpt", ... */
        char usage[32];         /* blkid USAGE: "filesystem", "crypto", "raid", "other" */
        char label[64];         /* blkid LABEL, "" if none */
} ProbeResult;

/* Resolves a device spec: a path (block device or regular file), or UUID=, LABEL=, PARTLABEL=
 * through libblkid. -ENOENT (with a message naming the spec) when nothing matches. */
int probe_resolve_device(const char *spec, char **ret_path, NsError *error);

/* Probes path for superblocks (LUKS included) and partition tables. Fails with -EBUSY when a
 * block device is held open exclusively (mounted, mapped, used by md/LVM): such a device is
 * never a candidate for formatting, whatever libblkid says about it. */
int probe_device(const char *path, ProbeResult *ret, NsError *error);

/* Whether a device libblkid calls blank was ever written: 1 when its first and last MiB, and 4 KiB
 * read at evenly spread points in between, are all zero bytes (as on a new cloud volume, a new
 * image file, a discarded SSD); 0 with the offset of the first non-zero byte otherwise. Random
 * data, plain dm-crypt, a filesystem whose signature was wiped: libblkid sees nothing there, and
 * nodeseal must not format them. */
int probe_device_unwritten(const char *path, uint64_t *ret_offset, NsError *error);

/* "ext4 filesystem", "dos partition table", "LUKS2 header": for messages. */
int probe_result_describe(const ProbeResult *p, char *buf, size_t size);

const char *probe_kind_to_string(ProbeKind k) _pure_;
