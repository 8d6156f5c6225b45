#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# run-default-main-job: the README's first command (deploy/local/run-default) as written, twice on
# one state directory: the first run creates the secrets, formats the image and issues the
# certificate; the second reopens the same volume (the data written by the first run is there) and
# reuses the certificate (same serial).
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

vm_require
scratch_dir
: "${SOURCE_ROOT:=$(cd "$VM_DIR/../.." && pwd)}"
build=$(dirname "$(dirname "$(readlink -f "${NODESEAL:?}")")")
state=$SCRATCH/state
export NODESEAL_DEFAULT_DIR=$state NODESEAL_BUILD_DIR=$build

out=$("$SOURCE_ROOT/deploy/local/run-default" 2>&1) || { printf '%s\n' "$out" >&2; fail "first run failed"; }
printf '%s\n' "$out" | sed 's/^/  | /' >&2
[[ $out == *"formatting /dev/vda as LUKS2"* || $out == *"formatting $state/data.img as LUKS2"* ]] || fail "no format on the first run"
serial1=$(openssl x509 -in "$state/tls/tls.crt" -noout -serial)
openssl verify -CAfile "$state/run/ca.crt" "$state/tls/tls.crt" > /dev/null || fail "certificate does not verify"
assert_eq crypto_LUKS "$(blkid -p -o value -s TYPE "$state/data.img")" "the image after the first run"

out=$("$SOURCE_ROOT/deploy/local/run-default" 2>&1) || { printf '%s\n' "$out" >&2; fail "second run failed"; }
printf '%s\n' "$out" | sed 's/^/  | /' >&2
[[ $out != *formatting* ]] || fail "the second run formatted again"
assert_eq 2 "$(grep -c '^run at ' <<< "$out")" "runs logged on the encrypted volume"
assert_eq "$serial1" "$(openssl x509 -in "$state/tls/tls.crt" -noout -serial)" "certificate serial after the rerun"
! LC_ALL=C grep -q -a -F "run at " "$state/data.img" || fail "plaintext of the volume on the raw image"
log "ok"
