#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision-kill-each-step-converges: nodeseal SIGKILLed right after each step of provisioning
# (header written, key slot added, opened, mkfs, mounted, new key enrolled in a rotation) and run
# again finishes the job, with the data written before still there.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

steps=(format keyslot activate mkfs mount)
if ! in_guest; then
	vm_require
	scratch_dir
	opts=()
	for s in "${steps[@]}"; do
		make_disk "$SCRATCH/$s.img" 64
		opts+=(--disk "$SCRATCH/$s.img")
	done
	vm_nodeseal_self "${opts[@]}"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
killed() {
	rc=0
	NODESEAL_TEST_KILL_AT=$1 "$NODESEAL" --config "$NS_CONFIG" --log-format text provision > "$SCRATCH/killed.log" 2>&1 || rc=$?
	sed 's/^/  | /' "$SCRATCH/killed.log" >&2
	assert_eq 137 "$rc" "provision killed at $1 (128 + SIGKILL)"
	grep -q "NODESEAL_TEST_KILL_AT=$1" "$SCRATCH/killed.log" || fail "the kill point $1 was not reached"
}

i=0
for s in "${steps[@]}"; do
	dev=/dev/vd$(printf "\\x$(printf %x $((97 + i)))")
	i=$((i + 1))
	mnt=$SCRATCH/mnt-$s
	ns_key "k$s"
	ns_config "{ \"name\": \"v$s\", \"key\": \"k$s\", \"device\": \"$dev\", \"mountpoint\": \"$mnt\", \"mode\": \"0711\" }"
	killed "$s"
	ns_ok provision
	ns_ok check
	assert_eq 711 "$(stat -c %a "$mnt")" "mode after the rerun ($s)"
	echo "data-$s" > "$mnt/file"
	ns_ok close
done

# With data on the volume: killed after opening, and after mounting, on a later boot.
for s in activate mount; do
	ns_config "{ \"name\": \"vmkfs\", \"key\": \"kmkfs\", \"device\": \"/dev/vdd\", \"mountpoint\": \"$SCRATCH/mnt-mkfs\" }"
	killed "$s"
	ns_ok provision
	[[ $out != *"making an"* ]] || fail "mkfs ran again after a kill at $s: $out"
	assert_eq data-mkfs "$(cat "$SCRATCH/mnt-mkfs/file")" "data after a kill at $s and a rerun"
	ns_ok close
done

# A rotation killed after the new key was enrolled, before the old slot was removed.
ns_config "{ \"name\": \"vmount\", \"key\": \"kmount\", \"device\": \"/dev/vde\", \"mountpoint\": \"$SCRATCH/mnt-mount\" }"
mv "$(ns_key_file kmount)" "$(ns_key_file kmount.previous)"
ns_key kmount
killed rotate-add
assert_eq 2 "$(cryptsetup luksDump /dev/vde | grep -c ': luks2$')" "key slots after the kill (old + new)"
ns_ok provision
assert_eq 1 "$(cryptsetup luksDump /dev/vde | grep -c ': luks2$')" "key slots after the rerun"
assert_eq data-mount "$(cat "$SCRATCH/mnt-mount/file")" "data after the rotation"
ns_ok close
cryptsetup open --test-passphrase --key-file "$(ns_key_file kmount)" /dev/vde || fail "the new key does not open"
! cryptsetup open --test-passphrase --key-file "$(ns_key_file kmount.previous)" /dev/vde 2> /dev/null ||
	fail "the old key still opens after the rotation"
log "ok"
