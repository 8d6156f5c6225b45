#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The volume's device path re-pointed at another LUKS2 disk (a swapped /dev/disk/by-* link, a
# symlink changed) whose header the same key happens to open (one key for several volumes, a copy
# of the disk): nodeseal reencrypt must not rewrite that disk under a new volume key. It checks the
# header's UUID against the volume's format record first and refuses, nothing written; a path
# through a directory a user other than root owns is refused; on the volume's own disk it goes on.
# Offline on loop devices: libcryptsetup re-encrypts in user space without device-mapper.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"

volume_key data
disk=$(loop_new "$T/disk.img" 48)
other=$(loop_new "$T/other.img" 48)
ln -s "$disk" "$T/dev-data"
volume_config "$T/nodeseal.json" "$T/dev-data"
ns -c "$T/nodeseal.json" provision   # formats; stops where it would open the mapping
opens_with "$disk" "$KEYS_DIR/data" || fail "not formatted: $out"
# Another disk, another LUKS2 header, the same key.
cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
        --key-file "$KEYS_DIR/data" "$other" >/dev/null
head -c 64 /dev/urandom >"$KEYS_DIR/data.reencrypt"

ln -sfn "$other" "$T/dev-data"
so=$(sum_of "$other")
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -ne 0 ] || fail "nodeseal re-encrypted a disk that is not the volume's: $out"
assert_contains "$out" "$(cryptsetup luksUUID "$other")"
assert_contains "$out" "the format record of volume data names $(cryptsetup luksUUID "$disk")"
assert_eq "$(sum_of "$other")" "$so" "the other disk after the refusal"

# The path through a directory a user other than root owns (who could swap the link at any
# moment): refused before anything is read, as a provision refuses it.
mkdir "$T/userdir"
chown nobody "$T/userdir"
ln -s "$disk" "$T/userdir/dev-data"
volume_config "$T/user.json" "$T/userdir/dev-data"
sd=$(sum_of "$disk")
ns -c "$T/user.json" reencrypt data
[ "$rc" -ne 0 ] || fail "nodeseal reencrypt through a directory a user owns went on: $out"
assert_contains "$out" "a user other than root can change that directory"
assert_eq "$(sum_of "$disk")" "$sd" "the volume's disk after the refusal"

ln -sfn "$disk" "$T/dev-data"
ns -c "$T/nodeseal.json" reencrypt data
[ "$rc" -eq 0 ] || fail "nodeseal reencrypt on the volume's own disk failed: $out"
assert_contains "$out" "re-encrypted under a new volume key"
pass
