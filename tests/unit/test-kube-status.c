/* SPDX-License-Identifier: Apache-2.0 */
/* Status objects and what a failed request means: errno, retry, message. */
#include "kube-status.h"
#include "tests.h"

TEST(status_parse) {
        KubeStatus st;
        static const char nf[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                                 "\"message\":\"secrets \\\"x\\\" not found\",\"reason\":\"NotFound\","
                                 "\"details\":{\"name\":\"x\",\"kind\":\"secrets\"},\"code\":404}";
        static const char tmr[] = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"slow down\\nnow\","
                                  "\"reason\":\"TooManyRequests\",\"details\":{\"retryAfterSeconds\":3},\"code\":429}";

        ASSERT_OK(kube_status_parse(nf, strlen(nf), 404, &st));
        ASSERT_TRUE(st.is_status);
        ASSERT_STREQ(st.reason, "NotFound");
        ASSERT_STREQ(st.message, "secrets \"x\" not found");
        ASSERT_EQ(st.code, 404);
        ASSERT_EQ(st.http_code, 404);
        ASSERT_EQ(st.retry_after_usec, 0);
        ASSERT_STREQ(st.details_kind, "secrets");
        ASSERT_STREQ(st.details_name, "x");

        ASSERT_OK(kube_status_parse(tmr, strlen(tmr), 429, &st));
        ASSERT_STREQ(st.reason, "TooManyRequests");
        ASSERT_EQ(st.retry_after_usec, 3 * USEC_PER_SEC);
        /* Control characters from the server never reach a log line. */
        ASSERT_STREQ(st.message, "slow down now");

        ASSERT_OK(kube_status_parse("<html>502 Bad Gateway</html>", 28, 502, &st));
        ASSERT_FALSE(st.is_status);
        ASSERT_EQ(st.http_code, 502);
        ASSERT_OK(kube_status_parse(nf, 40, 404, &st));   /* truncated */
        ASSERT_FALSE(st.is_status);
        ASSERT_OK(kube_status_parse("{\"kind\":\"Secret\"}", 17, 500, &st));
        ASSERT_FALSE(st.is_status);
        ASSERT_OK(kube_status_parse(NULL, 0, 500, &st));
        ASSERT_FALSE(st.is_status);
        ASSERT_STREQ(st.message, "");

        /* max-in-flight and Priority and Fairness: Go's http.Error, one line of text/plain. */
        ASSERT_OK(kube_status_parse("Too many requests, please try again later.\n", 43, 429, &st));
        ASSERT_FALSE(st.is_status);
        ASSERT_STREQ(st.message, "Too many requests, please try again later.");
        ASSERT_OK(kube_status_parse("<html>502 Bad Gateway</html>", 28, 502, &st));
        ASSERT_STREQ(st.message, "");
        ASSERT_OK(kube_status_parse("two\nlines\n", 10, 429, &st));
        ASSERT_STREQ(st.message, "");
        ASSERT_OK(kube_status_parse("bin\xff\n", 5, 429, &st));
        ASSERT_STREQ(st.message, "");
}

TEST(plain_text_429_named) {
        KubeEndpoint ep = { .server = (char *) "https://api:6443" };
        KubeStatusContext ctx = { .endpoint = &ep, .what = "read Secret ns/x", .verb = "get", .secret = "x" };
        NsError e = {};
        KubeStatus st;
        bool retry = false;

        ASSERT_OK(kube_status_parse("Too many requests, please try again later.\n", 43, 429, &st));
        ASSERT_ERROR(kube_status_to_error(CURLE_OK, NULL, &st, &ctx, &retry, &e), EBUSY);
        ASSERT_TRUE(retry);
        ASSERT_STREQ(e.message, "Failed to read Secret ns/x: the API server https://api:6443 is throttling us: "
                                "HTTP 429: Too many requests, please try again later.");
}

static const KubeEndpoint endpoint = {
        .server = (char *) "https://api:6443",
        .ca_file = (char *) "/sa/ca.crt",
        .token_file = (char *) "/sa/token",
        .client_certificate = (char *) "/c.pem",
        .client_key = (char *) "/k.pem",
        .namespace = (char *) "ns",
};

static const KubeStatusContext context = {
        .endpoint = &endpoint,
        .connect_timeout_usec = 5 * USEC_PER_SEC,
        .request_timeout_usec = 30 * USEC_PER_SEC,
        .what = "read Secret ns/s",
        .verb = "get",
        .secret = "s",
};

static int curl_failure(CURLcode cc, const char *curl_message, bool *retryable, NsError *e) {
        *e = (NsError) {};
        return kube_status_to_error(cc, curl_message, NULL, &context, retryable, e);
}

static int http_failure(long http, const char *reason, const char *message, bool *retryable, NsError *e) {
        KubeStatus st = { .http_code = http, .is_status = reason != NULL };

        if (reason)
                snprintf(st.reason, sizeof(st.reason), "%s", reason);
        if (message)
                snprintf(st.message, sizeof(st.message), "%s", message);
        *e = (NsError) {};
        return kube_status_to_error(CURLE_OK, NULL, &st, &context, retryable, e);
}

/* Every row of the curl table: errno, retry and the whole message. */
TEST(curl_errors_table) {
        static const struct {
                CURLcode cc;
                int error;
                bool retry;
                const char *message;
        } t[] = {
                { CURLE_SSL_CERTPROBLEM, EKEYREJECTED, false, "Failed to read Secret ns/s at https://api:6443: the client "
                  "certificate /c.pem or key /k.pem was not usable: m" },
                { CURLE_SSL_CACERT_BADFILE, ENOENT, false,
                  "Failed to read Secret ns/s at https://api:6443: cannot use the CA file /sa/ca.crt: m" },
                { CURLE_PEER_FAILED_VERIFICATION, ECONNABORTED, false, "Failed to read Secret ns/s: the certificate of "
                  "the API server https://api:6443 failed verification against the CA file /sa/ca.crt: m" },
                { CURLE_SSL_INVALIDCERTSTATUS, ECONNABORTED, false, "Failed to read Secret ns/s: the certificate of "
                  "the API server https://api:6443 failed verification against the CA file /sa/ca.crt: m" },
                { CURLE_COULDNT_CONNECT, ECONNREFUSED, true,
                  "Failed to read Secret ns/s: cannot connect to the API server https://api:6443: m" },
                { CURLE_COULDNT_RESOLVE_HOST, EHOSTUNREACH, true,
                  "Failed to read Secret ns/s: cannot resolve the API server https://api:6443: m" },
                { CURLE_OPERATION_TIMEDOUT, ETIMEDOUT, true, "Failed to read Secret ns/s: the API server "
                  "https://api:6443 did not answer in time (connect timeout 5.0 s, request timeout 30.0 s): m" },
                { CURLE_PARTIAL_FILE, EPROTO, true,
                  "Failed to read Secret ns/s: the response of the API server https://api:6443 was cut short: m" },
                { CURLE_FILESIZE_EXCEEDED, EFBIG, false, "Failed to read Secret ns/s: the response of the API server "
                  "https://api:6443 is larger than 4194304 bytes" },
                { CURLE_WRITE_ERROR, EFBIG, false, "Failed to read Secret ns/s: the response of the API server "
                  "https://api:6443 is larger than 4194304 bytes" },
                { CURLE_UNSUPPORTED_PROTOCOL, EPROTONOSUPPORT, false, "Failed to read Secret ns/s at https://api:6443: m" },
                { CURLE_RECV_ERROR, ECONNRESET, true,
                  "Failed to read Secret ns/s: the connection to the API server https://api:6443 failed: m" },
                { CURLE_HTTP2_STREAM, ECONNRESET, true,
                  "Failed to read Secret ns/s: the connection to the API server https://api:6443 failed: m" },
                { CURLE_OUT_OF_MEMORY, EIO, false, "Failed to read Secret ns/s at https://api:6443: m" },
        };
        NsError e;
        bool retry;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                ASSERT_ERROR(curl_failure(t[i].cc, "m", &retry, &e), t[i].error);
                ASSERT_EQ(retry, t[i].retry);
                ASSERT_STREQ(e.message, t[i].message);
        }
        /* Without curl's own message, its text for the code. */
        ASSERT_ERROR(curl_failure(CURLE_COULDNT_CONNECT, "", &retry, &e), ECONNREFUSED);
        ASSERT_CONTAINS(e.message, curl_easy_strerror(CURLE_COULDNT_CONNECT));
}

/* The rows of the HTTP table that need no message function. */
TEST(http_errors_table) {
        static const struct {
                long http;
                const char *reason;
                int error;
                bool retry;
                const char *message;
        } t[] = {
                { 409, "AlreadyExists", EEXIST, false, "Failed to read Secret ns/s: AlreadyExists: x" },
                { 409, "Conflict", ESTALE, false, "Failed to read Secret ns/s: Conflict: x" },
                { 410, "Expired", ESTALE, false, "Failed to read Secret ns/s: Expired: x" },
                { 400, "BadRequest", EINVAL, false,
                  "Failed to read Secret ns/s: the API server https://api:6443 refused the request: BadRequest: x" },
                { 422, "Invalid", EINVAL, false,
                  "Failed to read Secret ns/s: the API server https://api:6443 refused the request: Invalid: x" },
                { 413, "RequestEntityTooLarge", EFBIG, false, "Failed to read Secret ns/s: RequestEntityTooLarge: x" },
                { 429, "TooManyRequests", EBUSY, true,
                  "Failed to read Secret ns/s: the API server https://api:6443 is throttling us: TooManyRequests: x" },
                { 500, "InternalError", EIO, true, "Failed to read Secret ns/s: server error from the API server "
                  "https://api:6443: HTTP 500 InternalError: x" },
                { 599, NULL, EIO, true, "Failed to read Secret ns/s: server error from the API server https://api:6443: "
                  "HTTP 599 HTTP 599 with a body that is not a Kubernetes Status" },
                { 301, NULL, EPROTO, false, "Failed to read Secret ns/s: the API server https://api:6443 answered with "
                  "a redirect (HTTP 301), which is never followed" },
                { 418, "Teapot", EPROTO, false, "Failed to read Secret ns/s: unexpected answer from the API server "
                  "https://api:6443: HTTP 418 Teapot: x" },
                { 200, NULL, EPROTO, false, "Failed to read Secret ns/s: unexpected answer from the API server "
                  "https://api:6443: HTTP 200 HTTP 200 with a body that is not a Kubernetes Status" },
        };
        NsError e;
        bool retry;

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                ASSERT_ERROR(http_failure(t[i].http, t[i].reason, t[i].reason ? "x" : NULL, &retry, &e), t[i].error);
                ASSERT_EQ(retry, t[i].retry);
                ASSERT_STREQ(e.message, t[i].message);
        }
        /* A Status without reason or message. */
        ASSERT_ERROR(http_failure(413, "", NULL, &retry, &e), EFBIG);
        ASSERT_STREQ(e.message, "Failed to read Secret ns/s: (no reason)");
}

TEST(errors_about_events_name_no_secret) {
        KubeEndpoint ep = { .server = (char *) "https://api:6443", .namespace = (char *) "nodeseal" };
        KubeStatusContext ctx = { .endpoint = &ep, .what = "update an Event", .verb = "patch" };
        static const char forbidden[] = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"events \\\"e1\\\" is "
                                        "forbidden: User \\\"u\\\" cannot patch resource \\\"events\\\"\",\"reason\":"
                                        "\"Forbidden\",\"details\":{\"name\":\"e1\",\"kind\":\"events\"},\"code\":403}";
        static const char gone[] = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"events \\\"e1\\\" not "
                                   "found\",\"reason\":\"NotFound\",\"details\":{\"name\":\"e1\",\"kind\":\"events\"},"
                                   "\"code\":404}";
        NsError e = {};
        KubeStatus st;
        bool retry;

        ASSERT_OK(kube_status_parse(forbidden, strlen(forbidden), 403, &st));
        ASSERT_ERROR(kube_status_to_error(CURLE_OK, NULL, &st, &ctx, &retry, &e), EPERM);
        ASSERT_STREQ(e.message, "Failed to update an Event: Forbidden: events \"e1\" is forbidden: User \"u\" cannot "
                                "patch resource \"events\"");
        e = NS_ERROR_NULL;
        ASSERT_OK(kube_status_parse(gone, strlen(gone), 404, &st));
        ASSERT_ERROR(kube_status_to_error(CURLE_OK, NULL, &st, &ctx, &retry, &e), ENOENT);
        /* The same Status on a request about a Secret is no "Secret not found". */
        e = NS_ERROR_NULL;
        ctx.secret = "nodeseal-ca";
        ASSERT_TRUE(kube_status_to_error(CURLE_OK, NULL, &st, &ctx, &retry, &e) != -ENOENT);
}
