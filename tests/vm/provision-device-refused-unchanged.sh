#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision-device-refused-unchanged: an ext4 filesystem, a partition table, a foreign LUKS device,
# nodeseal's own LUKS device with a wrong key, and plain dm-crypt (no header: libblkid finds
# nothing, yet it holds data) are each refused with what was found, and left byte for byte as they were (checked in the guest and again on the host). A foreign LUKS device
# opens with "adopt": true, and its contents stay.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

disks=(ext4 gpt foreign wrongkey plain)
if ! in_guest; then
	vm_require
	scratch_dir
	opts=()
	for d in "${disks[@]}" adopt; do
		make_disk "$SCRATCH/$d.img" 64
		opts+=(--disk "$SCRATCH/$d.img")
	done
	vm_nodeseal_self "${opts[@]}"
	for d in "${disks[@]}"; do
		assert_eq "$(cat "$SCRATCH/$d.sum")" "$(sha256_of "$SCRATCH/$d.img")" "$d image on the host after the guest"
	done
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
pbkdf=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
# vda: ext4 with a file; vdb: a GPT partition table; vdc: LUKS2 set up by someone else;
# vdd: nodeseal's LUKS2 with another key; vde: plain dm-crypt (no header) with ext4 and a file;
# vdf: a foreign LUKS2 device with a filesystem and data.
mkfs.ext4 -q -L olddata /dev/vda
mkdir -p /mnt/old && mount /dev/vda /mnt/old && echo precious > /mnt/old/file && umount /mnt/old
echo 'label: gpt' | sfdisk -q /dev/vdb
ns_key other
cryptsetup luksFormat -q --type luks2 "${pbkdf[@]}" --label theirs --key-file "$(ns_key_file other)" /dev/vdc
cryptsetup luksFormat -q --type luks2 "${pbkdf[@]}" --label wrongkey --subsystem nodeseal \
	--key-file "$(ns_key_file other)" /dev/vdd
cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 512 --key-file "$(ns_key_file other)" /dev/vde oldplain
mkfs.ext4 -q /dev/mapper/oldplain
mount /dev/mapper/oldplain /mnt/old && echo precious > /mnt/old/file && umount /mnt/old
cryptsetup close oldplain
[[ -z $(blkid -p -o value -s TYPE /dev/vde || true) ]] || fail "libblkid recognises plain dm-crypt: the case is not tested"
ns_key adoptkey
cryptsetup luksFormat -q --type luks2 "${pbkdf[@]}" --label legacy --key-file "$(ns_key_file adoptkey)" /dev/vdf
cryptsetup open --key-file "$(ns_key_file adoptkey)" /dev/vdf legacy
mkfs.ext4 -q /dev/mapper/legacy
mount /dev/mapper/legacy /mnt/old && echo legacy-data > /mnt/old/file && umount /mnt/old
cryptsetup close legacy

i=0
for d in "${disks[@]}"; do
	dev=/dev/vd$(printf "\\x$(printf %x $((97 + i)))")
	i=$((i + 1))
	sha256_of "$dev" > "$SCRATCH/$d.sum"
	ns_key "$d"
	ns_config "{ \"name\": \"$d\", \"device\": \"$dev\", \"mountpoint\": \"$SCRATCH/mnt-$d\" }"
	ns provision
	assert_eq 1 "$rc" "provision of $d ($dev)"
	case $d in
	ext4) assert_contains "$out" "Volume ext4: Device /dev/vda holds ext4 filesystem signature labelled \"olddata\"; refusing" ;;
	gpt) assert_contains "$out" "Device /dev/vdb holds a gpt partition table; refusing" ;;
	foreign) assert_contains "$out" "Device /dev/vdc holds a foreign LUKS2 header (label \"theirs\", subsystem \"\")" ;;
	wrongkey) assert_contains "$out" "does not open the LUKS device /dev/vdd" ;;
	plain) assert_contains "$out" "Device /dev/vde has no signature libblkid knows, but it holds data (a non-zero byte at offset " ;;
	esac
	[[ ! -e /dev/mapper/nodeseal-$d ]] || fail "$d: a mapper was left behind"
	assert_eq "$(cat "$SCRATCH/$d.sum")" "$(sha256_of "$dev")" "$d ($dev) after the refusal"
	# format "never" changes nothing about a refusal, and a rerun is refused the same way.
	ns provision
	assert_eq 1 "$rc" "second provision of $d"
	assert_eq "$(cat "$SCRATCH/$d.sum")" "$(sha256_of "$dev")" "$d ($dev) after a second refusal"
done

# adopt: the foreign device opens with its key and keeps its filesystem and data.
ns_config "{ \"name\": \"legacy\", \"device\": \"/dev/vdf\", \"key\": \"adoptkey\", \"adopt\": true,
             \"mountpoint\": \"$SCRATCH/mnt-legacy\" }"
ns_ok provision
[[ $out != *formatting* && $out != *"making an"* ]] || fail "adopt formatted something: $out"
assert_eq legacy-data "$(cat "$SCRATCH/mnt-legacy/file")" "data of the adopted device"
assert_eq legacy "$(cryptsetup luksDump /dev/vdf | awk '/^Label:/ { print $2 }')" "adopted device keeps its label"
ns_ok check
ns_ok close
log "ok"
