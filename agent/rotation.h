/* SPDX-License-Identifier: Apache-2.0 */
/* CA rotation with overlap: the stages of the CA Secret (prepare, activate, finish, abort) as pure
 * functions from one Secret to the next, and the stage a node has reached. */
#pragma once

#include "error.h"
#include "secure.h"

/* Where the CA Secret is. The stage is read from which keys it holds, so every node and every run
 * of the command sees the same stage, with nothing kept anywhere else:
 *   none       tls.crt/tls.key sign; ca.crt (if any) is the bundle
 *   prepared   + next.crt/next.key (the new CA, not signing yet); ca.crt = old + new
 *   activated  tls.crt/tls.key = the new CA; previous.crt/previous.key = the old; ca.crt = old + new */
typedef enum RotationStage {
        ROTATION_NONE,
        ROTATION_PREPARED,
        ROTATION_ACTIVATED,
        _ROTATION_STAGE_MAX,
        _ROTATION_STAGE_INVALID = -EINVAL,
} RotationStage;

typedef enum RotationStep {
        ROTATION_STEP_PREPARE,    /* none → prepared */
        ROTATION_STEP_ACTIVATE,   /* prepared → activated */
        ROTATION_STEP_FINISH,     /* activated → none, the old CA out of the bundle */
        ROTATION_STEP_ROLLBACK,   /* activated → prepared: the old CA signs again */
        ROTATION_STEP_ABORT,      /* prepared → none: the new CA out of the bundle and the Secret */
        _ROTATION_STEP_MAX,
        _ROTATION_STEP_INVALID = -EINVAL,
} RotationStep;

/* The keys of the CA Secret a rotation reads and writes. */
typedef enum CaSecretKey {
        CA_SECRET_TLS_CRT,
        CA_SECRET_TLS_KEY,
        CA_SECRET_CA_CRT,
        CA_SECRET_NEXT_CRT,
        CA_SECRET_NEXT_KEY,
        CA_SECRET_PREVIOUS_CRT,
        CA_SECRET_PREVIOUS_KEY,
        _CA_SECRET_KEY_MAX,
        _CA_SECRET_KEY_INVALID = -EINVAL,
} CaSecretKey;

/* Each key's value, NULL when the Secret lacks it. */
typedef struct CaSecret {
        SecretValue *v[_CA_SECRET_KEY_MAX];
} CaSecret;

void ca_secret_done(CaSecret *s);

/* The stage the keys say; -EBADMSG (error says what) for a mix no step makes: half a pair, next
 * and previous both, tls.crt missing. */
int rotation_stage_of(const CaSecret *s, RotationStage *ret, NsError *error);

/* The Secret after step. new_crt/new_key: the new CA, for prepare only. 0: the Secret is already
 * where step leads (nothing to do; *ret untouched); 1: *ret holds the whole new Secret (every
 * value copied); -EBUSY when the Secret is at a stage from which step does not go (error says
 * where it is and what to run), -EKEYREJECTED/-EKEYEXPIRED when a CA of the result is not
 * usable. ret_notes (optional): what was left out of the bundle (expired CAs), NULL none. */
int rotation_step(const CaSecret *in, RotationStep step, const SecretValue *new_crt, const SecretValue *new_key,
                  CaSecret *ret, char **ret_notes, NsError *error);

/* The stage a node has reached, from what it wrote and loaded: bundle_loaded is true when every
 * certificate's trust file (and the runtime bundle) holds every CA of the Secret's bundle and its
 * datastore has loaded it; signed_by_current when every certificate was issued by tls.crt;
 * bundle_exact when the written bundle is the Secret's bundle and nothing more. */
RotationStage rotation_node_stage(RotationStage secret_stage, bool bundle_loaded, bool signed_by_current,
                                  bool bundle_exact);

const char *rotation_stage_to_string(RotationStage s) _pure_;
RotationStage rotation_stage_from_string(const char *s) _pure_;
const char *rotation_step_to_string(RotationStep s) _pure_;
RotationStep rotation_step_from_string(const char *s) _pure_;
const char *ca_secret_key_to_string(CaSecretKey k) _pure_;
