#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision-mapping-header-torn-repaired: the non-converging state of the chaos soak (README, "The
# chaos soak"), made directly: a volume open and mounted, and its LUKS2 header's primary copy torn
# under the mapping as a kill in the middle of a metadata write leaves it (the header without its
# checksum), with a signature libblkid reads in the torn bytes, so that libcryptsetup refuses to
# recover it and gives the active mapping no type. nodeseal check says which copy is torn and what
# rewrites it, writing nothing; provision rewrites it from the whole copy (the mapping's UUID), and
# the volume, its data and its UUID are as they were.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	make_disk "$SCRATCH/data.img" 64
	vm_nodeseal_self --disk "$SCRATCH/data.img"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
[[ ${1:-} == --guest ]] && shift
sum_head() { head -c 16M /dev/vda | sha256sum | cut -d' ' -f1; }
ns_key data
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$SCRATCH/data\" }"
ns_ok provision
head -c 1M /dev/urandom > "$SCRATCH/data/payload"
sum=$(sha256_of "$SCRATCH/data/payload")
sync
uuid=$(cryptsetup luksUUID /dev/vda)

# The primary copy torn (checksum zeroed), a swap signature (version 1, one page) in its padding.
dd if=/dev/zero of=/dev/vda bs=1 seek=448 count=64 conv=notrunc,fsync status=none
printf '\001\000\000\000\377\000\000\000' | dd of=/dev/vda bs=1 seek=1024 conv=notrunc,fsync status=none
printf 'SWAPSPACE2' | dd of=/dev/vda bs=1 seek=4086 conv=notrunc,fsync status=none
out=$(cryptsetup luksDump /dev/vda 2>&1) && fail "cryptsetup loads the torn header: $out"
assert_contains "$out" "ambiguous signatures"
before=$(sum_head)

ns check
((rc != 0)) || fail "check passed with the header torn"
assert_contains "$out" "nodeseal-data is active (LUKS ${uuid//-/}) but its header does not load"
assert_contains "$out" "The primary LUKS2 header copy on /dev/vda (UUID $uuid) is torn"
assert_contains "$out" "nodeseal provision (or the daemon's next attempt) rewrites it"
assert_eq "$before" "$(sum_head)" "the header area after check"

ns_ok provision
assert_contains "$out" "rewriting it from the secondary copy"
cryptsetup luksDump /dev/vda > /dev/null 2>&1 || fail "the header does not load after provision"
assert_eq "$uuid" "$(cryptsetup luksUUID /dev/vda)" "the LUKS UUID after the repair"
ns_ok check
assert_eq "$sum" "$(sha256_of "$SCRATCH/data/payload")" "the payload after the repair"
ns_ok provision
[[ $out != *rewriting* ]] || fail "a second provision repaired again: $out"
log "ok"
