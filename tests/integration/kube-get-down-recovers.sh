#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Connection refused or dropped: retried with backoff, named when it persists, fine once it clears.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/c.json"
random_key "$T/k"
fk_secret nodeseal-ca "tls.crt=$T/k"

# Nothing listens on the port: connection refused, three attempts, then a clear message.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed "s|$FAKE_KUBE_URL|https://127.0.0.1:$port|" "$T/c.json" >"$T/closed.json"
kg --config "$T/closed.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Gave up after 3 attempts: Failed to read Secret nodeseal/nodeseal-ca: cannot connect to the API server https://127.0.0.1:$port"

# Connections closed before the TLS handshake, twice: the third attempt succeeds.
fk_fault '{"mode": "down", "stage": "connect", "count": 2}'
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status after two refused handshakes ($out)"

# Requests answered by a closed connection, twice.
fk_fault '{"mode": "down", "count": 2}'
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status after two dropped requests ($out)"
assert_eq "$(fk_count "$s" nodeseal-ca)" 3 "requests"

# Down until cleared: a patient client (many attempts) gets through once the fault is gone.
write_config "$T/patient.json" "" '{"initial_sec": 0.2, "max_sec": 0.5, "max_attempts": 40}'
fk_fault '{"mode": "down"}'
( sleep 1.5; fk_clear ) &
kg --config "$T/patient.json" get nodeseal-ca tls.crt
wait
assert_eq "$rc" 0 "exit status once the server is back ($out)"
assert_contains "$out" "sha256=$(sha256_of "$T/k")"
assert_no_secrets
pass
