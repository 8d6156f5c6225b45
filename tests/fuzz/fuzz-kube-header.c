/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: the response header lines the API client reads (Retry-After, as seconds or an HTTP
 * date), as curl hands them over: not terminated, any bytes. Whatever the server sends, the wait it
 * asks for stays within the cap. */
#include <stdint.h>
#include <stdlib.h>

#include "kube-request.h"
#include "kube-status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint64_t usec = UINT64_MAX;
        char *copy;

        /* Exactly size bytes, so that a read past the line is a sanitizer report. */
        copy = malloc(size ?: 1);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        if (kube_header_retry_after(copy, size, &usec) && usec > KUBE_RETRY_AFTER_MAX_USEC)
                abort();
        free(copy);
        return 0;
}
