#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Header backups on the host (no device-mapper: each provision writes the header and stops where it
# would open the mapping). A provision leaves a current backup in a root-only directory (0700, the
# file 0400) with the header's UUID; a header change (new flags) refreshes it. "nodeseal recover"
# writes nothing when the header is intact, when the backup is another device's (its UUID is not
# the format record's), when it is not confirmed, or when the device's data area does not decrypt
# to the volume's filesystem (here: no filesystem was ever made, as on another disk).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"

uuid_of_backup() { cryptsetup luksUUID "$1"; }
seqid_of() { od -An -tu1 -j16 -N8 "$1" | awk '{ s = 0; for (i = 1; i <= 8; i++) s = s * 256 + $i; print s }'; }

volume_key data
disk=$(loop_new "$T/disk.img" 32)
volume_config "$T/nodeseal.json" "$disk"
ns -c "$T/nodeseal.json" provision
opens_with "$disk" "$KEYS_DIR/data" || fail "not formatted: $out"
backup=$T/headers/data.luks-header
[ -f "$backup" ] || fail "no header backup after provision: $out"
assert_file_mode "$T/headers" 700
assert_file_mode "$backup" 400
assert_eq "$(uuid_of_backup "$backup")" "$(cryptsetup luksUUID "$disk")" "UUID of the backup"
assert_eq "$(seqid_of "$backup")" "$(seqid_of "$disk")" "seqid of the backup"
assert_contains "$out" "backed up to $T/headers/data.luks-header"

# A rerun with nothing changed leaves the backup alone; a header change (flags) refreshes it.
ino=$(stat -c %i "$backup")
ns -c "$T/nodeseal.json" provision
assert_eq "$(stat -c %i "$backup")" "$ino" "the backup after a rerun that changed nothing"
old_seqid=$(seqid_of "$backup")
volume_config "$T/nodeseal.json" "$disk" '"luks": { "allow_discards": true }'
ns -c "$T/nodeseal.json" provision
[ "$(seqid_of "$backup")" -gt "$old_seqid" ] || fail "the backup was not refreshed after the flags changed: $out"
assert_eq "$(seqid_of "$backup")" "$(seqid_of "$disk")" "seqid of the backup after the flags changed"
cryptsetup luksDump "$backup" | grep 'allow-discards' >/dev/null || fail "the refreshed backup lacks the new flag"

# Intact header: nothing to restore, nothing written.
sd=$(sum_of "$disk")
ns -c "$T/nodeseal.json" recover --yes data
assert_eq "$rc" 0 "recover on an intact header ($out)"
assert_contains "$out" "intact and the key opens it; nothing to restore"
assert_eq "$(sum_of "$disk")" "$sd" "the disk after recover on an intact header"

# The header damaged (both binary headers zeroed).
dd if=/dev/zero of="$disk" bs=4096 count=8 conv=notrunc status=none
cryptsetup isLuks "$disk" && fail "the header is still there after zeroing"
sd=$(sum_of "$disk")

# Not confirmed (no terminal, no --yes): the plan is shown, nothing written.
ns -c "$T/nodeseal.json" recover data </dev/null
[ "$rc" -ne 0 ] || fail "recover without --yes succeeded: $out"
assert_contains "$out" "data area of $disk does not decrypt to an ext4 filesystem"
assert_eq "$(sum_of "$disk")" "$sd" "the disk after a refused recover"

# Another volume's backup in place of this one's: refused on the UUID before anything is read.
other=$(loop_new "$T/other.img" 32)
volume_key other
cat >"$T/other.json" <<JSON
{ "node_name": "$NODE_NAME", "runtime_directory": "$T/run", "secrets": { "directory": "$T/secrets" },
  "volumes": [ { "name": "other", "device": "$other", "mountpoint": "$T/mnt2", "header_backup": "$T/headers" } ] }
JSON
ns -c "$T/other.json" provision
[ -f "$T/headers/other.luks-header" ] || fail "no backup of the other volume: $out"
chmod 600 "$backup"
cp "$T/headers/other.luks-header" "$backup"
ns -c "$T/nodeseal.json" recover --yes data
[ "$rc" -ne 0 ] || fail "recover with another device's backup succeeded: $out"
assert_contains "$out" "is of LUKS UUID $(cryptsetup luksUUID "$other"), but the format record of volume data names"
assert_contains "$out" "a backup of another device; refusing (nothing written)"
assert_eq "$(sum_of "$disk")" "$sd" "the disk after recover with another device's backup"

ns -c "$T/nodeseal.json" recover --yes nosuch
[ "$rc" -ne 0 ] || fail "recover of an unknown volume succeeded"
assert_contains "$out" "No volume \"nosuch\" in the configuration"
pass
