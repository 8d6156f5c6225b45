/* SPDX-License-Identifier: Apache-2.0 */
/* What the Kubernetes API server said when a request failed, and what that means for us. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "error.h"
#include "kube-endpoint.h"
#include "macro.h"

/* The longest Retry-After we honour; a larger value is cut to this. */
#define KUBE_RETRY_AFTER_MAX_USEC (300 * USEC_PER_SEC)

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

/* Parses an error body; a body that is no Status leaves is_status false. Never fails but for ENOMEM. */
int kube_status_parse(const char *body, size_t size, long http_code, KubeStatus *ret);

/* What a failed request was, for its message: where it went and what it asked. */
typedef struct KubeStatusContext {
        const KubeEndpoint *endpoint;
        uint64_t connect_timeout_usec;
        uint64_t request_timeout_usec;
        const char *what;          /* "read Secret ns/name" */
        const char *verb;          /* the RBAC verb: get, list, watch, create, patch */
        const char *secret;        /* the Secret's name; NULL when the request is about no one Secret */
} KubeStatusContext;

/* Turns a failed transfer (curl code, HTTP status, parsed Status) into -errno and a message that
 * names what was asked, the server and the reason. *ret_retryable tells whether the failure is
 * worth another attempt (connection errors, timeouts, 429, 5xx). st may be NULL when cc is not
 * CURLE_OK. */
int kube_status_to_error(CURLcode cc, const char *curl_message, const KubeStatus *st, const KubeStatusContext *ctx,
                         bool *ret_retryable, NsError *error);
