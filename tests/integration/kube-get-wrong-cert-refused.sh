#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A server certificate not signed by the configured CA is refused, naming the CA file; no retry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/c.json"
random_key "$T/k"
fk_secret nodeseal-ca "tls.crt=$T/k"

# The fault answers the next handshake with another CA's certificate (also the control API's:
# hence count 1, which our single attempt uses up).
s=$(fk_last_seq)
fk_fault '{"mode": "wrong-cert", "count": 1}'
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Failed to read Secret nodeseal/nodeseal-ca: the certificate of the API server $FAKE_KUBE_URL failed verification against the CA file $FAKE_KUBE_CA"
assert_not_contains "$out" "sha256="
# The handshake failed: no request reached the server, so the token was never sent.
assert_eq "$(fk_count "$s" nodeseal-ca)" 0 "requests that reached the server"

# Another CA configured than the one that signed the server: the same refusal.
sed "s|\"ca_file\": \"$FAKE_KUBE_CA\"|\"ca_file\": \"$FAKE_KUBE_DIR/wrong-ca.crt\"|" "$T/c.json" >"$T/wrong.json"
kg --config "$T/wrong.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "failed verification against the CA file $FAKE_KUBE_DIR/wrong-ca.crt"

kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status with the right CA ($out)"
assert_no_secrets
pass
