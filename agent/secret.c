/* SPDX-License-Identifier: Apache-2.0 */
/* Secret-source dispatch and the reads every caller shares. */
#include <ctype.h>

#include <openssl/crypto.h>

#include "secret.h"
#include "wrap.h"

static const SecretSourceVTable * const vtables[_SECRET_SOURCE_TYPE_MAX] = {
        [SECRET_SOURCE_DIRECTORY] = &secret_source_directory_vtable,
        [SECRET_SOURCE_KUBERNETES] = &secret_source_kubernetes_vtable,
};

int secret_source_new(const Config *c, SecretSource **ret, NsError *error) {
        const SecretSourceVTable *vt;
        SecretSource *s;
        int r;

        if (c->secrets.type < 0 || c->secrets.type >= _SECRET_SOURCE_TYPE_MAX)
                return ns_error_set(error, -EINVAL, "Unknown secret source type");
        vt = vtables[c->secrets.type];

        s = calloc(1, vt->object_size);
        if (!s)
                return -ENOMEM;
        s->vtable = vt;
        s->config = c;

        if (vt->init) {
                r = vt->init(s);
                if (r < 0) {
                        free(s);
                        return ns_error_set(error, r, "Failed to set up the %s secret source: %s",
                                            secret_source_type_to_string(vt->type), strerror(-r));
                }
        }
        *ret = s;
        return 0;
}

SecretSource *secret_source_free(SecretSource *s) {
        if (!s)
                return NULL;
        if (s->vtable->done)
                s->vtable->done(s);
        free(s);
        return NULL;
}

int secret_source_get(SecretSource *s, const char *secret, const char *key, SecretValue **ret, NsError *error) {
        int r;

        if (!secret_name_is_valid(secret))
                return ns_error_set(error, -EINVAL, "Invalid Secret name \"%s\"", secret);
        if (!secret_key_is_valid(key))
                return ns_error_set(error, -EINVAL, "Invalid key \"%s\" for Secret %s", key, secret);
        r = s->vtable->get(s, secret, key, ret, error);
        /* The frames below held the Secret's body (TLS records, JSON, base64): dead, not gone. */
        secure_wipe_stack();
        return r;
}

int secret_source_put_if_missing(SecretSource *s, const char *secret, const char *key, const SecretValue *value,
                                 SecretValue **ret_stored, NsError *error) {
        if (!s->vtable->put_if_missing)
                return ns_error_set(error, -EOPNOTSUPP, "The %s secret source cannot store keys",
                                    secret_source_type_to_string(s->vtable->type));
        if (!secret_name_is_valid(secret) || !secret_key_is_valid(key))
                return ns_error_set(error, -EINVAL, "Invalid Secret name or key: %s/%s", secret, key);
        return s->vtable->put_if_missing(s, secret, key, value, ret_stored, error);
}

int secret_source_put_record(SecretSource *s, const char *secret, const char *key, const SecretValue *value,
                             SecretValue **ret_stored, NsError *error) {
        int r;

        s->storing_record = true;
        r = secret_source_put_if_missing(s, secret, key, value, ret_stored, error);
        s->storing_record = false;
        return r;
}

int secret_source_replace(SecretSource *s, const char *secret, const char * const *keys, SecretValue * const *expected,
                          SecretValue * const *values, size_t n, NsError *error) {
        if (!s->vtable->replace)
                return ns_error_set(error, -EOPNOTSUPP, "The %s secret source cannot replace a Secret",
                                    secret_source_type_to_string(s->vtable->type));
        if (!secret_name_is_valid(secret))
                return ns_error_set(error, -EINVAL, "Invalid Secret name \"%s\"", secret);
        for (size_t i = 0; i < n; i++)
                if (!secret_key_is_valid(keys[i]))
                        return ns_error_set(error, -EINVAL, "Invalid key \"%s\" for Secret %s", keys[i], secret);
        return s->vtable->replace(s, secret, keys, expected, values, n, error);
}

void secret_source_invalidate(SecretSource *s) {
        if (s->vtable->invalidate)
                s->vtable->invalidate(s);
}

bool secret_source_generates_keys(SecretSource *s) {
        return s->vtable->generates_keys && s->vtable->generates_keys(s);
}

void secret_source_snapshot(SecretSource *s, char * const *secrets) {
        if (s->vtable->snapshot)
                s->vtable->snapshot(s, secrets);
}

int secret_source_watch(SecretSource *s, sd_event *event, char * const *secrets, SecretChangedHandler handler,
                        void *userdata, NsError *error) {
        if (!s->vtable->watch)
                return -EOPNOTSUPP;
        return s->vtable->watch(s, event, secrets, handler, userdata, error);
}

void secret_source_versions(SecretSource *s, const SecretVersion **ret, size_t *ret_n) {
        *ret = NULL;
        *ret_n = 0;
        if (s->vtable->versions)
                s->vtable->versions(s, ret, ret_n);
}

void secret_source_remember(SecretSource *s, const char *secret, const char *resource_version) {
        if (s->vtable->remember)
                s->vtable->remember(s, secret, resource_version);
}

int secret_source_remove_key_if(SecretSource *s, const char *secret, const char *key, const SecretValue *expected,
                                NsError *error) {
        if (!s->vtable->remove_key_if)
                return ns_error_set(error, -EOPNOTSUPP, "The %s source cannot remove keys",
                                    secret_source_type_to_string(s->vtable->type));
        if (!secret_name_is_valid(secret) || !secret_key_is_valid(key))
                return ns_error_set(error, -EINVAL, "Invalid Secret or key name");
        return s->vtable->remove_key_if(s, secret, key, expected, error);
}

/* The name a volume key is stored under: "<key>", "<key>.previous", each with ".wrapped". */
static void volume_key_name(const VolumeConfig *v, bool previous, bool wrapped, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s%s%s", v->key ?: v->name, previous ? ".previous" : "", wrapped ? WRAP_SUFFIX : "");
}

static int check_key_size(SecretSource *s, const char *key, SecretValue **k, NsError *error) {
        size_t n = (*k)->size;

        if (n >= VOLUME_KEY_MIN_BYTES)
                return 0;
        *k = secret_value_free(*k);
        return ns_error_set(error, -EMSGSIZE,
                            "Key \"%s\" of Secret %s is %zu bytes long; a volume key must hold at least %d random bytes",
                            key, s->config->secrets.keys_secret, n, VOLUME_KEY_MIN_BYTES);
}

/* The key wrapped to this node under name ("<key>[.previous].wrapped"), unwrapped. The node and the
 * key's own name are authenticated, so another node's value, or another volume's, opens nothing. */
static int unwrap_volume_key(SecretSource *s, const VolumeConfig *v, const char *name, const SecretValue *text,
                             SecretValue **ret, NsError *error) {
        const WrappingConfig *w = &s->config->secrets.wrapping;
        WrapKek kek = {};
        int r;

        if (!w->enabled)
                return ns_error_set(error, -ENOKEY,
                                    "Key \"%s\" of Secret %s is wrapped to a node key, and secrets.wrapping is not "
                                    "configured on this node", name, s->config->secrets.keys_secret);
        r = wrap_kek_load_config(w, false, &kek, error);
        if (r < 0)
                return ns_error_prefix(error, r, "Key \"%s\" of Secret %s", name, s->config->secrets.keys_secret);
        r = unwrap_key((const char *) text->data, text->size, s->config->node_name, v->key ?: v->name, &kek, ret, error);
        wrap_kek_done(&kek);
        if (r < 0)
                return ns_error_prefix(error, r, "Key \"%s\" of Secret %s", name, s->config->secrets.keys_secret);
        return 0;
}

int secret_source_get_volume_key(SecretSource *s, const VolumeConfig *v, bool previous, SecretValue **ret,
                                 NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *k = NULL, *text = NULL;
        char name[300];
        NsError e = {};
        int r;

        volume_key_name(v, previous, true, name, sizeof(name));
        r = secret_source_get(s, s->config->secrets.keys_secret, name, &text, &e);
        if (r >= 0) {
                r = unwrap_volume_key(s, v, name, text, &k, error);
                if (r < 0)
                        return r;
                r = check_key_size(s, name, &k, error);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(k);
                return 0;
        }
        if (r != -ENOKEY && r != -ENOENT) {
                if (error)
                        *error = e;
                return r;
        }

        volume_key_name(v, previous, false, name, sizeof(name));
        r = secret_source_get(s, s->config->secrets.keys_secret, name, &k, error);
        if (r < 0)
                return r;
        /* Once keys are wrapped, a plain key is what another node that can write the Secret would
         * plant (it knows that key); it is taken only while the migration is under way. */
        if (s->config->secrets.wrapping.enabled && !s->config->secrets.wrapping.accept_plain_keys)
                return ns_error_set(error, -EPERM,
                                    "Key \"%s\" of Secret %s is a plain key and this node takes wrapped keys only (run "
                                    "\"nodeseal wrap-keys\" to wrap it, or set secrets.wrapping.accept_plain_keys "
                                    "during the migration)", name, s->config->secrets.keys_secret);
        r = check_key_size(s, name, &k, error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}

/* Wraps key for v (to the node and the recovery key), stores it as "<key>[.previous].wrapped" unless
 * that exists, reads back and unwraps what is stored: the caller uses that. existing: the key is
 * already in the Secret in plain (the migration), so storing it is no key generation. */
static int store_wrapped(SecretSource *s, const VolumeConfig *v, bool previous, const SecretValue *key, bool existing,
                         SecretValue **ret, NsError *error) {
        const WrappingConfig *w = &s->config->secrets.wrapping;
        _cleanup_(secret_value_freep) SecretValue *text = NULL, *stored = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *recovery = NULL;
        _cleanup_free_ char *wrapped = NULL;
        char name[300];
        WrapKek kek = {};
        int r;

        volume_key_name(v, previous, true, name, sizeof(name));
        r = wrap_kek_load_config(w, true, &kek, error);
        if (r >= 0)
                r = wrap_recovery_load(w->recovery_public_key, false, &recovery, error);
        if (r >= 0)
                r = wrap_key(key, s->config->node_name, v->key ?: v->name, &kek, recovery, &wrapped, error);
        wrap_kek_done(&kek);
        if (r < 0)
                return ns_error_prefix(error, r, "Volume %s", v->name);
        r = secret_value_new_copy(wrapped, strlen(wrapped), &text);
        if (r < 0)
                return r;
        r = (existing ? secret_source_put_record : secret_source_put_if_missing)(s, s->config->secrets.keys_secret, name,
                                                                                 text, &stored, error);
        if (r < 0)
                return r;
        r = unwrap_volume_key(s, v, name, stored, ret, error);
        if (r < 0)
                return r;
        return check_key_size(s, name, ret, error);
}

int secret_source_store_new_volume_key(SecretSource *s, const VolumeConfig *v, const SecretValue *key,
                                       SecretValue **ret, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *stored = NULL;
        char name[300];
        int r;

        /* Wrapped before it is stored, read back and unwrapped: what the Secret holds is what the
         * device will be formatted with. A node that is not enrolled yet is enrolled here. */
        if (s->config->secrets.wrapping.enabled)
                return store_wrapped(s, v, false, key, false, ret, error);
        volume_key_name(v, false, false, name, sizeof(name));
        r = secret_source_put_if_missing(s, s->config->secrets.keys_secret, name, key, &stored, error);
        if (r < 0)
                return r;
        r = check_key_size(s, name, &stored, error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(stored);
        return 0;
}

int secret_source_wrap_volume_key(SecretSource *s, const VolumeConfig *v, bool previous, const SecretValue *key,
                                  SecretValue **ret, NsError *error) {
        if (!s->config->secrets.wrapping.enabled)
                return ns_error_set(error, -EINVAL, "secrets.wrapping is not configured");
        return store_wrapped(s, v, previous, key, true, ret, error);
}

/* One read of the CA Secret's three keys, each on its own. */
static int read_ca_keys(SecretSource *s, SecretValue *v[3], NsError *error) {
        const char *name = s->config->secrets.ca_secret;
        NsError ignored = {};
        int r;

        r = secret_source_get(s, name, "tls.crt", &v[0], error);
        if (r >= 0)
                r = secret_source_get(s, name, "tls.key", &v[1], error);
        if (r < 0)
                return r;
        r = secret_source_get(s, name, "ca.crt", &v[2], &ignored);
        if (r < 0 && r != -ENOKEY) {
                if (error)
                        *error = ignored;
                return r;
        }
        return 0;
}

static bool value_same(const SecretValue *a, const SecretValue *b) {
        return a && b ? a->size == b->size && CRYPTO_memcmp(a->data, b->data, a->size) == 0 : a == b;
}

static void values_free(SecretValue *v[3]) {
        for (size_t i = 0; i < 3; i++)
                v[i] = secret_value_free(v[i]);
}

int secret_source_get_ca(SecretSource *s, SecretValue **ret_cert_pem, SecretValue **ret_key_pem,
                         SecretValue **ret_bundle_pem, NsError *error) {
        SecretValue *v[3] = {}, *again[3] = {};
        int r;

        /* A source reads key by key: a Secret replaced as a whole in between (a directory renamed
         * in, kubelet's ..data link swapped) would give the certificate of one version and the key
         * or bundle of another. Two reads that agree are one version. */
        for (unsigned tries = 0; tries < 8; tries++) {
                r = read_ca_keys(s, tries == 0 ? v : again, error);
                if (r < 0)
                        goto fail;
                if (tries > 0) {
                        bool same = value_same(v[0], again[0]) && value_same(v[1], again[1]) && value_same(v[2], again[2]);
                        values_free(v);
                        memcpy(v, again, sizeof(again));
                        memset(again, 0, sizeof(again));
                        if (same) {
                                *ret_cert_pem = TAKE_PTR(v[0]);
                                *ret_key_pem = TAKE_PTR(v[1]);
                                if (ret_bundle_pem)
                                        *ret_bundle_pem = TAKE_PTR(v[2]);
                                values_free(v);
                                return 0;
                        }
                }
        }
        r = ns_error_set(error, -EAGAIN, "Secret %s kept changing while it was read; trying again later",
                         s->config->secrets.ca_secret);
fail:
        values_free(v);
        values_free(again);
        return r;
}

bool secret_name_is_valid(const char *name) {
        size_t n;

        /* A DNS-1123 subdomain, as Kubernetes requires of a Secret's name. */
        if (isempty(name))
                return false;
        n = strlen(name);
        if (n > 253)
                return false;
        if (!isalnum((unsigned char) name[0]) || !isalnum((unsigned char) name[n - 1]))
                return false;
        for (const char *p = name; *p; p++)
                if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '-' || *p == '.'))
                        return false;
        return true;
}

bool secret_key_is_valid(const char *key) {
        /* Kubernetes: [-._a-zA-Z0-9]+, at most 253, and not "." or "..". */
        if (isempty(key) || strlen(key) > 253 || streq(key, ".") || streq(key, ".."))
                return false;
        for (const char *p = key; *p; p++)
                if (!(isalnum((unsigned char) *p) || *p == '-' || *p == '.' || *p == '_'))
                        return false;
        return true;
}
