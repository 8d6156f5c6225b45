/* SPDX-License-Identifier: Apache-2.0 */
/* The "kubernetes" secret source. PLACEHOLDER: being written; every read reports -EOPNOTSUPP. */
#include "secret.h"

static int kubernetes_get(SecretSource *s, const char *secret, const char *key, SecretValue **ret, NsError *error) {
        return ns_error_set(error, -EOPNOTSUPP, "The kubernetes secret source is not implemented yet");
}

const SecretSourceVTable secret_source_kubernetes_vtable = {
        .type = SECRET_SOURCE_KUBERNETES,
        .object_size = sizeof(SecretSource),
        .get = kubernetes_get,
};
