#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A body that is not JSON is refused; a truncated body is retried, then refused; nothing is used.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/c.json"
random_key "$T/k"
fk_secret nodeseal-ca "tls.crt=$T/k"

fk_fault '{"mode": "garbage", "count": 1}'
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "API server $FAKE_KUBE_URL: The API server's answer for Secret nodeseal-ca is not valid JSON"
assert_not_contains "$out" "sha256="

fk_fault '{"mode": "truncated", "count": 1}'
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status after one truncated answer ($out)"
assert_contains "$out" "sha256=$(sha256_of "$T/k")"
assert_eq "$(fk_count "$s" nodeseal-ca)" 2 "requests"

fk_fault '{"mode": "truncated"}'
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Gave up after 3 attempts: Failed to read Secret nodeseal/nodeseal-ca: the response of the API server $FAKE_KUBE_URL was cut short"
assert_not_contains "$out" "sha256="
assert_no_secrets
pass
