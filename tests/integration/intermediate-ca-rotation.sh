#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A CA rotation with a node on its intermediate CA (secrets.signer "intermediate"): through prepare
# and activate the node keeps signing with its intermediate under the old root (which the bundle
# still holds); the operator re-issues the intermediate under the new root after activate, the node
# moves its certificate to it, and after finish its certificate verifies against the new root alone.
# A node whose intermediate was not re-issued is refused after finish, naming what to run, and its
# certificate files stay as they were.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-intermediate.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (node keys are root's)"
S=$T/secrets
intermediate_setup node-a node-b
for n in node-a node-b; do
        mkdir -p -m 0700 "$T/$n"
        cat >"$T/$n.json" <<JSON
{ "node_name": "$n", "runtime_directory": "$T/$n/run",
  "secrets": { "directory": "$S", "signer": "intermediate",
    "wrapping": { "node_key_file": "$T/$n/node.key", "recovery_public_key": "$T/recovery.pub" } },
  "certificates": [ { "name": "node", "directory": "$T/$n/tls", "dns_names": ["$n.test"] } ] }
JSON
done
op() { ns -c "$T/operator.json" "$@"; assert_eq "$rc" 0 "$*: $out"; }
provision() { ns -c "$T/$1.json" provision; assert_eq "$rc" 0 "provision $1 ($2): $out"; }
issuer_root() { openssl x509 -in "$T/$1/tls.crt" -noout -issuer; }
verifies_with() { openssl verify -CAfile "$1" -untrusted "$T/$2/tls/tls.crt" "$T/$2/tls/tls.crt" >/dev/null 2>&1; }

for n in node-a node-b; do
        ns -c "$T/$n.json" intermediate request
        assert_eq "$rc" 0 "request $n: $out"
        op intermediate issue --node "$n" --dns "$n.test"
        provision "$n" "before the rotation"
done
cp "$S/nodeseal-ca/tls.crt" "$T/old-root.crt"

op ca-rotate prepare
provision node-a "prepared"
ns -c "$T/node-a.json" check
assert_eq "$rc" 0 "check node-a (prepared): $out"
op ca-rotate activate
assert_contains "$out" "re-issue each node's intermediate now"
provision node-a "activated, old intermediate"
cp "$S/nodeseal-ca/tls.crt" "$T/new-root.crt"
verifies_with "$T/old-root.crt" node-a || fail "node-a's certificate left the old root before its intermediate did"

# The operator re-issues node-a's intermediate under the new root; node-b's is forgotten.
op intermediate issue --node node-a --dns node-a.test
assert_contains "$(openssl x509 -in "$S/nodeseal-keys-node-a/intermediate.crt" -noout -issuer)" \
        "$(openssl x509 -in "$T/new-root.crt" -noout -subject | sed 's/^subject=//')"
provision node-a "activated, new intermediate"
verifies_with "$T/new-root.crt" node-a || fail "node-a did not move to its new intermediate"
provision node-b "activated, old intermediate"
sum_b=$(sha256sum <"$T/node-b/tls/tls.crt")

op ca-rotate finish
provision node-a "finished"
ns -c "$T/node-a.json" check
assert_eq "$rc" 0 "check node-a (finished): $out"
verifies_with "$T/new-root.crt" node-a || fail "node-a's certificate does not verify against the new root alone"
cmp -s "$T/node-a/run/ca.crt" "$T/new-root.crt" || fail "node-a's trust bundle is not the new root alone"

ns -c "$T/node-b.json" provision
[ "$rc" -ne 0 ] || fail "node-b provisioned with an intermediate under a root nobody trusts: $out"
assert_contains "$out" "re-issue it with \"nodeseal intermediate issue --node node-b\""
assert_eq "$(sha256sum <"$T/node-b/tls/tls.crt")" "$sum_b" "node-b's certificate file after the refusal"
op intermediate issue --node node-b --dns node-b.test
provision node-b "re-issued after finish"
verifies_with "$T/new-root.crt" node-b || fail "node-b did not move to its new intermediate"

# node-b's key made again (its node key was lost): the old intermediate.crt no longer fits, and the
# node says so; a new request issued fixes it.
mv "$T/node-b/node.key" "$T/node-b/lost.key"
rm "$S/nodeseal-keys-node-b/intermediate.key.wrapped" "$S/nodeseal-keys-node-b/intermediate.csr"
ns -c "$T/node-b.json" intermediate request
assert_eq "$rc" 0 "request again on node-b: $out"
ns -c "$T/node-b.json" provision
[ "$rc" -ne 0 ] || fail "node-b signed with an intermediate.crt for another key: $out"
assert_contains "$out" "intermediate.crt of Secret nodeseal-keys-node-b certifies another key than intermediate.key.wrapped holds"
op intermediate issue --node node-b --dns node-b.test
provision node-b "a new key, issued"
pass
