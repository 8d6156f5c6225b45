#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# close-volume-busy-refused: close refuses while a process uses the mount, naming it, and leaves
# the volume mounted and open; once the process is gone close unmounts and closes; a second close
# is a no-op.
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
ns_ok provision

(cd "$mnt" && exec sleep 300) &
holder=$!
sleep 0.5
ns close
assert_eq 1 "$rc" "close while busy"
assert_contains "$out" "$mnt is busy: in use by pid $holder (sleep)"
mounted_from "$mnt" /dev/mapper/nodeseal-data || fail "the busy mount was unmounted"
ns_ok check

# An open file counts too.
kill "$holder"
wait "$holder" 2> /dev/null || true
sleep 300 > "$mnt/held-open" &
holder=$!
sleep 0.5
ns close
assert_eq 1 "$rc" "close while a file is open"
assert_contains "$out" "pid $holder (sleep)"
kill "$holder"
wait "$holder" 2> /dev/null || true

ns_ok close
[[ ! -e /dev/mapper/nodeseal-data ]] || fail "mapper still there"
ns_ok close
log "ok"
