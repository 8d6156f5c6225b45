#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A slow, trickling or silent server never hangs us: the request timeouts bound every wait.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake --silent-max 60
write_config "$T/c.json" "" '{"initial_sec": 0.2, "max_sec": 1, "max_attempts": 1}'
random_key "$T/k"
fk_secret nodeseal-ca "tls.crt=$T/k"

timed() {
        local t0 t1
        t0=$(date +%s.%N)
        kg --config "$T/c.json" get nodeseal-ca tls.crt
        t1=$(date +%s.%N)
        elapsed=$(python3 -c "print(round($t1 - $t0, 2))")
}
within() { python3 -c "import sys; sys.exit(0 if $1 <= $2 else 1)" || fail "took $1 s, more than $2 s"; }

# Slower than the request timeout (4 s).
fk_fault '{"mode": "slow", "delay_ms": 20000}'
timed
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "the API server $FAKE_KUBE_URL did not answer in time (connect timeout 2.0 s, request timeout 4.0 s)"
within "$elapsed" 6

# Headers, then one byte every 1.5 s: the low-speed limit or the timeout ends it.
fk_clear
fk_fault '{"mode": "slow", "delay_ms": 0, "trickle_ms": 1500, "trickle_bytes": 1}'
timed
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "did not answer in time"
within "$elapsed" 6

# Accepts the request and never answers.
fk_clear
fk_fault '{"mode": "silent"}'
timed
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "did not answer in time"
within "$elapsed" 6

# Slow but within the timeout: fine.
fk_clear
fk_fault '{"mode": "slow", "delay_ms": 1000, "count": 1}'
timed
assert_eq "$rc" 0 "exit status ($out)"
assert_contains "$out" "sha256=$(sha256_of "$T/k")"
assert_no_secrets
pass
