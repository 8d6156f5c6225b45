#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A header backup and a re-encryption. A header taken half-way through a re-encryption says where
# the new volume key's data ended at that moment; the re-encryption goes on, and restored later
# that header would have the blocks re-encrypted since read (and re-encrypted again) under the old
# key: garbage, the data lost. The first sector of the data area, which recover decrypts to tell
# the volume's disk, is under the new key in both, so that check passes. Now no backup is taken of
# a header in re-encryption (the one from before stays; the next after it finished replaces it),
# and recover refuses a backup in re-encryption (one made by hand or by an earlier version).
# Offline on loop devices: libcryptsetup re-encrypts in user space without device-mapper.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"
. "$(dirname "$0")/lib-reencrypt.sh"

seqid_of() { od -An -tu1 -j16 -N8 "$1" | awk '{ s = 0; for (i = 1; i <= 8; i++) s = s * 256 + $i; print s }'; }
kill_at() {
        reencrypt_killed "reencrypt-$1"
        reencrypting "$disk" || fail "no re-encryption under way after the kill at $1 %: $out"
}

volume_key data
disk=$(loop_new "$T/disk.img" 48)
volume_config "$T/nodeseal.json" "$disk"
ns -c "$T/nodeseal.json" provision   # formats and backs up; stops where it would open the mapping
backup=$T/headers/data.luks-header
[ -f "$backup" ] || fail "no header backup after provision: $out"
read -r data_offset sector < <(data_area_of "$disk")
size=$(( $(blockdev --getsize64 "$disk") - data_offset ))

# The whole data area under the first volume key, as dm-crypt would write it, with an ext4
# superblock's magic where recover looks for it (no mkfs here: that needs the mapping).
head -c "$size" /dev/urandom >"$T/plain"
printf '\x53\xef' | dd of="$T/plain" bs=1 seek=$((1024 + 0x38)) conv=notrunc status=none
write_under_key "$disk" "$T/vk0"

# Killed at 50 %; a provision then keeps the backup from before (no backup of a header in re-encryption).
head -c 64 /dev/urandom >"$KEYS_DIR/data.reencrypt"
kill_at 50
cryptsetup luksHeaderBackup "$disk" --header-backup-file "$T/mid.hdr"
seq_before=$(seqid_of "$backup")
ns -c "$T/nodeseal.json" provision
assert_contains "$out" "is being re-encrypted: kept the previous header backup"
reencrypting "$backup" && fail "a header in re-encryption was backed up: $out"
assert_eq "$(seqid_of "$backup")" "$seq_before" "the backup's seqid after a provision during the re-encryption"

# Further on (killed at 75 %), then the header destroyed: the backup from before the re-encryption
# does not decrypt the data area's first sector (under the new key now): refused, nothing written.
kill_at 75
dd if="$disk" of="$T/at75.img" bs=1M count=16 status=none
dd if=/dev/zero of="$disk" bs=4096 count=8 conv=notrunc status=none
sd=$(sum_of "$disk")
ns -c "$T/nodeseal.json" recover --yes data
[ "$rc" -ne 0 ] || fail "recover restored a backup from before the re-encryption: $out"
assert_contains "$out" "does not decrypt to an ext4 filesystem"
assert_eq "$(sum_of "$disk")" "$sd" "the disk after a refused recover"

# A backup taken half-way (by hand, or by an earlier version): refused for that reason.
chmod 600 "$backup"
cp "$T/mid.hdr" "$backup"
chmod 400 "$backup"
ns -c "$T/nodeseal.json" recover --yes data
[ "$rc" -ne 0 ] || fail "recover restored a header taken half-way through a re-encryption: $out"
assert_contains "$out" "was taken during a re-encryption"
assert_eq "$(sum_of "$disk")" "$sd" "the disk after a refused recover of a half-way header"

# What was lost: nothing. The header as it was (at 75 %) back in place, the re-encryption finished,
# every block reads back under the new key; then a provision backs up the finished header.
dd if="$T/at75.img" of="$disk" bs=1M conv=notrunc,fsync status=none
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -eq 0 ] || fail "the re-encryption did not finish: $out"
dump_volume_key "$disk" "$T/vk1"
reads_back_under "$disk" "$T/vk1" || fail "the data does not read back under the new volume key"
ns -c "$T/nodeseal.json" provision
assert_eq "$(seqid_of "$backup")" "$(seqid_of "$disk")" "the backup's seqid after the re-encryption finished"
reencrypting "$backup" && fail "the backup after the end is in re-encryption"
pass
