#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision-link-repointed-activate-pinned: the cause of the chaos soak's non-converging mapping
# (seed 3861047948 showed it). The configured device path is a symlink; nodeseal formats the disk
# it names, and the link is re-pointed at a disk that holds a filesystem right before the mapping is
# made (NODESEAL_TEST_PAUSE_AT=before-activate). The mapping must be made on the disk that was
# judged and formatted, by its handle: not on whatever the path names by then (the old code mapped
# the new header over the other disk, "active but not a LUKS mapping" for good, the mkfs it still
# owed one step away). The other disk is never written; with the link back, check passes.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	make_disk "$SCRATCH/data.img" 64
	make_disk "$SCRATCH/other.img" 64
	mkfs.ext4 -q -F "$SCRATCH/other.img"
	vm_nodeseal_self --disk "$SCRATCH/data.img" --disk "$SCRATCH/other.img"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
[[ ${1:-} == --guest ]] && shift
w=/run/link-test
mkdir -p -m 0700 "$w"
ln -s /dev/vda "$w/data-device"
repoint() { ln -s "$1" "$w/data-device.new" && mv -T "$w/data-device.new" "$w/data-device"; }
ns_key data
ns_config "{ \"name\": \"data\", \"device\": \"$w/data-device\", \"mountpoint\": \"$SCRATCH/data\" }"
other_before=$(sha256_of /dev/vdb)

NODESEAL_TEST_PAUSE_AT=before-activate "$NODESEAL" --config "$NS_CONFIG" --log-format text provision \
	> "$w/paused.log" 2>&1 &
pid=$!
wait_for 60 grep -q '^State:.*T' "/proc/$pid/status" || fail "provision did not stop before activating: $(cat "$w/paused.log")"
uuid=$(cryptsetup luksUUID /dev/vda)
repoint /dev/vdb
kill -CONT "$pid"
rc=0
wait "$pid" || rc=$?
sed 's/^/  | /' "$w/paused.log" >&2

backing=$( (cryptsetup status nodeseal-data || true) | awk '$1 == "device:" { print $2 }')
assert_eq /dev/vda "$backing" "the device under nodeseal-data"
assert_eq "$other_before" "$(sha256_of /dev/vdb)" "the other disk"
assert_eq "$uuid" "$(cryptsetup luksUUID /dev/vda)" "the LUKS UUID of the formatted disk"
((rc == 0)) || fail "provision exited $rc"

repoint /dev/vda
ns_ok check
ns_ok provision

# The state the old code left, made with cryptsetup (the header from a file, the other disk under
# it): check and provision name it and touch nothing; the other disk is never written.
ns_ok close
cryptsetup luksHeaderBackup /dev/vda --header-backup-file "$w/hdr"
cryptsetup open --header "$w/hdr" --key-file "$(ns_key_file data)" /dev/vdb nodeseal-data
for verb in check provision; do
	ns "$verb"
	((rc != 0)) || fail "$verb passed with the mapping over the other disk"
	assert_contains "$out" "nodeseal-data is mapped with LUKS ${uuid//-/} over /dev/vdb, which carries no LUKS2 header: a mapping over the wrong disk"
done
cryptsetup close nodeseal-data
assert_eq "$other_before" "$(sha256_of /dev/vdb)" "the other disk at the end"
ns_ok provision
log "ok"
