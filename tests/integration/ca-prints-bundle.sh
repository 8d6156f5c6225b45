#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# "nodeseal ca" prints the trust bundle: the CA, or ca.crt (old + new during a rotation).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_config "$T/nodeseal.json"

ns ca --help
assert_eq "$rc" 0 "ca --help"
assert_contains "$out" "Usage: nodeseal ca"

"$NODESEAL" -c "$T/nodeseal.json" ca >"$T/out.pem" 2>"$T/err" || fail "ca failed: $(cat "$T/err")"
cmp -s "$T/out.pem" "$T/ca/ca.crt" || fail "printed: $(cat "$T/out.pem")"
[ ! -s "$T/err" ] || fail "ca wrote to stderr: $(cat "$T/err")"
openssl x509 -in "$T/out.pem" -noout || fail "not a certificate"

# A rotation: ca.crt holds old and new.
make_ca "$T/new" "/CN=new CA"
cat "$T/ca/ca.crt" "$T/new/ca.crt" >"$T/secrets/nodeseal-ca/ca.crt"
"$NODESEAL" -c "$T/nodeseal.json" ca >"$T/out.pem" || fail "ca failed with a bundle"
assert_eq "$(grep -c 'BEGIN CERTIFICATE' "$T/out.pem")" 2 "certificates in the bundle"
cmp -s "$T/out.pem" "$T/secrets/nodeseal-ca/ca.crt" || fail "the bundle is not ca.crt"

# A bad CA: non-zero, a reason, nothing on stdout.
cp "$T/new/ca.key" "$T/secrets/nodeseal-ca/tls.key"
set +e
"$NODESEAL" -c "$T/nodeseal.json" ca >"$T/out.pem" 2>"$T/err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "ca succeeded with a mismatching key"
[ ! -s "$T/out.pem" ] || fail "ca printed something for a bad CA"
assert_contains "$(cat "$T/err")" "CA (Secret nodeseal-ca) is not usable: tls.key does not match"
pass
