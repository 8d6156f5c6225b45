/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: intermediate.csr as a node (or whoever can write its keys Secret) stores it, given
 * to the operator's "nodeseal intermediate issue": parsed, its signature checked, certified by a
 * CA made once per run for fixed names; and the same bytes as intermediate.crt described. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Ca *fuzz_ca(void) {
        static Ca *ca = NULL;
        SecretValue *key = NULL, *cert = NULL;
        char *pem = NULL;
        NsError e = {};

        if (ca)
                return ca;
        if (ca_generate("fuzz root", KEY_TYPE_EC_P256, 30, &pem, &key, &e) < 0 ||
            secret_value_new_copy(pem, strlen(pem), &cert) < 0 || ca_from_pem(cert, key, NULL, &ca, &e) < 0)
                abort();
        free(pem);
        secret_value_free(key);
        secret_value_free(cert);
        return ca;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        IntermediateNames n = {};
        char *pem = NULL, *info = NULL;
        NsError e = {};

        if (intermediate_names_add_dns(&n, "node-a.example", &e) < 0 ||
            intermediate_names_add_range(&n, "10.0.0.0/24", &e) < 0)
                abort();
        if (intermediate_issue(fuzz_ca(), (const char *) data, size, "node-a", &n, NULL, 30, &pem, &e) >= 0 && !pem)
                abort();
        if (intermediate_cert_info((const char *) data, size, &info, &e) >= 0)
                free(info);
        free(pem);
        intermediate_names_done(&n);
        return 0;
}
