/* SPDX-License-Identifier: Apache-2.0 */
/* Why a LUKS2 header does not load, and the one repair of it that is safe without a human. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* Loads the LUKS2 header of path (display names it in messages) with libcryptsetup's messages
 * captured at debug level. 0 when it loads and carries expected_uuid (NULL or "": any). When it
 * does not load, finds out why from the two header copies (magic, checksum, seqid, UUID) and from
 * libblkid, and says so in *error, naming what the operator should run.
 *
 * A kill in the middle of a LUKS2 metadata write leaves one copy torn and the other good, which
 * libcryptsetup recovers by itself unless libblkid sees another signature on the device; then it
 * refuses ("ambiguous signatures"). When may_repair, the torn copy is rewritten from the good one
 * (crypt_repair, under libcryptsetup's metadata write lock) only when the good copy's UUID is
 * expected_uuid and every foreign signature lies inside the torn copy's own area (bytes the repair
 * replaces, that nothing but that header owns); 1 then, once both copies check. Everything else is
 * refused with nothing written. -EMEDIUMTYPE when path carries no LUKS2 header copy at all. */
int header_repair_examine(const char *path, const char *display, const char *expected_uuid, bool may_repair,
                          NsError *error);

/* The same for the active mapping name (device-mapper's UUID for it names the LUKS UUID the header
 * must carry) over data_device, the device under it. -EEXIST when the mapping is not a LUKS one. */
int header_repair_mapping(const char *name, const char *data_device, bool may_repair, NsError *error);

#define LUKS2_CSUM_LEN 64

/* The checksum of one LUKS2 header copy (its binary header and JSON area, size bytes), over the copy
 * with its checksum field taken as zeros, by the algorithm the copy names; zero-padded to the
 * field's 64 bytes. The digest's length, or -EINVAL for an algorithm OpenSSL does not know. */
int luks2_copy_checksum(const uint8_t *copy, uint64_t size, uint8_t ret[static LUKS2_CSUM_LEN]);
