/* SPDX-License-Identifier: Apache-2.0 */
/* Where and how to reach the Kubernetes API server: the config, the environment, the service account. */
#pragma once

#include "config.h"
#include "error.h"

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

/* Resolves the endpoint: api_url or https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT;
 * ca_file, token_file and namespace default to the files in the service-account directory. */
int kube_endpoint_resolve(const KubeConfig *k, KubeEndpoint *ret, NsError *error);
void kube_endpoint_done(KubeEndpoint *e);
