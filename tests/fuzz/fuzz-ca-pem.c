/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: CA validation of what a Secret holds. The input is split at the first NUL byte into
 * tls.crt and tls.key (the key defaults to the whole input), as an attacker with write access to the
 * Secret could shape them. The clock is pinned so that the seeds stay valid. */
#include <stdint.h>
#include <string.h>

#include "pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1796083200   /* 2026-12-01T00:00:00Z, within the seeds' month */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SecretValue *cert = NULL, *key = NULL;
        const uint8_t *nul = memchr(data, 0, size);
        size_t n = nul ? (size_t) (nul - data) : size;
        NsError e = {};
        Ca *ca = NULL;

        pki_set_clock(FUZZ_NOW);
        if (secret_value_new_copy(data, n, &cert) < 0)
                return 0;
        if (nul)
                (void) secret_value_new_copy(nul + 1, size - n - 1, &key);
        else
                (void) secret_value_new_copy(data, size, &key);
        if (key && ca_from_pem(cert, key, NULL, &ca, &e) >= 0)
                ca_free(ca);
        secret_value_free(cert);
        secret_value_free(key);
        return 0;
}
