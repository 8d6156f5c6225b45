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
        uint64_t offset;        /* where it was found: 0, or where a partition would start */
} ProbeResult;

/* Where partitions start on disks that tools made (63 and 2048 sectors, 1, 2, 4, 8, 16 MiB): with
 * the partition table zapped, a filesystem or LUKS header still lies there, and the data with it. */
#define PROBE_PARTITION_OFFSETS                                                               \
        { UINT64_C(63) * 512, UINT64_C(64) * 512, UINT64_C(128) * 512, UINT64_C(2048) * 512, \
          UINT64_C(2) << 20, UINT64_C(4) << 20, UINT64_C(8) << 20, UINT64_C(16) << 20 }

/* Resolves a device spec: a path (block device or regular file), or UUID=, LABEL=, PARTLABEL=
 * through libblkid. -ENOENT (with a message naming the spec) when nothing matches. */
int probe_resolve_device(const char *spec, char **ret_path, NsError *error);

/* Probes path for superblocks (LUKS included) and partition tables. Fails with -EBUSY when a
 * block device is held open exclusively (mounted, mapped, used by md/LVM): such a device is
 * never a candidate for formatting, whatever libblkid says about it. */
int probe_device(const char *path, ProbeResult *ret, NsError *error);

/* Probes the open device fd (path for messages): superblocks and partition tables at its start,
 * and, when nothing is there, superblocks at each of PROBE_PARTITION_OFFSETS. */
int probe_fd(int fd, const char *path, ProbeResult *ret, NsError *error);

/* Whether [from, end of device) of fd was ever written: 1 when the first 4 MiB of it and its last
 * MiB read as zero bytes whole, and so do 4 KiB at each of 1024 evenly spread points in between
 * (as on a new cloud volume, a new image file, a discarded SSD); 0 with the offset of the first
 * non-zero byte otherwise. Random data, plain dm-crypt, a filesystem whose signature was wiped:
 * libblkid sees nothing there, and nodeseal must not format them. */
int probe_fd_unwritten(int fd, const char *path, uint64_t from, uint64_t *ret_offset, NsError *error);
int probe_device_unwritten(const char *path, uint64_t *ret_offset, NsError *error);

/* "ext4 filesystem", "dos partition table", "LUKS2 header": for messages. */
int probe_result_describe(const ProbeResult *p, char *buf, size_t size);

const char *probe_kind_to_string(ProbeKind k) _pure_;
