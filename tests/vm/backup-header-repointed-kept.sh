#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# backup-header-repointed-kept: the header backup follows the disk the open mapping sits on, never
# the configured path. A volume is configured through a symlink (as /dev/disk/by-* links are) to
# the first disk and opened; a second disk carries another LUKS2 header (another UUID). The
# symlink is re-pointed at the second disk while a provision is stopped just before its header
# backup (NODESEAL_TEST_PAUSE_AT=header-backup), and the backup still holds this volume's UUID and
# header. A header change made then (a flag) is backed up from the mapping's disk too. A header
# on the mapping's disk whose UUID is no longer the one the mapping was made from (changed under
# the open volume) never becomes the backup (the pass refuses the mapping before it gets there).
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	make_disk "$SCRATCH/data.img" 64
	make_disk "$SCRATCH/other.img" 64
	vm_nodeseal_self --disk "$SCRATCH/data.img" --disk "$SCRATCH/other.img"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
[[ ${1:-} == --guest ]] && shift
headers=/var/lib/nodeseal-test/headers backup=/var/lib/nodeseal-test/headers/data.luks-header
link=/run/nodeseal-link/data
mkdir -p /run/nodeseal-link
ln -sfn /dev/vda "$link"
ns_config "{ \"name\": \"data\", \"device\": \"$link\", \"mountpoint\": \"$SCRATCH/data\", \"header_backup\": \"$headers\" }"
ns_key data
ns_ok provision
uuid=$(cryptsetup luksUUID /dev/vda)
assert_eq "$uuid" "$(cryptsetup luksUUID "$backup")" "UUID of the first backup"
head -c 1M /dev/urandom > "$SCRATCH/data/payload"
sum=$(sha256_of "$SCRATCH/data/payload")

# Another LUKS2 disk, as a re-pointed by-id link or a reused name would show.
head -c 64 /dev/urandom > /run/other.key
cryptsetup luksFormat --type luks2 --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file /run/other.key /dev/vdb
other=$(cryptsetup luksUUID /dev/vdb)
[[ $other != "$uuid" ]] || fail "the two disks have one UUID"

# provision_repointed [ARGS]: a provision stopped before its header backup; the link re-pointed
# at the other disk meanwhile, then put back once it finished.
provision_repointed() {
	local pid log=/run/repointed.log
	NODESEAL_TEST_PAUSE_AT=header-backup "$NODESEAL" --config "$NS_CONFIG" --log-format text provision > "$log" 2>&1 &
	pid=$!
	stopped() { [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) == T ]]; }
	wait_for 60 stopped || { cat "$log" >&2; fail "provision did not stop at the header backup"; }
	ln -sfn /dev/vdb "$link"
	kill -CONT "$pid"
	rc=0
	wait "$pid" || rc=$?
	out=$(cat "$log")
	sed 's/^/  | /' "$log" >&2
	ln -sfn /dev/vda "$link"
}

provision_repointed
assert_eq "$uuid" "$(cryptsetup luksUUID "$backup")" "UUID of the backup after a provision with the link re-pointed"
cmp -s <(head -c 16M /dev/vda) <(head -c 16M "$backup") || fail "the backup is not the header of the volume's disk"
[[ $out != *"$other"* ]] || fail "provision read the other disk's header: $out"

# A header change in that pass (allow_discards) is backed up from the mapping's disk.
seq_before=$(cryptsetup luksDump "$backup" | awk '/^Epoch:/ { print $2 }')
ns_config "{ \"name\": \"data\", \"device\": \"$link\", \"mountpoint\": \"$SCRATCH/data\", \"header_backup\": \"$headers\",
             \"luks\": { \"allow_discards\": true } }"
provision_repointed
assert_eq "$uuid" "$(cryptsetup luksUUID "$backup")" "UUID of the backup after a header change with the link re-pointed"
cryptsetup luksDump "$backup" | grep allow-discards >/dev/null || fail "the backup lacks the new flag: $(cryptsetup luksDump "$backup")"
(($(cryptsetup luksDump "$backup" | awk '/^Epoch:/ { print $2 }') > seq_before)) || fail "the backup was not refreshed"
assert_eq "$other" "$(cryptsetup luksUUID /dev/vdb)" "UUID of the other disk"

# The UUID of the header under the open mapping changed: not the mapping's header any more.
before=$(sha256_of "$backup")
cryptsetup luksUUID --batch-mode --uuid 0badc0de-0000-4000-8000-000000000001 /dev/vda
ns provision
((rc != 0)) || fail "provision accepted a mapping whose header has another UUID"
assert_eq "$before" "$(sha256_of "$backup")" "the backup after a header of another UUID"
cryptsetup luksUUID --batch-mode --uuid "$uuid" /dev/vda

ns_ok provision
assert_eq "$sum" "$(sha256_of "$SCRATCH/data/payload")" "data"
ns_ok close
log "ok"
