#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# nodeseal wrap-keys, the migration from plain to wrapped keys: the plain key is removed only after
# its wrapped form was stored, read back, compared and has opened the device; killed after each
# step, a rerun finishes the job with the same key; a wrapped form that holds another key, a
# device not formatted yet, and a plain key changed before its removal each leave the plain key.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
openssl genpkey -algorithm X25519 -out "$T/recovery.key" 2>/dev/null
openssl pkey -in "$T/recovery.key" -pubout -out "$T/recovery.pub"
dev=$(loop_new "$T/disk.img" 64)
random_key "$T/key"
remember_secret "$(base64 -w0 <"$T/key")"
cryptsetup luksFormat --batch-mode --type luks2 --label data --subsystem nodeseal --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$T/key" "$dev" \
        >/dev/null || fail "luksFormat"
mkdir -m 0700 "$T/node"
kube_volume_config "$T/c.json" "$dev"
python3 - "$T/c.json" "$T/node/node.key" "$T/recovery.pub" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["secrets"]["wrapping"] = {"node_key_file": sys.argv[2], "recovery_public_key": sys.argv[3]}
json.dump(c, open(sys.argv[1], "w"))
PY
keys_path=/api/v1/namespaces/nodeseal/secrets/nodeseal-keys-$NODE_NAME
secret_keys() { kapi GET "$keys_path" | jq -r '.data | keys | join(" ")'; }
# plain_only FILE: the keys Secret back to holding only the plain key from FILE.
plain_only() {
        printf '{"metadata": {"name": "nodeseal-keys-%s", "namespace": "nodeseal"}, "data": {"data": "%s"}}' \
                "$NODE_NAME" "$(base64 -w0 <"$1")" >"$T/put.json"
        printf 'Authorization: Bearer %s\n' "$FAKE_KUBE_ADMIN_TOKEN" >"$T/admin-headers"
        curl -sS --cacert "$FAKE_KUBE_CA" -H @"$T/admin-headers" -X PUT --data-binary @"$T/put.json" \
                "$FAKE_KUBE_URL/fake/secrets" >/dev/null
        rm "$T/put.json"
}
# wrapped_is_the_key: the stored wrapped key, opened with the recovery key, is the original key.
wrapped_is_the_key() {
        rm -f "$T/recovered.key"
        kapi GET "$keys_path" | jq -r '.data["data.wrapped"]' | base64 -d |
                "$NODESEAL" recover-key --recovery-key "$T/recovery.key" --output "$T/recovered.key" - >"$T/recover.log" 2>&1 &&
                cmp -s "$T/recovered.key" "$T/key"
}
plain_only "$T/key"

# A node that wraps refuses the plain key until it is migrated.
ns -c "$T/c.json" provision
[ "$rc" -ne 0 ] || fail "provision used a plain key on a node that wraps: $out"
assert_contains "$out" "run \"nodeseal wrap-keys\""

# Killed after each step, then run again: the same end, with the same key.
for step in wrap-keys-stored wrap-keys-verified; do
        plain_only "$T/key"
        ns_paused "$step" -c "$T/c.json" wrap-keys
        kill -KILL "$ns_pid"
        wait "$ns_pid" 2>/dev/null || true
        assert_eq "$(secret_keys)" "data data.wrapped" "keys after a kill at $step"
        ns -c "$T/c.json" wrap-keys
        [ "$rc" -eq 0 ] || fail "wrap-keys after a kill at $step: $out"
        assert_contains "$out" "the plain key is removed"
        assert_eq "$(secret_keys)" "data.wrapped" "keys after the rerun ($step)"
        wrapped_is_the_key || fail "the wrapped key after the rerun ($step) is not the original key: $(cat "$T/recover.log")"
        ns -c "$T/c.json" wrap-keys
        [ "$rc" -eq 0 ] || fail "wrap-keys a third time: $out"
        assert_eq "$(secret_keys)" "data.wrapped" "keys after a run with nothing to do"
done
opens_with "$dev" "$T/recovered.key" || fail "the key no longer opens the device"

# The plain key changed after it was verified (someone wrote it meanwhile): not removed.
plain_only "$T/key"
ns_paused wrap-keys-verified -c "$T/c.json" wrap-keys
random_key "$T/other"
remember_secret "$(base64 -w0 <"$T/other")"
kapi PATCH "$keys_path" "{\"data\": {\"data\": \"$(base64 -w0 <"$T/other")\"}}" application/merge-patch+json >/dev/null
ns_resume
[ "$rc" -ne 0 ] || fail "wrap-keys removed a plain key that had changed: $out"
assert_contains "$out" "changed; it is left as it is"
assert_eq "$(secret_keys)" "data data.wrapped" "keys after the refused removal"

# A wrapped form that holds another key than the plain one: both are left, the run fails. (The
# other key, migrated alone, is stored wrapped but stays in plain: it does not open the disk.)
plain_only "$T/other"
ns -c "$T/c.json" wrap-keys
[ "$rc" -eq 0 ] || fail "wrap-keys of the other key: $out"
assert_contains "$out" "the plain key stays because it does not open"
other_wrapped=$(kapi GET "$keys_path" | jq -r '.data["data.wrapped"]')
printf '{"metadata": {"name": "nodeseal-keys-%s", "namespace": "nodeseal"}, "data": {"data": "%s", "data.wrapped": "%s"}}' \
        "$NODE_NAME" "$(base64 -w0 <"$T/key")" "$other_wrapped" >"$T/put.json"
curl -sS --cacert "$FAKE_KUBE_CA" -H @"$T/admin-headers" -X PUT --data-binary @"$T/put.json" "$FAKE_KUBE_URL/fake/secrets" >/dev/null
rm "$T/put.json"
ns -c "$T/c.json" wrap-keys
[ "$rc" -ne 0 ] || fail "wrap-keys accepted a wrapped form of another key: $out"
assert_contains "$out" "holds another key than \"data\"; both are left as they are"
assert_eq "$(secret_keys)" "data data.wrapped" "keys after the refusal"

# A device that is not formatted yet: the key is stored wrapped, the plain key stays.
wipefs -a "$dev" >/dev/null
plain_only "$T/key"
ns -c "$T/c.json" wrap-keys
[ "$rc" -eq 0 ] || fail "wrap-keys on a blank device: $out"
assert_contains "$out" "is not formatted yet"
assert_eq "$(secret_keys)" "data data.wrapped" "keys with a blank device"

assert_no_secrets
pass
