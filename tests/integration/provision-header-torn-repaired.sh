#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A LUKS2 header with one torn copy (what a kill in the middle of a metadata write leaves) that
# libcryptsetup refuses to recover by itself because libblkid reads another signature in the torn
# bytes ("Device contains ambiguous signatures, cannot auto-recover LUKS2"): provision rewrites
# the torn copy from the whole one when the whole copy's UUID is the format record's and the
# foreign signature lies inside the torn copy; the data area is untouched. Refused, with nothing
# written, when the UUID is another one, when a signature lies outside the torn copy, and when
# both copies are damaged. On the host (no device-mapper) each provision stops where it would open
# the mapping, after the header was loaded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"

# The primary copy torn as libcryptsetup's first write of a copy leaves it (the header without its
# checksum), with a swap signature (version 1, one page) in its padding that libblkid reads.
tear_primary() {
        dd if=/dev/zero of="$1" bs=1 seek=448 count=64 conv=notrunc,fsync status=none
        printf '\001\000\000\000\377\000\000\000' | dd of="$1" bs=1 seek=1024 conv=notrunc,fsync status=none
        printf 'SWAPSPACE2' | dd of="$1" bs=1 seek=4086 conv=notrunc,fsync status=none
}
data_sum() { tail -c +$((16 * 1024 * 1024 + 1)) "$1" | sha256sum | cut -d' ' -f1; }
# Images go to and come from the loop device itself (the file under it may be cached apart).
put() { dd if="$1" of="$disk" bs=1M conv=notrunc,fsync status=none; }
take() { dd if="$disk" of="$1" bs=1M status=none; }
# refused WHAT EXPECTED...: provision fails, saying each EXPECTED, and writes nothing to the disk.
refused() {
        local what=$1 sd e
        shift
        sd=$(sum_of "$disk")
        ns -c "$T/nodeseal.json" provision
        [ "$rc" -ne 0 ] || fail "provision with $what succeeded: $out"
        for e; do assert_contains "$out" "$e"; done
        assert_eq "$(sum_of "$disk")" "$sd" "the disk after a refused repair ($what)"
}

volume_key data
disk=$(loop_new "$T/disk.img" 32)
volume_config "$T/nodeseal.json" "$disk"
ns -c "$T/nodeseal.json" provision
opens_with "$disk" "$KEYS_DIR/data" || fail "not formatted: $out"
uuid=$(cryptsetup luksUUID "$disk")
take "$T/good.img"

# The state, made independently of the code under test: cryptsetup itself refuses it.
tear_primary "$disk"
take "$T/torn.img"
if cryptsetup luksDump "$T/torn.img" >"$T/dump" 2>&1; then fail "cryptsetup loads the torn header: $(cat "$T/dump")"; fi
assert_contains "$(cat "$T/dump")" "ambiguous signatures"
ds=$(data_sum "$disk")

ns -c "$T/nodeseal.json" provision
assert_contains "$out" "primary LUKS2 header copy on $disk (UUID $uuid) is torn"
assert_contains "$out" "rewriting it from the secondary copy"
assert_not_contains "$out" "header cannot be loaded"
cryptsetup luksDump "$disk" >/dev/null 2>&1 || fail "the header does not load after provision: $out"
assert_eq "$(cryptsetup luksUUID "$disk")" "$uuid" "the UUID after the repair"
assert_eq "$(data_sum "$disk")" "$ds" "the data area after the repair"
opens_with "$disk" "$KEYS_DIR/data" || fail "the key does not open the repaired header: $out"
[ -z "$(blkid -p -o value -s TYPE -n swap "$disk" 2>/dev/null)" ] || fail "the swap signature is still there"

# The format record names another UUID: another disk's header, never repaired.
put "$T/torn.img"
for f in data.luks-uuid data.formatted; do
        [ -f "$KEYS_DIR/$f" ] || fail "no format record $KEYS_DIR/$f"
        cp "$KEYS_DIR/$f" "$T/$f.saved"
        sed -i "s/$uuid/00000000-1111-2222-3333-444444444444/" "$KEYS_DIR/$f"
done
refused "another UUID in the record" "has UUID $uuid, not 00000000-1111-2222-3333-444444444444 as expected"
for f in data.luks-uuid data.formatted; do cp "$T/$f.saved" "$KEYS_DIR/$f"; done

# A signature outside the torn copy (swap's 64 KiB page variant, in the key slot area): something
# else wrote this disk; refused, nothing written.
printf 'SWAPSPACE2' | dd of="$disk" bs=1 seek=$((65536 - 10)) conv=notrunc,fsync status=none
printf '\001\000\000\000\377\000\000\000' | dd of="$disk" bs=1 seek=1024 conv=notrunc,fsync status=none
dd if=/dev/zero of="$disk" bs=1 seek=4086 count=10 conv=notrunc,fsync status=none
refused "a signature outside the torn copy" "outside the torn copy" "something else wrote this disk"

# Both copies damaged: refused, pointing at the header backup.
put "$T/good.img"
dd if=/dev/zero of="$disk" bs=1 seek=448 count=64 conv=notrunc,fsync status=none
dd if=/dev/zero of="$disk" bs=1 seek=$((16384 + 448)) count=64 conv=notrunc,fsync status=none
refused "both header copies damaged" "Both copies of the LUKS2 header on $disk are damaged" "nodeseal recover"
pass
