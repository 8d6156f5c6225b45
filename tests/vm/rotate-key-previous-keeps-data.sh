#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rotate-key-previous-keeps-data: a new key in the Secret with the old one as "<key>.previous"
# is enrolled, the old key slot removed, the data kept; the rotation works on an open volume too,
# and once done the old key alone no longer opens it.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	make_disk "$SCRATCH/disk.img" 64
	vm_nodeseal_self --disk "$SCRATCH/disk.img"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
mnt=$SCRATCH/mnt
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$mnt\" }"
ns_key data
cp "$(ns_key_file data)" "$SCRATCH/key1"
ns_ok provision
head -c 2M /dev/urandom > "$mnt/blob"
sum=$(sha256_of "$mnt/blob")
ns_ok close

# Rotation on a closed volume.
cp "$SCRATCH/key1" "$(ns_key_file data.previous)"
ns_key data
cp "$(ns_key_file data)" "$SCRATCH/key2"
ns_ok provision
assert_contains "$out" "enrolling the new key"
assert_contains "$out" "removing the previous key's slot"
assert_eq "$sum" "$(sha256_of "$mnt/blob")" "data after the rotation"
ns_ok close
cryptsetup open --test-passphrase --key-file "$SCRATCH/key2" /dev/vda || fail "the new key does not open"
! cryptsetup open --test-passphrase --key-file "$SCRATCH/key1" /dev/vda 2> /dev/null || fail "the old key still opens"

# The Secret still holds .previous: reruns do nothing more.
ns_ok provision
[[ $out != *enrolling* && $out != *removing* ]] || fail "a rerun rotated again: $out"

# Rotation while the volume is open and mounted (the daemon's case): slots change, the mount stays.
cp "$SCRATCH/key2" "$(ns_key_file data.previous)"
ns_key data
cp "$(ns_key_file data)" "$SCRATCH/key3"
ns_ok provision
assert_contains "$out" "enrolling the new key"
mounted_from "$mnt" /dev/mapper/nodeseal-data || fail "the mount went away during the rotation"
assert_eq "$sum" "$(sha256_of "$mnt/blob")" "data after the rotation while open"
ns_ok close
cryptsetup open --test-passphrase --key-file "$SCRATCH/key3" /dev/vda || fail "the newest key does not open"
! cryptsetup open --test-passphrase --key-file "$SCRATCH/key2" /dev/vda 2> /dev/null || fail "key 2 still opens"

# The old key alone (.previous gone, the current key replaced by a wrong one): refused, untouched.
rm "$(ns_key_file data.previous)"
ns_key data
before=$(sha256_of /dev/vda)
ns provision
assert_eq 1 "$rc" "provision with a wrong key"
assert_contains "$out" "does not open the LUKS device /dev/vda"
assert_eq "$before" "$(sha256_of /dev/vda)" "device after the wrong key"
log "ok"
