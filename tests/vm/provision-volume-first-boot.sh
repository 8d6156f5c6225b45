#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision-volume-first-boot: a blank disk is formatted, opened and mounted; data written through
# the mount survives close + reopen and a reboot, and never reaches the raw disk in plaintext.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	make_disk "$SCRATCH/disk.img" 64
	vm_nodeseal_self --disk "$SCRATCH/disk.img" -- first
	# The host sees LUKS2 on the image; the plaintext marker is nowhere in it.
	assert_eq crypto_LUKS "$(blkid -p -o value -s TYPE "$SCRATCH/disk.img")" "blkid type on the host"
	! LC_ALL=C grep -q -a -F NODESEAL-PLAINTEXT-MARKER "$SCRATCH/disk.img" || fail "plaintext marker on the raw disk"
	vm_nodeseal_self --disk "$SCRATCH/disk.img" -- reboot
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
[[ ${1:-} == --guest ]] && shift
mnt=$SCRATCH/mnt
ns_config "{ \"name\": \"pgdata\", \"device\": \"/dev/vda\", \"mountpoint\": \"$mnt\",
             \"owner\": \"nobody\", \"group\": \"nogroup\", \"mode\": \"0700\", \"key\": \"pg\" }"
map=/dev/mapper/nodeseal-pgdata

case $1 in
first)
	ns_key pg
	ns_ok provision
	assert_contains "$out" "formatting /dev/vda as LUKS2"
	assert_contains "$out" "making an ext4 filesystem"
	[[ -b $map ]] || fail "$map missing"
	mounted_from "$mnt" "$map" || fail "$mnt is not mounted from $map"
	assert_eq ext4 "$(blkid -p -o value -s TYPE $map)" "filesystem on the mapper"
	assert_eq pgdata "$(blkid -p -o value -s LABEL $map)" "filesystem label"
	assert_eq pgdata "$(cryptsetup luksDump /dev/vda | awk '/^Label:/ { print $2 }')" "LUKS label"
	assert_eq nodeseal "$(cryptsetup luksDump /dev/vda | awk '/^Subsystem:/ { print $2 }')" "LUKS subsystem"
	cryptsetup luksDump /dev/vda | grep "sector: 4096" >/dev/null || fail "sector size is not 4096"
	cryptsetup luksDump /dev/vda | grep "PBKDF:      pbkdf2" >/dev/null || fail "key slot PBKDF is not pbkdf2"
	assert_eq "nobody:nogroup 700" "$(stat -c '%U:%G %a' "$mnt")" "owner and mode of the filesystem root"
	ns_ok check

	# A second provision changes nothing.
	ns_ok provision
	[[ $out != *formatting* && $out != *"making an"* ]] || fail "rerun formatted again: $out"

	head -c 4M /dev/urandom > "$mnt/data"
	printf 'NODESEAL-PLAINTEXT-MARKER %.0s\n' {1..20000} > "$mnt/marker"
	sha256_of "$mnt/data" > "$SCRATCH/data.sum"
	sync

	ns_ok close
	[[ ! -e $map ]] || fail "$map still there after close"
	mounted_from "$mnt" "$map" 2> /dev/null && fail "still mounted after close"
	ns check
	assert_eq 3 "$rc" "check exit status with the volume closed"
	assert_contains "$out" "is not open"
	! LC_ALL=C grep -q -a -F NODESEAL-PLAINTEXT-MARKER /dev/vda || fail "plaintext marker on the raw disk"

	# Reopen: same data, no format.
	ns_ok provision
	[[ $out != *formatting* && $out != *"making an"* ]] || fail "reopen formatted: $out"
	assert_eq "$(cat "$SCRATCH/data.sum")" "$(sha256_of "$mnt/data")" "data after close + reopen"
	ns_ok close
	;;
reboot)
	ns_ok provision
	[[ $out != *formatting* && $out != *"making an"* ]] || fail "provision after reboot formatted: $out"
	assert_eq "$(cat "$SCRATCH/data.sum")" "$(sha256_of "$mnt/data")" "data after a reboot"
	ns_ok check
	ns_ok close
	;;
*)
	fail "unknown step '$1'"
	;;
esac
log "ok ($1)"
