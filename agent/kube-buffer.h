/* SPDX-License-Identifier: Apache-2.0 */
/* Secret memory for what the API server sends: a growable buffer, and cJSON allocations wiped on free. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Our cap on any response body: a Secret's JSON is base64 of up to KUBE_SECRET_SIZE_MAX, a third
 * larger, plus metadata. */
#define KUBE_BODY_SIZE_MAX (4 * 1024 * 1024)

/* A growable buffer in crypt_safe_alloc() memory, capped at max. */
typedef struct KubeBuffer {
        char *data;
        size_t size;
        size_t allocated;
        size_t max;
        bool overflow;
} KubeBuffer;

int kube_buffer_append(KubeBuffer *b, const void *p, size_t n);
void kube_buffer_done(KubeBuffer *b);
/* Drops the first n bytes, wiping what moves. */
void kube_buffer_consume(KubeBuffer *b, size_t n);
/* curl write callback appending to a KubeBuffer. */
size_t kube_buffer_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata);

/* cJSON allocations wiped on free (malloc_usable_size + explicit_bzero): Secret JSON passes
 * through cJSON strings. Process-wide and idempotent. */
void kube_json_hooks_install(void);
