#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 429 TooManyRequests (text/plain, as max-in-flight and Priority and Fairness send it, and from a
# server shutting down): retried no sooner than Retry-After says; given up after max_attempts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/c.json"
random_key "$T/k"
fk_secret nodeseal-ca "tls.crt=$T/k"

fk_fault '{"mode": "status", "code": 429, "retry_after": 2, "count": 1}'
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status ($out)"
assert_contains "$out" "sha256=$(sha256_of "$T/k")"
fk_requests "$s" | python3 -c '
import json, sys
r = [json.loads(l) for l in sys.stdin if "nodeseal-ca" in l]
assert [x["status"] for x in r] == [429, 200], r
gap = r[1]["time"] - r[0]["time"]
assert gap >= 1.9, f"retried {gap:.2f} s after a 429 with Retry-After: 2"
assert gap < 4.0, f"waited {gap:.2f} s, far more than Retry-After"
print(f"retried after {gap:.2f} s")' || fail "Retry-After not honoured"

# An API server shutting down: 429, Retry-After: 5, Connection: close; the retry goes on a new
# connection, after 5 s.
fk_fault '{"mode": "shutdown", "count": 1}'
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status after a shutdown 429 ($out)"
fk_requests "$s" | python3 -c '
import json, sys
r = [json.loads(l) for l in sys.stdin if "nodeseal-ca" in l]
assert [x["status"] for x in r] == [429, 200], r
assert r[1]["time"] - r[0]["time"] >= 4.9, r' || fail "Retry-After: 5 of a shutting-down server not honoured"

fk_fault '{"mode": "status", "code": 429, "retry_after": 1}'
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Gave up after 3 attempts: Failed to read Secret nodeseal/nodeseal-ca: the API server $FAKE_KUBE_URL is throttling us: HTTP 429: Too many requests, please try again later."
assert_eq "$(fk_count "$s" nodeseal-ca)" 3 "requests (max_attempts)"
assert_no_secrets
pass
