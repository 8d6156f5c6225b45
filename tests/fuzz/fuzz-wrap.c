/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a wrapped volume key as the keys Secret holds it ("<key>.wrapped"), unwrapped with a
 * fixed node key and a fixed recovery key, as a node that can write the Secret could shape it. A
 * value that opens must open to at most the largest volume key, and only for the names it bears. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The seeds in the corpus were made with these keys. */
static const uint8_t fuzz_kek[WRAP_KEK_SIZE] = { [0 ... WRAP_KEK_SIZE - 1] = 0x5a };
static const uint8_t fuzz_recovery[32] = { [0 ... 31] = 0x42 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static EVP_PKEY *rec;
        SecretValue *k = NULL, *out = NULL;
        WrapRecord w;
        WrapKek kek;
        NsError e = {};

        if (!rec && !(rec = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, fuzz_recovery, sizeof(fuzz_recovery))))
                abort();
        if (secret_value_new_copy(fuzz_kek, sizeof(fuzz_kek), &k) < 0 || wrap_kek_from_key(WRAP_KEK_FILE, k, &kek) < 0)
                abort();
        if (unwrap_key((const char *) data, size, "fuzz-node", "fuzz-volume", &kek, &out, &e) >= 0 &&
            (out->size == 0 || out->size > 512))
                abort();
        out = secret_value_free(out);
        e = NS_ERROR_NULL;
        if (unwrap_key_recovery((const char *) data, size, rec, &out, &w, &e) >= 0 &&
            (out->size == 0 || out->size > 512 || strlen(w.node) == 0 || strlen(w.volume) == 0))
                abort();
        secret_value_free(out);
        wrap_kek_done(&kek);
        return 0;
}
