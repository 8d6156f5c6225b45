#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision-xfs-partlabel-image-file: other ways to name a device and another filesystem: an xfs
# volume on a GPT partition named by PARTLABEL=, reopened by LABEL= (the LUKS2 label) and by
# UUID=; an ext4 volume on a regular image file (libcryptsetup attaches a loop device). A volume
# whose mapper already holds another filesystem than configured is refused.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	# mkfs.xfs wants at least 300 MiB; the image is sparse.
	make_disk "$SCRATCH/disk.img" 400
	vm_nodeseal_self --disk "$SCRATCH/disk.img"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
modprobe xfs || fail "the xfs module does not load"
modprobe loop || fail "the loop module does not load"
printf 'label: gpt\nsize=350M, name=nsxfs\n' | sfdisk -q /dev/vda
[[ -b /dev/vda1 ]] || fail "no /dev/vda1"

ns_key xfsvol
ns_config "{ \"name\": \"xfsvol\", \"device\": \"PARTLABEL=nsxfs\", \"filesystem\": \"xfs\",
             \"mount_options\": \"noatime\", \"mountpoint\": \"$SCRATCH/xfs\" }"
ns_ok provision
assert_contains "$out" "formatting /dev/vda1 as LUKS2"
assert_eq xfs "$(blkid -p -o value -s TYPE /dev/mapper/nodeseal-xfsvol)" "filesystem"
grep -q " $SCRATCH/xfs .*noatime.* - xfs /dev/mapper/nodeseal-xfsvol " /proc/self/mountinfo || fail "mount options"
echo xfs-data > "$SCRATCH/xfs/f"
ns_ok close

ns_config "{ \"name\": \"xfsvol\", \"device\": \"LABEL=xfsvol\", \"filesystem\": \"xfs\", \"mountpoint\": \"$SCRATCH/xfs\" }"
ns_ok provision
assert_contains "$out" "/dev/vda1 opened"
assert_eq xfs-data "$(cat "$SCRATCH/xfs/f")" "xfs data after reopening by LABEL="
ns_ok close
uuid=$(blkid -p -o value -s UUID /dev/vda1)
ns_config "{ \"name\": \"xfsvol\", \"device\": \"UUID=$uuid\", \"filesystem\": \"xfs\", \"mountpoint\": \"$SCRATCH/xfs\" }"
ns_ok provision
assert_eq xfs-data "$(cat "$SCRATCH/xfs/f")" "xfs data after reopening by UUID="
ns_ok close

# The same volume configured as ext4: the mapper holds xfs, refused.
ns_config "{ \"name\": \"xfsvol\", \"device\": \"/dev/vda1\", \"mountpoint\": \"$SCRATCH/xfs\" }"
ns provision
assert_eq 1 "$rc" "xfs volume configured as ext4"
assert_contains "$out" "holds xfs filesystem signature labelled \"xfsvol\", but the volume's filesystem is ext4; refusing"
cryptsetup close nodeseal-xfsvol

# A regular file as the device.
img=/var/tmp/nodeseal-image.img
truncate -s 64M "$img"
ns_key filevol
ns_config "{ \"name\": \"filevol\", \"device\": \"$img\", \"mountpoint\": \"$SCRATCH/file\" }"
ns_ok provision
backing=$(cryptsetup status nodeseal-filevol | awk '$1 == "device:" { print $2 }')
[[ $backing == /dev/loop* ]] || fail "not on a loop device: $backing"
echo file-data > "$SCRATCH/file/f"
ns_ok check
ns_ok provision
[[ $out != *formatting* ]] || fail "rerun on the image file formatted"
ns_ok close
ns_config "{ \"name\": \"filevol\", \"device\": \"$img\", \"mountpoint\": \"$SCRATCH/file\" }"
ns_ok provision
assert_eq file-data "$(cat "$SCRATCH/file/f")" "data on the image file after reopening"
ns_ok close
log "ok"
