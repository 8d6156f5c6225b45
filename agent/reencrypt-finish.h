/* SPDX-License-Identifier: Apache-2.0 */
/* A re-encryption finished on disk but killed while libcryptsetup removed its metadata. */
#pragma once

#include <cjson/cJSON.h>
#include <libcryptsetup.h>

#include "error.h"
#include "secret.h"

/* libcryptsetup (2.6, and upstream since) ends a re-encryption in several header writes: first it
 * destroys the key slots of the old volume key one by one, then it drops the backup segments, the
 * re-encryption key slot and the requirement flag in one last write. Killed (or powered off)
 * between them, the header says a re-encryption is under way whose old volume key no key slot
 * holds: no key opens it, and cryptsetup open, reencrypt --resume-only and repair all fail,
 * although every block is already under the new volume key.
 *
 * When cd's header is in exactly that state (the one data segment equal to the final one, the old
 * key's digest bound to no key slot, the new one bound to a slot), writes the header that the last
 * write would have written: the same JSON without the re-encryption key slot, the backup segments,
 * the old digest and the requirement, sequence number one up, both copies. It is built in memory
 * from the device's own bytes, loaded by libcryptsetup and opened with key before it is written,
 * the device's copies are read again just before, and it is written under libcryptsetup's locks
 * (crypt_header_restore). 1 then (cd holds the new header), 0 when the header is not in that state,
 * < 0 with *error naming the reason when it is in a state like it that is not provably finished
 * (nothing written). Messages name the volume and the device as given. */
int reencrypt_finish_interrupted(struct crypt_device *cd, const char *volume, const char *device, const SecretValue *key,
                                 NsError *error);

/* The judgement and the edit on the LUKS2 JSON alone (json: the metadata as libcryptsetup dumps it or
 * as a header copy holds it): 1 with *ret_finished (malloc'd; may be NULL to judge only) the JSON
 * the last write would leave; 0 not that state; < 0 like it but not provably finished, why says how. */
int reencrypt_finish_json(const char *json, char **ret_finished, char *why, size_t size);

/* The id of the digest in a LUKS2 "digests" object that lists segment id; NULL for none or several. */
const char *luks2_digest_of_segment(const cJSON *digests, const char *id);
