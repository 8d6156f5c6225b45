/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes client without a server: the errors of its requests, token rotation. */
#include <sys/stat.h>

#include "kube-client.h"
#include "tests.h"

static void make_sa_dir(const char *dir, const char *ns) {
        char p[600], b[700];

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
