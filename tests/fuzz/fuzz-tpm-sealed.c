/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the node key file of node_key "tpm2" (the sealed object's JSON), parsed, written
 * back and parsed again to the same thing; no TPM is touched. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        TpmSealed a, b;
        NsError e = {};
        char *text = NULL;

        if (tpm_sealed_parse((const char *) data, size, &a, &e) < 0)
                return 0;
        if (a.n_pcrs > TPM_PCR_MAX || a.public_size > sizeof(a.public_area) || a.private_size > sizeof(a.private_area))
                abort();
        if (tpm_sealed_format(&a, &text) < 0 || tpm_sealed_parse(text, strlen(text), &b, &e) < 0 ||
            a.n_pcrs != b.n_pcrs || a.public_size != b.public_size || a.private_size != b.private_size ||
            memcmp(a.public_area, b.public_area, a.public_size) != 0 ||
            memcmp(a.private_area, b.private_area, a.private_size) != 0)
                abort();
        free(text);
        return 0;
}
