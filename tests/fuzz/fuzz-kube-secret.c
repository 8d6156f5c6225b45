/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: what the API server answers for a Secret: the object (with base64 decoding of
 * every key nodeseal reads) and the list of one Secret that a watch starts from. */
#include <stdint.h>

#include "kube-client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const keys[] = { "tls.crt", "tls.key", "ca.crt", "data", "data.previous" };
        char *list_rv = NULL, *object_rv = NULL;
        KubeSecret *s = NULL;
        NsError e = {};

        kube_json_hooks_install();
        if (kube_secret_parse((const char *) data, size, "nodeseal-ca", &s, &e) >= 0) {
                (void) kube_secret_name(s);
                (void) kube_secret_resource_version(s);
                for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                        SecretValue *v = NULL;
                        e = NS_ERROR_NULL;
                        if (kube_secret_get(s, keys[i], &v, &e) >= 0)
                                secret_value_free(v);
                        (void) kube_secret_has_key(s, keys[i]);
                }
                kube_secret_free(s);
        }
        e = NS_ERROR_NULL;
        if (kube_secret_list_parse((const char *) data, size, "nodeseal-ca", &list_rv, &object_rv, &e) >= 0) {
                free(list_rv);
                free(object_rv);
        }
        return 0;
}
