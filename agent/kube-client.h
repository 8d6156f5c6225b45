/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes API over libcurl: in-cluster config, Secrets get/create/patch, Status errors. */
#pragma once

#include <stdint.h>

#include <cjson/cJSON.h>

#include "json-util.h"
#include <curl/curl.h>

#include "config.h"
#include "error.h"
#include "secure.h"

/* The API server's own limit on a Secret, and our cap on any response body (a Secret's JSON is
 * base64, a third larger, plus metadata). */
#define KUBE_SECRET_SIZE_MAX (1024 * 1024)
#define KUBE_BODY_SIZE_MAX (4 * 1024 * 1024)
/* Attempts per request when retry.max_attempts is 0 ("forever" is the daemon's loop, not ours). */
#define KUBE_DEFAULT_ATTEMPTS 5
/* The longest Retry-After we honour; a larger value is cut to this. */
#define KUBE_RETRY_AFTER_MAX_USEC (300 * USEC_PER_SEC)

typedef struct KubeClient KubeClient;
typedef struct KubeSecret KubeSecret;

/* Where and how to reach the API server, resolved from KubeConfig, the environment and the
 * service-account directory. */
typedef struct KubeEndpoint {
        char *server;              /* https://host:port[/prefix], no trailing slash */
        char *ca_file;             /* NULL: the system's trust store */
        char *token_file;          /* NULL with a client certificate */
        char *client_certificate;
        char *client_key;
        char *namespace;
} KubeEndpoint;

/* What an error response said: the Status object if there was one. */
typedef struct KubeStatus {
        long http_code;
        bool is_status;            /* the body was a Status object */
        char reason[64];           /* "NotFound", "Forbidden", ... ("" if none) */
        char message[512];
        long code;                 /* Status.code, 0 if absent */
        char details_kind[64];     /* details.kind: what a NotFound is about ("secrets", "namespaces") */
        char details_name[254];    /* details.name */
        uint64_t retry_after_usec; /* details.retryAfterSeconds, 0 if absent */
} KubeStatus;

/* Resolves the endpoint: api_url or https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT;
 * ca_file, token_file and namespace default to the files in the service-account directory. */
int kube_endpoint_resolve(const KubeConfig *k, KubeEndpoint *ret, NsError *error);
void kube_endpoint_done(KubeEndpoint *e);

int kube_client_new(const KubeConfig *k, const RetryConfig *retry, KubeClient **ret, NsError *error);
KubeClient *kube_client_free(KubeClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeClient *, kube_client_free);
const KubeEndpoint *kube_client_endpoint(const KubeClient *c);

/* GET /api/v1/namespaces/{ns}/secrets/{name}. -ENOENT (NotFound) with a message naming it. */
int kube_client_get_secret(KubeClient *c, const char *name, KubeSecret **ret, NsError *error);
/* POST a new Opaque Secret holding one key. -EEXIST when it already exists (AlreadyExists). */
int kube_client_create_secret(KubeClient *c, const char *name, const char *key, const SecretValue *value,
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
/* Turns a failed transfer (curl code, HTTP status, parsed Status) into -errno and a message that
 * names what was asked ("Secret ns/name"), the server and the reason. *ret_retryable tells whether
 * the failure is worth another attempt (connection errors, timeouts, 429, 5xx). */
int kube_client_error(KubeClient *c, CURLcode cc, const char *curl_message, const KubeStatus *st, const char *what,
                      const char *verb, const char *secret, bool *ret_retryable, NsError *error);

/* A Secret as the API returned it; its JSON lives in memory wiped on free. */
KubeSecret *kube_secret_free(KubeSecret *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(KubeSecret *, kube_secret_free);
int kube_secret_parse(const char *json, size_t size, const char *name, KubeSecret **ret, NsError *error);
const char *kube_secret_name(const KubeSecret *s);
const char *kube_secret_resource_version(const KubeSecret *s);
/* Decodes data[key] into secret memory. -ENOKEY if absent; -EBADMSG (naming Secret and key) if
 * the value is not strict base64. */
int kube_secret_get(const KubeSecret *s, const char *key, SecretValue **ret, NsError *error);
bool kube_secret_has_key(const KubeSecret *s, const char *key);

/* ---- pure helpers, exposed for the unit tests ---- */

/* Parses an error body; a body that is no Status leaves is_status false. Never fails but for ENOMEM. */
int kube_status_parse(const char *body, size_t size, long http_code, KubeStatus *ret);
/* Strict RFC 4648 base64 (standard alphabet, padding required, no whitespace, zero trailing bits),
 * decoded into secret memory. -EBADMSG otherwise. */
int kube_base64_decode(const char *in, size_t n, SecretValue **ret);
/* Encodes into secret memory, NUL-terminated (size excludes the NUL). */
int kube_base64_encode(const void *data, size_t n, SecretValue **ret);
/* Percent-encodes everything but RFC 3986 unreserved characters. */
int kube_url_escape(const char *s, char **ret);
/* {server}/api/v1/namespaces/{ns}/secrets[/{name}] */
int kube_secret_url(const char *server, const char *ns, const char *name, char **ret);
/* The list of one Secret: fieldSelector metadata.name={name}; authorized by "list" with resourceNames. */
int kube_list_url(const char *server, const char *ns, const char *name, char **ret);
/* Parses that list: the collection's resourceVersion (where a watch can start, unlike an object's,
 * which may be older than the server keeps) and the Secret's own, NULL when it does not exist. */
int kube_secret_list_parse(const char *json, size_t size, const char *name, char **ret_list_rv, char **ret_object_rv,
                           NsError *error);
/* The watch of one Secret: fieldSelector metadata.name={name}, from resource_version (NULL: now). */
int kube_watch_url(const char *server, const char *ns, const char *name, const char *resource_version,
                   unsigned timeout_sec, char **ret);
/* The delay before attempt+1 (attempt counts from 0): initial * multiplier^attempt capped at max,
 * then spread by ±jitter using random01 in [0,1), and never above max. */
uint64_t kube_backoff_usec(const RetryConfig *r, unsigned attempt, double random01);
/* A uniformly distributed number in [0,1) from getrandom. */
double kube_random01(void);
/* Parses a Retry-After header value (seconds or an HTTP date). 0 if unparsable. */
uint64_t kube_parse_retry_after(const char *value, uint64_t now_realtime_usec);

/* cJSON allocations wiped on free (malloc_usable_size + explicit_bzero): Secret JSON passes
 * through cJSON strings. Process-wide and idempotent. */
void kube_json_hooks_install(void);

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

void kube_headers_free(struct curl_slist *l);
