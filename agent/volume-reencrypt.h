/* SPDX-License-Identifier: Apache-2.0 */
/* Online re-encryption of a volume under a new volume key (LUKS2 reencrypt, resilient). */
#pragma once

#include <stdint.h>

#include "config.h"
#include "error.h"
#include "secret.h"

/* The Secret key that requests a re-encryption: "<key>.reencrypt", a new random value (at least
 * 32 bytes) each time one is wanted. Its digest is recorded in the header when the re-encryption
 * starts, so that one request is carried out once, and resumed, never repeated. */
#define REENCRYPT_REQUEST_SUFFIX ".reencrypt"

/* Called as the re-encryption advances: bytes done of total. */
typedef void (*ReencryptProgress)(const VolumeConfig *v, uint64_t done, uint64_t total, void *userdata);

/* Carries out, or resumes, the re-encryption that "<key>.reencrypt" requests, with the volume open
 * (online; offline when it is closed): a new key slot with a new random volume key under the
 * volume's key (the passphrase in the Secret, unchanged), the request recorded in the header, then
 * crypt_reencrypt_run with checksum resilience, at most bandwidth_mib_s MiB/s (0: no limit). When
 * it completes, libcryptsetup removes the old volume key's slots. 1 when re-encrypted now, 0 when
 * there is no request or it was already carried out. */
int volume_reencrypt(const VolumeConfig *v, SecretSource *s, const char *device, ReencryptProgress progress,
                     void *userdata, NsError *error);
