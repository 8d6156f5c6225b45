#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The dm-crypt workqueue flags follow the disk: with the default "auto", a non-rotational disk (its
# sysfs queue/rotational is 0; for a partition, its disk's) gets no_read_workqueue and
# no_write_workqueue stored in the LUKS2 header, a rotational one none; allow_discards only when
# configured; an explicit false wins over the disk, and a changed config rewrites the flags of an
# existing header without touching anything else in it. (No device-mapper here: each provision
# writes the header and stops where it would open the mapping.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"
command -v sfdisk >/dev/null && command -v partx >/dev/null || skip "sfdisk (fdisk) and partx (util-linux) are needed"

header_flags() { cryptsetup luksDump "$1" | awk -F: '/^Flags:/ { gsub(/^[ \t]+|[ \t]+$/, "", $2); print $2 }'; }
rotational() { echo "$2" >"/sys/block/${1#/dev/}/queue/rotational"; }

volume_key data
solid=$(loop_new "$T/solid.img" 32)
spinning=$(loop_new "$T/spinning.img" 32)
rotational "$solid" 0
rotational "$spinning" 1

volume_config "$T/solid.json" "$solid"
ns -c "$T/solid.json" provision
opens_with "$solid" "$KEYS_DIR/data" || fail "the non-rotational disk was not formatted: $out"
assert_eq "$(header_flags "$solid")" "no-read-workqueue no-write-workqueue" "flags of the non-rotational disk"
assert_contains "$out" "activation flags in the header of $solid: no_read_workqueue no_write_workqueue"

rm "$KEYS_DIR/data.luks-uuid" "$KEYS_DIR/data.formatted"   # a new volume "data", on purpose
volume_config "$T/spinning.json" "$spinning"
ns -c "$T/spinning.json" provision
opens_with "$spinning" "$KEYS_DIR/data" || fail "the rotational disk was not formatted: $out"
assert_eq "$(header_flags "$spinning")" "(no flags)" "flags of the rotational disk"

# The config wins over the disk, both ways; only the flags change in the header (same UUID, same
# key slot), and a rerun with the same config writes nothing.
uuid=$(cryptsetup luksUUID "$spinning")
volume_config "$T/spinning.json" "$spinning" '"luks": { "no_write_workqueue": true, "allow_discards": true }'
ns -c "$T/spinning.json" provision
assert_eq "$(header_flags "$spinning")" "allow-discards no-write-workqueue" "flags set by the config"
assert_eq "$(cryptsetup luksUUID "$spinning")" "$uuid" "UUID after the flags changed"
opens_with "$spinning" "$KEYS_DIR/data" || fail "the key no longer opens after the flags changed: $out"
ns -c "$T/spinning.json" provision
assert_not_contains "$out" "activation flags in the header" "a rerun with the same config"

rm "$KEYS_DIR/data.luks-uuid" "$KEYS_DIR/data.formatted"
volume_config "$T/solid.json" "$solid" '"luks": { "no_read_workqueue": false, "no_write_workqueue": "auto" }'
ns -c "$T/solid.json" provision
assert_eq "$(header_flags "$solid")" "no-write-workqueue" "flags of the non-rotational disk with no_read_workqueue false"

# A partition has no queue of its own: its disk decides.
rm -f "$KEYS_DIR/data.luks-uuid" "$KEYS_DIR/data.formatted"
truncate -s 64M "$T/parted.img"
echo 'start=2048, size=65536' | sfdisk -q "$T/parted.img" >/dev/null
parted=$(losetup -f --show "$T/parted.img") || fail "no loop device for the partitioned image"
partx -a "$parted" || fail "partx -a $parted failed"
for i in $(seq 1 50); do [ -b "${parted}p1" ] && break; sleep 0.1; done
[ -b "${parted}p1" ] || fail "${parted}p1 did not appear"
[ ! -e "/sys/class/block/${parted#/dev/}p1/queue/rotational" ] || skip "partitions have a queue of their own here"
rotational "$parted" 0
volume_config "$T/parted.json" "${parted}p1"
ns -c "$T/parted.json" provision
opens_with "${parted}p1" "$KEYS_DIR/data" || fail "the partition was not formatted: $out"
assert_eq "$(header_flags "${parted}p1")" "no-read-workqueue no-write-workqueue" "flags of a partition of a non-rotational disk"
pass
