/* SPDX-License-Identifier: Apache-2.0 */
/* What the Kubernetes API server said when a request failed, and what that means for us. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "json-util.h"
#include "kube-buffer.h"
#include "kube-status.h"

static void copy_string(char *dst, size_t n, const char *s) {
        (void) snprintf(dst, n, "%s", strempty(s));
        /* A message goes into logs: no control characters from the server. */
        for (char *p = dst; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = ' ';
}

/* The API server's own filters (max-in-flight, Priority and Fairness, shutdown) answer 429 with
 * Go's http.Error: one line of text/plain, no Status. Kept as the message when it is one short line
 * of printable ASCII; anything else (an HTML page, binary garbage) is not shown. */
static void plain_text_message(const char *body, size_t size, KubeStatus *st) {
        size_t n = size;

        if (!body || n == 0)
                return;
        if (body[n - 1] == '\n')
                n--;
        if (n == 0 || n >= sizeof(st->message) || n > 200)
                return;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) body[i] < 0x20 || (unsigned char) body[i] > 0x7e || body[i] == '<' ||
                    body[i] == '{')
                        return;
        memcpy(st->message, body, n);
        st->message[n] = '\0';
}

int kube_status_parse(const char *body, size_t size, long http_code, KubeStatus *ret) {
        _cleanup_(cJSON_Deletep) cJSON *j = NULL;
        const cJSON *kind, *x, *details;
        KubeStatus st = { .http_code = http_code };

        if (body && size > 0)
                j = cJSON_ParseWithLength(body, size);
        kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
        if (cJSON_IsObject(j) && cJSON_IsString(kind) && streq(kind->valuestring, "Status")) {
                st.is_status = true;
                x = cJSON_GetObjectItemCaseSensitive(j, "reason");
                if (cJSON_IsString(x))
                        copy_string(st.reason, sizeof(st.reason), x->valuestring);
                x = cJSON_GetObjectItemCaseSensitive(j, "message");
                if (cJSON_IsString(x))
                        copy_string(st.message, sizeof(st.message), x->valuestring);
                x = cJSON_GetObjectItemCaseSensitive(j, "code");
                /* valueint: cJSON's own clamp to int; a cast of the double is undefined past long. */
                if (cJSON_IsNumber(x))
                        st.code = x->valueint;
                details = cJSON_GetObjectItemCaseSensitive(j, "details");
                x = cJSON_GetObjectItemCaseSensitive(details, "kind");
                if (cJSON_IsString(x))
                        copy_string(st.details_kind, sizeof(st.details_kind), x->valuestring);
                x = cJSON_GetObjectItemCaseSensitive(details, "name");
                if (cJSON_IsString(x))
                        copy_string(st.details_name, sizeof(st.details_name), x->valuestring);
                x = cJSON_GetObjectItemCaseSensitive(details, "retryAfterSeconds");
                /* Compared with the cap before any cast: 1e300 or inf must not reach (uint64_t). */
                if (cJSON_IsNumber(x) && x->valuedouble > 0)
                        st.retry_after_usec = x->valuedouble >= (double) (KUBE_RETRY_AFTER_MAX_USEC / USEC_PER_SEC)
                                                      ? KUBE_RETRY_AFTER_MAX_USEC / USEC_PER_SEC * USEC_PER_SEC
                                                      : (uint64_t) x->valuedouble * USEC_PER_SEC;
        }
        else
                plain_text_message(body, size, &st);
        *ret = st;
        return 0;
}

/* ---- failed transfers: one row per curl code ---- */

/* What a transfer failure's message adds after the server and its tail. */
typedef enum CurlExtra {
        CURL_EXTRA_NONE,
        CURL_EXTRA_CLIENT_KEY,     /* "CERT or key KEY was not usable" */
        CURL_EXTRA_CA_FILE,        /* the CA file, "n/a" when none */
        CURL_EXTRA_TRUST,          /* the CA file, or the system trust store */
        CURL_EXTRA_TIMEOUTS,       /* the connect and request timeouts */
        CURL_EXTRA_BODY_MAX,       /* our cap on a body; curl's own message adds nothing to it */
} CurlExtra;

/* The message reads "Failed to WHAT<lead>SERVER<tail><extra>: CURL MESSAGE". */
typedef struct CurlErrorRule {
        CURLcode code;
        int error;
        bool retryable;
        const char *lead;
        const char *tail;
        CurlExtra extra;
} CurlErrorRule;

#define VERIFY_FAILED(cc) \
        { cc, -ECONNABORTED, false, ": the certificate of the API server ", \
          " failed verification against the CA file ", CURL_EXTRA_TRUST }
#define CONNECTION_FAILED(cc) \
        { cc, -ECONNRESET, true, ": the connection to the API server ", " failed", CURL_EXTRA_NONE }

static const CurlErrorRule curl_error_rules[] = {
        { CURLE_SSL_CERTPROBLEM, -EKEYREJECTED, false, " at ", ": the client certificate ", CURL_EXTRA_CLIENT_KEY },
        { CURLE_SSL_CACERT_BADFILE, -ENOENT, false, " at ", ": cannot use the CA file ", CURL_EXTRA_CA_FILE },
        VERIFY_FAILED(CURLE_PEER_FAILED_VERIFICATION),
        VERIFY_FAILED(CURLE_SSL_ISSUER_ERROR),
        VERIFY_FAILED(CURLE_SSL_PINNEDPUBKEYNOTMATCH),
        VERIFY_FAILED(CURLE_SSL_CRL_BADFILE),
        VERIFY_FAILED(CURLE_SSL_INVALIDCERTSTATUS),
        { CURLE_COULDNT_CONNECT, -ECONNREFUSED, true, ": cannot connect to the API server ", "", CURL_EXTRA_NONE },
        { CURLE_COULDNT_RESOLVE_HOST, -EHOSTUNREACH, true, ": cannot resolve the API server ", "", CURL_EXTRA_NONE },
        { CURLE_OPERATION_TIMEDOUT, -ETIMEDOUT, true, ": the API server ", " did not answer in time ",
          CURL_EXTRA_TIMEOUTS },
        { CURLE_PARTIAL_FILE, -EPROTO, true, ": the response of the API server ", " was cut short", CURL_EXTRA_NONE },
        { CURLE_FILESIZE_EXCEEDED, -EFBIG, false, ": the response of the API server ", " is larger than ",
          CURL_EXTRA_BODY_MAX },
        { CURLE_WRITE_ERROR, -EFBIG, false, ": the response of the API server ", " is larger than ",
          CURL_EXTRA_BODY_MAX },
        { CURLE_UNSUPPORTED_PROTOCOL, -EPROTONOSUPPORT, false, " at ", "", CURL_EXTRA_NONE },
        CONNECTION_FAILED(CURLE_GOT_NOTHING),
        CONNECTION_FAILED(CURLE_SEND_ERROR),
        CONNECTION_FAILED(CURLE_RECV_ERROR),
        CONNECTION_FAILED(CURLE_SSL_CONNECT_ERROR),
        CONNECTION_FAILED(CURLE_HTTP2),
        CONNECTION_FAILED(CURLE_HTTP2_STREAM),
};

static const CurlErrorRule curl_error_other = { CURLE_OK, -EIO, false, " at ", "", CURL_EXTRA_NONE };

static const CurlErrorRule *curl_error_rule(CURLcode cc) {
        for (size_t i = 0; i < ELEMENTSOF(curl_error_rules); i++)
                if (curl_error_rules[i].code == cc)
                        return &curl_error_rules[i];
        return &curl_error_other;
}

static void curl_extra(CurlExtra x, const KubeStatusContext *ctx, char *buf, size_t size) {
        const KubeEndpoint *e = ctx->endpoint;

        switch (x) {
        case CURL_EXTRA_CLIENT_KEY:
                (void) snprintf(buf, size, "%s or key %s was not usable", strna(e->client_certificate),
                                strna(e->client_key));
                break;
        case CURL_EXTRA_CA_FILE:
                (void) snprintf(buf, size, "%s", strna(e->ca_file));
                break;
        case CURL_EXTRA_TRUST:
                (void) snprintf(buf, size, "%s", e->ca_file ?: "(system trust store)");
                break;
        case CURL_EXTRA_TIMEOUTS:
                (void) snprintf(buf, size, "(connect timeout %.1f s, request timeout %.1f s)",
                                (double) ctx->connect_timeout_usec / USEC_PER_SEC,
                                (double) ctx->request_timeout_usec / USEC_PER_SEC);
                break;
        case CURL_EXTRA_BODY_MAX:
                (void) snprintf(buf, size, "%d bytes", KUBE_BODY_SIZE_MAX);
                break;
        default:
                buf[0] = '\0';
        }
}

static int curl_error(CURLcode cc, const char *curl_message, const KubeStatusContext *ctx, bool *ret_retryable,
                      NsError *error) {
        const CurlErrorRule *rule = curl_error_rule(cc);
        const char *cm = !isempty(curl_message) ? curl_message : curl_easy_strerror(cc);
        bool with_message = rule->extra != CURL_EXTRA_BODY_MAX;
        char extra[PATH_MAX * 2 + 64];

        curl_extra(rule->extra, ctx, extra, sizeof(extra));
        *ret_retryable = rule->retryable;
        return ns_error_set(error, rule->error, "Failed to %s%s%s%s%s%s%s", ctx->what, rule->lead,
                            ctx->endpoint->server, rule->tail, extra, with_message ? ": " : "",
                            with_message ? cm : "");
}

/* ---- error responses: one row per HTTP code (and Status reason) ---- */

typedef struct HttpErrorRule HttpErrorRule;
typedef int (*HttpErrorMessage)(const HttpErrorRule *rule, const KubeStatus *st, const KubeStatusContext *ctx,
                                const char *detail, NsError *error);

/* Without a message function the message reads "Failed to WHAT: <lead>SERVER<tail>[HTTP n ]DETAIL",
 * or "Failed to WHAT: DETAIL" without a lead. */
struct HttpErrorRule {
        long http_min, http_max;
        const char *reason;        /* the Status reason it needs; NULL: any */
        int error;
        bool retryable;
        const char *lead;
        const char *tail;
        bool with_http_code;
        HttpErrorMessage message;
};

static int unauthorized_message(const HttpErrorRule *rule, const KubeStatus *st, const KubeStatusContext *ctx,
                                const char *detail, NsError *error) {
        const KubeEndpoint *e = ctx->endpoint;
        /* The watch re-reads the token before its next attempt, not before this answer. */
        bool later = streq(ctx->verb, "watch") || streq(ctx->verb, "list");

        return ns_error_set(error, rule->error,
                            "Failed to %s: the API server %s did not accept our credentials (%s); token file %s%s",
                            ctx->what, e->server, detail, e->token_file ?: "(none, client certificate)",
                            !e->token_file ? "" :
                            later ? " is re-read before the next attempt" : " was re-read and the request retried");
}

static int forbidden_message(const HttpErrorRule *rule, const KubeStatus *st, const KubeStatusContext *ctx,
                             const char *detail, NsError *error) {
        const KubeEndpoint *e = ctx->endpoint;

        /* A request about no Secret (an Event): the Status names what is missing, the caller the Role. */
        if (!ctx->secret && st->is_status && st->details_kind[0] && !streq(st->details_kind, "secrets"))
                return ns_error_set(error, rule->error, "Failed to %s: %s", ctx->what, detail);
        /* create cannot be limited to a name (RBAC has no resourceNames for it); patch is granted
         * by name, but by the key-generation Role, not the read-only one. */
        if (ctx->secret && !streq(ctx->verb, "create"))
                return ns_error_set(error, rule->error,
                                    "Failed to %s: %s. The ServiceAccount needs \"%s\" on secrets \"%s\" in namespace %s "
                                    "(see the %s)",
                                    ctx->what, detail, ctx->verb, ctx->secret, e->namespace,
                                    streq(ctx->verb, "patch") ?
                                    "key-generation Role in deploy/kubernetes/rbac-generate-keys.yaml" :
                                    "Role in deploy/kubernetes/rbac.yaml");
        return ns_error_set(error, rule->error,
                            "Failed to %s: %s. The ServiceAccount needs \"%s\" on secrets in namespace %s "
                            "(see the key-generation Role in deploy/kubernetes/rbac-generate-keys.yaml)",
                            ctx->what, detail, ctx->verb, e->namespace);
}

/* A 404 says "the Secret does not exist" only when its Status names that Secret; a missing
 * namespace (on create) or a path the server does not know (a wrong api_url, a proxy) is something
 * else, and must not be taken for a missing Secret, which would make a new key to create. */
static int not_found_message(const HttpErrorRule *rule, const KubeStatus *st, const KubeStatusContext *ctx,
                             const char *detail, NsError *error) {
        const KubeEndpoint *e = ctx->endpoint;

        if (ctx->secret && st->is_status && streq(st->details_kind, "secrets") && streq(st->details_name, ctx->secret))
                return ns_error_set(error, -ENOENT, "Secret %s not found in namespace %s (API server %s: %s)",
                                    ctx->secret, e->namespace, e->server, detail);
        /* An object of another kind that is gone (an Event expired): never taken for a Secret. */
        if (!ctx->secret && st->is_status && st->details_kind[0] && !streq(st->details_kind, "secrets") &&
            !streq(st->details_kind, "namespaces"))
                return ns_error_set(error, -ENOENT, "Failed to %s: %s", ctx->what, detail);
        if (st->is_status && streq(st->details_kind, "namespaces"))
                return ns_error_set(error, -ENOENT, "Failed to %s: namespace %s does not exist (API server %s: %s)",
                                    ctx->what, st->details_name[0] ? st->details_name : e->namespace, e->server, detail);
        return ns_error_set(error, rule->error,
                            "Failed to %s: the API server %s has no such resource (HTTP 404, %s); is "
                            "secrets.kubernetes.api_url the API server's root?",
                            ctx->what, e->server, detail);
}

static int redirect_message(const HttpErrorRule *rule, const KubeStatus *st, const KubeStatusContext *ctx,
                            const char *detail, NsError *error) {
        return ns_error_set(error, rule->error,
                            "Failed to %s: the API server %s answered with a redirect (HTTP %ld), which is never followed",
                            ctx->what, ctx->endpoint->server, st->http_code);
}

static const HttpErrorRule http_error_rules[] = {
        { 401, 401, NULL, -EACCES, false, NULL, NULL, false, unauthorized_message },
        { 403, 403, NULL, -EPERM, false, NULL, NULL, false, forbidden_message },
        { 404, 404, NULL, -ENXIO, false, NULL, NULL, false, not_found_message },
        { 409, 409, "AlreadyExists", -EEXIST, false, NULL, NULL, false, NULL },
        { 409, 409, NULL, -ESTALE, false, NULL, NULL, false, NULL },
        { 410, 410, NULL, -ESTALE, false, NULL, NULL, false, NULL },
        { 400, 400, NULL, -EINVAL, false, "the API server ", " refused the request: ", false, NULL },
        { 422, 422, NULL, -EINVAL, false, "the API server ", " refused the request: ", false, NULL },
        { 413, 413, NULL, -EFBIG, false, NULL, NULL, false, NULL },
        { 429, 429, NULL, -EBUSY, true, "the API server ", " is throttling us: ", false, NULL },
        { 500, 599, NULL, -EIO, true, "server error from the API server ", ": ", true, NULL },
        { 300, 399, NULL, -EPROTO, false, NULL, NULL, false, redirect_message },
};

static const HttpErrorRule http_error_other = {
        0, 0, NULL, -EPROTO, false, "unexpected answer from the API server ", ": ", true, NULL
};

static const HttpErrorRule *http_error_rule(const KubeStatus *st) {
        for (size_t i = 0; i < ELEMENTSOF(http_error_rules); i++) {
                const HttpErrorRule *rule = &http_error_rules[i];

                if (st->http_code >= rule->http_min && st->http_code <= rule->http_max &&
                    (!rule->reason || streq(st->reason, rule->reason)))
                        return rule;
        }
        return &http_error_other;
}

static int http_error(const KubeStatus *st, const KubeStatusContext *ctx, bool *ret_retryable, NsError *error) {
        const HttpErrorRule *rule = http_error_rule(st);
        char detail[700], code[32] = "";

        if (st->is_status)
                (void) snprintf(detail, sizeof(detail), "%s%s%s", st->reason[0] ? st->reason : "(no reason)",
                                st->message[0] ? ": " : "", st->message);
        else if (st->message[0])
                (void) snprintf(detail, sizeof(detail), "HTTP %ld: %s", st->http_code, st->message);
        else
                (void) snprintf(detail, sizeof(detail), "HTTP %ld with a body that is not a Kubernetes Status",
                                st->http_code);
        if (rule->with_http_code)
                (void) snprintf(code, sizeof(code), "HTTP %ld ", st->http_code);

        *ret_retryable = rule->retryable;
        if (rule->message)
                return rule->message(rule, st, ctx, detail, error);
        return ns_error_set(error, rule->error, "Failed to %s: %s%s%s%s%s", ctx->what, strempty(rule->lead),
                            rule->lead ? ctx->endpoint->server : "", strempty(rule->tail), code, detail);
}

int kube_status_to_error(CURLcode cc, const char *curl_message, const KubeStatus *st, const KubeStatusContext *ctx,
                         bool *ret_retryable, NsError *error) {
        if (cc != CURLE_OK)
                return curl_error(cc, curl_message, ctx, ret_retryable, error);
        return http_error(st, ctx, ret_retryable, error);
}
