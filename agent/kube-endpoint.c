/* SPDX-License-Identifier: Apache-2.0 */
/* Where and how to reach the Kubernetes API server: the config, the environment, the service account. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kube-endpoint.h"
#include "secret.h"
#include "secure.h"

void kube_endpoint_done(KubeEndpoint *e) {
        free(e->server);
        free(e->ca_file);
        free(e->token_file);
        free(e->client_certificate);
        free(e->client_key);
        free(e->namespace);
        *e = (KubeEndpoint) {};
}

static int path_join(const char *dir, const char *file, char **ret) {
        return asprintf(ret, "%s/%s", dir, file) < 0 ? -ENOMEM : 0;
}

static int strdup_to(char **dst, const char *s) {
        if (!s) {
                *dst = NULL;
                return 0;
        }
        *dst = strdup(s);
        return *dst ? 0 : -ENOMEM;
}

static int resolve_server(const KubeConfig *k, char **ret, NsError *error) {
        const char *host, *port;

        if (k->api_url) {
                size_t n = strlen(k->api_url);
                /* The config refuses http:// already; refuse here too, so no caller can get around it. */
                if (strncasecmp(k->api_url, "https://", 8) != 0)
                        return ns_error_set(error, -EPROTONOSUPPORT,
                                            "Kubernetes API URL \"%s\" refused: only https:// is allowed", k->api_url);
                while (n > 8 && k->api_url[n - 1] == '/')
                        n--;
                *ret = strndup(k->api_url, n);
                return *ret ? 0 : -ENOMEM;
        }

        host = getenv("KUBERNETES_SERVICE_HOST");
        port = getenv("KUBERNETES_SERVICE_PORT");
        if (isempty(host) || isempty(port))
                return ns_error_set(error, -ENXIO,
                                    "Not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/_PORT unset) "
                                    "and no secrets.kubernetes.api_url configured");
        for (const char *p = port; *p; p++)
                if (*p < '0' || *p > '9')
                        return ns_error_set(error, -EINVAL, "KUBERNETES_SERVICE_PORT=\"%s\" is not a port", port);
        for (const char *p = host; *p; p++)
                if (!(isalnum((unsigned char) *p) || strchr(".-:[]", *p)))
                        return ns_error_set(error, -EINVAL, "KUBERNETES_SERVICE_HOST=\"%s\" is not a host", host);
        if (asprintf(ret, strchr(host, ':') && host[0] != '[' ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0)
                return -ENOMEM;
        return 0;
}

/* The CA file, the token file or client certificate: configured, or the service account's. */
static int resolve_credentials(const KubeConfig *k, const char *sa, KubeEndpoint *e, NsError *error) {
        _cleanup_free_ char *sa_ca = NULL, *sa_token = NULL;
        bool in_cluster = !k->api_url;
        int r;

        if (path_join(sa, "ca.crt", &sa_ca) < 0 || path_join(sa, "token", &sa_token) < 0)
                return -ENOMEM;

        if (k->ca_file)
                r = strdup_to(&e->ca_file, k->ca_file);
        else if (in_cluster || access(sa_ca, F_OK) >= 0)
                r = strdup_to(&e->ca_file, sa_ca);
        else
                r = 0;   /* an api_url with a publicly trusted certificate */
        if (r < 0)
                return r;

        if (k->client_certificate) {
                if (strdup_to(&e->client_certificate, k->client_certificate) < 0 ||
                    strdup_to(&e->client_key, k->client_key) < 0)
                        return -ENOMEM;
        }
        if (k->token_file)
                r = strdup_to(&e->token_file, k->token_file);
        else if (!k->client_certificate && (in_cluster || access(sa_token, F_OK) >= 0))
                r = strdup_to(&e->token_file, sa_token);
        else
                r = 0;
        if (r < 0)
                return r;
        if (!e->token_file && !e->client_certificate)
                return ns_error_set(error, -ENOKEY,
                                    "No credentials for the Kubernetes API server %s: set secrets.kubernetes.token_file "
                                    "or client_certificate/client_key (no %s either)", e->server, sa_token);
        return 0;
}

/* The namespace: configured, or the pod's own ("default" outside a cluster without one). */
static int resolve_namespace(const KubeConfig *k, const char *sa, char **ret, NsError *error) {
        _cleanup_free_ char *sa_ns = NULL, *ns = NULL;
        int r;

        if (k->namespace)
                return strdup_to(ret, k->namespace);
        if (path_join(sa, "namespace", &sa_ns) < 0)
                return -ENOMEM;
        r = read_full_file(sa_ns, 256, &ns, NULL);
        if (r == -ENOENT && k->api_url)
                return strdup_to(ret, "default");
        if (r < 0)
                return ns_error_set(error, r, "Cannot read the pod's namespace from %s: %s "
                                    "(set secrets.kubernetes.namespace)", sa_ns, strerror(-r));
        ns[strcspn(ns, " \t\r\n")] = '\0';
        if (!secret_name_is_valid(ns))
                return ns_error_set(error, -EINVAL, "%s: \"%s\" is not a namespace name", sa_ns, ns);
        *ret = TAKE_PTR(ns);
        return 0;
}

int kube_endpoint_resolve(const KubeConfig *k, KubeEndpoint *ret, NsError *error) {
        _cleanup_(kube_endpoint_done) KubeEndpoint e = {};
        const char *sa = k->service_account_dir ?: CONFIG_DEFAULT_SERVICE_ACCOUNT_DIR;
        int r;

        r = resolve_server(k, &e.server, error);
        if (r < 0)
                return r;
        r = resolve_credentials(k, sa, &e, error);
        if (r < 0)
                return r;
        r = resolve_namespace(k, sa, &e.namespace, error);
        if (r < 0)
                return r;

        *ret = e;
        e = (KubeEndpoint) {};
        return 0;
}
