#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# unlock-tpm-wrapped-key: volume keys wrapped to a node key sealed in the guest's TPM 2.0 (swtpm
# attached to QEMU). Boot 1: enrol, format with a plain key, migrate it (wrap-keys), open with the
# wrapped key. Boot 2, same TPM ("reboot"): the volume unlocks, the data is there. Boot 3, another
# TPM (the Secret and the disk on another machine): nothing opens and nothing is written; the
# operator's recovery key opens it.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	command -v swtpm > /dev/null || fail "swtpm is needed (tests/run-all installs it)"
	scratch_dir
	make_disk "$SCRATCH/disk.img" 64
	openssl genpkey -algorithm X25519 -out "$SCRATCH/recovery.key" 2> /dev/null
	openssl pkey -in "$SCRATCH/recovery.key" -pubout -out "$SCRATCH/recovery.pub"
	vm_nodeseal_self --tpm "$SCRATCH/tpm-a" --disk "$SCRATCH/disk.img" -- enrol
	vm_nodeseal_self --tpm "$SCRATCH/tpm-a" --disk "$SCRATCH/disk.img" -- reboot
	vm_nodeseal_self --tpm "$SCRATCH/tpm-b" --disk "$SCRATCH/disk.img" -- other-tpm
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
phase=${2:?phase}
mnt=$SCRATCH/mnt
[[ -c /dev/tpmrm0 ]] || fail "no /dev/tpmrm0 in the guest"
mkdir -p -m 0700 "$SCRATCH/node"
# tpm_config ACCEPT-PLAIN
tpm_config() {
	NS_CONFIG=$SCRATCH/nodeseal.json
	cat > "$NS_CONFIG" <<-JSON
	{ "node_name": "vm-node", "runtime_directory": "/run/nodeseal-test",
	  "secrets": { "directory": "$SCRATCH/secrets",
	               "wrapping": { "node_key": "tpm2", "tpm_tcti": "device:/dev/tpmrm0",
	                             "node_key_file": "$SCRATCH/node/node.key",
	                             "recovery_public_key": "$SCRATCH/recovery.pub", "accept_plain_keys": $1 } },
	  "volumes": [ { "name": "data", "device": "/dev/vda", "mountpoint": "$mnt" } ] }
	JSON
}
keys=$SCRATCH/secrets/nodeseal-keys-vm-node

case $phase in
enrol)
	tpm_config true
	ns_key data
	ns_ok enrol
	assert_contains "$out" "node key tpm2"
	ns_ok provision
	assert_contains "$out" "formatting"
	head -c 1M /dev/urandom > "$mnt/blob"
	sha256_of "$mnt/blob" > "$SCRATCH/blob.sum"
	ns_ok close
	ns_ok wrap-keys
	assert_contains "$out" "the plain key is removed"
	[[ ! -e $keys/data && -s $keys/data.wrapped ]] || fail "after wrap-keys: $(ls "$keys")"
	tpm_config false
	ns_ok provision
	assert_eq "$(cat "$SCRATCH/blob.sum")" "$(sha256_of "$mnt/blob")" "data opened with the wrapped key"
	ns_ok close
	;;
reboot)
	tpm_config false
	ns_ok provision
	ns_ok check
	assert_eq "$(cat "$SCRATCH/blob.sum")" "$(sha256_of "$mnt/blob")" "data after the reboot"
	ns_ok close
	;;
other-tpm)
	tpm_config false
	before=$(sha256_of /dev/vda)
	ns provision
	((rc != 0)) || fail "another TPM opened the volume"
	assert_contains "$out" "does not load on this TPM"
	assert_eq "$before" "$(sha256_of /dev/vda)" "the disk after the refusal"
	"$NODESEAL" recover-key --recovery-key "$SCRATCH/recovery.key" --output /run/data.key "$keys/data.wrapped" ||
		fail "recover-key"
	cryptsetup open --key-file /run/data.key /dev/vda recovered || fail "the recovered key does not open the disk"
	mkdir -p /run/recovered
	mount /dev/mapper/recovered /run/recovered
	assert_eq "$(cat "$SCRATCH/blob.sum")" "$(sha256_of /run/recovered/blob)" "data through the recovery key"
	umount /run/recovered
	cryptsetup close recovered
	;;
*) fail "unknown phase $phase" ;;
esac
log "ok ($phase)"
