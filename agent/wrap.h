/* SPDX-License-Identifier: Apache-2.0 */
/* Volume keys wrapped to one node: AES-256-GCM under the node's key-encryption key, and the same
 * key wrapped again to the operator's offline recovery key (X25519). */
#pragma once

#include <openssl/evp.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "secure.h"

/* The value stored in the keys Secret under "<key>.wrapped" is one JSON object:
 *   {"format": "nodeseal-wrap/1", "node": N, "volume": V,
 *    "kek": {"type": "file"|"tpm2", "id": ID}, "nonce": B64, "ciphertext": B64,
 *    "recovery": {"type": "x25519", "id": ID, "ephemeral": B64, "nonce": B64, "ciphertext": B64}}
 * "ciphertext" is the volume key followed by the 16-byte GCM tag. Both encryptions authenticate
 * the format, the node, the volume and the key-encryption key's type and id (associated data), so a
 * wrapped key moved to another node's or another volume's name, or edited, opens nothing. */
#define WRAP_FORMAT "nodeseal-wrap/1"
#define WRAP_SUFFIX ".wrapped"
#define WRAP_KEK_SIZE 32
#define WRAP_ID_MAX 65
#define WRAP_NAME_MAX 254
#define WRAP_TEXT_MAX (16 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);

typedef enum WrapKekType {
        WRAP_KEK_FILE,          /* a root-only file on the node: the weaker fallback */
        WRAP_KEK_TPM2,          /* sealed in the node's TPM 2.0, unsealed for each use */
        _WRAP_KEK_TYPE_MAX,
        _WRAP_KEK_TYPE_INVALID = -EINVAL,
} WrapKekType;

const char *wrap_kek_type_to_string(WrapKekType t) _pure_;
WrapKekType wrap_kek_type_from_string(const char *s) _pure_;

/* A node's key-encryption key, in secret memory; its id is public (a digest that names it). */
typedef struct WrapKek {
        WrapKekType type;
        SecretValue *key;               /* WRAP_KEK_SIZE bytes */
        char id[WRAP_ID_MAX];
} WrapKek;

void wrap_kek_done(WrapKek *k);
/* Takes key (WRAP_KEK_SIZE bytes) and computes the id. */
int wrap_kek_from_key(WrapKekType type, SecretValue *key, WrapKek *ret);
/* Where a node key lives: a file that only root can read, holding the key itself ("file", the
 * weaker fallback) or the key sealed in this machine's TPM ("tpm2", through tcti, bound to pcrs). */
typedef struct WrapKekSource {
        WrapKekType type;
        const char *path;
        const char *tcti;               /* NULL: tpm2-tss's default TCTI */
        const uint32_t *pcrs;
        size_t n_pcrs;
} WrapKekSource;

/* Reads the node key file (refused, naming the mode or owner, when anyone but root can read it)
 * and, for tpm2, unseals it; with create, makes one (0600, in a root-only directory) when there is
 * none, and loads it back. */
int wrap_kek_load(const WrapKekSource *src, bool create, WrapKek *ret, NsError *error);
/* The same for the node key secrets.wrapping configures. */
int wrap_kek_load_config(const WrappingConfig *w, bool create, WrapKek *ret, NsError *error);

/* What a wrapped value says about itself, parsed and checked but not decrypted. */
typedef struct WrapRecord {
        char node[WRAP_NAME_MAX + 1];
        char volume[WRAP_NAME_MAX + 1];
        WrapKekType kek_type;
        char kek_id[WRAP_ID_MAX];
        uint8_t nonce[12];
        uint8_t ciphertext[512 + 16];
        size_t ciphertext_size;
        bool has_recovery;
        char recovery_id[WRAP_ID_MAX];
        uint8_t ephemeral[32];
        uint8_t recovery_nonce[12];
        uint8_t recovery_ciphertext[512 + 16];
        size_t recovery_ciphertext_size;
} WrapRecord;

/* -EBADMSG with the reason (which field, what is wrong) when text is not a wrapped key. */
int wrap_parse(const char *text, size_t size, WrapRecord *ret, NsError *error);

/* Wraps key for node and volume under kek, and to recovery (an X25519 public key; NULL: none).
 * ret is the JSON text (no secret in it), malloc'ed. */
int wrap_key(const SecretValue *key, const char *node, const char *volume, const WrapKek *kek,
             EVP_PKEY *recovery, char **ret, NsError *error);

/* Unwraps with the node's kek: refused, naming the reason, when the value was made for another
 * node, volume or key-encryption key, or does not authenticate. */
int unwrap_key(const char *text, size_t size, const char *node, const char *volume, const WrapKek *kek,
               SecretValue **ret, NsError *error);

/* Unwraps the recovery copy with the operator's X25519 private key; the node and volume it was
 * made for are in ret_record. */
int unwrap_key_recovery(const char *text, size_t size, EVP_PKEY *recovery_private, SecretValue **ret,
                        WrapRecord *ret_record, NsError *error);

/* The id of an X25519 public key as it appears in "recovery.id". */
int wrap_recovery_id(EVP_PKEY *key, char ret[static WRAP_ID_MAX]);

/* Reads the operator's X25519 recovery key from a PEM file: the public key (what nodes wrap to)
 * or, with private, the private key (what "nodeseal recover-key" unwraps with). */
int wrap_recovery_load(const char *path, bool private, EVP_PKEY **ret, NsError *error);
