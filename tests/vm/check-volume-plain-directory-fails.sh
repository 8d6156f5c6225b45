#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# check-volume-plain-directory-fails: with the mount gone and the plain directory still there (with
# files in it, as a datastore started too early would leave), check fails with the volume's exit
# code and says why; so it does with the volume closed, a read-only mount, or another filesystem
# mounted there. provision then puts it right. A mount point that a non-root user replaced with a
# symlink (to a root-only directory), in a sticky directory or in their own, is refused by
# provision, check and close, naming it, and nothing is mounted on the symlink's target.
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
ns_ok check

umount "$mnt"
echo "written by a datastore that started too early" > "$mnt/PG_VERSION"
ns check
assert_eq 3 "$rc" "check with the mount missing"
assert_contains "$out" "/dev/mapper/nodeseal-data is not mounted at $mnt (a plain directory is there)"
ns check --quiet
assert_eq 3 "$rc" "check --quiet with the mount missing"

# provision mounts it again over the plain directory (and says what it hides).
ns_ok provision
assert_contains "$out" "is not empty"
mounted_from "$mnt" /dev/mapper/nodeseal-data || fail "not mounted again"
[[ ! -e $mnt/PG_VERSION ]] || fail "the plain directory's file is visible on the volume"
ns_ok check

# Read-only: mounted, but not writable.
mount -o remount,ro "$mnt"
ns check
assert_eq 3 "$rc" "check on a read-only mount"
assert_contains "$out" "is not writable"
mount -o remount,rw "$mnt"

# Something else mounted on top.
mount -t tmpfs tmpfs "$mnt"
ns check
assert_eq 3 "$rc" "check with a tmpfs on top"
assert_contains "$out" "is a mount point of another device"
ns provision
assert_eq 1 "$rc" "provision with a tmpfs on top"
umount "$mnt"
ns_ok check

# Closed.
ns_ok close
ns check
assert_eq 3 "$rc" "check with the volume closed"
assert_contains "$out" "is not open"
ns check --wait 2
assert_eq 7 "$rc" "check --wait with the volume closed"

# The mount point is a symlink that nobody planted in a sticky directory (like /tmp). It is
# refused before the volume is opened.
chmod 755 "$SCRATCH"
mkdir -m 700 "$SCRATCH/victim"
mkdir "$SCRATCH/shared"
chmod 1777 "$SCRATCH/shared"
setpriv --reuid=nobody --regid=nogroup --clear-groups -- ln -s "$SCRATCH/victim" "$SCRATCH/shared/mnt"
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$SCRATCH/shared/mnt\" }"
ns provision
assert_eq 1 "$rc" "provision on a symlinked mount point"
assert_contains "$out" "Refusing $SCRATCH/shared/mnt: $SCRATCH/shared/mnt is a symbolic link"
[[ ! -e /dev/mapper/nodeseal-data ]] || fail "the volume was opened although its mount point was refused"
! mountpoint -q "$SCRATCH/victim" || fail "the volume was mounted on the symlink's target"
# With the volume open (through a good mount point, unmounted since), check and close refuse the
# symlink too: close has to, so it is removed before the volume is closed.
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$SCRATCH/good\" }"
ns_ok provision
umount "$SCRATCH/good"
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$SCRATCH/shared/mnt\" }"
ns check
assert_eq 3 "$rc" "check on a symlinked mount point"
assert_contains "$out" "is a symbolic link"
ns close
assert_eq 1 "$rc" "close with a symlinked mount point"
rm "$SCRATCH/shared/mnt"
ns_ok close

# The same symlink in a directory of nobody's own (fs.protected_symlinks does not cover that one):
# the directory is refused before anything is looked up in it.
mkdir "$SCRATCH/home"
chown nobody:nogroup "$SCRATCH/home"
setpriv --reuid=nobody --regid=nogroup --clear-groups -- ln -s "$SCRATCH/victim" "$SCRATCH/home/mnt"
ns_config "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$SCRATCH/home/mnt\" }"
ns provision
assert_eq 1 "$rc" "provision below nobody's directory"
assert_contains "$out" "Refusing $SCRATCH/home/mnt: $SCRATCH/home is owned by uid 65534 (nobody), not root"
! mountpoint -q "$SCRATCH/victim" || fail "the volume was mounted on the symlink's target"
[[ ! -e /dev/mapper/nodeseal-data ]] || fail "the volume was opened although its mount point was refused"
ns_ok close
rm -r "$SCRATCH/home"
log "ok"
