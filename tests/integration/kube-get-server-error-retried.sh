#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 5xx: retried with backoff up to max_attempts; success once the server recovers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/c.json" "" '{"initial_sec": 0.3, "max_sec": 1, "multiplier": 2, "jitter": 0.2, "max_attempts": 3}'
random_key "$T/k"
fk_secret nodeseal-ca "tls.crt=$T/k"

fk_fault '{"mode": "status", "code": 500, "count": 2}'
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status ($out)"
fk_requests "$s" | python3 -c '
import json, sys
r = [json.loads(l) for l in sys.stdin if "nodeseal-ca" in l]
assert [x["status"] for x in r] == [500, 500, 200], r
g1, g2 = r[1]["time"] - r[0]["time"], r[2]["time"] - r[1]["time"]
# initial 0.3 s, then 0.6 s, each within the 20 % jitter
assert 0.23 <= g1 <= 0.9, g1
assert 0.47 <= g2 <= 1.2, g2
print(f"backoff {g1:.2f} s, {g2:.2f} s")' || fail "backoff not as configured"

fk_fault '{"mode": "status", "code": 503}'
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Gave up after 3 attempts"
assert_contains "$out" "server error from the API server $FAKE_KUBE_URL: HTTP 503 ServiceUnavailable"
assert_eq "$(fk_count "$s" nodeseal-ca)" 3 "requests"

# 404 and 422-class answers are final: one request.
fk_clear
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-keys-absent data
assert_eq "$rc" 4 "exit status for NotFound"
assert_eq "$(fk_count "$s" nodeseal-keys-absent)" 1 "requests for a 404"
assert_no_secrets
pass
