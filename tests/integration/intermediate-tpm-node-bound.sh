#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A node's intermediate CA key wrapped under a node key sealed in its TPM (swtpm): the node signs
# with it; the same keys Secret and node key file with another TPM (the Secret and the file copied
# to another machine) unwrap nothing, issue nothing and leave the certificate files as they were.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-tpm.sh"
. "$(dirname "$0")/lib-intermediate.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (node keys are root's)"
intermediate_setup node-1
mkdir -m 0700 "$T/node"
# node_config TCTI
node_config() {
        cat >"$T/nodeseal.json" <<JSON
{ "node_name": "node-1", "runtime_directory": "$T/run",
  "secrets": { "directory": "$T/secrets", "signer": "intermediate",
    "wrapping": { "node_key": "tpm2", "tpm_tcti": "$1", "node_key_file": "$T/node/node.key",
                  "recovery_public_key": "$T/recovery.pub" } },
  "certificates": [ { "name": "node", "directory": "$T/certs", "dns_names": ["node-1.test"] } ] }
JSON
}

start_swtpm tpm-a
node_config "$TCTI"
ns -c "$T/nodeseal.json" intermediate request
assert_eq "$rc" 0 "request: $out"
assert_eq "$(jq -r .kek.type "$T/secrets/nodeseal-keys-node-1/intermediate.key.wrapped")" tpm2 "the key wrapping the intermediate's"
ns -c "$T/operator.json" intermediate issue --node node-1 --dns node-1.test
assert_eq "$rc" 0 "issue: $out"
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision: $out"
openssl verify -CAfile "$T/secrets/nodeseal-ca/ca.crt" -untrusted "$T/certs/tls.crt" "$T/certs/tls.crt" >/dev/null ||
        fail "the certificate does not verify against the root"
sum=$(cat "$T/certs/tls.crt" "$T/certs/tls.key" | sha256sum)

# Another TPM: the node key does not unseal, the intermediate's key stays closed.
start_swtpm tpm-b
node_config "$TCTI"
rm "$T/certs/tls.crt"   # provision would issue now, if it could sign
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "another TPM opened the intermediate's key: $out"
assert_contains "$out" "Intermediate CA: Node key file $T/node/node.key: TPM: the sealed node key does not load on this TPM"
[ ! -e "$T/certs/tls.crt" ] || fail "a certificate was issued without this node's TPM"
ns -c "$T/nodeseal.json" intermediate request
[ "$rc" -ne 0 ] || fail "a request was made without this node's TPM: $out"
pass
