/* SPDX-License-Identifier: Apache-2.0 */
/* The node key sealed in the node's TPM 2.0 (tpm2-tss ESYS): useless on any other machine. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "secure.h"

#define TPM_FORMAT "nodeseal-tpm2/1"
#define TPM_PCR_MAX 24

/* What the node key file holds in tpm2 mode (JSON, no secret in it):
 *   {"format": "nodeseal-tpm2/1", "pcrs": [7, ...], "public": B64, "private": B64}
 * public/private are the TPM2B_PUBLIC/TPM2B_PRIVATE of a sealed data object under the owner
 * hierarchy's storage primary key (the TCG template, re-created on each use: the same key for the
 * same TPM), with a PCR policy over "pcrs" (SHA-256 bank) or none when the list is empty. */
typedef struct TpmSealed {
        uint32_t pcrs[TPM_PCR_MAX];
        size_t n_pcrs;
        uint8_t public_area[1024];
        size_t public_size;
        uint8_t private_area[1024];
        size_t private_size;
} TpmSealed;

/* -EBADMSG naming the field when text is not a sealed node key. */
int tpm_sealed_parse(const char *text, size_t size, TpmSealed *ret, NsError *error);
int tpm_sealed_format(const TpmSealed *s, char **ret);

/* tcti: the TCTI configuration ("device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321"), NULL for
 * tpm2-tss's default. Seals secret (at most 128 bytes) bound to pcrs. */
int tpm_seal(const char *tcti, const uint32_t *pcrs, size_t n_pcrs, const SecretValue *secret, TpmSealed *ret,
             NsError *error);
/* Unseals on this TPM: refused, with the TPM's reason, on another TPM, after the owner hierarchy
 * was cleared, or when the PCRs no longer match. The reply travels encrypted (a salted session). */
int tpm_unseal(const char *tcti, const TpmSealed *s, SecretValue **ret, NsError *error);
