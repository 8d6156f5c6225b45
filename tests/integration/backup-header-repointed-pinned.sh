#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# backup-header-repointed-pinned: the header backup a provision makes before it would open the
# mapping is of the device it pinned and judged, read through that handle. The volume is
# configured through a symlink to a loop device; nodeseal is stopped at its header backup
# (NODESEAL_TEST_PAUSE_AT=header-backup) and the symlink re-pointed at another loop device that
# carries another LUKS2 header. The backup holds the volume's header, the other disk is unchanged.
# (The host has no device-mapper: the backup of an open mapping is the VM test
# backup-header-repointed-kept's.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"

volume_key data
disk=$(loop_new "$T/disk.img" 32)
other=$(loop_new "$T/other.img" 32)
head -c 64 /dev/urandom >"$T/other.key"
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        --key-file "$T/other.key" "$other" || fail "luksFormat of the other disk"
other_uuid=$(cryptsetup luksUUID "$other")
other_sum=$(sum_of "$other")
mkdir -p "$T/links"
ln -sfn "$disk" "$T/links/data"
volume_config "$T/nodeseal.json" "$T/links/data"

ns_paused header-backup -c "$T/nodeseal.json" provision
ln -sfn "$other" "$T/links/data"
ns_resume
uuid=$(cryptsetup luksUUID "$disk") || fail "the volume's disk was not formatted: $out"
backup=$T/headers/data.luks-header
[ -f "$backup" ] || fail "no header backup: $out"
assert_eq "$(cryptsetup luksUUID "$backup")" "$uuid" "UUID of the backup"
cmp -s <(head -c 16M "$disk") <(head -c 16M "$backup") || fail "the backup is not the volume's header"
assert_eq "$(sum_of "$other")" "$other_sum" "the other disk"
assert_eq "$(cryptsetup luksUUID "$other")" "$other_uuid" "UUID of the other disk"
case $out in *"$other_uuid"*) fail "nodeseal read the other disk's header: $out" ;; esac
pass
