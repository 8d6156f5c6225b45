#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# recover-header-secret-refused: header backups in a Secret (the directory source) on the host (no
# device-mapper: a provision formats and stops where it would open the mapping). A volume whose
# backup goes to a Secret is formatted with the small header (960 KiB key slot area) and its
# header is stored, byte for byte, under data.luks-header of that Secret. nodeseal recover reads it
# from there with the same checks as a file: with the header destroyed it gets as far as the data
# check (no filesystem was ever made here, as on another disk) and writes nothing; another
# volume's header in the Secret is refused on its UUID; a missing one is named.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"

secret_config() {
        cat >"$1" <<JSON
{ "node_name": "$NODE_NAME", "runtime_directory": "$T/run", "secrets": { "directory": "$T/secrets" },
  "volumes": [ { "name": "$2", "device": "$3", "mountpoint": "$T/mnt-$2", "header_backup": { "secret": "hdr-$2-{node}" } } ] }
JSON
}

volume_key data
disk=$(loop_new "$T/disk.img" 32)
secret_config "$T/nodeseal.json" data "$disk"
ns -c "$T/nodeseal.json" provision
opens_with "$disk" "$KEYS_DIR/data" || fail "not formatted: $out"
assert_contains "$out" "backed up to Secret hdr-data-$NODE_NAME, key data.luks-header"
stored=$T/secrets/hdr-data-$NODE_NAME/data.luks-header
[ -f "$stored" ] || fail "no header backup in the Secret: $out"
cryptsetup luksDump "$disk" | grep 'Keyslots area:.*983040 \[bytes\]' >/dev/null || fail "not the small layout: $(cryptsetup luksDump "$disk")"
assert_eq "$(stat -c %s "$stored")" 1015808 "size of the stored header"
cmp -s <(head -c 1015808 "$disk") "$stored" || fail "the Secret does not hold the disk's header"
[ ! -d "$T/headers" ] && [ -z "$(ls -A "$T/run" 2>/dev/null | grep luks)" ] || fail "a header file was left behind"

# The header destroyed: the Secret's backup passes the UUID check and meets the data check.
dd if=/dev/zero of="$disk" bs=4096 count=16 conv=notrunc status=none
cryptsetup isLuks "$disk" && fail "the header is still there after zeroing"
sd=$(sum_of "$disk")
ns -c "$T/nodeseal.json" recover --yes data
[ "$rc" -ne 0 ] || fail "recover onto a disk without the volume's filesystem succeeded: $out"
assert_contains "$out" "data area of $disk does not decrypt to an ext4 filesystem"
assert_eq "$(sum_of "$disk")" "$sd" "the disk after a refused recover"
[ -z "$(ls -A "$T/run" | grep recover)" ] || fail "the restored header's temporary file was left: $(ls -A "$T/run")"

# Another volume's header in the Secret: refused on the UUID, nothing written.
volume_key other
other=$(loop_new "$T/other.img" 32)
secret_config "$T/other.json" other "$other"
ns -c "$T/other.json" provision
cp "$stored" "$T/data.keep"
cp "$T/secrets/hdr-other-$NODE_NAME/other.luks-header" "$stored"
ns -c "$T/nodeseal.json" recover --yes data
[ "$rc" -ne 0 ] || fail "recover with another device's header succeeded: $out"
assert_contains "$out" "Secret hdr-data-$NODE_NAME (key data.luks-header)"
assert_contains "$out" "is of LUKS UUID $(cryptsetup luksUUID "$other"), but the format record of volume data names"
assert_eq "$(sum_of "$disk")" "$sd" "the disk after recover with another device's header"

rm "$stored"
ns -c "$T/nodeseal.json" recover --yes data
[ "$rc" -ne 0 ] || fail "recover without a backup succeeded"
assert_contains "$out" "Volume data has no header backup in Secret hdr-data-$NODE_NAME (key data.luks-header)"
assert_eq "$(sum_of "$disk")" "$sd" "the disk after recover without a backup"
pass
