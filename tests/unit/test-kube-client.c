/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes client without a server: base64, Status, URLs, backoff, in-cluster discovery, errors. */
#include <sys/stat.h>

#include "kube-client.h"
#include "tests.h"

static int decode(const char *s, SecretValue **ret) {
        return kube_base64_decode(s, strlen(s), ret);
}

TEST(base64_decode_valid) {
        static const struct { const char *in, *out; } v[] = {
                { "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" }, { "Zm9vYg==", "foob" },
                { "Zm9vYmE=", "fooba" }, { "Zm9vYmFy", "foobar" }, { "+/+/", "\xfb\xff\xbf" },
        };
        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                SecretValue *d = NULL;
                ASSERT_OK(decode(v[i].in, &d));
                ASSERT_EQ(d->size, strlen(v[i].out));
                ASSERT_TRUE(memcmp(d->data, v[i].out, d->size) == 0);
                secret_value_free(d);
        }
}

TEST(base64_decode_strict) {
        static const char * const bad[] = {
                "Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm=v", "Zm9v\n", " Zm9v", "Zm9v ", "Zm 9v",
                "Zh==",   /* trailing bits set */
                "Zm9=",   /* trailing bits set */
                "Zm9v-_==", "Zm9v****", "Zg\0=",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SecretValue *d = NULL;
                ASSERT_ERROR(decode(bad[i], &d), EBADMSG);
                ASSERT_TRUE(d == NULL);
        }
}

TEST(base64_round_trip) {
        uint8_t buf[100];

        for (size_t n = 0; n <= sizeof(buf); n++) {
                SecretValue *e = NULL, *d = NULL;

                ASSERT_OK(random_bytes(buf, n));
                ASSERT_OK(kube_base64_encode(buf, n, &e));
                ASSERT_EQ(e->size, (n + 2) / 3 * 4);
                ASSERT_EQ(strlen((char *) e->data), e->size);
                ASSERT_OK(kube_base64_decode((char *) e->data, e->size, &d));
                ASSERT_EQ(d->size, n);
                ASSERT_TRUE(n == 0 || memcmp(d->data, buf, n) == 0);
                secret_value_free(e);
                secret_value_free(d);
        }
}

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
}

TEST(urls) {
        _cleanup_free_ char *e = NULL, *u1 = NULL, *u2 = NULL, *w1 = NULL, *w2 = NULL, *l = NULL;

        ASSERT_OK(kube_url_escape("metadata.name=a b/c?&%~_-", &e));
        ASSERT_STREQ(e, "metadata.name%3Da%20b%2Fc%3F%26%25~_-");
        ASSERT_OK(kube_secret_url("https://h:6443", "ns", "nodeseal-ca", &u1));
        ASSERT_STREQ(u1, "https://h:6443/api/v1/namespaces/ns/secrets/nodeseal-ca");
        ASSERT_OK(kube_secret_url("https://h:6443/prefix", "ns", NULL, &u2));
        ASSERT_STREQ(u2, "https://h:6443/prefix/api/v1/namespaces/ns/secrets");
        ASSERT_OK(kube_watch_url("https://h", "ns", "k.1", "123", 300, &w1));
        ASSERT_STREQ(w1, "https://h/api/v1/namespaces/ns/secrets?watch=1&fieldSelector=metadata.name%3Dk.1"
                         "&resourceVersion=123&allowWatchBookmarks=true&timeoutSeconds=300");
        ASSERT_OK(kube_watch_url("https://h", "ns", "k", NULL, 5, &w2));
        ASSERT_STREQ(w2, "https://h/api/v1/namespaces/ns/secrets?watch=1&fieldSelector=metadata.name%3Dk"
                         "&allowWatchBookmarks=true&timeoutSeconds=5");
        ASSERT_OK(kube_list_url("https://h", "ns", "k", &l));
        ASSERT_STREQ(l, "https://h/api/v1/namespaces/ns/secrets?fieldSelector=metadata.name%3Dk");
}

TEST(backoff_bounds) {
        RetryConfig r = { .initial_usec = USEC_PER_SEC, .max_usec = 60 * USEC_PER_SEC, .multiplier = 2.0, .jitter = 0.2 };
        RetryConfig nj = r;

        nj.jitter = 0;
        ASSERT_EQ(kube_backoff_usec(&nj, 0, 0.3), USEC_PER_SEC);
        ASSERT_EQ(kube_backoff_usec(&nj, 1, 0.3), 2 * USEC_PER_SEC);
        ASSERT_EQ(kube_backoff_usec(&nj, 5, 0.3), 32 * USEC_PER_SEC);
        ASSERT_EQ(kube_backoff_usec(&nj, 6, 0.3), 60 * USEC_PER_SEC);
        ASSERT_EQ(kube_backoff_usec(&nj, 1000000, 0.3), 60 * USEC_PER_SEC);

        for (unsigned a = 0; a < 40; a++)
                for (double x = 0; x < 1.0; x += 0.0625) {
                        uint64_t d = kube_backoff_usec(&r, a, x), base = kube_backoff_usec(&nj, a, x);
                        ASSERT_TRUE(d <= r.max_usec);
                        ASSERT_TRUE((double) d >= (double) base * 0.8 - 1);
                        ASSERT_TRUE((double) d <= (double) base * 1.2 + 1);
                }
        /* The jitter spreads: lowest and highest draws differ. */
        ASSERT_TRUE(kube_backoff_usec(&r, 2, 0.0) < kube_backoff_usec(&r, 2, 0.999));
        for (int i = 0; i < 1000; i++) {
                double x = kube_random01();
                ASSERT_TRUE(x >= 0 && x < 1);
        }
}

TEST(retry_after) {
        uint64_t now = (uint64_t) 1700000000 * USEC_PER_SEC;

        ASSERT_EQ(kube_parse_retry_after(" 5\r\n", now), 5 * USEC_PER_SEC);
        ASSERT_EQ(kube_parse_retry_after("0", now), 0);
        ASSERT_EQ(kube_parse_retry_after("99999999", now), KUBE_RETRY_AFTER_MAX_USEC);
        ASSERT_EQ(kube_parse_retry_after("soon", now), 0);
        ASSERT_EQ(kube_parse_retry_after("5x", now), 0);
        /* Tue, 14 Nov 2023 22:13:30 GMT is 10 s after now. */
        ASSERT_EQ(kube_parse_retry_after(" Tue, 14 Nov 2023 22:13:30 GMT", now), 10 * USEC_PER_SEC);
        ASSERT_EQ(kube_parse_retry_after("Tue, 14 Nov 2023 22:13:10 GMT", now), 0);
}

static void make_sa_dir(const char *dir, const char *ns) {
        char p[512], b[600];

        (void) mkdir(dir, 0700);
        snprintf(p, sizeof(p), "%s/ca.crt", dir);
        test_write_file(p, "-----BEGIN CERTIFICATE-----\n", b, sizeof(b));
        snprintf(p, sizeof(p), "%s/token", dir);
        test_write_file(p, "tok-1\n", b, sizeof(b));
        if (ns) {
                snprintf(p, sizeof(p), "%s/namespace", dir);
                test_write_file(p, ns, b, sizeof(b));
        }
}

TEST(in_cluster_discovery) {
        char sa[512];
        KubeConfig k = { .connect_timeout_usec = USEC_PER_SEC, .request_timeout_usec = USEC_PER_SEC };
        KubeEndpoint e = {};
        NsError err = {};

        snprintf(sa, sizeof(sa), "%s/sa", test_tmpdir);
        make_sa_dir(sa, "db-system\n");
        k.service_account_dir = sa;

        unsetenv("KUBERNETES_SERVICE_HOST");
        unsetenv("KUBERNETES_SERVICE_PORT");
        ASSERT_ERROR(kube_endpoint_resolve(&k, &e, &err), ENXIO);
        ASSERT_CONTAINS(err.message, "KUBERNETES_SERVICE_HOST");

        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
        setenv("KUBERNETES_SERVICE_PORT", "443", 1);
        ASSERT_OK(kube_endpoint_resolve(&k, &e, NULL));
        ASSERT_STREQ(e.server, "https://10.96.0.1:443");
        ASSERT_CONTAINS(e.ca_file, "/sa/ca.crt");
        ASSERT_CONTAINS(e.token_file, "/sa/token");
        ASSERT_STREQ(e.namespace, "db-system");
        ASSERT_TRUE(e.client_certificate == NULL);
        kube_endpoint_done(&e);

        setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
        ASSERT_OK(kube_endpoint_resolve(&k, &e, NULL));
        ASSERT_STREQ(e.server, "https://[fd00::1]:443");
        kube_endpoint_done(&e);

        setenv("KUBERNETES_SERVICE_HOST", "evil/host", 1);
        err = (NsError) {};
        ASSERT_ERROR(kube_endpoint_resolve(&k, &e, &err), EINVAL);
        setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);

        /* The config wins over the pod's files. */
        k.namespace = (char *) "nodeseal";
        k.token_file = (char *) "/etc/nodeseal/token";
        ASSERT_OK(kube_endpoint_resolve(&k, &e, NULL));
        ASSERT_STREQ(e.namespace, "nodeseal");
        ASSERT_STREQ(e.token_file, "/etc/nodeseal/token");
        kube_endpoint_done(&e);
}

TEST(explicit_endpoint) {
        char sa[512];
        KubeConfig k = {};
        KubeEndpoint e = {};
        NsError err = {};

        snprintf(sa, sizeof(sa), "%s/empty-sa", test_tmpdir);
        (void) mkdir(sa, 0700);
        k.service_account_dir = sa;

        k.api_url = (char *) "http://10.0.0.1:6443";
        ASSERT_ERROR(kube_endpoint_resolve(&k, &e, &err), EPROTONOSUPPORT);
        ASSERT_CONTAINS(err.message, "only https:// is allowed");

        k.api_url = (char *) "https://api.example:6443//";
        err = (NsError) {};
        ASSERT_ERROR(kube_endpoint_resolve(&k, &e, &err), ENOKEY);
        ASSERT_CONTAINS(err.message, "No credentials");

        k.client_certificate = (char *) "/etc/nodeseal/client.crt";
        k.client_key = (char *) "/etc/nodeseal/client.key";
        ASSERT_OK(kube_endpoint_resolve(&k, &e, NULL));
        ASSERT_STREQ(e.server, "https://api.example:6443");
        ASSERT_TRUE(e.token_file == NULL);
        ASSERT_TRUE(e.ca_file == NULL);   /* the system trust store */
        ASSERT_STREQ(e.namespace, "default");
        kube_endpoint_done(&e);
}

static const char secret_json[] =
        "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"keys\",\"namespace\":\"ns\","
        "\"resourceVersion\":\"42\"},\"data\":{\"good\":\"Zm9vYmFy\",\"bad\":\"Zm9v YmFy\",\"num\":3},\"type\":\"Opaque\"}";

TEST(secret_parse_and_keys) {
        KubeSecret *s = NULL;
        SecretValue *v = NULL;
        NsError e = {};

        ASSERT_OK(kube_secret_parse(secret_json, strlen(secret_json), "keys", &s, &e));
        ASSERT_STREQ(kube_secret_resource_version(s), "42");
        ASSERT_TRUE(kube_secret_has_key(s, "good"));
        ASSERT_FALSE(kube_secret_has_key(s, "nope"));
        ASSERT_OK(kube_secret_get(s, "good", &v, &e));
        ASSERT_EQ(v->size, 6);
        ASSERT_TRUE(memcmp(v->data, "foobar", 6) == 0);
        v = secret_value_free(v);

        ASSERT_ERROR(kube_secret_get(s, "bad", &v, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "Key \"bad\" of Secret keys is not valid base64");
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_get(s, "num", &v, &e), EBADMSG);
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_get(s, "nope", &v, &e), ENOKEY);
        ASSERT_CONTAINS(e.message, "Secret keys has no key \"nope\"");
        kube_secret_free(s);

        e = (NsError) {};
        ASSERT_ERROR(kube_secret_parse(secret_json, strlen(secret_json), "other", &s, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "names another object");
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_parse(secret_json, strlen(secret_json) / 2, "keys", &s, &e), EBADMSG);
        ASSERT_CONTAINS(e.message, "Secret keys is not valid JSON");
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_parse("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"keys\"}}", 45, "keys", &s, &e),
                     EBADMSG);
        ASSERT_CONTAINS(e.message, "no resourceVersion");
        e = (NsError) {};
        ASSERT_ERROR(kube_secret_parse("{\"kind\":\"Status\"}", 17, "keys", &s, &e), EBADMSG);
}

TEST(secret_list_parse) {
        static const char one[] = "{\"kind\":\"SecretList\",\"metadata\":{\"resourceVersion\":\"900\"},\"items\":["
                                  "{\"metadata\":{\"name\":\"k\",\"resourceVersion\":\"17\"},\"data\":{}}]}";
        static const char none[] = "{\"kind\":\"SecretList\",\"metadata\":{\"resourceVersion\":\"901\"},\"items\":[]}";
        _cleanup_free_ char *lrv = NULL, *orv = NULL, *lrv2 = NULL, *orv2 = NULL;
        char *x = NULL, *y = NULL;
        NsError e = {};

        ASSERT_OK(kube_secret_list_parse(one, strlen(one), "k", &lrv, &orv, &e));
        ASSERT_STREQ(lrv, "900");
        ASSERT_STREQ(orv, "17");
        ASSERT_OK(kube_secret_list_parse(none, strlen(none), "k", &lrv2, &orv2, &e));
        ASSERT_STREQ(lrv2, "901");
        ASSERT_TRUE(orv2 == NULL);
        ASSERT_ERROR(kube_secret_list_parse("garbage", 7, "k", &x, &y, &e), EBADMSG);
}

static KubeClient *make_client(KubeConfig *k, RetryConfig *r) {
        char sa[512];
        KubeClient *c = NULL;

        snprintf(sa, sizeof(sa), "%s/sa-client", test_tmpdir);
        make_sa_dir(sa, "nodeseal");
        *k = (KubeConfig) { .api_url = (char *) "https://127.0.0.1:1", .service_account_dir = strdup(sa),
                            .connect_timeout_usec = USEC_PER_SEC, .request_timeout_usec = 2 * USEC_PER_SEC,
                            .watch_timeout_usec = 5 * USEC_PER_SEC };
        *r = (RetryConfig) { .initial_usec = 1000, .max_usec = 2000, .multiplier = 2, .max_attempts = 2 };
        if (kube_client_new(k, r, &c, NULL) < 0)
                return NULL;
        return c;
}

static int not_found_for(KubeClient *c, const char *kind, const char *name, const char *verb, bool *retryable,
                         NsError *e) {
        KubeStatus st = { .http_code = 404, .is_status = true, .reason = "NotFound" };

        snprintf(st.message, sizeof(st.message), "%s \"%s\" not found", kind, name);
        snprintf(st.details_kind, sizeof(st.details_kind), "%s", kind);
        snprintf(st.details_name, sizeof(st.details_name), "%s", name);
        *e = (NsError) {};
        return kube_client_error(c, CURLE_OK, NULL, &st, "create Secret nodeseal/nodeseal-ca", verb, "nodeseal-ca",
                                 retryable, e);
}

static int error_for(KubeClient *c, long http, const char *reason, const char *message, const char *verb,
                     bool *retryable, NsError *e) {
        KubeStatus st = { .http_code = http, .is_status = reason != NULL };

        if (reason)
                snprintf(st.reason, sizeof(st.reason), "%s", reason);
        if (message)
                snprintf(st.message, sizeof(st.message), "%s", message);
        *e = (NsError) {};
        return kube_client_error(c, CURLE_OK, NULL, &st, "read Secret nodeseal/nodeseal-ca", verb, "nodeseal-ca",
                                 retryable, e);
}

TEST(error_mapping) {
        KubeConfig k;
        RetryConfig rc;
        KubeClient *c = make_client(&k, &rc);
        NsError e;
        bool retry;

        ASSERT_TRUE(c != NULL);

        ASSERT_ERROR(not_found_for(c, "secrets", "nodeseal-ca", "get", &retry, &e), ENOENT);
        ASSERT_FALSE(retry);
        ASSERT_CONTAINS(e.message, "Secret nodeseal-ca not found in namespace nodeseal");
        /* A 404 that names no Secret, or another one, is no "Secret not found". */
        ASSERT_ERROR(not_found_for(c, "namespaces", "nodeseal", "create", &retry, &e), ENOENT);
        ASSERT_CONTAINS(e.message, "Failed to create Secret nodeseal/nodeseal-ca: namespace nodeseal does not exist");
        ASSERT_FALSE(strstr(e.message, "Secret nodeseal-ca not found"));
        ASSERT_ERROR(not_found_for(c, "secrets", "other", "get", &retry, &e), ENXIO);
        ASSERT_ERROR(error_for(c, 404, "NotFound", "the server could not find the requested resource", "get", &retry,
                               &e), ENXIO);
        ASSERT_CONTAINS(e.message, "has no such resource (HTTP 404, NotFound: the server could not find");
        ASSERT_CONTAINS(e.message, "secrets.kubernetes.api_url");
        ASSERT_ERROR(error_for(c, 404, NULL, NULL, "get", &retry, &e), ENXIO);
        ASSERT_CONTAINS(e.message, "HTTP 404 with a body that is not a Kubernetes Status");

        ASSERT_ERROR(error_for(c, 403, "Forbidden", "secrets \"nodeseal-ca\" is forbidden: User \"u\" cannot get",
                               "get", &retry, &e), EPERM);
        ASSERT_FALSE(retry);
        ASSERT_CONTAINS(e.message, "Forbidden: secrets \"nodeseal-ca\" is forbidden");
        ASSERT_CONTAINS(e.message, "needs \"get\" on secrets \"nodeseal-ca\" in namespace nodeseal");
        ASSERT_CONTAINS(e.message, "deploy/kubernetes/rbac.yaml");
        /* patch and create come from the key-generation Role. */
        ASSERT_ERROR(error_for(c, 403, "Forbidden", "cannot patch", "patch", &retry, &e), EPERM);
        ASSERT_CONTAINS(e.message, "needs \"patch\" on secrets \"nodeseal-ca\" in namespace nodeseal");
        ASSERT_CONTAINS(e.message, "deploy/kubernetes/rbac-generate-keys.yaml");
        ASSERT_ERROR(error_for(c, 403, "Forbidden", "cannot create", "create", &retry, &e), EPERM);
        ASSERT_CONTAINS(e.message, "needs \"create\" on secrets in namespace nodeseal");
        ASSERT_CONTAINS(e.message, "deploy/kubernetes/rbac-generate-keys.yaml");

        ASSERT_ERROR(error_for(c, 401, "Unauthorized", "Unauthorized", "get", &retry, &e), EACCES);
        ASSERT_FALSE(retry);
        ASSERT_CONTAINS(e.message, "did not accept our credentials (Unauthorized: Unauthorized)");
        ASSERT_FALSE(strstr(e.message, "tok-1"));
        ASSERT_CONTAINS(e.message, "was re-read and the request retried");
        /* The watch has not re-read it yet when it reports the 401. */
        ASSERT_ERROR(error_for(c, 401, "Unauthorized", "Unauthorized", "watch", &retry, &e), EACCES);
        ASSERT_CONTAINS(e.message, "is re-read before the next attempt");

        ASSERT_ERROR(error_for(c, 429, "TooManyRequests", "slow down", "get", &retry, &e), EBUSY);
        ASSERT_TRUE(retry);
        ASSERT_CONTAINS(e.message, "TooManyRequests: slow down");

        ASSERT_ERROR(error_for(c, 503, "ServiceUnavailable", "unavailable", "get", &retry, &e), EIO);
        ASSERT_TRUE(retry);
        ASSERT_ERROR(error_for(c, 502, NULL, NULL, "get", &retry, &e), EIO);
        ASSERT_TRUE(retry);
        ASSERT_CONTAINS(e.message, "HTTP 502 with a body that is not a Kubernetes Status");

        ASSERT_ERROR(error_for(c, 409, "AlreadyExists", "exists", "create", &retry, &e), EEXIST);
        ASSERT_ERROR(error_for(c, 409, "Conflict", "modified", "patch", &retry, &e), ESTALE);
        ASSERT_ERROR(error_for(c, 422, "Invalid", "bad", "create", &retry, &e), EINVAL);
        ASSERT_FALSE(retry);
        ASSERT_ERROR(error_for(c, 302, NULL, NULL, "get", &retry, &e), EPROTO);
        ASSERT_CONTAINS(e.message, "never followed");

        e = (NsError) {};
        ASSERT_ERROR(kube_client_error(c, CURLE_COULDNT_CONNECT, "Connection refused", NULL, "read Secret x", "get", "x",
                                       &retry, &e), ECONNREFUSED);
        ASSERT_TRUE(retry);
        ASSERT_CONTAINS(e.message, "cannot connect to the API server https://127.0.0.1:1: Connection refused");
        e = (NsError) {};
        ASSERT_ERROR(kube_client_error(c, CURLE_OPERATION_TIMEDOUT, "", NULL, "read Secret x", "get", "x", &retry, &e),
                     ETIMEDOUT);
        ASSERT_TRUE(retry);
        e = (NsError) {};
        ASSERT_ERROR(kube_client_error(c, CURLE_PEER_FAILED_VERIFICATION, "unable to get local issuer certificate", NULL,
                                       "read Secret x", "get", "x", &retry, &e), ECONNABORTED);
        ASSERT_FALSE(retry);
        ASSERT_CONTAINS(e.message, "certificate of the API server https://127.0.0.1:1 failed verification against the CA file");
        ASSERT_CONTAINS(e.message, "sa-client/ca.crt");

        kube_client_free(c);
        free(k.service_account_dir);
}

TEST(token_rotation) {
        KubeConfig k;
        RetryConfig rc;
        KubeClient *c = make_client(&k, &rc);
        char p[600], b[600];
        NsError e = {};

        ASSERT_TRUE(c != NULL);
        snprintf(p, sizeof(p), "%s/token", k.service_account_dir);
        ASSERT_OK(kube_client_refresh_token(c, false, &e));

        test_write_file(p, "tok-2-longer\n", b, sizeof(b));   /* a new inode, as the kubelet does */
        ASSERT_OK(kube_client_refresh_token(c, false, &e));

        test_write_file(p, "bad token\x01\n", b, sizeof(b));
        ASSERT_ERROR(kube_client_refresh_token(c, false, &e), EBADMSG);
        ASSERT_FALSE(strstr(e.message, "bad token"));
        e = (NsError) {};
        test_write_file(p, "\n", b, sizeof(b));
        ASSERT_ERROR(kube_client_refresh_token(c, true, &e), ENOKEY);
        ASSERT_CONTAINS(e.message, "is empty");

        kube_client_free(c);
        free(k.service_account_dir);
}

TEST(buffer_cap) {
        KubeBuffer b = { .max = 10 };

        ASSERT_OK(kube_buffer_append(&b, "12345", 5));
        ASSERT_OK(kube_buffer_append(&b, "67890", 5));
        ASSERT_ERROR(kube_buffer_append(&b, "x", 1), EFBIG);
        ASSERT_TRUE(b.overflow);
        kube_buffer_consume(&b, 4);
        ASSERT_EQ(b.size, 6);
        ASSERT_STREQ(b.data, "567890");
        kube_buffer_done(&b);
        ASSERT_TRUE(b.data == NULL);
}
