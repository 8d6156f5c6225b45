#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 403: the API server's reason and the RBAC rule that is missing; never retried.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/c.json"
random_key "$T/k"
fk_secret nodeseal-ca "tls.crt=$T/k"

# The token may get only another Secret.
fk POST /fake/permissions "{\"token\": \"$FAKE_KUBE_TOKEN\", \"rules\": [{\"verbs\": [\"get\"], \"resources\": [\"secrets\"], \"names\": [\"other\"]}]}" >/dev/null
s=$(fk_last_seq)
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Forbidden: secrets \"nodeseal-ca\" is forbidden: User \"system:serviceaccount:default:nodeseal\" cannot get resource \"secrets\""
assert_contains "$out" "The ServiceAccount needs \"get\" on secrets \"nodeseal-ca\" in namespace nodeseal"
assert_contains "$out" "deploy/kubernetes/rbac.yaml"
assert_eq "$(fk_count "$s" nodeseal-ca)" 1 "requests for a 403 (no retry)"

# The Role as deploy/kubernetes/rbac.yaml grants it: get on the named Secret.
fk POST /fake/permissions "{\"token\": \"$FAKE_KUBE_TOKEN\", \"rules\": [{\"verbs\": [\"get\", \"list\", \"watch\"], \"resources\": [\"secrets\"], \"names\": [\"nodeseal-ca\"]}]}" >/dev/null
kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 0 "exit status with the Role's rule ($out)"
assert_no_secrets
pass
