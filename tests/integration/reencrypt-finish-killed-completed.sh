#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A re-encryption killed in libcryptsetup's last steps, after the old volume key's key slot was
# destroyed and before the header write that drops the re-encryption record (what a power loss can
# hit: libcryptsetup 2.6 makes them separate writes). That header asks for both volume keys and no
# key slot holds the old one: no key opens it, and cryptsetup open, reencrypt --resume-only and
# repair all refuse it, although every block is under the new key. nodeseal reencrypt (and a
# provision, checked on its own copy) writes the header libcryptsetup's last write would have
# written: the key opens it, the data written under the old key reads back under the new one, the
# old volume key opens nothing, and the header has the layout of a re-encryption that was never
# interrupted. A header like it whose data is not all under one key is refused, nothing written.
# Offline on loop devices: libcryptsetup re-encrypts in user space without device-mapper.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"
. "$(dirname "$0")/lib-reencrypt.sh"
: "${CRYPT_FAULT:?CRYPT_FAULT must point at the crypt-fault preload}"

take() { dd if="$1" of="$2" bs=1M status=none; }
put() { dd if="$1" of="$2" bs=1M conv=notrunc,fsync status=none; }
# The header's layout: ids of key slots, segments, digests and tokens with what each holds, minus
# the values that differ from one header to another (salts, digests, offsets of key slot areas).
layout_of() {
        cryptsetup luksDump --dump-json-metadata "$1" | python3 -c '
import json, sys
h = json.load(sys.stdin)
out = {"keyslots": {k: [v["type"], sorted(v)] for k, v in h["keyslots"].items()},
       "segments": h["segments"],
       "digests": {k: [v["keyslots"], v["segments"]] for k, v in h["digests"].items()},
       "tokens": {k: v["type"] for k, v in h["tokens"].items()},
       "config": h["config"]}
print(json.dumps(out, sort_keys=True))'
}

volume_key data
disk=$(loop_new "$T/disk.img" 48)
volume_config "$T/nodeseal.json" "$disk"
ns -c "$T/nodeseal.json" provision   # formats; stops where it would open the mapping
opens_with "$disk" "$KEYS_DIR/data" || fail "not formatted: $out"

# Data under the old volume key, written as dm-crypt would (4 MiB of the 32).
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/plain"
write_under_key "$disk" "$T/old.vk"
reads_back_under "$disk" "$T/old.vk" || fail "the data written under the old key does not read back before anything ran"
take "$disk" "$T/before.img"

# The request, and a re-encryption killed right after libcryptsetup destroyed the old key's slot.
head -c 64 /dev/urandom >"$KEYS_DIR/data.reencrypt"
set +e
# (Under ASan its runtime must come first among the libraries; the preload, which replaces no
# allocator function, may come after it.)
out=$(NODESEAL_FAULT_KILL_AFTER_DESTROY=1 LD_PRELOAD=$CRYPT_FAULT ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
        "$NODESEAL" -c "$T/nodeseal.json" reencrypt data 2>&1)
rc=$?
set -e
assert_eq "$rc" 137 "the re-encryption's exit status (killed by the preload): $out"
assert_contains "$out" "re-encrypting under a new volume key"

# The state, shown independently of the code under test: cryptsetup itself can do nothing with it.
take "$disk" "$T/window.img"
cryptsetup luksDump "$disk" >"$T/dump" 2>&1
assert_contains "$(cat "$T/dump")" "online-reencrypt"
if opens_with "$disk" "$KEYS_DIR/data"; then fail "the key still opens the header: the kill missed the window"; fi
if cryptsetup reencrypt --resume-only --force-offline-reencrypt --batch-mode --key-file "$KEYS_DIR/data" "$T/window.img" >/dev/null 2>&1; then
        fail "cryptsetup reencrypt --resume-only finishes the window by itself"
fi
cp "$T/window.img" "$T/window-2.img"   # cryptsetup wrote nothing; one copy for the provision path below

# Changed between the check and the write (a byte of the primary copy's JSON area, which the
# candidate was built from): refused, nothing more written. Killed there: nothing written.
ns_paused reencrypt-finish -c "$T/nodeseal.json" reencrypt data
printf 'x' | dd of="$disk" bs=1 seek=$((4096 + 12000)) conv=notrunc,fsync status=none
sd=$(sum_of "$disk")
ns_resume
[ "$rc" -ne 0 ] || fail "the repair went on over a header changed under it: $out"
assert_contains "$out" "its header changed while it was examined; run again"
assert_eq "$(sum_of "$disk")" "$sd" "the device after a refused repair"
put "$T/window.img" "$disk"
sd=$(sum_of "$disk")
ns_paused reencrypt-finish -c "$T/nodeseal.json" reencrypt data
kill -KILL "$ns_pid"
wait "$ns_pid" 2>/dev/null || true
assert_eq "$(sum_of "$disk")" "$sd" "the device after nodeseal was killed before writing"

# nodeseal reencrypt again: the header libcryptsetup's last write would have written.
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -eq 0 ] || fail "nodeseal reencrypt after the kill failed: $out"
assert_contains "$out" "was stopped while libcryptsetup removed its metadata"
assert_contains "$out" "re-encryption finished"
opens_with "$disk" "$KEYS_DIR/data" || fail "the key does not open the header after the repair: $out"
cryptsetup luksDump "$disk" >"$T/dump" 2>&1
assert_not_contains "$(cat "$T/dump")" "online-reencrypt" "the header after the repair"
if cryptsetup open --test-passphrase --volume-key-file "$T/old.vk" "$disk" >/dev/null 2>&1; then
        fail "the old volume key still opens the device"
fi
dump_volume_key "$disk" "$T/new.vk"
cmp -s "$T/old.vk" "$T/new.vk" && fail "the volume key did not change"
reads_back_under "$disk" "$T/new.vk" || fail "the data written under the old key does not read back under the new one"
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -eq 0 ] || fail "nodeseal reencrypt once done failed: $out"
assert_not_contains "$out" "re-encrypting" "a second run"

# The same layout as a re-encryption never interrupted, run on a copy of the volume from before.
disk2=$(loop_new "$T/disk2.img" 48)
put "$T/before.img" "$disk2"
volume_config "$T/nodeseal2.json" "$disk2"
ns -c "$T/nodeseal2.json" reencrypt data
[ "$rc" -eq 0 ] || fail "the uninterrupted re-encryption failed: $out"
assert_eq "$(layout_of "$disk")" "$(layout_of "$disk2")" "the repaired header's layout against an uninterrupted re-encryption's"

# The provision path (the volume closed when the node comes back): same repair, then it goes on.
put "$T/window-2.img" "$disk2"
ns -c "$T/nodeseal2.json" provision
assert_contains "$out" "was stopped while libcryptsetup removed its metadata"
assert_not_contains "$out" "does not open"
opens_with "$disk2" "$KEYS_DIR/data" || fail "the key does not open the header after a provision: $out"

# Like the window but not finished: the data segment is not the final one. Refused, nothing written.
python3 - "$T/window.img" "$T/unfinished.img" <<'PY'
# The window's header with its data segment turned into the one a re-encryption at 50 % has: the
# new key's segment over the first half and the old key's over the rest (checksums made again).
import hashlib, json, struct, sys
src, dst = sys.argv[1:3]
img = bytearray(open(src, "rb").read())
hs = struct.unpack(">Q", img[8:16])[0]
for base in (0, hs):
    j = json.loads(img[base + 4096:base + hs].rstrip(b"\0"))
    seg = j["segments"]
    half = str(16 * 1024 * 1024)
    new = dict(seg["0"], size=half)
    old = dict(seg["1"], offset=str(int(seg["1"]["offset"]) + int(half)), iv_tweak=str(int(half) // 512))
    old.pop("flags")
    j["segments"] = {"0": new, "1": old, "2": seg["1"], "3": seg["2"]}
    for d in j["digests"].values():
        d["segments"] = ["0", "3"] if "0" in d["segments"] else (["1", "2"] if "1" in d["segments"] else d["segments"])
    text = json.dumps(j, separators=(",", ":")).encode()
    img[base + 4096:base + hs] = text + b"\0" * (hs - 4096 - len(text))
    seqid = struct.unpack(">Q", img[base + 16:base + 24])[0] + 1
    img[base + 16:base + 24] = struct.pack(">Q", seqid)
    img[base + 448:base + 512] = b"\0" * 64
    img[base + 448:base + 480] = hashlib.sha256(bytes(img[base:base + hs])).digest()
open(dst, "wb").write(img)
PY
cryptsetup luksDump "$T/unfinished.img" >"$T/dump" 2>&1 || fail "libcryptsetup does not load the half-way header: $(cat "$T/dump")"
put "$T/unfinished.img" "$disk2"
sd=$(sum_of "$disk2")
ns -c "$T/nodeseal2.json" reencrypt data
[ "$rc" -ne 0 ] || fail "nodeseal reencrypt of a half-way header with no old key slot succeeded: $out"
assert_contains "$out" "not provably finished"
assert_contains "$out" "segments, not one data segment"
assert_contains "$out" "nothing written"
assert_eq "$(sum_of "$disk2")" "$sd" "the device after a refused repair"
pass
