#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The record of a format is stored, and read back, before the first write; where it cannot be
# stored, nothing is formatted and the error names why: a read-only secrets directory, and a
# ServiceAccount that may read the keys Secret but not patch it (RBAC).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"

dev=$(loop_new "$T/disk.img" 64)
volume_key data
volume_config "$T/nodeseal.json" "$dev"
sum=$(sum_of "$dev")
mount --bind "$T/secrets" "$T/secrets" || skip "bind mounts are not allowed here"
cleanup_hooks+=("umount '$T/secrets'")
mount -o remount,bind,ro "$T/secrets"

ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded with a read-only secrets directory: $out"
assert_contains "$out" "Cannot store the format record \"data.luks-uuid\" of volume data in Secret nodeseal-keys-$NODE_NAME, so nothing is formatted"
assert_contains "$out" "Read-only file system"
assert_not_contains "$out" "formatting"
assert_eq "$(sum_of "$dev")" "$sum" "the device after the refusal"
umount "$T/secrets"
cleanup_hooks=("${cleanup_hooks[@]:0:${#cleanup_hooks[@]}-1}")

# A secrets directory that a non-root user can change: root's record write could be redirected
# (a symlink planted for the Secret's directory), so it is refused, and nothing is formatted.
chown nobody "$T/secrets"
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded with a secrets directory owned by nobody: $out"
assert_contains "$out" "Cannot store the format record \"data.luks-uuid\""
assert_contains "$out" "$T/secrets"
assert_not_contains "$out" "formatting"
assert_eq "$(sum_of "$dev")" "$sum" "the device after the refusal (secrets owned by nobody)"
chown root "$T/secrets"
mv "$KEYS_DIR" "$T/keys-elsewhere"
ln -s "$T/keys-elsewhere" "$KEYS_DIR"
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded with the key Secret's directory a symlink: $out"
assert_contains "$out" "Cannot store the format record"
assert_eq "$(sum_of "$dev")" "$sum" "the device after the refusal (symlinked Secret directory)"
rm "$KEYS_DIR"
mv "$T/keys-elsewhere" "$KEYS_DIR"

# Kubernetes: read access only, as rbac.yaml granted before records existed.
. "$(dirname "$0")/kube-lib.sh"
start_fake
random_key "$T/key"
fk_secret "nodeseal-keys-$NODE_NAME" "data=$T/key"
fk POST /fake/permissions "{\"token\": \"$FAKE_KUBE_TOKEN\", \"rules\": [{\"verbs\": [\"get\", \"list\", \"watch\"], \"resources\": [\"secrets\"]}]}" >/dev/null
kube_volume_config "$T/kube.json" "$dev"
ns -c "$T/kube.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded without permission to store the record: $out"
assert_contains "$out" "Cannot store the format record \"data.luks-uuid\" of volume data"
assert_contains "$out" "cannot patch resource \"secrets\""
assert_not_contains "$out" "formatting"
assert_eq "$(sum_of "$dev")" "$sum" "the device after the RBAC refusal"

# With patch granted (what deploy/kubernetes/rbac.yaml grants now), the record is stored first.
fk POST /fake/permissions "{\"token\": \"$FAKE_KUBE_TOKEN\", \"rules\": [{\"verbs\": [\"get\", \"list\", \"watch\", \"patch\"], \"resources\": [\"secrets\"]}]}" >/dev/null
ns -c "$T/kube.json" provision
assert_contains "$out" "formatting $dev as LUKS2"
uuid=$(cryptsetup luksUUID "$dev")
kapi GET "/api/v1/namespaces/nodeseal/secrets/nodeseal-keys-$NODE_NAME" >"$T/secret.json"
rec=$(python3 -c 'import base64, json, sys; d = json.load(open(sys.argv[1]))["data"]; print(base64.b64decode(d["data.luks-uuid"]).decode(), base64.b64decode(d["data.formatted"]).decode())' "$T/secret.json")
assert_contains "$rec" "\"uuid\":\"$uuid\""
pass
