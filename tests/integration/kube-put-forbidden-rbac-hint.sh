#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Key generation refused by RBAC (or by a missing namespace, or a wrong URL) is reported as what it
# is: the verb, the resource and the Role that grants it; never as "not found".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/c.json" '"generate_missing_keys": true'
perms() { fk POST /fake/permissions "{\"token\": \"$FAKE_KUBE_TOKEN\", \"rules\": $1}" >/dev/null; }
READ='{"verbs": ["get", "list", "watch"], "resources": ["secrets"], "names": ["nodeseal-keys-node-1"]}'
CREATE='{"verbs": ["create"], "resources": ["secrets"]}'
PATCH='{"verbs": ["patch"], "resources": ["secrets"], "names": ["nodeseal-keys-node-1"]}'

# Only deploy/kubernetes/rbac.yaml's Role: the Secret is missing and may not be created.
perms "[$READ]"
s=$(fk_last_seq)
kg --config "$T/c.json" put nodeseal-keys-node-1 pgdata
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Failed to create Secret nodeseal/nodeseal-keys-node-1: Forbidden: secrets is forbidden: User \"system:serviceaccount:default:nodeseal\" cannot create resource \"secrets\""
assert_contains "$out" "The ServiceAccount needs \"create\" on secrets in namespace nodeseal"
assert_contains "$out" "deploy/kubernetes/rbac-generate-keys.yaml"
assert_not_contains "$out" "not found"
assert_eq "$(fk_count "$s" '"method": "POST"')" 1 "POSTs for a 403 (no retry)"

# The Secret exists without the key: adding it needs "patch", granted by the key-generation Role.
random_key "$T/wal"
fk_secret nodeseal-keys-node-1 "wal=$T/wal"
perms "[$READ, $CREATE]"
kg --config "$T/c.json" put nodeseal-keys-node-1 pgdata
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Failed to add key \"pgdata\" to Secret nodeseal/nodeseal-keys-node-1: Forbidden: secrets \"nodeseal-keys-node-1\" is forbidden"
assert_contains "$out" "cannot patch resource \"secrets\""
assert_contains "$out" "The ServiceAccount needs \"patch\" on secrets \"nodeseal-keys-node-1\" in namespace nodeseal"
assert_contains "$out" "deploy/kubernetes/rbac-generate-keys.yaml"
assert_not_contains "$out" "deploy/kubernetes/rbac.yaml"

# Both Roles: the key is generated and stored.
perms "[$READ, $CREATE, $PATCH]"
kg --config "$T/c.json" put nodeseal-keys-node-1 pgdata
assert_eq "$rc" 0 "exit status with both Roles ($out)"
assert_contains "$out" "stored-mine"
perms null

# A namespace that does not exist: the create's 404 is about the namespace, not the Secret.
write_config "$T/nons.json" '"generate_missing_keys": true'
sed -i 's/"namespace": "nodeseal"/"namespace": "absent"/' "$T/nons.json"
kg --config "$T/nons.json" put nodeseal-keys-node-1 pgdata
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Failed to create Secret absent/nodeseal-keys-node-1: namespace absent does not exist"
assert_contains "$out" "NotFound: namespaces \"absent\" not found"
assert_not_contains "$out" "Secret nodeseal-keys-node-1 not found"

# A URL that is not the API server's root: its 404 names no Secret and is not taken for a missing
# one (which would have made a key to create).
write_config "$T/prefix.json" '"generate_missing_keys": true'
sed -i "s|\"api_url\": \"$FAKE_KUBE_URL\"|\"api_url\": \"$FAKE_KUBE_URL/wrong/prefix\"|" "$T/prefix.json"
s=$(fk_last_seq)
kg --config "$T/prefix.json" get nodeseal-keys-node-1 pgdata
assert_eq "$rc" 1 "exit status for a wrong URL"
assert_contains "$out" "Failed to read Secret nodeseal/nodeseal-keys-node-1: the API server $FAKE_KUBE_URL/wrong/prefix has no such resource"
assert_contains "$out" "secrets.kubernetes.api_url"
assert_not_contains "$out" "Secret nodeseal-keys-node-1 not found"
kg --config "$T/prefix.json" put nodeseal-keys-node-1 newkey
assert_eq "$rc" 1 "exit status for a wrong URL"
assert_eq "$(fk_count "$s" '"method": "POST"')" 0 "POSTs after a 404 that names no Secret"
assert_no_secrets
pass
