#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Secrets made with kubectl, as an operator would, are read by nodeseal with the same bytes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

command -v kubectl >/dev/null || skip "kubectl is not installed"
start_fake
write_config "$T/c.json"
export KUBECONFIG=$FAKE_KUBE_KUBECONFIG
# kubectl keeps its discovery cache in the scratch directory, not in $HOME.
kubectl() { command kubectl --cache-dir "$T/kube-cache" "$@"; }
# The example Secrets of deploy/kubernetes pass the server's validation (dry run).
kubectl create --dry-run=server -f "$SOURCE_ROOT/deploy/kubernetes/secrets.example.yaml" >"$LOGS/kubectl.4" 2>&1 \
        || { cat "$LOGS/kubectl.4"; fail "kubectl create --dry-run=server -f secrets.example.yaml"; }

random_key "$T/pgdata"
random_key "$T/walts"
remember_secret "$(base64 -w0 <"$T/pgdata")" "$(base64 -w0 <"$T/walts")"

# A manifest, as in deploy/kubernetes/secrets.example.yaml.
cat >"$T/secret.json" <<EOF2
{ "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
  "metadata": { "name": "nodeseal-keys-$NODE_NAME", "namespace": "nodeseal" },
  "data": { "pgdata": "$(base64 -w0 <"$T/pgdata")" } }
EOF2
kubectl create --validate=false -f "$T/secret.json" >"$LOGS/kubectl.1" 2>&1 || { cat "$LOGS/kubectl.1"; fail "kubectl create -f"; }
kg --config "$T/c.json" get "nodeseal-keys-$NODE_NAME" pgdata
assert_eq "$rc" 0 "exit status ($out)"
assert_contains "$out" "sha256=$(sha256_of "$T/pgdata") size=64"

# kubectl create secret generic --from-file, and a TLS Secret for the CA.
# (The fake speaks JSON only, and kubectl sends its generated objects as protobuf: so through JSON.)
kubectl -n nodeseal create secret generic "nodeseal-keys-node-2" --from-file=walts="$T/walts" --dry-run=client -o json \
        | kubectl create -f - >"$LOGS/kubectl.2" 2>&1 || { cat "$LOGS/kubectl.2"; fail "kubectl create secret generic"; }
kg --config "$T/c.json" get nodeseal-keys-node-2 walts
assert_contains "$out" "sha256=$(sha256_of "$T/walts") size=64"

make_ca "$T/ca"
remember_secret "$(sed -n 2p "$T/ca/ca.key")"
kubectl -n nodeseal create secret tls nodeseal-ca --cert="$T/ca/ca.crt" --key="$T/ca/ca.key" --dry-run=client -o json \
        | kubectl create -f - >"$LOGS/kubectl.3" 2>&1 || { cat "$LOGS/kubectl.3"; fail "kubectl create secret tls"; }
kg --config "$T/c.json" get nodeseal-ca tls.key
assert_contains "$out" "sha256=$(sha256_of "$T/ca/ca.key")"
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_contains "$out" "sha256=$(sha256_of "$T/ca/ca.crt")"

# And kubectl sees what nodeseal generated.
write_config "$T/gen.json" '"generate_missing_keys": true'
kg --config "$T/gen.json" put "nodeseal-keys-$NODE_NAME" srv
assert_eq "$rc" 0 "exit status ($out)"
kubectl -n nodeseal get secret "nodeseal-keys-$NODE_NAME" -o jsonpath='{.data.srv}' | base64 -d >"$T/srv"
assert_contains "$out" "stored-mine sha256=$(sha256_of "$T/srv") size=64"
remember_secret "$(base64 -w0 <"$T/srv")"
assert_no_secrets
pass
