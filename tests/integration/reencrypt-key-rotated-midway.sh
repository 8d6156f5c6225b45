#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The volume's key rotated in the Secret ("<key>" new, "<key>.previous" the old one) while a
# re-encryption is under way (killed half-way, or paused by the daemon's attempt deadline). LUKS2
# takes no new key slot during a re-encryption ("Operation incompatible with device marked for
# LUKS2 reencryption"), so the rotation cannot enrol the new key, and the new key opens nothing:
# neither could go on. The rotation now waits (said so), the previous key opens and resumes the
# re-encryption, and the next pass rotates. The data reads back under the last volume key; neither
# the old volume key nor the previous key opens the device afterwards.
# Offline on loop devices: libcryptsetup re-encrypts in user space without device-mapper; a
# provision stops where it would open the mapping (no device-mapper here), after the rotation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"
. "$(dirname "$0")/lib-reencrypt.sh"

slots_of() { cryptsetup luksDump --dump-json-metadata "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["keyslots"]))'; }

volume_key data
disk=$(loop_new "$T/disk.img" 48)
volume_config "$T/nodeseal.json" "$disk"
ns -c "$T/nodeseal.json" provision   # formats; stops where it would open the mapping
opens_with "$disk" "$KEYS_DIR/data" || fail "not formatted: $out"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/plain"
write_under_key "$disk" "$T/vk0"

# A re-encryption killed half-way, then the key rotated in the Secret.
head -c 64 /dev/urandom >"$KEYS_DIR/data.reencrypt"
reencrypt_killed reencrypt-50
reencrypting "$disk" || fail "no re-encryption under way after the kill: $out"
mv "$KEYS_DIR/data" "$KEYS_DIR/data.previous"
head -c 64 /dev/urandom >"$KEYS_DIR/data"
slots=$(slots_of "$disk")

# A provision: the rotation waits and says why; nothing enrolled, nothing destroyed.
ns -c "$T/nodeseal.json" provision
assert_contains "$out" "the key rotation waits for the re-encryption under way to finish"
assert_not_contains "$out" "Enrolling the new key" "a provision during the re-encryption"
assert_eq "$(slots_of "$disk")" "$slots" "key slots while the rotation waits"
opens_with "$disk" "$KEYS_DIR/data.previous" || fail "the previous key no longer opens the device"

# The re-encryption resumes with the previous key and finishes.
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -eq 0 ] || fail "nodeseal reencrypt with the key rotated half-way failed: $out"
assert_contains "$out" "re-encrypted under a new volume key"
reencrypting "$disk" && fail "a re-encryption is still under way: $out"

# The next provision rotates: the new key enrolled, the previous key's slot destroyed.
ns -c "$T/nodeseal.json" provision
assert_contains "$out" "enrolling the new key"
assert_contains "$out" "removing the previous key's slot"
opens_with "$disk" "$KEYS_DIR/data" || fail "the new key does not open the device after the rotation: $out"
if opens_with "$disk" "$KEYS_DIR/data.previous"; then fail "the previous key still opens the device"; fi
if cryptsetup open --test-passphrase --volume-key-file "$T/vk0" "$disk" >/dev/null 2>&1; then
        fail "the old volume key still opens the device"
fi
dump_volume_key "$disk" "$T/vk1"
cmp -s "$T/vk0" "$T/vk1" && fail "the volume key did not change"
reads_back_under "$disk" "$T/vk1" || fail "the data does not read back under the new volume key"

# Killed after the new key slot and the record were written, before the re-encryption began, then
# the key rotated (the provision enrols the new key; the unbound slot stays under the previous
# one). The record says running and nothing is under way: not "finished" (the old code recorded
# it done, nothing re-encrypted), but begun again.
head -c 64 /dev/urandom >"$KEYS_DIR/data.reencrypt"
reencrypt_killed reencrypt-token
reencrypting "$disk" && fail "a re-encryption is under way after a kill before it began"
mv "$KEYS_DIR/data" "$KEYS_DIR/data.previous"
head -c 64 /dev/urandom >"$KEYS_DIR/data"
ns -c "$T/nodeseal.json" provision
assert_contains "$out" "enrolling the new key"
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -eq 0 ] || fail "nodeseal reencrypt after the kill and the rotation failed: $out"
assert_not_contains "$out" "its end was recorded after an interruption" "a re-encryption that never began"
assert_contains "$out" "re-encrypted under a new volume key; the old one no longer opens it"
if cryptsetup open --test-passphrase --volume-key-file "$T/vk1" "$disk" >/dev/null 2>&1; then
        fail "the volume key before this re-encryption still opens the device"
fi
dump_volume_key "$disk" "$T/vk2"
reads_back_under "$disk" "$T/vk2" || fail "the data does not read back after the second re-encryption"
pass
