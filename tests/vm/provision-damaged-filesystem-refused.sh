#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision-damaged-filesystem-refused: a volume whose ext4 lost its primary superblock (one torn
# 4 KiB block at power loss) shows libblkid nothing on its mapper. nodeseal runs mkfs only while
# its own first format says the filesystem step is pending, so this volume is refused, its mapper
# left byte for byte as it was, with the way to repair it; e2fsck from the backup superblock
# repairs it, and the next provision mounts it with the data. (xfs takes the same path; a 300 MiB
# minimum makes it too slow to add under TCG.)
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	# 150 MiB: room for a second block group of 4 KiB blocks, whose backup superblock e2fsck uses.
	make_disk "$SCRATCH/ext4.img" 150
	vm_nodeseal_self --disk "$SCRATCH/ext4.img"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
for fs in ext4; do
	dev=/dev/vda
	[[ $fs == xfs ]] && dev=/dev/vdb
	mnt=$SCRATCH/mnt-$fs
	mapper=/dev/mapper/nodeseal-$fs
	ns_key "$fs"
	ns_config "{ \"name\": \"$fs\", \"device\": \"$dev\", \"mountpoint\": \"$mnt\", \"filesystem\": \"$fs\" }"
	ns_ok provision
	[[ $(cryptsetup luksDump "$dev") != *nodeseal-mkfs-pending* ]] || fail "$fs: the mkfs-pending mark stayed after mkfs"
	echo "precious-$fs" > "$mnt/file"
	ns_ok close

	# Tear the primary superblock: the first 4 KiB block of ext4, the first sector of xfs.
	cryptsetup open --key-file "$(ns_key_file "$fs")" "$dev" torn
	dd if=/dev/zero of=/dev/mapper/torn bs=4096 count=1 conv=notrunc,fsync status=none
	[[ -z $(blkid -p -o value -s TYPE /dev/mapper/torn || true) ]] || fail "$fs: libblkid still sees a filesystem: the case is not tested"
	cryptsetup close torn
	# The raw device: any write through the mapper would change it (and it needs no decryption).
	sum=$(md5sum < "$dev" | cut -d' ' -f1)

	ns provision
	assert_eq 1 "$rc" "provision of the damaged $fs volume"
	assert_contains "$out" "$mapper shows no filesystem, but volume $fs was not just formatted by nodeseal"
	assert_contains "$out" "Refusing to run mkfs"
	[[ $out != *"making an"* ]] || fail "$fs: mkfs ran over the damaged filesystem"
	ns provision
	assert_eq 1 "$rc" "second provision of the damaged $fs volume"
	assert_eq "$sum" "$(md5sum < "$dev" | cut -d' ' -f1)" "$fs device after two refusals"

	# The repair the message names, then the data is back.
	if [[ $fs == ext4 ]]; then
		assert_contains "$out" "e2fsck -b 32768 $mapper"
		rc=0
		e2fsck -fy -b 32768 -B 4096 "$mapper" > "$SCRATCH/fsck.log" 2>&1 || rc=$?
		((rc <= 2)) || fail "e2fsck -b 32768 exited $rc: $(cat "$SCRATCH/fsck.log")"
	else
		assert_contains "$out" "xfs_repair $mapper"
		xfs_repair "$mapper" > "$SCRATCH/fsck.log" 2>&1 || fail "xfs_repair failed: $(cat "$SCRATCH/fsck.log")"
	fi
	ns_ok provision
	assert_eq "precious-$fs" "$(cat "$mnt/file")" "$fs data after the repair"
	ns_ok check
	ns_ok close
done
log "ok"
