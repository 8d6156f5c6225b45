/* SPDX-License-Identifier: Apache-2.0 */
/* Secret memory for what the API server sends: a growable buffer, and cJSON allocations wiped on free. */
#include <libcryptsetup.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kube-buffer.h"
#include "macro.h"
#include "secure.h"

/* ---- cJSON memory that is wiped on free ---- */

void kube_json_hooks_install(void) {
        static atomic_bool installed = false;
        cJSON_Hooks hooks = { .malloc_fn = malloc, .free_fn = secure_free };

        if (atomic_exchange(&installed, true))
                return;
        cJSON_InitHooks(&hooks);
}

/* ---- secret-memory buffers ---- */

int kube_buffer_append(KubeBuffer *b, const void *p, size_t n) {
        size_t max = b->max > 0 ? b->max : KUBE_BODY_SIZE_MAX;

        if (n > max - b->size) {
                b->overflow = true;
                return -EFBIG;
        }
        if (b->size + n + 1 > b->allocated) {
                size_t a = MAX(b->allocated * 2, (size_t) 4096);
                void *d;

                while (a < b->size + n + 1)
                        a *= 2;
                a = MIN(a, max + 1);
                /* crypt_safe_realloc() copies into fresh safe memory and wipes the old block. */
                d = b->data ? crypt_safe_realloc(b->data, a) : crypt_safe_alloc(a);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->allocated = a;
        }
        memcpy(b->data + b->size, p, n);
        b->size += n;
        b->data[b->size] = '\0';
        return 0;
}

void kube_buffer_consume(KubeBuffer *b, size_t n) {
        n = MIN(n, b->size);
        if (n == 0)
                return;
        memmove(b->data, b->data + n, b->size - n);
        b->size -= n;
        crypt_safe_memzero(b->data + b->size, b->allocated - b->size);
}

void kube_buffer_done(KubeBuffer *b) {
        crypt_safe_free(b->data);
        b->data = NULL;
        b->size = b->allocated = 0;
        b->overflow = false;
}

size_t kube_buffer_curl_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
        KubeBuffer *b = userdata;
        size_t n = size * nmemb;

        if (kube_buffer_append(b, ptr, n) < 0)
                return 0;   /* CURLE_WRITE_ERROR; b->overflow tells why */
        return n;
}
