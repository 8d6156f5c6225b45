#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# grow-volume-online-daemon: a volume on a loop device whose backing file grows (extended, then
# losetup -c, as a resized cloud disk appears to the kernel). The running daemon's re-check
# notices it and grows the mapping (crypt_resize) and then the mounted ext4 (resize2fs, online);
# data written before reads back, the new space takes data. A provision killed right after the
# mapping grew (NODESEAL_TEST_KILL_AT=grow-mapping) leaves the filesystem small; the next
# provision grows it.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	vm_nodeseal_self --mem 1536
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
[[ ${1:-} == --guest ]] && shift
mkdir -p /var/lib/grow-test
img=/var/lib/grow-test/disk.img mnt=/srv/grow map=/dev/mapper/nodeseal-grow
truncate -s 64M "$img"
loop=$(losetup -f --show "$img")
# xfs: mkfs.xfs wants at least 300 MiB (the image is sparse); df counts its 64 MiB log out.
ximg=/var/lib/grow-test/xfs.img xmnt=/srv/growx
truncate -s 320M "$ximg"
xloop=$(losetup -f --show "$ximg")
modprobe xfs || fail "the xfs module does not load"
ns_config "{ \"name\": \"grow\", \"device\": \"$loop\", \"mountpoint\": \"$mnt\", \"header_backup\": \"/var/lib/grow-test/headers\" },
           { \"name\": \"growx\", \"device\": \"$xloop\", \"mountpoint\": \"$xmnt\", \"filesystem\": \"xfs\",
             \"header_backup\": \"/var/lib/grow-test/headers\" }" \
	'"daemon": { "recheck_sec": 1 }'
ns_key grow
ns_key growx
ns_ok provision
fs_mib() { df -BM --output=size "${1:-$mnt}" | tail -n1 | tr -dc 0-9; }
small=$(fs_mib)
xsmall=$(fs_mib "$xmnt")
head -c 8M /dev/urandom > "$mnt/before"
sum=$(sha256_of "$mnt/before")
head -c 8M /dev/urandom > "$xmnt/before"
xsum=$(sha256_of "$xmnt/before")

log=/var/lib/grow-test/daemon.log
"$NODESEAL" --config "$NS_CONFIG" --log-format text run > "$log" 2>&1 &
daemon=$!
wait_for 30 grep -q "in place" "$log" || { cat "$log" >&2; fail "the daemon did not become ready"; }

truncate -s 160M "$img"
losetup -c "$loop"
truncate -s 480M "$ximg"
losetup -c "$xloop"
grown() { (($(fs_mib) > 120)) && (($(fs_mib "$xmnt") > 380)); }
wait_for 90 grown || { cat "$log" >&2; fail "the filesystems did not grow (ext4 $(fs_mib) MiB of $small, xfs $(fs_mib "$xmnt") of $xsmall)"; }
kill "$daemon"
wait "$daemon" || true
sed 's/^/  | /' "$log" >&2
assert_contains "$(cat "$log")" "grew; growing nodeseal-grow from"
assert_contains "$(cat "$log")" "growing its ext4 filesystem"
assert_contains "$(cat "$log")" "grew; growing nodeseal-growx from"
assert_contains "$(cat "$log")" "Volume growx: growing its xfs filesystem"
# Once: a mounted xfs's size is its own, not an older superblock the device still reads.
assert_eq 1 "$(grep -c 'Volume growx: growing its xfs filesystem' "$log")" "xfs grows in the daemon's passes"
assert_eq "$sum" "$(sha256_of "$mnt/before")" "data written before the grow"
assert_eq "$xsum" "$(sha256_of "$xmnt/before")" "data on xfs written before the grow"
mounted_from "$mnt" "$map" || fail "no longer mounted from $map"
mounted_from "$xmnt" /dev/mapper/nodeseal-growx || fail "xfs no longer mounted from its mapping"
head -c 90M /dev/urandom > "$mnt/after" || fail "the new space does not take 90 MiB"
head -c 120M /dev/urandom > "$xmnt/after" || fail "the new space of xfs does not take 120 MiB"
sync
sum_after=$(sha256_of "$mnt/after")
xsum_after=$(sha256_of "$xmnt/after")

# Killed between the mapping and the filesystem: the next provision finishes.
truncate -s 256M "$img"
losetup -c "$loop"
rc=0
NODESEAL_TEST_KILL_AT=grow-mapping "$NODESEAL" --config "$NS_CONFIG" --log-format text provision > /dev/null 2>&1 || rc=$?
assert_eq 137 "$rc" "exit status of the provision killed after the mapping grew"
(($(blockdev --getsize64 "$map") > 200 << 20)) || fail "the mapping did not grow before the kill"
(($(fs_mib) < 200)) || fail "the filesystem grew before the kill"
ns_ok provision
assert_contains "$out" "growing its ext4 filesystem"
(($(fs_mib) > 200)) || fail "the filesystem did not grow after the rerun ($(fs_mib) MiB)"
ns_ok provision
[[ $out != *growing* ]] || fail "a rerun grew again: $out"
assert_eq "$sum" "$(sha256_of "$mnt/before")" "data after both grows"
assert_eq "$sum_after" "$(sha256_of "$mnt/after")" "data in the grown space"
assert_eq "$xsum" "$(sha256_of "$xmnt/before")" "data on xfs after both grows"
assert_eq "$xsum_after" "$(sha256_of "$xmnt/after")" "data in the grown space of xfs"
ns_ok check
ns_ok close
losetup -d "$loop"
losetup -d "$xloop"
log "ok"
