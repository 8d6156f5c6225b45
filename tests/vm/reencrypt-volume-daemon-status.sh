#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# reencrypt-volume-daemon-status: the daemon re-encrypts a mounted volume that "<key>.reencrypt"
# asks for, slower than one attempt may take (1 MiB/s, attempts of 24 s: the worker stops at half
# of it), while its status file says how far it is: state, bytes done of total, rate, limit,
# started-at. It spans attempts without the daemon ever going degraded; the worker killed outright
# at 50 % (SIGKILL, its device stack left in place) leaves it "paused", never "running", and the
# next attempt resumes it online (the volume stays mounted throughout); a daemon killed outright
# (its worker stops with it) and started again shows it resumed, then done; "nodeseal
# status" prints it. The key rotated in the Secret while it runs: the rotation waits for its end,
# then goes on. Data written before and during reads back.
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
mnt=/srv/reencrypt map=/dev/mapper/nodeseal-data work=/var/lib/reencrypt-status
status=/run/nodeseal-test/status.json
mkdir -p "$work"
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$mnt\", \"header_backup\": \"$work/headers\",
             \"luks\": { \"reencrypt_mib_per_sec\": 1 } }" \
	'"daemon": { "recheck_sec": 2, "attempt_timeout_sec": 24 }, "retry": { "initial_sec": 4, "max_sec": 4, "jitter": 0 }'
ns_key data
ns_ok provision
head -c 4M /dev/urandom > "$mnt/before"
sum_before=$(sha256_of "$mnt/before")

# reencrypt_field FIELD: the volume's re-encryption FIELD in the status file ("" when none).
reencrypt_field() { jq -r ".volumes[0].reencrypt.$1 // empty" "$status" 2> /dev/null; }
state_is() { [[ $(reencrypt_field state) == "$1" ]]; }
daemon_start() {
	NODESEAL_TEST_KILL_AT=reencrypt-50 "$NODESEAL" --config "$NS_CONFIG" --log-format text run >> "$work/daemon.log" 2>&1 &
	daemon=$!
}
show_log() { sed 's/^/  | /' "$work/daemon.log" >&2; }

daemon_start
wait_for 60 grep -q "in place" "$work/daemon.log" || { show_log; fail "the daemon did not become ready"; }
head -c 64 /dev/urandom > "$(ns_key_file data.reencrypt)"

# Running: the status says so while the worker runs, with the numbers.
wait_for 60 state_is running || { show_log; fail "the status never said running: $(cat "$status")"; }
wait_for 10 eval '(($(reencrypt_field done_bytes) > 0))' || fail "no bytes done in the status: $(cat "$status")"
assert_eq $((48 << 20)) "$(reencrypt_field total_bytes)" "total_bytes"
assert_eq $((1 << 20)) "$(reencrypt_field limit_bytes_per_sec)" "limit_bytes_per_sec"
started=$(reencrypt_field started_at)
((started > 1700000000000000)) || fail "started_at is not a time: $started"
head -c 2M /dev/urandom > "$mnt/during"
sum_during=$(sha256_of "$mnt/during")

# Longer than an attempt: paused at the worker's budget, the next attempt resumes it at once, ready throughout.
wait_for 30 grep -q "paused at .* for this attempt" "$work/daemon.log" || { show_log; fail "the re-encryption did not span attempts"; }
wait_for 10 eval '[[ $(reencrypt_field resumed) == true ]] && state_is running' || fail "not resumed in the next attempt: $(cat "$status")"
assert_eq ready "$(jq -r .state "$status")" "the daemon's state while the re-encryption spans attempts"
assert_eq "$started" "$(reencrypt_field started_at)" "started_at after a resume"
grep -q "Degraded" "$work/daemon.log" && { show_log; fail "the daemon went degraded while the re-encryption spans attempts"; }

# The worker killed outright between two hotzones (the test seam, in the daemon's environment,
# fires in the worker that gets past 50 %): paused, not running; the next attempt resumes it
# online, the volume mounted throughout.
wait_for 120 grep -q "NODESEAL_TEST_KILL_AT: signal 9" "$work/daemon.log" || { show_log; fail "the worker was not killed at 50 %"; }
wait_for 3 state_is paused || fail "the status did not say paused after the worker was killed: $(cat "$status")"
wait_for 40 grep -q "resuming its re-encryption online" "$work/daemon.log" ||
	{ show_log; dmsetup info -c >&2; fail "no online resume after the worker was killed"; }
mounted_from "$mnt" "$map" || fail "the volume is no longer mounted"

# The daemon killed outright (its worker stops with it), started again: resumed, then done.
wait_for 20 state_is running || { show_log; fail "not running again: $(cat "$status")"; }
kill -KILL "$daemon"
wait "$daemon" || true
# Its worker stops between two hotzones and takes its helper mappings down.
no_helpers() { ! ls /dev/mapper | grep -- "nodeseal-data-overlay" >/dev/null; }
wait_for 30 no_helpers || { dmsetup info -c >&2; fail "the worker of the daemon killed outright left its helper mappings"; }
daemon_start
wait_for 60 eval '[[ $(reencrypt_field resumed) == true ]] && state_is running' || { show_log; fail "no resumed re-encryption after a restart: $(cat "$status")"; }

# The key rotated in the Secret meanwhile. LUKS2 takes no new key slot during a re-encryption: the
# rotation waits for its end (the previous key opens and resumes it), then goes on by itself.
mv "$(ns_key_file data)" "$(ns_key_file data.previous)"
ns_key data
wait_for 60 grep -q "the key rotation waits for the re-encryption under way" "$work/daemon.log" ||
	{ show_log; fail "the daemon did not say the rotation waits"; }
wait_for 120 state_is done || { show_log; fail "the re-encryption did not finish: $(cat "$status")"; }
wait_for 30 grep -q "removing the previous key's slot" "$work/daemon.log" ||
	{ show_log; fail "the rotation did not go on after the re-encryption's end"; }
cryptsetup open --test-passphrase --key-file "$(ns_key_file data)" /dev/vda || fail "the new key does not open the volume"
cryptsetup open --test-passphrase --key-file "$(ns_key_file data.previous)" /dev/vda 2> /dev/null &&
	fail "the previous key still opens the volume"
grep -q "Enrolling the new key .* failed" "$work/daemon.log" && { show_log; fail "the rotation was tried during the re-encryption"; }
assert_eq "$(reencrypt_field total_bytes)" "$(reencrypt_field done_bytes)" "done_bytes when done"
ns_ok status
assert_contains "$out" "re-encryption done"
kill "$daemon"
wait "$daemon" || true
show_log

cryptsetup luksDump /dev/vda | grep 'online-reencrypt' >/dev/null && fail "the re-encryption is still marked under way"
assert_eq "$sum_before" "$(sha256_of "$mnt/before")" "the file written before"
assert_eq "$sum_during" "$(sha256_of "$mnt/during")" "the file written during"
ns_ok close
ns_ok provision
assert_eq "$sum_during" "$(sha256_of "$mnt/during")" "the file written during, after a reopen"
ns_ok close
log "ok"
