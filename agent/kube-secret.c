/* SPDX-License-Identifier: Apache-2.0 */
/* A Kubernetes Secret as the API server sends it, and the bodies that create or patch one. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json-util.h"
#include "kube-secret.h"

struct KubeSecret {
        cJSON *json;
        const char *name;
        const char *resource_version;
        const cJSON *data;
};

KubeSecret *kube_secret_free(KubeSecret *s) {
        if (!s)
                return NULL;
        cJSON_Delete(s->json);
        free(s);
        return NULL;
}

int kube_secret_parse(const char *json, size_t size, const char *name, KubeSecret **ret, NsError *error) {
        _cleanup_(kube_secret_freep) KubeSecret *s = NULL;
        const cJSON *kind, *meta, *x;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->json = cJSON_ParseWithLength(json, size);
        if (!s->json)
                return ns_error_set(error, -EBADMSG, "The API server's answer for Secret %s is not valid JSON", name);
        kind = cJSON_GetObjectItemCaseSensitive(s->json, "kind");
        if (!cJSON_IsObject(s->json) || (kind && (!cJSON_IsString(kind) || !streq(kind->valuestring, "Secret"))))
                return ns_error_set(error, -EBADMSG, "The API server's answer for Secret %s is not a Secret (kind %s)",
                                    name, cJSON_IsString(kind) ? kind->valuestring : "missing");
        meta = cJSON_GetObjectItemCaseSensitive(s->json, "metadata");
        x = cJSON_GetObjectItemCaseSensitive(meta, "name");
        if (!cJSON_IsString(x) || !streq(x->valuestring, name))
                return ns_error_set(error, -EBADMSG, "The API server's answer for Secret %s names another object", name);
        s->name = x->valuestring;
        x = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
        if (!cJSON_IsString(x) || isempty(x->valuestring))
                return ns_error_set(error, -EBADMSG, "The API server's answer for Secret %s has no resourceVersion", name);
        s->resource_version = x->valuestring;
        s->data = cJSON_GetObjectItemCaseSensitive(s->json, "data");
        if (s->data && !cJSON_IsObject(s->data) && !cJSON_IsNull(s->data))
                return ns_error_set(error, -EBADMSG, "The data of Secret %s is not an object", name);

        *ret = TAKE_PTR(s);
        return 0;
}

const char *kube_secret_name(const KubeSecret *s) {
        return s->name;
}

const char *kube_secret_resource_version(const KubeSecret *s) {
        return s->resource_version;
}

bool kube_secret_has_key(const KubeSecret *s, const char *key) {
        return cJSON_IsObject(s->data) && cJSON_GetObjectItemCaseSensitive(s->data, key);
}

int kube_secret_get(const KubeSecret *s, const char *key, SecretValue **ret, NsError *error) {
        const cJSON *v = cJSON_IsObject(s->data) ? cJSON_GetObjectItemCaseSensitive(s->data, key) : NULL;
        int r;

        if (!v)
                return ns_error_set(error, -ENOKEY, "Secret %s has no key \"%s\"", s->name, key);
        if (!cJSON_IsString(v))
                return ns_error_set(error, -EBADMSG, "Key \"%s\" of Secret %s is not a string", key, s->name);
        r = kube_base64_decode(v->valuestring, strlen(v->valuestring), ret);
        if (r == -EBADMSG)
                return ns_error_set(error, r, "Key \"%s\" of Secret %s is not valid base64", key, s->name);
        if (r < 0)
                return ns_error_set(error, r, "Key \"%s\" of Secret %s: %s", key, s->name, strerror(-r));
        return 0;
}

int kube_secret_list_parse(const char *json, size_t size, const char *name, char **ret_list_rv, char **ret_object_rv,
                           NsError *error) {
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        _cleanup_free_ char *list_rv = NULL, *object_rv = NULL;
        const cJSON *kind, *rv, *items, *item;

        j = cJSON_ParseWithLength(json, size);
        if (!j)
                return ns_error_set(error, -EBADMSG, "The API server's list of Secret %s is not valid JSON", name);
        kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
        rv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "metadata"), "resourceVersion");
        items = cJSON_GetObjectItemCaseSensitive(j, "items");
        if (!cJSON_IsString(kind) || !streq(kind->valuestring, "SecretList") || !cJSON_IsString(rv) ||
            isempty(rv->valuestring) || !(cJSON_IsArray(items) || cJSON_IsNull(items)))
                return ns_error_set(error, -EBADMSG, "The API server's list of Secret %s is not a SecretList with a "
                                    "resourceVersion", name);
        list_rv = strdup(rv->valuestring);
        if (!list_rv)
                return -ENOMEM;
        cJSON_ArrayForEach(item, items) {
                const cJSON *meta = cJSON_GetObjectItemCaseSensitive(item, "metadata");
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(meta, "name");
                const cJSON *orv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");

                if (!cJSON_IsString(n) || !streq(n->valuestring, name))
                        continue;
                if (!cJSON_IsString(orv) || isempty(orv->valuestring))
                        return ns_error_set(error, -EBADMSG, "Secret %s in the API server's list has no resourceVersion",
                                            name);
                free(object_rv);
                object_rv = strdup(orv->valuestring);
                if (!object_rv)
                        return -ENOMEM;
        }
        *ret_list_rv = TAKE_PTR(list_rv);
        *ret_object_rv = TAKE_PTR(object_rv);
        return 0;
}

int kube_secret_body(const char *ns, const char *name, const char *rv, const char *key, const SecretValue *value,
                     char **ret) {
        _cleanup_(secret_value_freep) SecretValue *b64 = NULL;
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        cJSON *meta, *data, *labels;
        char *s;
        int r;

        if (!value && !rv)
                return -EINVAL;    /* a new Secret holds the key it is made for */
        if (value) {
                r = kube_base64_encode(value->data, value->size, &b64);
                if (r < 0)
                        return r;
        }

        j = cJSON_CreateObject();
        if (!j)
                return -ENOMEM;
        meta = cJSON_AddObjectToObject(j, "metadata");
        if (!meta)
                return -ENOMEM;
        if (rv) {
                /* A merge patch carrying metadata.resourceVersion is refused with 409 Conflict when
                 * the Secret changed since we read it: the write is guarded. */
                if (!cJSON_AddStringToObject(meta, "resourceVersion", rv))
                        return -ENOMEM;
        } else {
                if (!cJSON_AddStringToObject(j, "apiVersion", "v1") || !cJSON_AddStringToObject(j, "kind", "Secret") ||
                    !cJSON_AddStringToObject(meta, "name", name) || !cJSON_AddStringToObject(meta, "namespace", ns) ||
                    !(labels = cJSON_AddObjectToObject(meta, "labels")) ||
                    !cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", "nodeseal") ||
                    !cJSON_AddStringToObject(j, "type", "Opaque"))
                        return -ENOMEM;
        }
        data = cJSON_AddObjectToObject(j, "data");
        if (!data || !(value ? cJSON_AddStringToObject(data, key, (const char *) b64->data) : cJSON_AddNullToObject(data, key)))
                return -ENOMEM;

        s = cJSON_PrintUnformatted(j);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ---- base64, strict ---- */

static int b64_value(unsigned char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int kube_base64_decode(const char *in, size_t n, SecretValue **ret) {
        _cleanup_(secret_value_freep) SecretValue *v = NULL;
        size_t pad = 0, out = 0;
        int r;

        if (n % 4 != 0)
                return -EBADMSG;
        if (n > 0 && in[n - 1] == '=')
                pad++;
        if (n > 1 && in[n - 2] == '=')
                pad++;

        r = secret_value_new(n / 4 * 3 - pad, &v);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i += 4) {
                int a = b64_value(in[i]), b = b64_value(in[i + 1]), c, d;
                bool last = i + 4 == n;
                uint32_t w;

                if (a < 0 || b < 0)
                        return -EBADMSG;
                if (last && pad == 2) {
                        if (in[i + 2] != '=' || in[i + 3] != '=' || (b & 0x0f) != 0)
                                return -EBADMSG;
                        v->data[out++] = (uint8_t) (a << 2 | b >> 4);
                        break;
                }
                c = b64_value(in[i + 2]);
                if (c < 0)
                        return -EBADMSG;
                if (last && pad == 1) {
                        if (in[i + 3] != '=' || (c & 0x03) != 0)
                                return -EBADMSG;
                        w = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6;
                        v->data[out++] = (uint8_t) (w >> 16);
                        v->data[out++] = (uint8_t) (w >> 8);
                        break;
                }
                d = b64_value(in[i + 3]);
                if (d < 0)
                        return -EBADMSG;
                w = (uint32_t) a << 18 | (uint32_t) b << 12 | (uint32_t) c << 6 | (uint32_t) d;
                v->data[out++] = (uint8_t) (w >> 16);
                v->data[out++] = (uint8_t) (w >> 8);
                v->data[out++] = (uint8_t) w;
                explicit_bzero(&w, sizeof(w));
        }
        if (out != v->size)
                return -EBADMSG;

        *ret = TAKE_PTR(v);
        return 0;
}

int kube_base64_encode(const void *data, size_t n, SecretValue **ret) {
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cleanup_(secret_value_freep) SecretValue *v = NULL;
        const uint8_t *p = data;
        size_t o = 0;
        int r;

        r = secret_value_new((n + 2) / 3 * 4, &v);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t w = (uint32_t) p[i] << 16;
                if (i + 1 < n)
                        w |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < n)
                        w |= p[i + 2];
                v->data[o++] = (uint8_t) alphabet[w >> 18 & 63];
                v->data[o++] = (uint8_t) alphabet[w >> 12 & 63];
                v->data[o++] = (uint8_t) (i + 1 < n ? alphabet[w >> 6 & 63] : '=');
                v->data[o++] = (uint8_t) (i + 2 < n ? alphabet[w & 63] : '=');
                explicit_bzero(&w, sizeof(w));
        }
        v->data[o] = '\0';
        *ret = TAKE_PTR(v);
        return 0;
}
