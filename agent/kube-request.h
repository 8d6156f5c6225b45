/* SPDX-License-Identifier: Apache-2.0 */
/* One request to the Kubernetes API: what it asks, where, and what came back. */
#pragma once

#include <stdbool.h>

#include <stdint.h>

#include <curl/curl.h>

#include "kube-buffer.h"

/* One request, as the client performs it (with retries) and as its errors name it. */
typedef struct KubeRequest {
        const char *method;        /* "GET", "POST", "PATCH" */
        const char *url;
        const char *content_type;  /* NULL: no Content-Type header */
        const char *body;          /* NULL: no body */
        size_t body_size;
        const char *what;          /* for messages: "read Secret ns/name" */
        const char *verb;          /* the RBAC verb it needs: get, create, patch, ... */
        const char *secret;        /* the Secret it is about; NULL when none */
} KubeRequest;

/* What came back: the status, the body in secret memory and the Retry-After header. */
typedef struct KubeResponse {
        long http_code;
        KubeBuffer body;
        uint64_t retry_after_usec; /* 0: no (usable) Retry-After */
} KubeResponse;

void kube_response_done(KubeResponse *r);

/* Puts the request on an easy handle that kube_client_setup_easy() prepared: method, body,
 * Content-Type (appended to *headers, the handle's header list) and the response's callbacks. */
int kube_request_apply(const KubeRequest *req, CURL *easy, struct curl_slist **headers, KubeResponse *resp);
/* Takes the header list, the body and the error buffer off the handle: nothing of a request may
 * outlive it there. */
void kube_request_clear(CURL *easy);

/* Percent-encodes everything but RFC 3986 unreserved characters. */
int kube_url_escape(const char *s, char **ret);
/* {server}/api/v1/namespaces/{ns}/secrets[/{name}] */
int kube_secret_url(const char *server, const char *ns, const char *name, char **ret);
/* The list of one Secret: fieldSelector metadata.name={name}; authorized by "list" with resourceNames. */
int kube_list_url(const char *server, const char *ns, const char *name, char **ret);
/* The watch of one Secret: fieldSelector metadata.name={name}, from resource_version (NULL: now). */
int kube_watch_url(const char *server, const char *ns, const char *name, const char *resource_version,
                   unsigned timeout_sec, char **ret);

/* Parses a Retry-After header value (seconds or an HTTP date). 0 if unparsable. */
uint64_t kube_parse_retry_after(const char *value, uint64_t now_realtime_usec);
/* For curl header callbacks: when the header line (n bytes, not NUL-terminated) is Retry-After,
 * stores its value (as kube_parse_retry_after() reads it, now) and returns true. */
bool kube_header_retry_after(const char *line, size_t n, uint64_t *ret_usec);

/* Frees a header list, wiping it first (it may hold the bearer token). */
void kube_headers_free(struct curl_slist *l);
void kube_headers_freep(struct curl_slist **l);
