#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision-flags-rotational-scsi: two virtio-scsi disks, one that QEMU reports as an SSD
# (rotation_rate=1) and one it reports as spinning. With the default "auto", the volume on the SSD
# is opened with no_read_workqueue and no_write_workqueue (in its LUKS2 header and in the live
# dm-crypt table), the other without. A config change reaches the header and the live mapping of
# a mounted volume (a table reload, no remount) and the data stays; a close and reopen keeps it.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	make_disk "$SCRATCH/ssd.img" 40
	make_disk "$SCRATCH/hdd.img" 48
	vm_nodeseal_self --scsi-disk "$SCRATCH/ssd.img,rotation_rate=1" --scsi-disk "$SCRATCH/hdd.img"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
modprobe virtio_scsi
modprobe sd_mod
# The disks by size (in 512-byte sectors), not by name: SCSI scanning order is not guaranteed.
disk_of_size() {
	local b
	for b in /sys/block/sd*; do
		[[ -e $b/size && $(< "$b/size") == "$1" ]] && { echo "/dev/${b##*/}"; return 0; }
	done
	return 1
}
wait_for 20 disk_of_size 81920 > /dev/null || fail "the 40 MiB SCSI disk did not appear"
wait_for 20 disk_of_size 98304 > /dev/null || fail "the 48 MiB SCSI disk did not appear"
ssd=$(disk_of_size 81920) hdd=$(disk_of_size 98304)
assert_eq 0 "$(< "/sys/block/${ssd#/dev/}/queue/rotational")" "rotational of the disk with rotation_rate=1"
assert_eq 1 "$(< "/sys/block/${hdd#/dev/}/queue/rotational")" "rotational of the disk without"

volumes() {
	ns_config "{ \"name\": \"fast\", \"device\": \"$ssd\", \"mountpoint\": \"$SCRATCH/fast\"${1:+, $1} },
	           { \"name\": \"slow\", \"device\": \"$hdd\", \"mountpoint\": \"$SCRATCH/slow\" }"
}
header_flags() { cryptsetup luksDump "$1" | awk -F: '/^Flags:/ { gsub(/^[ \t]+|[ \t]+$/, "", $2); print $2 }'; }
table_flags() { cryptsetup status "$1" | awk -F: '/^ *flags:/ { gsub(/^[ \t]+|[ \t]+$/, "", $2); print $2 }'; }

ns_key fast
ns_key slow
volumes
ns_ok provision
assert_eq "no-read-workqueue no-write-workqueue" "$(header_flags "$ssd")" "header flags on the SSD"
assert_eq "no_read_workqueue no_write_workqueue" "$(table_flags nodeseal-fast)" "live flags on the SSD"
assert_eq "(no flags)" "$(header_flags "$hdd")" "header flags on the spinning disk"
assert_eq "" "$(table_flags nodeseal-slow)" "live flags on the spinning disk"
mounted_from "$SCRATCH/fast" /dev/mapper/nodeseal-fast || fail "fast is not mounted"

head -c 2M /dev/urandom > "$SCRATCH/fast/data"
sum=$(sha256_of "$SCRATCH/fast/data")
ino=$(stat -c %i "$SCRATCH/fast/data")

# The config turns no_read_workqueue off and discards on: header and live mapping follow while
# the filesystem stays mounted.
volumes '"luks": { "no_read_workqueue": false, "allow_discards": true }'
ns_ok provision
assert_contains "$out" "nodeseal-fast reloaded with the flags allow_discards no_write_workqueue"
assert_eq "allow-discards no-write-workqueue" "$(header_flags "$ssd")" "header flags after the config change"
assert_eq "discards no_write_workqueue" "$(table_flags nodeseal-fast)" "live flags after the config change"
assert_eq "$sum" "$(sha256_of "$SCRATCH/fast/data")" "data after the reload"
assert_eq "$ino" "$(stat -c %i "$SCRATCH/fast/data")" "the same file (no remount)"
ns_ok provision
[[ $out != *reloaded* && $out != *"activation flags"* ]] || fail "a rerun changed the flags again: $out"

# Closed and opened again: the flags come from the header.
ns_ok close
ns_ok provision
assert_eq "discards no_write_workqueue" "$(table_flags nodeseal-fast)" "live flags after close and reopen"
assert_eq "$sum" "$(sha256_of "$SCRATCH/fast/data")" "data after close and reopen"
ns_ok close
log "ok"
