#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Per-node intermediate CAs through the kubernetes source (the fake API server, which cannot replace
# a Secret as a whole): the node's request stores the wrapped key and the request in its keys
# Secret (generate_missing_keys off: asking is explicit); the operator's issue stores
# intermediate.crt, and again over the first one; the node signs with it; the intermediate's key
# never appears in any output, nor in the API requests.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (node keys are root's)"
start_fake
make_ca "$T/ca"
remember_secret "$(sed -n 2p "$T/ca/ca.key")"
fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
openssl genpkey -algorithm X25519 -out "$T/recovery.key" 2>/dev/null
openssl pkey -in "$T/recovery.key" -pubout -out "$T/recovery.pub"
mkdir -m 0700 "$T/node"

write_config "$T/base.json"
python3 - "$T/base.json" "$T" <<'PY'
import json, sys
t = sys.argv[2]
c = json.load(open(sys.argv[1]))
c["secrets"]["signer"] = "intermediate"
c["secrets"]["wrapping"] = {"node_key_file": t + "/node/node.key", "recovery_public_key": t + "/recovery.pub"}
c["certificates"] = [{"name": "db", "directory": t + "/certs", "dns_names": ["node-1.db.test"], "reload": False}]
json.dump(c, open(t + "/node.json", "w"), indent=1)
c = json.load(open(sys.argv[1]))
c["node_name"] = "operator"
json.dump(c, open(t + "/operator.json", "w"), indent=1)
PY
keys() { kapi GET /api/v1/namespaces/nodeseal/secrets/nodeseal-keys-node-1 | jq -r '.data | keys | join(" ")'; }
value() { kapi GET /api/v1/namespaces/nodeseal/secrets/nodeseal-keys-node-1 | jq -r ".data[\"$1\"]" | base64 -d; }

ns -c "$T/node.json" intermediate request
printf '%s\n' "$out" >"$LOGS/request"
assert_eq "$rc" 0 "request: $out"
assert_eq "$(keys)" "intermediate.csr intermediate.key.wrapped" "keys of the Secret after the request"
value intermediate.key.wrapped >"$T/wrapped.json"
ns recover-key --recovery-key "$T/recovery.key" --output "$T/int.key" "$T/wrapped.json"
assert_eq "$rc" 0 "recover-key: $out"
remember_secret "$(sed -n 2p "$T/int.key")"

ns -c "$T/operator.json" intermediate issue --node node-1 --dns node-1.db.test --days 30
printf '%s\n' "$out" >"$LOGS/issue-1"
assert_eq "$rc" 0 "issue: $out"
first=$(value intermediate.crt | openssl x509 -noout -serial)
ns -c "$T/operator.json" intermediate issue --node node-1 --dns node-1.db.test --days 60
printf '%s\n' "$out" >"$LOGS/issue-2"
assert_eq "$rc" 0 "issue again: $out"
second=$(value intermediate.crt | openssl x509 -noout -serial)
[ "$first" != "$second" ] || fail "the second issue did not replace intermediate.crt"
assert_eq "$(keys)" "intermediate.crt intermediate.csr intermediate.key.wrapped" "keys of the Secret after issue"

ns -c "$T/node.json" provision
printf '%s\n' "$out" >"$LOGS/provision"
assert_eq "$rc" 0 "provision: $out"
value intermediate.crt | openssl x509 >"$T/int.crt"
openssl verify -CAfile "$T/ca/ca.crt" -untrusted "$T/certs/tls.crt" "$T/certs/tls.crt" >/dev/null ||
        fail "the node's certificate does not verify against the root"
assert_contains "$(openssl x509 -in "$T/certs/tls.crt" -noout -issuer)" "nodeseal intermediate node-1"
cp "$T/certs/tls.crt" "$LOGS/tls.crt"
assert_no_secrets
pass
