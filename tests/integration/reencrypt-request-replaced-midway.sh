#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A re-encryption killed half-way, whose request in the Secret is then replaced by a new one (an
# operator who thinks the first did not take) or removed. A re-encryption cannot be taken back:
# half-way, the device holds data under two volume keys. nodeseal finishes the one under way
# first, under its own record, then carries out the new request; with the request removed it
# still finishes the one under way. Every block written before reads back under the last volume
# key, and no earlier volume key opens the device.
# Offline on loop devices: libcryptsetup re-encrypts in user space without device-mapper.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"
. "$(dirname "$0")/lib-reencrypt.sh"

# The request id nodeseal's token records (the first 16 bytes of the request's SHA-256) and its state.
token_of() {
        cryptsetup luksDump --dump-json-metadata "$1" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tokens"].values():
    if t["type"] == "nodeseal-reencrypt":
        print(t["id"], t["state"])'
}
id_of() { sha256sum <"$1" | cut -c1-32; }
no_old_key_opens() {
        local vk
        for vk in "$@"; do
                if cryptsetup open --test-passphrase --volume-key-file "$vk" "$disk" >/dev/null 2>&1; then
                        fail "an earlier volume key ($(basename "$vk")) still opens the device"
                fi
        done
}
# kill_half_way: nodeseal reencrypt killed (SIGKILL) at half of the device.
kill_half_way() {
        reencrypt_killed reencrypt-50
        reencrypting "$disk" || fail "no re-encryption under way after the kill: $out"
}

volume_key data
disk=$(loop_new "$T/disk.img" 48)
volume_config "$T/nodeseal.json" "$disk"
ns -c "$T/nodeseal.json" provision   # formats; stops where it would open the mapping
opens_with "$disk" "$KEYS_DIR/data" || fail "not formatted: $out"

# Data under the first volume key, written as dm-crypt would (8 MiB of the 32).
head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/plain"
write_under_key "$disk" "$T/vk0"

# Request A, killed half-way; then replaced by request B.
head -c 64 /dev/urandom >"$KEYS_DIR/data.reencrypt"
cp "$KEYS_DIR/data.reencrypt" "$T/request-a"
kill_half_way
assert_eq "$(token_of "$disk")" "$(id_of "$T/request-a") running" "the record of request A"
head -c 64 /dev/urandom >"$KEYS_DIR/data.reencrypt"
cp "$KEYS_DIR/data.reencrypt" "$T/request-b"
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -eq 0 ] || fail "nodeseal reencrypt with a replaced request failed: $out"
assert_contains "$out" "finishing the re-encryption of an earlier request ($(id_of "$T/request-a")) first"
assert_contains "$out" "request $(id_of "$T/request-b")"
reencrypting "$disk" && fail "a re-encryption is still under way: $out"
assert_eq "$(token_of "$disk")" "$(id_of "$T/request-b") done" "the record after both requests"
dump_volume_key "$disk" "$T/vk2"
cmp -s "$T/vk0" "$T/vk2" && fail "the volume key did not change"
no_old_key_opens "$T/vk0"
reads_back_under "$disk" "$T/vk2" || fail "the data written under the first key does not read back under the last"
# Two re-encryptions, not one: the header holds one key slot (the passphrase's, for the last key).
slots=$(cryptsetup luksDump --dump-json-metadata "$disk" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["keyslots"]))')
assert_eq "$slots" 1 "key slots after both re-encryptions"

# Request C killed half-way, then removed from the Secret: the one under way is still finished.
head -c 64 /dev/urandom >"$KEYS_DIR/data.reencrypt"
cp "$KEYS_DIR/data.reencrypt" "$T/request-c"
kill_half_way
rm "$KEYS_DIR/data.reencrypt"
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -eq 0 ] || fail "nodeseal reencrypt with the request removed failed: $out"
assert_contains "$out" "finishing the re-encryption of an earlier request ($(id_of "$T/request-c")) first"
reencrypting "$disk" && fail "a re-encryption is still under way after the request was removed: $out"
assert_eq "$(token_of "$disk")" "$(id_of "$T/request-c") done" "the record of request C"
dump_volume_key "$disk" "$T/vk3"
no_old_key_opens "$T/vk0" "$T/vk2"
reads_back_under "$disk" "$T/vk3" || fail "the data does not read back after the third re-encryption"
# Nothing under way and no request: the old message, nothing done.
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -ne 0 ] || fail "nodeseal reencrypt with no request and nothing under way succeeded: $out"
assert_contains "$out" "No re-encryption request for volume data"
dump_volume_key "$disk" "$T/vk4"
cmp -s "$T/vk3" "$T/vk4" || fail "the volume key changed with no request"

# A re-encryption under way that nodeseal did not begin (no record of its own) is still refused.
head -c 64 /dev/urandom >"$KEYS_DIR/data.reencrypt"
python3 - "$disk" <<'PY'
import subprocess, sys
# The record removed with cryptsetup's own token command.
import json
h = json.loads(subprocess.run(["cryptsetup", "luksDump", "--dump-json-metadata", sys.argv[1]], capture_output=True, text=True, check=True).stdout)
for k, t in h["tokens"].items():
    if t["type"] == "nodeseal-reencrypt":
        subprocess.run(["cryptsetup", "token", "remove", "--token-id", k, sys.argv[1]], check=True)
PY
cryptsetup reencrypt --force-offline-reencrypt --batch-mode --key-file "$KEYS_DIR/data" --init-only "$disk" >/dev/null 2>&1 ||
        fail "cryptsetup reencrypt --init-only failed"
sd=$(sum_of "$disk")
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -ne 0 ] || fail "nodeseal carried on a re-encryption it did not begin: $out"
assert_contains "$out" "a re-encryption is under way that is not the one"
assert_eq "$(sum_of "$disk")" "$sd" "the device after the refusal"
pass
