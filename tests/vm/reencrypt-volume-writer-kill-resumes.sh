#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# reencrypt-volume-writer-kill-resumes: a mounted volume is re-encrypted under a new volume key
# while a writer keeps writing to it. "<key>.reencrypt" in the Secret requests it; nodeseal
# reencrypt is killed (SIGKILL) after adding the new key slot and after writing the reencryption
# metadata, stopped (SIGTERM, as systemd or the daemon's deadline stop it) at 40 % of the data, and
# a provision (what the daemon runs when the Secret changes) that resumes it is killed (SIGKILL) at
# 55 %, its device stack (the -overlay and -hotzone helper mappings) left in place with the volume
# mounted and the writer writing: the next provision, with nothing closed, resumes it online and is
# killed again at 70 %; closed and opened again (as after a power loss and a reboot), the next
# provision finishes it. Every file written before, during and after reads back intact; the old
# volume key no longer opens the device; the same request is never run twice. Then two more
# requests, each killed between libcryptsetup's last two header writes (a header no key opens):
# completed by the next provision, open and mounted, and closed first.
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
[[ ${1:-} == --guest ]] && shift
mnt=/srv/reencrypt map=nodeseal-data work=/var/lib/reencrypt-test
mkdir -p "$work"
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$mnt\", \"header_backup\": \"$work/headers\",
             \"luks\": { \"reencrypt_mib_per_sec\": 32 } }"
ns_key data
key=$(ns_key_file data)
ns_ok provision
head -c 6M /dev/urandom > "$mnt/before"
sum_before=$(sha256_of "$mnt/before")
cryptsetup luksDump --dump-volume-key --volume-key-file "$work/old.vk" --batch-mode --key-file "$key" /dev/vda > /dev/null

# The writer: a file every moment, its sum beside it, synced, until told to stop.
writer() { vm_writer "$mnt" "$work" 256K 0.2; }
writer &
writer_pid=$!

head -c 64 /dev/urandom > "$(ns_key_file data.reencrypt)"
killed_at() {
	local rc=0
	NODESEAL_TEST_KILL_AT=$1 "$NODESEAL" --config "$NS_CONFIG" --log-format text "${@:3}" > "$work/$1.log" 2>&1 || rc=$?
	sed 's/^/  | /' "$work/$1.log" >&2
	assert_eq "$2" "$rc" "exit status of ${*:3} killed at $1"
}
killed_at reencrypt-slot 137 reencrypt data
killed_at reencrypt-init 137 reencrypt data
cryptsetup luksDump /dev/vda | grep 'online-reencrypt' >/dev/null || fail "no re-encryption under way after the kill at reencrypt-init"
killed_at reencrypt-term-40 143 reencrypt data
assert_contains "$(cat "$work/reencrypt-term-40.log")" "re-encryption stopped by a signal"
mounted_from "$mnt" "/dev/mapper/$map" || fail "the volume is no longer mounted after the kills"
killed_at reencrypt-55 137 provision
ls /dev/mapper/ | grep -- "$map-overlay" >/dev/null || fail "no helper mapping left in place by the kill at 55 %"
# The next start of nodeseal, with the mapping still active and mounted: it resumes online.
killed_at reencrypt-70 137 provision
assert_contains "$(cat "$work/reencrypt-70.log")" "resuming its re-encryption online"
mounted_from "$mnt" "/dev/mapper/$map" || fail "the volume is no longer mounted after the online resume"
cryptsetup luksDump /dev/vda | grep 'online-reencrypt' >/dev/null || fail "no re-encryption under way after the kill at 70 %"

# As after a power loss: the writer stops, the volume is closed and opened again.
touch "$work/stop"
wait "$writer_pid"
ns_ok close
rm "$work/stop"
ns_ok provision
assert_contains "$out" "re-encrypted under a new volume key"
writer &
writer_pid=$!
cryptsetup luksDump /dev/vda | grep 'online-reencrypt' >/dev/null && fail "the re-encryption is still marked under way"
ns_ok provision
[[ $out != *re-encrypt* ]] || fail "the same request was carried out again: $out"
ns_ok reencrypt data
assert_contains "$out" "already carried out"

sleep 1
touch "$work/stop"
wait "$writer_pid"
n=$(wc -l < "$work/sums")
((n > 5)) || fail "the writer wrote only $n files"
(cd "$mnt" && sha256sum --quiet -c "$work/sums") || fail "a file written during the re-encryption does not read back"
assert_eq "$sum_before" "$(sha256_of "$mnt/before")" "the file written before"
head -c 2M /dev/urandom > "$mnt/after"
sum_after=$(sha256_of "$mnt/after")
ns_ok close

# The old volume key no longer opens the device; the key from the Secret does, with the new one.
cryptsetup open --volume-key-file "$work/old.vk" /dev/vda oldkey 2> "$work/old.err" && fail "the old volume key still opens the device"
log "old volume key refused: $(cat "$work/old.err")"
cryptsetup luksDump --dump-volume-key --volume-key-file "$work/new.vk" --batch-mode --key-file "$key" /dev/vda > /dev/null
cmp -s "$work/old.vk" "$work/new.vk" && fail "the volume key did not change"
ns_ok provision
assert_eq "$sum_before" "$(sha256_of "$mnt/before")" "the file written before, after a reopen"
assert_eq "$sum_after" "$(sha256_of "$mnt/after")" "the file written after, after a reopen"
(cd "$mnt" && sha256sum --quiet -c "$work/sums") || fail "a file written during does not read back after a reopen"

# Killed between libcryptsetup's last two header writes (the old volume key's slot destroyed, the
# re-encryption record not yet dropped: a header no key opens, every block under the new key),
# by the crypt-fault preload, twice: the next provision completes it with the volume still open
# and mounted and the writer writing; then with the volume closed before it (a power loss).
crypt_fault=$(dirname "$(dirname "$NODESEAL")")/tests/integration/crypt-fault.so
[[ -f $crypt_fault ]] || fail "no fault injector at $crypt_fault"
window_kill() {
	local rc=0
	cryptsetup luksDump --dump-volume-key --volume-key-file "$work/$1.vk" --batch-mode --key-file "$key" /dev/vda > /dev/null
	head -c 64 /dev/urandom > "$(ns_key_file data.reencrypt)"
	NODESEAL_FAULT_KILL_AFTER_DESTROY=1 LD_PRELOAD=$crypt_fault "$NODESEAL" --config "$NS_CONFIG" --log-format text provision \
		> "$work/$1.log" 2>&1 || rc=$?
	sed 's/^/  | /' "$work/$1.log" >&2
	assert_eq 137 "$rc" "exit status of a provision killed in the last header writes"
	cryptsetup open --test-passphrase --key-file "$key" /dev/vda 2> /dev/null && fail "the key still opens the header: the kill missed the window"
	cryptsetup luksDump /dev/vda | grep 'online-reencrypt' >/dev/null || fail "no re-encryption record after the kill"
	mounted_from "$mnt" "/dev/mapper/$map" || fail "the volume is no longer mounted after the kill"
}
completed() {
	assert_contains "$out" "was stopped while libcryptsetup removed its metadata"
	assert_contains "$out" "re-encrypted under a new volume key"
	cryptsetup luksDump /dev/vda | grep 'online-reencrypt' >/dev/null && fail "the re-encryption record is still there"
	cryptsetup open --test-passphrase --key-file "$key" /dev/vda || fail "the key does not open the completed header"
	cryptsetup open --test-passphrase --volume-key-file "$work/$1.vk" /dev/vda 2> /dev/null && fail "the volume key from before $1 still opens the device"
	mounted_from "$mnt" "/dev/mapper/$map" || fail "the volume is not mounted after $1 was completed"
	return 0
}
writer &
writer_pid=$!
window_kill window-online
ns_ok provision
completed window-online
window_kill window-closed
touch "$work/stop"
wait "$writer_pid"
ns_ok close
ns_ok provision
completed window-closed
n=$(wc -l < "$work/sums")
(cd "$mnt" && sha256sum --quiet -c "$work/sums") || fail "a file written during the last two re-encryptions does not read back"
assert_eq "$sum_before" "$(sha256_of "$mnt/before")" "the file written before, after three re-encryptions"
assert_eq "$sum_after" "$(sha256_of "$mnt/after")" "the file written after the first, after three"
log "writer files: $n, all read back"
ns_ok close
log "ok"
