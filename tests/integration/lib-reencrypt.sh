# SPDX-License-Identifier: Apache-2.0
# Helpers for the re-encryption scenarios on loop devices (offline: libcryptsetup re-encrypts in
# user space without device-mapper): data written under a volume key as dm-crypt would (by an
# independent AES-XTS writer), read back under another, and the kill seam. Sourced after
# lib-volume.sh.

XTS=$SOURCE_ROOT/tests/integration/luks-xts.py

# data_area_of DISK: the data area's offset in bytes and its sector size, from the first segment.
data_area_of() {
        cryptsetup luksDump --dump-json-metadata "$1" |
                python3 -c 'import json,sys; s=json.load(sys.stdin)["segments"]; print(s[min(s)]["offset"], s[min(s)]["sector_size"])'
}

# dump_volume_key DISK OUT [KEYFILE]: the volume key that KEYFILE ($KEYS_DIR/data) opens, into OUT.
dump_volume_key() {
        rm -f "$2"
        cryptsetup luksDump --dump-volume-key --batch-mode --key-file "${3:-$KEYS_DIR/data}" --volume-key-file "$2" "$1" >/dev/null
}

# reencrypting HEADER: the header (a device or a header file) records a re-encryption under way.
reencrypting() { cryptsetup luksDump "$1" | grep online-reencrypt >/dev/null; }

# write_under_key DISK VK: $T/plain written to DISK's data area under its volume key (saved in VK)
# as dm-crypt would; sets data_offset and sector, and LUKS_XTS_BYTES for reads_back_under.
write_under_key() {
        read -r data_offset sector < <(data_area_of "$1")
        dump_volume_key "$1" "$2"
        python3 "$XTS" encrypt "$2" "$1" "$data_offset" "$sector" "$T/plain"
        export LUKS_XTS_BYTES=$(stat -c %s "$T/plain")
}

# reads_back_under DISK VK: DISK's data area decrypts under VK to $T/plain. (Called as a
# condition, where set -e does not apply: a decrypt that fails fails it, never an old $T/check.)
reads_back_under() {
        rm -f "$T/check"
        python3 "$XTS" decrypt "$2" "$1" "$data_offset" "$sector" "$T/check" || return 1
        cmp -s "$T/plain" "$T/check"
}

# reencrypt_killed SEAM [CONFIG]: nodeseal reencrypt data, killed by NODESEAL_TEST_KILL_AT=SEAM
# (SIGKILL: exit status 137); sets $out.
reencrypt_killed() {
        set +e
        out=$(NODESEAL_TEST_KILL_AT=$1 "$NODESEAL" -c "${2:-$T/nodeseal.json}" reencrypt data 2>&1)
        rc=$?
        set -e
        assert_eq "$rc" 137 "nodeseal reencrypt's exit status, killed at $1: $out"
}
