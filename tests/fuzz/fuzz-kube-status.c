/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: error bodies of the API server (Status objects, or anything else). */
#include <stdint.h>

#include "kube-client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        KubeStatus st = {};

        kube_json_hooks_install();
        (void) kube_status_parse((const char *) data, size, 403, &st);
        /* What the messages built from a Status rely on: bounded, terminated strings. */
        if (strnlen(st.reason, sizeof(st.reason)) == sizeof(st.reason) ||
            strnlen(st.message, sizeof(st.message)) == sizeof(st.message))
                abort();
        return 0;
}
