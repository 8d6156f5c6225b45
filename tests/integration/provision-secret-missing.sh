#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A missing CA Secret, and a CA Secret missing a key, are each named.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

mkdir -p "$T/secrets"
write_config "$T/nodeseal.json"

ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded without a CA Secret"
assert_contains "$out" "Secret nodeseal-ca not found"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
rm "$T/secrets/nodeseal-ca/tls.key"
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded without tls.key"
assert_contains "$out" "Secret nodeseal-ca has no key \"tls.key\""

echo garbage >"$T/secrets/nodeseal-ca/tls.key"
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded with a garbage tls.key"
assert_contains "$out" "tls.key: not an unencrypted PEM private key"

cp "$T/ca/ca.key" "$T/secrets/nodeseal-ca/tls.key"
echo garbage >"$T/secrets/nodeseal-ca/tls.crt"
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision succeeded with a garbage tls.crt"
assert_contains "$out" "tls.crt: no PEM certificate found"
[ ! -e "$T/certs" ] || fail "files were written"

# The ca verb says the same.
ns -c "$T/nodeseal.json" ca
[ "$rc" -ne 0 ] || fail "ca succeeded with a garbage tls.crt"
assert_contains "$out" "tls.crt: no PEM certificate found"
pass
