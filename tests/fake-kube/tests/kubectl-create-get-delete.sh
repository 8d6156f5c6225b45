#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kubectl-create-get-delete: the real kubectl creates, reads, lists and deletes Secrets on the fake.
#
# What kubectl 1.32 needs from a server, as seen in the request log: GET /version, then for
# `create -f` GET /openapi/v3 and /openapi/v3/api/v1 (to learn that the server validates fields
# itself, so no --validate=false is needed), GET /api, /apis, /api/v1 (legacy discovery, as the
# fake answers plain JSON to the aggregated-discovery Accept), then POST with
# fieldValidation=Strict and a JSON body. `kubectl get` asks for a Table (as=Table) and
# `kubectl create secret generic` sends protobuf, which this JSON-only server refuses with 415.
source "$(dirname "$0")/lib.sh"

command -v kubectl >/dev/null || skip "kubectl is not installed"
start_server
export KUBECONFIG=$FAKE_KUBE_KUBECONFIG
# a private discovery cache: kubectl would otherwise write under $HOME/.kube
kc() { kubectl --cache-dir "$WORK/kube-cache" --request-timeout 10s "$@"; }

requests() { admin GET "/fake/requests?since=${1:-0}" >"$WORK/requests.json"; }
last_seq() { admin GET "/fake/requests" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last"])'; }

cat >"$WORK/opaque.json" <<'EOF'
{"apiVersion": "v1", "kind": "Secret",
 "metadata": {"name": "nodeseal-keys-node1", "labels": {"app": "nodeseal"}},
 "type": "Opaque",
 "data": {"data": "c2VjcmV0LWtleS1ieXRlcw=="},
 "stringData": {"wal": "plain text key"}}
EOF
crt=$(printf 'CERT' | base64) key=$(printf 'KEY' | base64)
cat >"$WORK/tls.json" <<EOF
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "nodeseal-ca"},
 "type": "kubernetes.io/tls", "data": {"tls.crt": "$crt", "tls.key": "$key"}}
EOF
cat >"$WORK/tls-bad.json" <<EOF
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls-bad"},
 "type": "kubernetes.io/tls", "data": {"tls.crt": "$crt"}}
EOF

# create -f, with kubectl's default validation (server-side, Strict) and with --validate=false
seq0=$(last_seq)
if out=$(kc create -f "$WORK/opaque.json" 2>&1) && [ "$out" = "secret/nodeseal-keys-node1 created" ]; then
    pass "kubectl create -f opaque.json"
else
    fail "kubectl create -f opaque.json: $out"
fi
requests "$seq0"
post=$(jq_py "$WORK/requests.json" '[e for e in d["items"] if e["method"] == "POST"][0]')
python3 - "$post" <<'EOF' && pass "kubectl POSTs JSON with fieldValidation=Strict" || fail "kubectl's POST: $post"
import json, sys
e = json.loads(sys.argv[1])
assert e["content_type"] == "application/json", e
assert "fieldValidation=Strict" in e["query"], e
assert e["status"] == 201, e
EOF
if out=$(kc create --validate=false -f "$WORK/tls.json" 2>&1) && [ "$out" = "secret/nodeseal-ca created" ]; then
    pass "kubectl create --validate=false -f tls.json"
else
    fail "kubectl create --validate=false -f tls.json: $out"
fi
out=$(kc create -f "$WORK/tls-bad.json" 2>&1) && fail "a tls Secret without tls.key was created"
case $out in
    *'The Secret "tls-bad" is invalid: data[tls.key]: Required value'*) pass "kubectl shows 422 Invalid" ;;
    *) fail "kubectl's text for an invalid Secret: $out" ;;
esac
out=$(kc create -f "$WORK/opaque.json" 2>&1) && fail "a second create succeeded"
case $out in
    *'Error from server (AlreadyExists)'*'secrets "nodeseal-keys-node1" already exists'*) pass "kubectl shows AlreadyExists" ;;
    *) fail "kubectl's text for AlreadyExists: $out" ;;
esac

# get -o json shows the data, stringData folded in
kc get secret nodeseal-keys-node1 -o json >"$WORK/got.json" || fail "kubectl get -o json failed"
check=$(jq_py "$WORK/got.json" '[d["kind"], d["type"], d["data"]["data"], d["data"]["wal"], "stringData" in d,
                                 d["metadata"]["namespace"], d["metadata"]["resourceVersion"].isdigit()]')
if [ "$check" = "$(printf '%s' '["Secret", "Opaque", "c2VjcmV0LWtleS1ieXRlcw==", "cGxhaW4gdGV4dCBrZXk=", false, "default", true]')" ]; then
    pass "kubectl get secret -o json shows the data"
else
    fail "kubectl get secret -o json: $check"
fi
kc get secret nodeseal-ca -o json >"$WORK/got.json" || fail "kubectl get tls -o json failed"
[ "$(jq_py "$WORK/got.json" 'sorted(d["data"])')" = '["tls.crt", "tls.key"]' ] &&
    pass "kubectl get tls secret" || fail "tls secret data: $(cat "$WORK/got.json")"

# get (a Table) lists both, with the real columns
out=$(kc get secrets 2>&1) || fail "kubectl get secrets: $out"
if printf '%s\n' "$out" | grep -Eq '^NAME +TYPE +DATA +AGE$' &&
   printf '%s\n' "$out" | grep -Eq '^nodeseal-ca +kubernetes.io/tls +2 +[0-9]+s$' &&
   printf '%s\n' "$out" | grep -Eq '^nodeseal-keys-node1 +Opaque +2 +[0-9]+s$'; then
    pass "kubectl get secrets lists both"
else
    fail "kubectl get secrets: $out"
fi
out=$(kc get secrets -l app=nodeseal -o name 2>&1)
[ "$out" = "secret/nodeseal-keys-node1" ] && pass "kubectl get -l app=nodeseal" || fail "label selector: $out"

# create secret generic: kubectl encodes typed objects as protobuf; a JSON-only server says 415
seq0=$(last_seq)
out=$(kc create secret generic generic1 --from-literal=a=b 2>&1) && fail "create secret generic succeeded"
case $out in
    *'the body of the request was in an unknown format'*) pass "kubectl create secret generic fails with 415" ;;
    *) fail "kubectl create secret generic: $out" ;;
esac
requests "$seq0"
ct=$(jq_py "$WORK/requests.json" '[(e["content_type"], e["status"]) for e in d["items"] if e["method"] == "POST"]')
[ "$ct" = '[["application/vnd.kubernetes.protobuf", 415]]' ] &&
    pass "kubectl sent protobuf, got 415" || fail "create secret generic requests: $ct"

# delete, then get fails with NotFound
out=$(kc delete secret nodeseal-keys-node1 2>&1)
[ "$out" = 'secret "nodeseal-keys-node1" deleted' ] && pass "kubectl delete secret" || fail "kubectl delete: $out"
out=$(kc get secret nodeseal-keys-node1 2>&1) && fail "the deleted secret is still there"
[ "$out" = 'Error from server (NotFound): secrets "nodeseal-keys-node1" not found' ] &&
    pass "kubectl get after delete: NotFound" || fail "kubectl get after delete: $out"
out=$(kc delete secret nodeseal-keys-node1 2>&1) && fail "a second delete succeeded"
case $out in
    *'Error from server (NotFound): secrets "nodeseal-keys-node1" not found'*) pass "kubectl delete twice: NotFound" ;;
    *) fail "second delete: $out" ;;
esac

# patch and replace go through merge patch and PUT
out=$(kc patch secret nodeseal-ca -p '{"metadata":{"labels":{"rotated":"yes"}}}' 2>&1) || fail "kubectl patch: $out"
[ "$(kc get secret nodeseal-ca -o jsonpath='{.metadata.labels.rotated}')" = yes ] &&
    pass "kubectl patch (strategic merge)" || fail "kubectl patch did not apply"
kc get secret nodeseal-ca -o json | python3 -c '
import json, sys; d = json.load(sys.stdin); d["data"]["ca.crt"] = "Q0E="; print(json.dumps(d))' >"$WORK/replace.json"
out=$(kc replace -f "$WORK/replace.json" 2>&1) && [ "$(kc get secret nodeseal-ca -o jsonpath='{.data.ca\.crt}')" = Q0E= ] &&
    pass "kubectl replace" || fail "kubectl replace: $out"

grep -q "$TOKEN" "$SERVER_DIR/server.log" && fail "the server log contains the token"
finish
