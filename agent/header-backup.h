/* SPDX-License-Identifier: Apache-2.0 */
/* LUKS2 header backups of the volumes, kept current after every header change, and their restore. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "secret.h"

/* What identifies a LUKS2 header: its UUID, label and subsystem, and its sequence id (LUKS2 counts
 * every write of the metadata: a backup is current while its seqid is the device's). */
typedef struct HeaderIdentity {
        char uuid[41];
        char label[49];
        char subsystem[49];
        uint64_t seqid;
} HeaderIdentity;

/* The primary LUKS2 binary header at the start of fd. -EBADMSG when there is none. */
int header_identity_read(int fd, HeaderIdentity *ret);

/* A Secret holds at most 1 MiB (the API server adds up the decoded values of its keys). The
 * default LUKS2 header with its key slot area is 16 MiB and, its unused area being random, does
 * not compress: a volume whose header is backed up in a Secret is formatted with 16 KiB metadata
 * (twice) and a 960 KiB key slot area (room for three 512-bit key slots), a 992 KiB header. */
#define HEADER_BACKUP_SECRET_MAX (UINT64_C(1024) * 1024)
#define HEADER_BACKUP_SECRET_METADATA_BYTES UINT64_C(16384)
#define HEADER_BACKUP_SECRET_KEYSLOTS_BYTES (UINT64_C(960) * 1024)
#define HEADER_BACKUP_SECRET_SUFFIX ".luks-header"

struct crypt_device;

/* Before crypt_format() of a new volume: the smaller layout when v keeps its backup in a Secret. */
int header_backup_format_layout(const VolumeConfig *v, struct crypt_device *cd, NsError *error);

/* "<dir>/<volume>.luks-header" into buf; -ENOENT when the volume keeps no backup. */
int header_backup_path(const VolumeConfig *v, char *buf, size_t size);

/* Makes the backup of v current from the LUKS2 header on the device open at device_fd (display
 * names it in messages): when the backup is missing or its UUID or seqid differ, a new one is
 * written with crypt_header_backup() through that same handle into the root-only backup directory
 * (made 0700, reached without symlinks), checked to carry the identity that was read, and renamed
 * over the old one. expect_uuid (with or without dashes; NULL: no check) is the UUID the header
 * must carry: a device with another header is refused (-EUCLEAN) and the old backup kept. With
 * header_backup.secret the same backup is kept current under "<volume>.luks-header" of that Secret
 * (in s), compared and replaced only while it holds what was read; a header larger than a Secret
 * holds is refused there (-EFBIG, naming its size). 1 when written, 0 when it was current or the
 * volume keeps none. */
int header_backup_sync(const VolumeConfig *v, SecretSource *s, int device_fd, const char *display, const char *expect_uuid,
                       NsError *error);

/* The same for the disk the active mapping (its /dev/mapper path) sits on, as the kernel's table
 * says, opened and pinned by its device number, its header checked against the UUID the mapping
 * was made from. Never reads a configured path: a re-pointed link never makes a backup of another
 * disk. */
int header_backup_sync_mapping(const VolumeConfig *v, SecretSource *s, const char *mapper, NsError *error);

/* Asked with the plan (what will be written where, and why it is believed safe): 1 to go on. */
typedef int (*HeaderRestoreConfirm)(const char *plan, void *userdata);

/* nodeseal recover: restores the backup of v onto its device, whose header is damaged, once
 * confirm() agreed to the plan. Refused, writing nothing, when the volume is open, the backup's
 * UUID is not the one the format record names, the device carries another header or a header the
 * key still opens, or the device's data area does not decrypt (with the backup's volume key) to the
 * volume's filesystem: a backup is never written onto another disk. 1 when restored. */
int header_backup_recover(const VolumeConfig *v, SecretSource *s, HeaderRestoreConfirm confirm, void *userdata,
                          NsError *error);
