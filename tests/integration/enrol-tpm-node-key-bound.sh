#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The node key sealed in a TPM 2.0 (Debian's swtpm, over its socket TCTI on loopback): enrol makes
# and seals it and reads it back, a second enrol unseals the same key; another TPM (another swtpm
# state) or a TPM whose PCRs moved cannot unseal it; a volume key generated under it is stored
# only wrapped, and the operator's recovery key opens the disk without the TPM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-volume.sh"
. "$(dirname "$0")/kube-lib.sh"
. "$(dirname "$0")/lib-tpm.sh"

start_fake
openssl genpkey -algorithm X25519 -out "$T/recovery.key" 2>/dev/null
openssl pkey -in "$T/recovery.key" -pubout -out "$T/recovery.pub"
dev=$(loop_new "$T/disk.img" 64)
mkdir -m 0700 "$T/node"

# tpm_config FILE TCTI PCRS-JSON
tpm_config() {
        kube_volume_config "$1" "$dev"
        python3 - "$1" "$2" "$3" "$T/node/node.key" "$T/recovery.pub" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["secrets"]["kubernetes"]["generate_missing_keys"] = True
c["secrets"]["wrapping"] = {"node_key": "tpm2", "tpm_tcti": sys.argv[2], "pcrs": json.loads(sys.argv[3]),
                            "node_key_file": sys.argv[4], "recovery_public_key": sys.argv[5]}
json.dump(c, open(sys.argv[1], "w"))
PY
}

start_swtpm tpm-a
tcti_a=$TCTI
tpm_config "$T/a.json" "$tcti_a" '[]'
ns -c "$T/a.json" enrol
[ "$rc" -eq 0 ] || fail "enrol: $out"
first=$out
assert_contains "$out" "node $NODE_NAME: node key tpm2 "
assert_file_mode "$T/node/node.key" 600
assert_eq "$(jq -r .format "$T/node/node.key")" "nodeseal-tpm2/1" "the node key file's format"
ns -c "$T/a.json" enrol
assert_eq "$out" "$first" "enrol again (the key unsealed, not made anew)"

# Another TPM: the sealed key does not load there.
start_swtpm tpm-b
tpm_config "$T/b.json" "$TCTI" '[]'
ns -c "$T/b.json" enrol
[ "$rc" -ne 0 ] || fail "another TPM unsealed the node key: $out"
assert_contains "$out" "does not load on this TPM"

# The volume key, generated and wrapped to the TPM-held key; the disk formatted with it.
ns -c "$T/a.json" provision
assert_contains "$out" "formatting"
cryptsetup isLuks "$dev" || fail "the blank disk was not formatted: $out"
kapi GET /api/v1/namespaces/nodeseal/secrets/nodeseal-keys-$NODE_NAME | jq -r '.data["data.wrapped"]' | base64 -d \
        >"$T/wrapped.json"
assert_eq "$(jq -r .kek.type "$T/wrapped.json")" "tpm2" "the wrapped key's node key type"
assert_contains "$first" "$(jq -r .kek.id "$T/wrapped.json")"
ns recover-key --recovery-key "$T/recovery.key" --output "$T/recovered.key" "$T/wrapped.json"
[ "$rc" -eq 0 ] || fail "recover-key: $out"
opens_with "$dev" "$T/recovered.key" || fail "the recovered key does not open the disk"
remember_secret "$(base64 -w0 <"$T/recovered.key")"

# Bound to PCR 16 (resettable, debug): unsealed while it holds its value, refused once extended.
rm "$T/node/node.key"
tpm_config "$T/pcr.json" "$tcti_a" '[16]'
ns -c "$T/pcr.json" enrol
[ "$rc" -eq 0 ] || fail "enrol with PCR 16: $out"
ns -c "$T/pcr.json" enrol
[ "$rc" -eq 0 ] || fail "unseal with PCR 16 unchanged: $out"
TPM2TOOLS_TCTI=$tcti_a tpm2_pcrextend 16:sha256=$(printf '%064d' 1) || fail "tpm2_pcrextend"
ns -c "$T/pcr.json" enrol
[ "$rc" -ne 0 ] || fail "unsealed after PCR 16 moved: $out"
assert_contains "$out" "the PCRs it is bound to have other values now"

assert_no_secrets
pass
