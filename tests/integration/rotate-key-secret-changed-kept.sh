#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Key rotation re-reads the Secret before it destroys the old slot. The Secret changes again while
# the new key is being enrolled (an operator starts the next rotation): both slots are kept, and
# the next run goes on from there; nothing ends up opened only by a key the Secret no longer holds.
# Once with the directory source, once with the kubernetes source (whose reads are cached).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"

truncate -s 32M "$T/disk.img"
volume_key data a
volume_config "$T/nodeseal.json" "$T/disk.img"
ns -c "$T/nodeseal.json" provision
opens_with "$T/disk.img" "$KEYS_DIR/data" || fail "not formatted: $out"
cp "$KEYS_DIR/data" "$T/key-a"

# Rotation a -> b, paused after b is enrolled; meanwhile the Secret moves on to c (previous b).
cp "$T/key-a" "$KEYS_DIR/data.previous"
volume_key data b
cp "$KEYS_DIR/data" "$T/key-b"
ns_paused rotate-destroy -c "$T/nodeseal.json" provision
opens_with "$T/disk.img" "$T/key-b" || fail "b was not enrolled before the pause"
cp "$T/key-b" "$KEYS_DIR/data.previous"
volume_key data c
cp "$KEYS_DIR/data" "$T/key-c"
ns_resume
assert_contains "$out" "changed while the rotation was under way; keeping both key slots"
opens_with "$T/disk.img" "$T/key-a" || fail "the slot of a was destroyed on a stale read"
opens_with "$T/disk.img" "$T/key-b" || fail "the slot of b is gone"

# The next run converges on what the Secret says now: c enrolled, b's slot removed.
ns -c "$T/nodeseal.json" provision
opens_with "$T/disk.img" "$T/key-c" || fail "c was not enrolled: $out"
! opens_with "$T/disk.img" "$T/key-b" || fail "b's slot was kept after the rotation to c"

# The kubernetes source: the Secret is edited through the API during the pause.
. "$(dirname "$0")/kube-lib.sh"
start_fake
truncate -s 32M "$T/kdisk.img"
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --label data \
        --subsystem nodeseal --key-file "$T/key-a" "$T/kdisk.img"
fk_secret "nodeseal-keys-$NODE_NAME" "data=$T/key-b" "data.previous=$T/key-a"
kube_volume_config "$T/kube.json" "$T/kdisk.img"
ns_paused rotate-destroy -c "$T/kube.json" provision
printf '{"data": {"data": "%s", "data.previous": "%s"}}' "$(base64 -w0 <"$T/key-c")" "$(base64 -w0 <"$T/key-b")" >"$T/patch.json"
kapi PATCH "/api/v1/namespaces/nodeseal/secrets/nodeseal-keys-$NODE_NAME" "@$T/patch.json" application/merge-patch+json >/dev/null
rm "$T/patch.json"
ns_resume
assert_contains "$out" "changed while the rotation was under way; keeping both key slots"
opens_with "$T/kdisk.img" "$T/key-a" || fail "kubernetes: the slot of a was destroyed on a stale read"
opens_with "$T/kdisk.img" "$T/key-b" || fail "kubernetes: the slot of b is gone"
pass
