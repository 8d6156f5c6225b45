#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# harness-dmcrypt-works: the guest kernel can format, open, mount and reopen a LUKS2 device.
#
# Uses the cryptsetup CLI only to prove the kernel side (dm-crypt, ciphers, ext4, xfs); nodeseal
# itself goes through libcryptsetup. Runs in plain mode, so it also shows that opening works
# without udevd.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	command -v cryptsetup > /dev/null || skip "cryptsetup (package cryptsetup-bin) is not installed"
	scratch_dir
	make_disk "$SCRATCH/ext4.img" 64
	# mkfs.xfs refuses filesystems under 300 MiB; the image is sparse, so this costs nothing.
	make_disk "$SCRATCH/xfs.img" 400
	vm_run_self --disk "$SCRATCH/ext4.img,serial=nsvm-ext4" --disk "$SCRATCH/xfs.img,serial=nsvm-xfs"
	exit
fi

# --- in the guest ---------------------------------------------------------------------------------
key=/run/nsvm-test.key
head -c 64 /dev/urandom > "$key"
chmod 0600 "$key"
# The key is random, so a cheap PBKDF loses nothing (as in nodeseal's defaults) and keeps TCG fast.
luks_format() {
	assert_ok "luksFormat $1" cryptsetup luksFormat --batch-mode --type luks2 --cipher aes-xts-plain64 \
		--key-size 512 --sector-size 4096 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$key" "$1"
}

[[ -b /dev/vda && -b /dev/vdb ]] || fail "disks missing: $(ls /dev/vd* 2>&1)"
assert_eq nsvm-ext4 "$(cat /sys/block/vda/serial)" "serial of vda"
assert_eq $((64 * 1024 * 1024)) "$(blockdev --getsize64 /dev/vda)" "size of vda"

luks_format /dev/vda
assert_eq crypto_LUKS "$(blkid -o value -s TYPE /dev/vda)" "blkid type of vda"
assert_ok "open vda" cryptsetup open --key-file "$key" /dev/vda nsvm-ext4
[[ -b /dev/mapper/nsvm-ext4 ]] || fail "no /dev/mapper/nsvm-ext4 after open (no udevd here)"
assert_ok "mkfs.ext4" mkfs.ext4 -q /dev/mapper/nsvm-ext4
mkdir -p /mnt/ext4
assert_ok "mount ext4" mount /dev/mapper/nsvm-ext4 /mnt/ext4
head -c 1M /dev/urandom > /mnt/ext4/data
printf 'NODESEAL-PLAINTEXT-CANARY\n%.0s' {1..40000} > /mnt/ext4/canary
sum=$(sha256_of /mnt/ext4/data)
assert_ok "umount" umount /mnt/ext4
assert_ok "close" cryptsetup close nsvm-ext4
[[ ! -e /dev/mapper/nsvm-ext4 ]] || fail "/dev/mapper/nsvm-ext4 still there after close"
# The plaintext must not be on the disk: the mapping really encrypted it.
! LC_ALL=C grep -q -a -F NODESEAL-PLAINTEXT-CANARY /dev/vda || fail "plaintext found on the raw disk"

assert_ok "reopen vda" cryptsetup open --key-file "$key" /dev/vda nsvm-ext4
assert_ok "remount ext4" mount -o ro /dev/mapper/nsvm-ext4 /mnt/ext4
assert_eq "$sum" "$(sha256_of /mnt/ext4/data)" "file read back after reopen"
umount /mnt/ext4
cryptsetup close nsvm-ext4

# A wrong key must not open it (exit 2 is cryptsetup's "bad passphrase").
rc=0
head -c 64 /dev/urandom | cryptsetup open --key-file - /dev/vda nsvm-bad 2> /dev/null || rc=$?
assert_eq 2 "$rc" "cryptsetup open with a wrong key"
log "ext4 on LUKS2: ok"

# xfs is loaded on demand (modprobe from the kernel's modules share); skip that half if it cannot.
if ! modprobe xfs 2> /dev/null; then
	log "xfs module does not load: xfs check skipped"
	exit 0
fi
command -v mkfs.xfs > /dev/null || { log "mkfs.xfs missing: xfs check skipped"; exit 0; }
luks_format /dev/vdb
assert_ok "open vdb" cryptsetup open --key-file "$key" /dev/vdb nsvm-xfs
assert_ok "mkfs.xfs" mkfs.xfs -q /dev/mapper/nsvm-xfs
mkdir -p /mnt/xfs
assert_ok "mount xfs" mount /dev/mapper/nsvm-xfs /mnt/xfs
echo xfs-data > /mnt/xfs/f
umount /mnt/xfs
cryptsetup close nsvm-xfs
assert_ok "reopen vdb" cryptsetup open --key-file "$key" /dev/vdb nsvm-xfs
assert_ok "remount xfs" mount /dev/mapper/nsvm-xfs /mnt/xfs
assert_eq xfs-data "$(cat /mnt/xfs/f)" "xfs file read back"
umount /mnt/xfs
cryptsetup close nsvm-xfs
log "xfs on LUKS2: ok"
