/* SPDX-License-Identifier: Apache-2.0 */
/* Secret-source dispatch and the reads every caller shares. */
#include <ctype.h>

#include "secret.h"

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

int secret_source_get_volume_key(SecretSource *s, const VolumeConfig *v, bool previous, SecretValue **ret,
                                 NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *k = NULL;
        char name[256];
        const char *key = v->key ?: v->name;
        int r;

        if (previous) {
                (void) snprintf(name, sizeof(name), "%s.previous", key);
                key = name;
        }

        r = secret_source_get(s, s->config->secrets.keys_secret, key, &k, error);
        if (r < 0)
                return r;

        if (k->size < VOLUME_KEY_MIN_BYTES)
                return ns_error_set(error, -EMSGSIZE,
                                    "Key \"%s\" of Secret %s is %zu bytes long; a volume key must hold at least %d random bytes",
                                    key, s->config->secrets.keys_secret, k->size, VOLUME_KEY_MIN_BYTES);

        *ret = TAKE_PTR(k);
        return 0;
}

int secret_source_get_ca(SecretSource *s, SecretValue **ret_cert_pem, SecretValue **ret_key_pem,
                         SecretValue **ret_bundle_pem, NsError *error) {
        _cleanup_(secret_value_freep) SecretValue *cert = NULL, *key = NULL, *bundle = NULL;
        const char *name = s->config->secrets.ca_secret;
        int r;

        r = secret_source_get(s, name, "tls.crt", &cert, error);
        if (r < 0)
                return r;
        r = secret_source_get(s, name, "tls.key", &key, error);
        if (r < 0)
                return r;
        if (ret_bundle_pem) {
                NsError ignored = {};
                r = secret_source_get(s, name, "ca.crt", &bundle, &ignored);
                if (r < 0 && r != -ENOKEY) {
                        if (error)
                                *error = ignored;
                        return r;
                }
        }

        *ret_cert_pem = TAKE_PTR(cert);
        *ret_key_pem = TAKE_PTR(key);
        if (ret_bundle_pem)
                *ret_bundle_pem = TAKE_PTR(bundle);
        return 0;
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
