/* SPDX-License-Identifier: Apache-2.0 */
/* A Kubernetes Secret as the API server sends it, and the bodies that create or patch one. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "macro.h"
#include "secure.h"

/* The API server's own limit on a Secret. */
#define KUBE_SECRET_SIZE_MAX (1024 * 1024)

/* A Secret as the API returned it; its JSON lives in memory wiped on free. */
typedef struct KubeSecret KubeSecret;

KubeSecret *kube_secret_free(KubeSecret *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeSecret *, kube_secret_free);
int kube_secret_parse(const char *json, size_t size, const char *name, KubeSecret **ret, NsError *error);
const char *kube_secret_name(const KubeSecret *s);
const char *kube_secret_resource_version(const KubeSecret *s);
/* Decodes data[key] into secret memory. -ENOKEY if absent; -EBADMSG (naming Secret and key) if
 * the value is not strict base64. */
int kube_secret_get(const KubeSecret *s, const char *key, SecretValue **ret, NsError *error);
bool kube_secret_has_key(const KubeSecret *s, const char *key);

/* Parses the list of one Secret: the collection's resourceVersion (where a watch can start, unlike
 * an object's, which may be older than the server keeps) and the Secret's own, NULL when it does
 * not exist. */
int kube_secret_list_parse(const char *json, size_t size, const char *name, char **ret_list_rv, char **ret_object_rv,
                           NsError *error);

/* The JSON body that writes one key: a new Opaque Secret (resource_version NULL, for POST), or a
 * merge patch guarded by resource_version (for PATCH; value NULL removes the key). Allocated by
 * cJSON: free with cJSON_free(). */
int kube_secret_body(const char *ns, const char *name, const char *resource_version, const char *key,
                     const SecretValue *value, char **ret);

/* Strict RFC 4648 base64 (standard alphabet, padding required, no whitespace, zero trailing bits),
 * decoded into secret memory. -EBADMSG otherwise. */
int kube_base64_decode(const char *in, size_t n, SecretValue **ret);
/* Encodes into secret memory, NUL-terminated (size excludes the NUL). */
int kube_base64_encode(const void *data, size_t n, SecretValue **ret);
