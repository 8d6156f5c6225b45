/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a CA Secret during a rotation, as ca-rotate reads it (tls.crt, tls.key, ca.crt,
 * next.crt, next.key, previous.crt, previous.key; split at NUL bytes, an empty part an absent key),
 * through every step: the stage read from the keys, the bundle edits, the CAs validated. A step
 * that changes the Secret must lead to the stage it names. For prepare the new CA is next.* of the
 * input. The clock is pinned so that the seeds stay valid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki.h"
#include "rotation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1796083200   /* 2026-12-01T00:00:00Z */

static SecretValue *next_part(const uint8_t **p, const uint8_t *end) {
        const uint8_t *nul = memchr(*p, 0, (size_t) (end - *p));
        size_t n = nul ? (size_t) (nul - *p) : (size_t) (end - *p);
        SecretValue *v = NULL;

        if (n > 0)
                (void) secret_value_new_copy(*p, n, &v);
        *p = nul ? nul + 1 : end;
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const RotationStage leads_to[_ROTATION_STEP_MAX] = {
                [ROTATION_STEP_PREPARE] = ROTATION_PREPARED, [ROTATION_STEP_ACTIVATE] = ROTATION_ACTIVATED,
                [ROTATION_STEP_FINISH] = ROTATION_NONE, [ROTATION_STEP_ROLLBACK] = ROTATION_PREPARED,
                [ROTATION_STEP_ABORT] = ROTATION_NONE,
        };
        const uint8_t *p = data, *end = data + size;
        CaSecret in = {}, prep = {};

        pki_set_clock(FUZZ_NOW);
        for (size_t i = 0; i < _CA_SECRET_KEY_MAX; i++)
                in.v[i] = next_part(&p, end);
        /* prepare starts from a Secret without next.*: the new CA comes beside it. */
        prep.v[CA_SECRET_TLS_CRT] = in.v[CA_SECRET_TLS_CRT];
        prep.v[CA_SECRET_TLS_KEY] = in.v[CA_SECRET_TLS_KEY];
        prep.v[CA_SECRET_CA_CRT] = in.v[CA_SECRET_CA_CRT];

        for (RotationStep step = 0; step < _ROTATION_STEP_MAX; step++) {
                const CaSecret *from = step == ROTATION_STEP_PREPARE ? &prep : &in;
                CaSecret out = {};
                RotationStage st;
                char *notes = NULL;
                NsError e = {};
                int r;

                r = rotation_step(from, step, in.v[CA_SECRET_NEXT_CRT], in.v[CA_SECRET_NEXT_KEY], &out, &notes, &e);
                if (r > 0 && (rotation_stage_of(&out, &st, NULL) < 0 || st != leads_to[step]))
                        abort();
                if (r < 0 && strnlen(e.message, sizeof(e.message)) == sizeof(e.message))
                        abort();
                free(notes);
                ca_secret_done(&out);
        }
        ca_secret_done(&in);
        pki_set_clock(0);
        return 0;
}
