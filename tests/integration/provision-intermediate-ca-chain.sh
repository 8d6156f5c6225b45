#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# An intermediate CA (tls.crt = intermediate + root): the leaf file carries leaf + intermediate, the
# CA file the root, and openssl verifies against the root alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

make_ca "$T/root" "/CN=nodeseal test root"
make_intermediate "$T/root" "$T/int"
mkdir -p "$T/secrets/nodeseal-ca"
cat "$T/int/ca.crt" "$T/root/ca.crt" >"$T/secrets/nodeseal-ca/tls.crt"
cp "$T/int/ca.key" "$T/secrets/nodeseal-ca/tls.key"
write_config "$T/nodeseal.json"

ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision ($out)"
assert_eq "$(grep -c 'BEGIN CERTIFICATE' "$T/certs/tls.crt")" 2 "certificates in tls.crt"
cmp -s "$T/certs/ca.crt" "$T/root/ca.crt" || fail "ca.crt is not the root"
# The second certificate of the file is the intermediate.
awk 'n==1{print} /END CERTIFICATE/{n++}' "$T/certs/tls.crt" | cmp -s - "$T/int/ca.crt" ||
        fail "the chain in tls.crt is not the intermediate"
for purpose in sslserver sslclient; do
        v=$(openssl verify -CAfile "$T/certs/ca.crt" -untrusted "$T/certs/tls.crt" -purpose $purpose "$T/certs/tls.crt" 2>&1) ||
                fail "openssl verify -purpose $purpose: $v"
done
assert_contains "$(openssl x509 -in "$T/certs/tls.crt" -noout -issuer)" "nodeseal test intermediate"
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check ($out)"

# The intermediate alone, with the root given as ca.crt: the same result.
cp "$T/int/ca.crt" "$T/secrets/nodeseal-ca/tls.crt"
cp "$T/root/ca.crt" "$T/secrets/nodeseal-ca/ca.crt"
serial=$(serial_of "$T/certs/tls.crt")
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision with ca.crt ($out)"
assert_eq "$(serial_of "$T/certs/tls.crt")" "$serial" "serial (same CA, same chain: reused)"

# Without ca.crt the intermediate alone has no root to trust: refused, saying so.
rm "$T/secrets/nodeseal-ca/ca.crt"
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision accepted an intermediate without its root"
assert_contains "$out" "which is not self-signed"
pass
