#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The device that was probed is the device that is formatted. The configured path (here a symlink,
# as /dev/disk/by-* links are) is re-pointed to another blank disk while the key is fetched: the
# format is refused and neither disk is touched; pointed back, the probed disk is formatted. With
# the kubernetes source the window is a slow API server, with the directory source the pause seam.
# A device path in a directory a non-root user can change is refused before anything is read.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"

a=$(loop_new "$T/a.img" 64)
b=$(loop_new "$T/b.img" 64)
ln -s "$a" "$T/disk"
volume_key data
volume_config "$T/nodeseal.json" "$T/disk"
sa=$(sum_of "$a") sb=$(sum_of "$b")

ns_paused before-format -c "$T/nodeseal.json" provision
ln -sfn "$b" "$T/disk"
ns_resume
[ "$rc" -ne 0 ] || fail "provision succeeded after the path was re-pointed: $out"
assert_contains "$out" "Device $T/disk now names block device $(stat -L -c '%t:%T' "$b" | awk -F: '{ printf "%d:%d", strtonum("0x"$1), strtonum("0x"$2) }'), not block device"
assert_contains "$out" "refusing to format anything"
assert_eq "$(sum_of "$a")" "$sa" "the probed disk after the refusal"
assert_eq "$(sum_of "$b")" "$sb" "the disk the path was re-pointed to"

# Pointed back at the probed disk, a rerun formats it (the record of the begun format is reused),
# then stops where it would open the mapping (no device-mapper on this host).
ln -sfn "$a" "$T/disk"
ns -c "$T/nodeseal.json" provision
assert_contains "$out" "formatting $T/disk as LUKS2"
opens_with "$a" "$KEYS_DIR/data" || fail "the probed disk was not formatted with the key: $out"
uuid=$(cryptsetup luksUUID "$a")
assert_contains "$(cat "$KEYS_DIR/data.luks-uuid")" "\"uuid\":\"$uuid\""
assert_contains "$(cat "$KEYS_DIR/data.formatted")" "\"uuid\":\"$uuid\""
assert_eq "$(sum_of "$b")" "$sb" "the other disk at the end"

# A device (here an image file) in a directory that nobody owns: nobody could swap it at any moment.
mkdir "$T/home"
truncate -s 32M "$T/home/disk.img"
chown nobody "$T/home"
si=$(sum_of "$T/home/disk.img")
volume_config "$T/home.json" "$T/home/disk.img"
ns -c "$T/home.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded on a device in nobody's directory: $out"
assert_contains "$out" "Device $T/home/disk.img: Refusing $T/home"
assert_contains "$out" "not touching it"
assert_eq "$(sum_of "$T/home/disk.img")" "$si" "the device in nobody's directory"

# In a sticky directory everyone can write (like /var/tmp), root's image file cannot be swapped by
# others; one that nobody owns can.
mkdir -m 1777 "$T/sticky"
truncate -s 32M "$T/sticky/nobodys.img"
chown nobody "$T/sticky/nobodys.img"
volume_config "$T/sticky.json" "$T/sticky/nobodys.img"
ns -c "$T/sticky.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded on nobody's image in a sticky directory: $out"
assert_contains "$out" "a user other than root can change that directory, and could swap the device"
truncate -s 32M "$T/sticky/roots.img"
rm "$KEYS_DIR/data.luks-uuid" "$KEYS_DIR/data.formatted"   # a new volume "data", on purpose
volume_config "$T/sticky.json" "$T/sticky/roots.img"
ns -c "$T/sticky.json" provision
assert_contains "$out" "formatting $T/sticky/roots.img as LUKS2"

# The kubernetes source: the key Secret answers slowly, and the path is re-pointed meanwhile.
. "$(dirname "$0")/kube-lib.sh"
start_fake
c=$(loop_new "$T/c.img" 64)
d=$(loop_new "$T/d.img" 64)
ln -sfn "$c" "$T/disk"
random_key "$T/key"
fk_secret "nodeseal-keys-$NODE_NAME" "data=$T/key"
kube_volume_config "$T/kube.json" "$T/disk"
sc=$(sum_of "$c") sd=$(sum_of "$d")
fk_fault '{"mode": "slow", "delay_ms": 3000, "method": "GET", "count": 1, "match": "nodeseal-keys"}'
set +e
"$NODESEAL" -c "$T/kube.json" provision >"$T/kube.log" 2>&1 &
pid=$!
sleep 1
ln -sfn "$d" "$T/disk"
wait "$pid"
rc=$?
set -e
out=$(cat "$T/kube.log")
[ "$rc" -ne 0 ] || fail "provision (kubernetes) succeeded after the path was re-pointed: $out"
assert_contains "$out" "Device $T/disk now names block device"
assert_eq "$(sum_of "$c")" "$sc" "the probed disk (kubernetes)"
assert_eq "$(sum_of "$d")" "$sd" "the re-pointed disk (kubernetes)"
pass
