#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The daemon on a node that signs with its intermediate CA (no volumes): when the operator re-issues
# the intermediate (intermediate.crt in the keys Secret), the daemon notices the change without
# waiting for its recheck (an hour here) and rewrites the certificate file with the new intermediate.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
. "$(dirname "$0")/lib-intermediate.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (node keys are root's)"
intermediate_setup node-1
mkdir -m 0700 "$T/node"
cat >"$T/nodeseal.json" <<JSON
{ "node_name": "node-1", "runtime_directory": "$T/run",
  "secrets": { "directory": "$T/secrets", "signer": "intermediate",
    "wrapping": { "node_key_file": "$T/node/node.key", "recovery_public_key": "$T/recovery.pub" } },
  "retry": { "initial_sec": 0.2, "max_sec": 1, "jitter": 0.1 },
  "daemon": { "poll_sec": 0.5, "recheck_sec": 3600, "renew_jitter_sec": 0.5, "hook_timeout_sec": 5 },
  "certificates": [ { "name": "node", "directory": "$T/certs", "dns_names": ["{node}"], "reload": false } ] }
JSON
ns -c "$T/nodeseal.json" intermediate request
assert_eq "$rc" 0 "request: $out"
ns -c "$T/operator.json" intermediate issue --node node-1 --dns node-1 --days 30
assert_eq "$rc" 0 "issue: $out"

start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
second_of() { awk 'n==1{print} /END CERTIFICATE/{n++}' "$1" | openssl x509 -noout -serial; }
first=$(second_of "$T/certs/tls.crt")
assert_eq "$first" "$(openssl x509 -in "$T/secrets/nodeseal-keys-node-1/intermediate.crt" -noout -serial)" \
        "the intermediate in the certificate file"

ns -c "$T/operator.json" intermediate issue --node node-1 --dns node-1 --days 60
assert_eq "$rc" 0 "issue again: $out"
new=$(openssl x509 -in "$T/secrets/nodeseal-keys-node-1/intermediate.crt" -noout -serial)
carries_new() { [ "$(second_of "$T/certs/tls.crt")" == "$new" ]; }
wait_for 15 carries_new || fail "the certificate file does not carry the re-issued intermediate: $(cat "$DAEMON_LOG")"
assert_contains "$(cat "$DAEMON_LOG")" "The Secrets changed; provisioning again."
openssl verify -CAfile "$T/secrets/nodeseal-ca/ca.crt" -untrusted "$T/certs/tls.crt" "$T/certs/tls.crt" >/dev/null ||
        fail "the new chain does not verify"
pass
