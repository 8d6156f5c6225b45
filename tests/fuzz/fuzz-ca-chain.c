/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target: a CA Secret with its trust bundle, as during a CA rotation: tls.crt (the CA, any
 * intermediates, maybe its root), tls.key (PKCS#8, SEC1 or PKCS#1 PEM) and ca.crt (several roots,
 * text between them), split at NUL bytes. Where fuzz-ca-pem stops at the CA itself, this one always
 * gives ca.crt: the bundle parser, the chain check against it, the chain a leaf carries and the
 * trust PEM written back out. The clock is pinned so that the seeds stay valid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1796083200   /* 2026-12-01T00:00:00Z */

/* The next part up to a NUL byte (or the end); advances *p. */
static SecretValue *next_part(const uint8_t **p, const uint8_t *end) {
        const uint8_t *nul = memchr(*p, 0, (size_t) (end - *p));
        size_t n = nul ? (size_t) (nul - *p) : (size_t) (end - *p);
        SecretValue *v = NULL;

        (void) secret_value_new_copy(*p, n, &v);
        *p = nul ? nul + 1 : end;
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *p = data, *end = data + size;
        SecretValue *cert, *key, *bundle;
        NsError e = {};
        Ca *ca = NULL;

        pki_set_clock(FUZZ_NOW);
        cert = next_part(&p, end);
        key = next_part(&p, end);
        bundle = next_part(&p, end);
        if (cert && key && bundle) {
                if (ca_from_pem(cert, key, bundle, &ca, &e) >= 0) {
                        char *trust = NULL;

                        if (ca_trust_pem(ca, &trust) < 0 || !strstr(trust, "-----BEGIN CERTIFICATE-----") ||
                            ca_issue_limit(ca) > ca_not_after(ca))
                                abort();
                        free(trust);
                        ca_free(ca);
                } else if (strnlen(e.message, sizeof(e.message)) == sizeof(e.message))
                        abort();
        }
        secret_value_free(cert);
        secret_value_free(key);
        secret_value_free(bundle);
        return 0;
}
