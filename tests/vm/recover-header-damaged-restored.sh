#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# recover-header-damaged-restored: a volume with data is closed and its LUKS2 header destroyed (the
# first 4 MiB zeroed: both binary headers, the JSON areas, part of the key slots). nodeseal recover
# shows the plan and writes nothing without --yes; with --yes it restores the backup nodeseal kept,
# and the volume opens again with its data. A backup of another volume's disk put in its place is
# refused, and so is the right backup aimed at another disk (its data does not decrypt to the
# volume's filesystem); neither disk is written. A volume whose backup is in a Secret (the
# directory source) is restored from there the same way and its data reads back.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	make_disk "$SCRATCH/data.img" 64
	make_disk "$SCRATCH/other.img" 64
	make_disk "$SCRATCH/sec.img" 64
	vm_nodeseal_self --disk "$SCRATCH/data.img" --disk "$SCRATCH/other.img" --disk "$SCRATCH/sec.img"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
[[ ${1:-} == --guest ]] && shift
# Local to the guest: libcryptsetup reads a header file with O_DIRECT, which the 9p share of SCRATCH
# does not serve.
headers=/var/lib/nodeseal-test/headers
volumes() {
	ns_config "{ \"name\": \"data\", \"device\": \"$1\", \"mountpoint\": \"$SCRATCH/data\", \"header_backup\": \"$headers\" },
	           { \"name\": \"other\", \"device\": \"$2\", \"mountpoint\": \"$SCRATCH/other\", \"header_backup\": \"$headers\" }"
}
sum_head() { head -c 32M "$1" | sha256sum | cut -d' ' -f1; }
ns_key data
ns_key other
volumes /dev/vda /dev/vdb
ns_ok provision
[[ -f $headers/data.luks-header && -f $headers/other.luks-header ]] || fail "no header backups after provision"
head -c 4M /dev/urandom > "$SCRATCH/data/payload"
sum=$(sha256_of "$SCRATCH/data/payload")
ns_ok close

dd if=/dev/zero of=/dev/vda bs=1M count=4 conv=notrunc,fsync status=none
cryptsetup isLuks /dev/vda && fail "the header survived"
ns provision
((rc != 0)) || fail "provision succeeded on a destroyed header"
before=$(sum_head /dev/vda)

# Without --yes (no terminal): the plan, nothing written.
ns recover data
((rc != 0)) || fail "recover without --yes succeeded"
assert_contains "$out" "Restore the LUKS2 header backup $headers/data.luks-header"
assert_contains "$out" "decrypts with that header's volume key to an ext4 filesystem"
assert_contains "$out" "run again with --yes"
assert_eq "$before" "$(sum_head /dev/vda)" "the disk after an unconfirmed recover"

# The right backup aimed at the other disk (its header zeroed too): its data is not this volume's.
ns_ok close
dd if=/dev/zero of=/dev/vdb bs=1M count=4 conv=notrunc,fsync status=none
other_before=$(sum_head /dev/vdb)
volumes /dev/vdb /dev/vda
ns recover --yes data
((rc != 0)) || fail "recover onto the other disk succeeded"
assert_contains "$out" "does not decrypt to an ext4 filesystem with the backup's volume key"
assert_eq "$other_before" "$(sum_head /dev/vdb)" "the other disk after a refused recover"

# Another volume's backup in this one's place.
volumes /dev/vda /dev/vdb
cp "$headers/data.luks-header" "$SCRATCH/data.keep"
chmod 600 "$headers/data.luks-header"
cp "$headers/other.luks-header" "$headers/data.luks-header"
ns recover --yes data
((rc != 0)) || fail "recover with another volume's backup succeeded"
assert_contains "$out" "a backup of another device; refusing (nothing written)"
assert_eq "$before" "$(sum_head /dev/vda)" "the disk after recover with another volume's backup"
cp "$SCRATCH/data.keep" "$headers/data.luks-header"

ns_ok recover --yes data
assert_contains "$out" "header restored onto /dev/vda"
ns_ok recover --yes data
assert_contains "$out" "nothing to restore"
ns_key_file data > /dev/null
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$SCRATCH/data\", \"header_backup\": \"$headers\" }"
ns_ok provision
assert_eq "$sum" "$(sha256_of "$SCRATCH/data/payload")" "data after the header was restored"
ns_ok close

# The backup in a Secret: no file anywhere, restored from the Secret. The directory source here
# is local to the guest: replacing a Secret swaps two directories (renameat2 RENAME_EXCHANGE),
# which the 9p share of SCRATCH refuses.
secrets=/var/lib/nodeseal-test/secrets stored=/var/lib/nodeseal-test/secrets/hdr-sec-vm-node/sec.luks-header
mkdir -p "$secrets/nodeseal-keys-vm-node"
chmod 0700 "$secrets" "$secrets/nodeseal-keys-vm-node"
head -c 64 /dev/urandom > "$secrets/nodeseal-keys-vm-node/sec"
cat > "$NS_CONFIG" <<-JSON
{ "node_name": "vm-node", "runtime_directory": "/run/nodeseal-test", "secrets": { "directory": "$secrets" },
  "volumes": [ { "name": "sec", "device": "/dev/vdc", "mountpoint": "$SCRATCH/sec",
                 "header_backup": { "secret": "hdr-sec-{node}" } } ] }
JSON
ns_ok provision
assert_contains "$out" "backed up to Secret hdr-sec-vm-node, key sec.luks-header"
[[ $out != *"without a current header backup"* ]] || fail "a header backup failed: $out"
cmp -s <(head -c 1015808 /dev/vdc) "$stored" || fail "the Secret does not hold the current header of /dev/vdc"
head -c 4M /dev/urandom > "$SCRATCH/sec/payload"
sec_sum=$(sha256_of "$SCRATCH/sec/payload")
ns_ok close
dd if=/dev/zero of=/dev/vdc bs=64K count=1 conv=notrunc,fsync status=none
cryptsetup isLuks /dev/vdc && fail "the header of /dev/vdc survived"
ns_ok recover --yes sec
assert_contains "$out" "Restore the LUKS2 header backup Secret hdr-sec-vm-node (key sec.luks-header)"
assert_contains "$out" "header restored onto /dev/vdc"
cmp -s <(head -c 1015808 /dev/vdc) "$stored" || fail "the restored header is not the one in the Secret"
ns_ok provision
[[ $out != *"without a current header backup"* ]] || fail "a header backup failed: $out"
assert_eq "$sec_sum" "$(sha256_of "$SCRATCH/sec/payload")" "data after the header was restored from the Secret"
ns_ok close
log "ok"
