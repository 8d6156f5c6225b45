#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In-cluster configuration: KUBERNETES_SERVICE_HOST/_PORT and the service-account files.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
random_key "$T/k"
fk_secret nodeseal-ca "tls.crt=$T/k"

mkdir -p "$T/sa"
cp "$FAKE_KUBE_CA" "$T/sa/ca.crt"
cp "$FAKE_KUBE_DIR/token" "$T/sa/token"
printf 'nodeseal' >"$T/sa/namespace"
cat >"$T/c.json" <<EOF2
{ "node_name": "$NODE_NAME",
  "secrets": { "source": "kubernetes", "kubernetes": { "service_account_dir": "$T/sa", "request_timeout_sec": 4 } },
  "retry": { "initial_sec": 0.1, "max_sec": 0.2, "max_attempts": 2 } }
EOF2

port=${FAKE_KUBE_URL##*:}
( unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
  kg --config "$T/c.json" get nodeseal-ca tls.crt
  assert_eq "$rc" 1 "exit status outside a pod"
  assert_contains "$out" "Not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/_PORT unset) and no secrets.kubernetes.api_url configured" )

export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$port
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status in the pod ($out)"
assert_contains "$out" "sha256=$(sha256_of "$T/k")"

# The namespace comes from the pod's file: another namespace there, another answer.
printf 'default' >"$T/sa/namespace"
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 4 "exit status"
assert_contains "$out" "Secret nodeseal-ca not found in namespace default"

export KUBERNETES_SERVICE_HOST=::1
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_contains "$out" "https://[::1]:$port"
assert_no_secrets
pass
