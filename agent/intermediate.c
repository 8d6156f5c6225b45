/* SPDX-License-Identifier: Apache-2.0 */
/* Per-node intermediate CAs: the request on the node, the certificate from the operator, the signer
 * the node loads. */
#include "intermediate.h"
#include "log.h"
#include "wrap.h"

/* A public value of a Secret as a C string (for the PEM parsers and messages). */
static int value_to_string(const SecretValue *v, char **ret) {
        char *s = strndup((const char *) v->data, v->size);

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int unwrap_intermediate_key(const Config *c, const WrapKek *kek, const SecretValue *text, SecretValue **ret,
                                   NsError *error) {
        int r;

        r = unwrap_key((const char *) text->data, text->size, c->node_name, INTERMEDIATE_WRAP_LABEL, kek, ret, error);
        if (r < 0)
                return ns_error_prefix(error, r, "%s of Secret %s", INTERMEDIATE_KEY_WRAPPED, c->secrets.keys_secret);
        return 0;
}

/* Sets key of secret to value while it holds expected (NULL: absent); -ESTALE when it changed.
 * Where the source cannot replace a Secret (kubernetes), the old value is removed only while it is
 * still expected, then the new one stored if missing and read back: killed in between, the key is
 * absent, which the next run (or the node, with its message) treats as never set. */
static int set_key(SecretSource *s, const char *secret, const char *key, SecretValue *expected, SecretValue *value,
                   NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *stored = NULL;
        int r;

        if (s->vtable->replace) {
                SecretValue *e[] = { expected }, *v[] = { value };
                const char *k[] = { key };
                return secret_source_replace(s, secret, k, e, v, 1, error);
        }
        if (expected) {
                r = secret_source_remove_key_if(s, secret, key, expected, error);
                if (r < 0 && r != -ENOKEY)
                        return r;
        }
        r = secret_source_put_record(s, secret, key, value, &stored, error);
        if (r < 0)
                return r;
        if (stored->size != value->size || memcmp(stored->data, value->data, value->size) != 0)
                return ns_error_set(error, -ESTALE, "%s of Secret %s changed while it was being set; run again", key,
                                    secret);
        return 0;
}

int intermediate_request(const Config *c, SecretSource *s, KeyType t, char **ret_csr, bool *ret_new, NsError *error) {
        const WrappingConfig *w = &c->secrets.wrapping;
        const char *secret = c->secrets.keys_secret;
        _cleanup_(secret_value_freep) SecretValue *text = NULL, *key = NULL, *csr_value = NULL, *stored_csr = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *recovery = NULL;
        _cleanup_free_ char *csr = NULL, *stored = NULL;
        _cleanup_(wrap_kek_done) WrapKek kek = {};
        bool made = false;
        NsError e = {};
        int r;

        if (!w->enabled)
                return ns_error_set(error, -EINVAL, "secrets.wrapping is not configured: the intermediate CA's key is "
                                                    "stored wrapped to this node, so that no other node can read it");
        r = wrap_kek_load_config(w, true, &kek, error);
        if (r < 0)
                return r;

        r = secret_source_get(s, secret, INTERMEDIATE_KEY_WRAPPED, &text, &e);
        if (r == -ENOKEY || r == -ENOENT) {
                _cleanup_(secret_value_freep) SecretValue *key_pem = NULL, *value = NULL;
                _cleanup_free_ char *wrapped = NULL;

                /* The wrapped form holds at most 512 bytes: an RSA key does not fit. */
                if (t != KEY_TYPE_EC_P256 && t != KEY_TYPE_EC_P384 && t != KEY_TYPE_ED25519)
                        return ns_error_set(error, -EOPNOTSUPP,
                                            "key type %s: an intermediate CA's key is ec-p256, ec-p384 or ed25519 (an RSA "
                                            "key is too large to store wrapped)", strna(key_type_to_string(t)));
                r = wrap_recovery_load(w->recovery_public_key, false, &recovery, error);
                if (r < 0)
                        return r;
                r = pki_key_new_pem(t, &key_pem, error);
                if (r < 0)
                        return r;
                r = wrap_key(key_pem, c->node_name, INTERMEDIATE_WRAP_LABEL, &kek, recovery, &wrapped, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Wrapping the intermediate CA's key");
                r = secret_value_new_copy(wrapped, strlen(wrapped), &value);
                if (r < 0)
                        return r;
                /* Another run may have stored one first: what the Secret holds is the key. */
                r = secret_source_put_record(s, secret, INTERMEDIATE_KEY_WRAPPED, value, &text, error);
                if (r < 0)
                        return r;
                made = true;
        } else if (r < 0) {
                if (error)
                        *error = e;
                return r;
        }
        /* Read back and unwrapped before anything is built on it. */
        r = unwrap_intermediate_key(c, &kek, text, &key, error);
        if (r < 0)
                return r;

        r = intermediate_csr_new(key, c->node_name, &csr, error);
        if (r < 0)
                return r;
        r = secret_value_new_copy(csr, strlen(csr), &csr_value);
        if (r < 0)
                return r;
        r = secret_source_put_record(s, secret, INTERMEDIATE_CSR, csr_value, &stored_csr, error);
        if (r < 0)
                return r;
        /* A request stored earlier for this key stays (its signature differs, its key does not); one
         * for another key (an earlier key that was removed) is replaced, and only that one. */
        if (!intermediate_csr_matches_key((const char *) stored_csr->data, stored_csr->size, key)) {
                r = set_key(s, secret, INTERMEDIATE_CSR, stored_csr, csr_value, error);
                if (r < 0)
                        return ns_error_prefix(error, r, "Replacing the stale %s of Secret %s", INTERMEDIATE_CSR, secret);
                stored = TAKE_PTR(csr);
        } else {
                r = value_to_string(stored_csr, &stored);
                if (r < 0)
                        return r;
        }
        *ret_csr = TAKE_PTR(stored);
        if (ret_new)
                *ret_new = made;
        return 0;
}

int intermediate_issue_for(SecretSource *s, const Ca *ca, const char *node, const char *keys_secret,
                           const IntermediateNames *n, const char *key_sha256, uint32_t days, char **ret_pem,
                           char ret_key_sha256[static 65], NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *csr = NULL, *old = NULL, *value = NULL;
        _cleanup_free_ char *pem = NULL;
        NsError e = {};
        int r;

        r = secret_source_get(s, keys_secret, INTERMEDIATE_CSR, &csr, &e);
        if (r == -ENOKEY || r == -ENOENT)
                return ns_error_set(error, r,
                                    "Secret %s has no %s: node %s has not asked for an intermediate CA yet (run "
                                    "\"nodeseal intermediate request\" on it)", keys_secret, INTERMEDIATE_CSR, node);
        if (r < 0) {
                if (error)
                        *error = e;
                return r;
        }
        r = intermediate_issue(ca, (const char *) csr->data, csr->size, node, n, key_sha256, days, &pem, error);
        if (r >= 0)
                r = intermediate_csr_key_sha256((const char *) csr->data, csr->size, ret_key_sha256, error);
        if (r < 0)
                return ns_error_prefix(error, r, "%s of Secret %s", INTERMEDIATE_CSR, keys_secret);

        r = secret_source_get(s, keys_secret, INTERMEDIATE_CRT, &old, &e);
        if (r < 0 && r != -ENOKEY) {
                if (error)
                        *error = e;
                return r;
        }
        r = secret_value_new_copy(pem, strlen(pem), &value);
        if (r < 0)
                return r;
        r = set_key(s, keys_secret, INTERMEDIATE_CRT, old, value, error);
        if (r < 0)
                return r;
        *ret_pem = TAKE_PTR(pem);
        return 0;
}

int intermediate_load(const Config *c, SecretSource *s, Ca **ret, NsError *error) {
        const char *secret = c->secrets.keys_secret, *ca_secret = c->secrets.ca_secret;
        _cleanup_(secret_value_freep) SecretValue *bundle = NULL, *crt = NULL, *text = NULL, *key = NULL;
        _cleanup_(wrap_kek_done) WrapKek kek = {};
        NsError e = {};
        int r;

        /* Trust comes from the CA Secret alone; never from the keys Secret, which this node writes. */
        r = secret_source_get(s, ca_secret, "ca.crt", &bundle, &e);
        if (r == -ENOKEY)
                r = secret_source_get(s, ca_secret, "tls.crt", &bundle, &e);
        if (r < 0) {
                if (error)
                        *error = e;
                return ns_error_prefix(error, r, "The trust bundle (Secret %s)", ca_secret);
        }

        r = secret_source_get(s, secret, INTERMEDIATE_CRT, &crt, &e);
        if (r == -ENOKEY || r == -ENOENT)
                return ns_error_set(error, -ENOKEY,
                                    "secrets.signer is \"intermediate\" but Secret %s has no %s yet: run \"nodeseal "
                                    "intermediate request\" on this node, then \"nodeseal intermediate issue --node %s "
                                    "--dns NAME...\" where the root CA's key is", secret, INTERMEDIATE_CRT, c->node_name);
        if (r < 0) {
                if (error)
                        *error = e;
                return r;
        }
        r = secret_source_get(s, secret, INTERMEDIATE_KEY_WRAPPED, &text, &e);
        if (r == -ENOKEY || r == -ENOENT)
                return ns_error_set(error, -ENOKEY, "Secret %s has %s but no %s: run \"nodeseal intermediate request\" "
                                                    "on this node and have the new request issued", secret,
                                    INTERMEDIATE_CRT, INTERMEDIATE_KEY_WRAPPED);
        if (r < 0) {
                if (error)
                        *error = e;
                return r;
        }
        r = wrap_kek_load_config(&c->secrets.wrapping, false, &kek, error);
        if (r < 0)
                return r;
        r = unwrap_intermediate_key(c, &kek, text, &key, error);
        if (r < 0)
                return r;

        r = ca_from_pem(crt, key, bundle, ret, error);
        if (r == -EKEYREJECTED && ns_error_is_set(error) && strstr(error->message, "does not chain"))
                return ns_error_prefix(error, r, "%s of Secret %s (issued under a CA the trust bundle no longer holds? "
                                                 "after a CA rotation's activate step, re-issue it with \"nodeseal "
                                                 "intermediate issue --node %s\")", INTERMEDIATE_CRT, secret, c->node_name);
        if (r == -EKEYREJECTED && ns_error_is_set(error) && strstr(error->message, "does not match"))
                return ns_error_reset(error, r, "%s of Secret %s certifies another key than %s holds (the key was "
                                              "made again?): have the operator issue it again (\"nodeseal "
                                              "intermediate issue --node %s\")", INTERMEDIATE_CRT, secret,
                                    INTERMEDIATE_KEY_WRAPPED, c->node_name);
        if (r < 0)
                return ns_error_prefix(error, r, "%s of Secret %s", INTERMEDIATE_CRT, secret);
        return 0;
}

int signer_load(const Config *c, SecretSource *s, Ca **ret, NsError *error) {
        /* A node on intermediates never signs with the root key, even where the CA Secret has it. */
        if (c->secrets.signer == SIGNER_INTERMEDIATE)
                return intermediate_load(c, s, ret, error);
        return ca_load(s, ret, error);
}
