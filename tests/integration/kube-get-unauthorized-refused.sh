#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 401: the token file is read again and the request retried once, then a clear error, no retry storm.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/c.json"
random_key "$T/k"
fk_secret nodeseal-ca "tls.crt=$T/k"

fk_fault '{"mode": "status", "code": 401}'
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Failed to read Secret nodeseal/nodeseal-ca: the API server $FAKE_KUBE_URL did not accept our credentials (Unauthorized: Unauthorized)"
assert_contains "$out" "token file $T/token was re-read and the request retried"
assert_eq "$(fk_count "$s" nodeseal-ca)" 2 "requests for a 401 (one retry after re-reading the token)"

# A token the server does not know: the same, from the server's own authentication.
echo "not-a-valid-token" >"$T/token"
fk_clear
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "did not accept our credentials"

# Recovery: a valid token again.
echo "$FAKE_KUBE_TOKEN" >"$T/token"
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status after the fix ($out)"
assert_contains "$out" "sha256=$(sha256_of "$T/k")"
assert_no_secrets
pass
