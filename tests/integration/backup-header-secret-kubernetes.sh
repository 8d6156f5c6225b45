#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# backup-header-secret-kubernetes: the header backup in a Secret of the Kubernetes API (the fake
# API server). A new volume whose header_backup names a Secret is formatted with the small header
# and its header lands, byte for byte, in key data.luks-header of a Secret nodeseal creates; after
# a header change (a flag) the next provision replaces it (the API adds and removes keys by
# guarded merge patches: the old one goes, the new one comes), and nodeseal recover reads it from
# the API with the format record's UUID check.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"
. "$(dirname "$0")/kube-lib.sh"
start_fake

disk=$(loop_new "$T/disk.img" 32)
random_key "$T/key"
fk_secret "nodeseal-keys-$NODE_NAME" "data=$T/key"
kube_config() {
        kube_volume_config "$T/kube.json" "$disk"
        python3 - "$T/kube.json" "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["volumes"][0]["header_backup"] = {"secret": "nodeseal-header-{node}"}
c["volumes"][0].update(json.loads(sys.argv[2]))
json.dump(c, open(sys.argv[1], "w"))
PY
}
stored() {
        kapi GET "/api/v1/namespaces/nodeseal/secrets/nodeseal-header-$NODE_NAME" |
                python3 -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["data"]["data.luks-header"]))'
}
seqid_of() { od -An -tu1 -j16 -N8 "$1" | awk '{ s = 0; for (i = 1; i <= 8; i++) s = s * 256 + $i; print s }'; }

kube_config '{}'
ns -c "$T/kube.json" provision
assert_contains "$out" "backed up to Secret nodeseal-header-$NODE_NAME, key data.luks-header"
cryptsetup luksDump "$disk" | grep 'Keyslots area:.*983040 \[bytes\]' >/dev/null || fail "not the small layout: $out"
stored >"$T/stored1" || fail "no header backup Secret: $out"
assert_eq "$(stat -c %s "$T/stored1")" 1015808 "size of the stored header"
cmp -s <(head -c 1015808 "$disk") "$T/stored1" || fail "the Secret does not hold the disk's header"

# Nothing changed: nothing written. A flag changed: the Secret follows.
ns -c "$T/kube.json" provision
case $out in *"backed up to Secret"*) fail "a rerun that changed nothing stored the header again: $out" ;; esac
kube_config '{"luks": {"allow_discards": true}}'
ns -c "$T/kube.json" provision
assert_contains "$out" "backed up to Secret nodeseal-header-$NODE_NAME"
stored >"$T/stored2" || fail "no header backup after the flag changed: $out"
[ "$(seqid_of "$T/stored2")" -gt "$(seqid_of "$T/stored1")" ] || fail "the stored header was not replaced: $out"
cmp -s <(head -c 1015808 "$disk") "$T/stored2" || fail "the Secret does not hold the changed header"

# recover reads it from the API: the header destroyed, it meets the data check (no filesystem here).
dd if=/dev/zero of="$disk" bs=4096 count=16 conv=notrunc status=none
sd=$(sum_of "$disk")
ns -c "$T/kube.json" recover --yes data
[ "$rc" -ne 0 ] || fail "recover onto a disk without the volume's filesystem succeeded: $out"
assert_contains "$out" "data area of $disk does not decrypt to an ext4 filesystem"
assert_eq "$(sum_of "$disk")" "$sd" "the disk after a refused recover"
pass
