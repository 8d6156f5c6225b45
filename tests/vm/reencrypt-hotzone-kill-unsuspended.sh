#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# reencrypt-hotzone-kill-unsuspended: an online re-encryption killed (SIGKILL) inside a hotzone,
# where libcryptsetup keeps part of the device stack suspended and I/O to the volume waits, at each
# point of a hotzone (the crypt-fault preload). Before, the next provision waited on the suspended
# stack for ever (and the writer with it). Killed with the overlay suspended for its switch to the
# next hotzone, with the hotzone helper suspended too, or after the header recorded the hotzone as
# done: the next provision resumes the stack and goes on, the volume mounted, a writer writing.
# Killed after the overlay's switch and before the header recorded the hotzone's checksums, or
# while the hotzone's blocks were rewritten, the stack maps blocks under a key they are not (all)
# under: the provision refuses at once and says why, nothing resumed; after a power loss and a
# reboot (another guest on the same disk) it finishes. Every synced file reads back; the volume
# key of before each re-encryption opens nothing after it.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	make_disk "$SCRATCH/disk.img" 40
	vm_nodeseal_self --disk "$SCRATCH/disk.img" -- resumed
	vm_nodeseal_self --disk "$SCRATCH/disk.img" -- after-rewritten
	vm_nodeseal_self --disk "$SCRATCH/disk.img" -- after-switched
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
[[ ${1:-} == --guest ]] && shift
mnt=/srv/hotzone map=nodeseal-data work=$SCRATCH/work
mkdir -p "$work"
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$mnt\", \"header_backup\": \"$work/headers\",
             \"luks\": { \"reencrypt_mib_per_sec\": 64 } }"
key=$(ns_key_file data)
crypt_fault=$(dirname "$(dirname "$NODESEAL")")/tests/integration/crypt-fault.so
[[ -f $crypt_fault ]] || fail "no fault injector at $crypt_fault"

# The writer: a file every moment, synced, its sum recorded after (on the shared scratch directory,
# which outlives the guest), until told to stop.
writer() { vm_writer "$mnt" "$work" 128K 0.1; }
suspended() { dmsetup info -c --noheadings --separator ' ' -o name,attr 2> /dev/null | awk -v m="$map-" 'index($1, m) == 1 && $2 ~ /s/ { print $1 }'; }
# killed_in POINT: a provision (what the daemon's worker runs) killed in its third hotzone at POINT.
killed_in() {
	local rc=0
	NODESEAL_FAULT_KILL_IN_HOTZONE=3 NODESEAL_FAULT_HOTZONE_POINT=$1 LD_PRELOAD=$crypt_fault \
		timeout -s KILL 120 "$NODESEAL" --config "$NS_CONFIG" --log-format text provision > "$work/$1.log" 2>&1 || rc=$?
	sed 's/^/  | /' "$work/$1.log" >&2
	assert_eq 137 "$rc" "exit status of a provision killed in a hotzone ($1)"
	[[ -n $(suspended) ]] || fail "nothing of the device stack is suspended after the kill at $1"
	log "[${SECONDS}s] killed at $1: suspended: $(suspended | tr '\n' ' ')"
	cryptsetup luksDump /dev/vda | grep 'online-reencrypt' >/dev/null || fail "no re-encryption under way after the kill at $1"
}

# refused_then_power_loss POINT WHY: a new request killed at POINT; the next provision refuses at
# once saying WHY and resumes nothing; the guest then ends without a sync (a power loss).
refused_then_power_loss() {
	local rc=0 start=$SECONDS
	cryptsetup luksDump --dump-volume-key --volume-key-file "$work/before-$1.vk" --batch-mode --key-file "$key" /dev/vda > /dev/null
	head -c 64 /dev/urandom > "$(ns_key_file data.reencrypt)"
	writer &
	killed_in "$1"
	out=$(timeout -s KILL 60 "$NODESEAL" --config "$NS_CONFIG" --log-format text provision 2>&1) || rc=$?
	echo "$out" | sed 's/^/  | /' >&2
	((rc != 0 && rc != 137)) || fail "provision after the kill at $1: exit status $rc"
	((SECONDS - start < 50)) || fail "the refusal took $((SECONDS - start)) s"
	assert_contains "$out" "$2"
	assert_contains "$out" "close the volume and open it again (a reboot)"
	[[ -n $(suspended) ]] || fail "the stack was resumed after the kill at $1"
	log "[${SECONDS}s] a power loss with $(suspended | tr '\n' ' ')suspended"
	vm_power_loss
}
# finished_after_reboot VK: the provision of the next boot finishes the re-encryption.
finished_after_reboot() {
	ns_ok provision
	echo "$out" | sed 's/^/  | /' >&2
	assert_contains "$out" "re-encrypted under a new volume key"
	cryptsetup luksDump /dev/vda | grep 'online-reencrypt' >/dev/null && fail "the re-encryption is still under way after the reboot"
	cryptsetup open --test-passphrase --volume-key-file "$1" /dev/vda 2> /dev/null && fail "the volume key of before still opens the device"
	cryptsetup open --test-passphrase --key-file "$key" /dev/vda || fail "the key does not open the device"
	assert_eq "$(cat "$work/before.sum")" "$(sha256_of "$mnt/before")" "the file written before"
	# Files whose sums are recorded were synced first; the last may have been cut by the power loss.
	(cd "$mnt" && head -n -1 "$work/sums" | sha256sum --quiet -c) || fail "a synced file does not read back after the reboot"
	log "writer files: $(wc -l < "$work/sums"), every synced one reads back"
}

case $1 in
resumed)
	ns_key data
	ns_ok provision
	head -c 4M /dev/urandom > "$mnt/before"
	sync "$mnt/before"
	sha256_of "$mnt/before" > "$work/before.sum"
	cryptsetup luksDump --dump-volume-key --volume-key-file "$work/old.vk" --batch-mode --key-file "$key" /dev/vda > /dev/null
	writer &
	writer_pid=$!
	head -c 64 /dev/urandom > "$(ns_key_file data.reencrypt)"

	# Each provision first resumes what the kill before left, then is killed itself.
	killed_in overlay-suspended
	killed_in suspended
	assert_contains "$(cat "$work/suspended.log")" "killed while it switched to its next hotzone"
	killed_in recorded
	assert_contains "$(cat "$work/recorded.log")" "killed while it switched to its next hotzone"
	out=$(timeout -s KILL 120 "$NODESEAL" --config "$NS_CONFIG" --log-format text provision 2>&1) || fail "provision after the kills: $out"
	echo "$out" | sed 's/^/  | /' >&2
	assert_contains "$out" "records as done: resuming the suspended helper mapping"
	assert_contains "$out" "re-encrypted under a new volume key"
	[[ -z $(suspended) ]] || fail "still suspended: $(suspended)"
	mounted_from "$mnt" "/dev/mapper/$map" || fail "the volume is no longer mounted"
	cryptsetup open --test-passphrase --volume-key-file "$work/old.vk" /dev/vda 2> /dev/null && fail "the old volume key still opens the device"
	sleep 1
	touch "$work/stop"
	wait "$writer_pid"
	rm "$work/stop"
	n=$(wc -l < "$work/sums")
	((n > 10)) || fail "the writer wrote only $n files while the stack was suspended and resumed"
	(cd "$mnt" && sha256sum --quiet -c "$work/sums") || fail "a file written during the re-encryption does not read back"
	log "[${SECONDS}s] writer files: $n, all read back"

	refused_then_power_loss rewritten "killed while it rewrote a hotzone"
	;;
after-rewritten)
	finished_after_reboot "$work/before-rewritten.vk"
	refused_then_power_loss switched "before recording it"
	;;
after-switched)
	finished_after_reboot "$work/before-switched.vk"
	ns_ok close
	;;
esac
log "ok"
