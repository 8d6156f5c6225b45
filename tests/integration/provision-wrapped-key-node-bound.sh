#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Volume keys wrapped to their node (secrets.wrapping, node key file): a generated key is stored only
# wrapped ("data.wrapped", to the node key and to the operator's recovery key) and the disk is
# formatted with what the Secret holds; the operator's recovery key opens it without the node
# (nodeseal recover-key); another node with the same Secret, this node re-enrolled, a node that does
# not wrap, and a plain key planted in the Secret all open and format nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
openssl genpkey -algorithm X25519 -out "$T/recovery.key" 2>/dev/null
openssl pkey -in "$T/recovery.key" -pubout -out "$T/recovery.pub"
dev=$(loop_new "$T/disk.img" 64)

# wrapped_config FILE NODE KEYFILE|"" : the fake API as the source, keys generated, the one volume.
wrapped_config() {
        NODE_NAME=$2 kube_volume_config "$1" "$dev"
        python3 - "$1" "$3" "$T/recovery.pub" "nodeseal-keys-node-1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["secrets"]["keys_secret"] = sys.argv[4]
c["secrets"]["kubernetes"]["generate_missing_keys"] = True
if sys.argv[2]:
    c["secrets"]["wrapping"] = {"node_key_file": sys.argv[2], "recovery_public_key": sys.argv[3]}
json.dump(c, open(sys.argv[1], "w"))
PY
}
secret_json() { kapi GET /api/v1/namespaces/nodeseal/secrets/nodeseal-keys-node-1; }
mkdir -m 0700 "$T/node1" "$T/node2" "$T/node1-again"

# Node 1 generates, wraps, stores, reads back, formats.
wrapped_config "$T/n1.json" node-1 "$T/node1/node.key"
ns -c "$T/n1.json" provision
printf '%s\n' "$out" >"$LOGS/provision-n1"
assert_contains "$out" "key \"data\" missing from Secret nodeseal-keys-node-1; creating it"
assert_contains "$out" "formatting"
cryptsetup isLuks "$dev" || fail "the blank disk was not formatted: $out"
assert_file_mode "$T/node1/node.key" 600
keys=$(secret_json | jq -r '.data | keys | join(" ")')
assert_eq "$keys" "data.formatted data.luks-uuid data.wrapped" "keys of the Secret (no plain key)"
secret_json | jq -r '.data["data.wrapped"]' | base64 -d >"$T/wrapped.json"
assert_eq "$(jq -r .node "$T/wrapped.json")/$(jq -r .volume "$T/wrapped.json")/$(jq -r .kek.type "$T/wrapped.json")" \
        "node-1/data/file" "what the wrapped key says it is for"
sum=$(sum_of "$dev")

# The operator, without the node: the recovery key opens it; the key it yields opens the disk.
ns recover-key --recovery-key "$T/recovery.key" --output "$T/recovered.key" "$T/wrapped.json"
[ "$rc" -eq 0 ] || fail "recover-key: $out"
assert_contains "$out" "Recovered the key of volume \"data\" of node \"node-1\" (64 bytes)"
assert_file_mode "$T/recovered.key" 600
opens_with "$dev" "$T/recovered.key" || fail "the recovered key does not open the disk"
remember_secret "$(base64 -w0 <"$T/recovered.key")" "$(od -An -tx1 -v <"$T/recovered.key" | tr -d ' \n')"
ns recover-key --recovery-key "$T/recovery.key" --output "$T/recovered.key" "$T/wrapped.json"
[ "$rc" -ne 0 ] || fail "recover-key overwrote an existing file"
openssl genpkey -algorithm X25519 -out "$T/other-recovery.key" 2>/dev/null
ns recover-key --recovery-key "$T/other-recovery.key" --output "$T/other.key" - <"$T/wrapped.json"
[ "$rc" -ne 0 ] || fail "another recovery key opened it"
assert_contains "$out" "not to this one"
[ ! -e "$T/other.key" ] || fail "a key file was written for a refused recovery"

# Node 2 reading node 1's Secret (what one stolen node could do): nothing opens, nothing is written.
wrapped_config "$T/n2.json" node-2 "$T/node2/node.key"
ns -c "$T/n2.json" provision
[ "$rc" -ne 0 ] || fail "node 2 without a node key opened node 1's key: $out"
assert_contains "$out" "does not exist (enrol the node first)"
head -c 32 /dev/urandom >"$T/node2/node.key"
chmod 600 "$T/node2/node.key"
ns -c "$T/n2.json" provision
[ "$rc" -ne 0 ] || fail "node 2 opened node 1's key: $out"
assert_contains "$out" "made for node \"node-1\", not for this node (\"node-2\")"
assert_eq "$(sum_of "$dev")" "$sum" "the disk after node 2's attempt"

# Node 1 with another node key (re-enrolled, or the Secret copied to another machine).
wrapped_config "$T/n1b.json" node-1 "$T/node1-again/node.key"
head -c 32 /dev/urandom >"$T/node1-again/node.key"
chmod 600 "$T/node1-again/node.key"
ns -c "$T/n1b.json" provision
[ "$rc" -ne 0 ] || fail "another node key opened it: $out"
assert_contains "$out" "other than this node's"
assert_eq "$(sum_of "$dev")" "$sum" "the disk after the re-enrolled node's attempt"

# A node key file others can read is refused before use.
chmod 644 "$T/node1/node.key"
ns -c "$T/n1.json" provision
[ "$rc" -ne 0 ] || fail "a world-readable node key was used: $out"
assert_contains "$out" "readable by root only"
chmod 600 "$T/node1/node.key"

# A node that does not wrap says why it cannot use the wrapped key.
wrapped_config "$T/plain.json" node-1 ""
ns -c "$T/plain.json" provision
[ "$rc" -ne 0 ] || fail "a node without wrapping used a wrapped key: $out"
assert_contains "$out" "secrets.wrapping is not configured"

# A plain key planted in place of the wrapped one (by anyone who can write the Secret, who then
# knows it) is refused by a node that wraps; nothing is formatted or changed.
random_key "$T/planted"
secret_json | jq --arg k "$(base64 -w0 <"$T/planted")" \
        '{metadata: {name: .metadata.name, namespace: .metadata.namespace}, data: (.data | del(.["data.wrapped"]) | .data = $k)}' \
        >"$T/planted.json"
printf 'Authorization: Bearer %s\n' "$FAKE_KUBE_ADMIN_TOKEN" >"$T/admin-headers"
curl -sS --cacert "$FAKE_KUBE_CA" -H @"$T/admin-headers" -X PUT --data-binary @"$T/planted.json" \
        "$FAKE_KUBE_URL/fake/secrets" >/dev/null
rm "$T/planted.json"
remember_secret "$(base64 -w0 <"$T/planted")"
ns -c "$T/n1.json" provision
[ "$rc" -ne 0 ] || fail "a planted plain key was used: $out"
assert_contains "$out" "is a plain key and this node takes wrapped keys only"
assert_eq "$(sum_of "$dev")" "$sum" "the disk after the planted key"

cp "$T/fake/server.log" "$LOGS/" 2>/dev/null || true
assert_no_secrets
pass
