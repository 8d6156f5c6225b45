/* SPDX-License-Identifier: Apache-2.0 */
/* Resolving the API server: in-cluster discovery and an explicit endpoint. */
#include <sys/stat.h>

#include "kube-endpoint.h"
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
