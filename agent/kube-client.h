/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes API client: one curl handle, the bearer token, requests with retries, Secrets get/create/patch. */
#pragma once

#include <stdint.h>

#include <curl/curl.h>

#include "config.h"
#include "error.h"
#include "kube-buffer.h"
#include "kube-endpoint.h"
#include "kube-secret.h"
#include "kube-status.h"
#include "secure.h"

/* Attempts per request when retry.max_attempts is 0 ("forever" is the daemon's loop, not ours). */
#define KUBE_DEFAULT_ATTEMPTS 5

typedef struct KubeClient KubeClient;

int kube_client_new(const KubeConfig *k, const RetryConfig *retry, KubeClient **ret, NsError *error);
KubeClient *kube_client_free(KubeClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeClient *, kube_client_free);
const KubeEndpoint *kube_client_endpoint(const KubeClient *c);

/* GET /api/v1/namespaces/{ns}/secrets/{name}. -ENOENT (NotFound) with a message naming it. */
int kube_client_get_secret(KubeClient *c, const char *name, KubeSecret **ret, NsError *error);
/* POST a new Opaque Secret holding one key. -EEXIST when it already exists (AlreadyExists). */
int kube_client_create_secret(KubeClient *c, const char *name, const char *key, const SecretValue *value,
                              NsError *error);
/* Removes one key with a JSON merge patch guarded by resource_version: -ESTALE on 409 Conflict. */
int kube_client_remove_secret_key(KubeClient *c, const char *name, const char *resource_version, const char *key,
                                  NsError *error);
/* Adds one key with a JSON merge patch guarded by resource_version: -ESTALE on 409 Conflict. */
int kube_client_add_secret_key(KubeClient *c, const char *name, const char *resource_version, const char *key,
                               const SecretValue *value, NsError *error);

/* Sets up an easy handle for one request to url: TLS always verified against the endpoint's CA,
 * https only, no redirects, the timeouts of the config, the credentials as a header (the list is
 * returned in *headers for kube_headers_free(), which wipes it). Used by the watch. */
int kube_client_setup_easy(KubeClient *c, CURL *easy, const char *url, bool watch, struct curl_slist **headers,
                           NsError *error);
/* Re-reads the token file if it changed on disk (or always, with force). */
int kube_client_refresh_token(KubeClient *c, bool force, NsError *error);
const KubeConfig *kube_client_config(const KubeClient *c);
const RetryConfig *kube_client_retry(const KubeClient *c);
/* kube_status_to_error() for a request of this client: its endpoint and timeouts, and what was
 * asked ("read Secret ns/name"), with which RBAC verb, about which Secret (NULL: none). */
int kube_client_error(KubeClient *c, CURLcode cc, const char *curl_message, const KubeStatus *st, const char *what,
                      const char *verb, const char *secret, bool *ret_retryable, NsError *error);
