#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A "CA" without CA:TRUE (or without keyCertSign) is refused, saying which rule, and nothing is written.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

mkdir -p "$T/ca"
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$T/ca/ca.key" \
        -out "$T/ca/ca.crt" -days 30 -subj "/CN=leaf pretending" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" 2>/dev/null
make_secrets "$T/secrets" "$T/ca"
write_config "$T/nodeseal.json"

ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision accepted a non-CA"
assert_contains "$out" "CA (Secret nodeseal-ca): tls.crt: \"leaf pretending\" is not a CA certificate (basicConstraints CA:TRUE is missing)"
[ ! -e "$T/certs" ] || fail "the certificate directory was created: $(ls -la "$T/certs")"
[ ! -e "$T/run/ca.crt" ] || fail "a trust bundle was written"

# CA:TRUE but no keyCertSign.
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$T/ca/ca.key" \
        -out "$T/ca/ca.crt" -days 30 -subj "/CN=no signing" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,cRLSign" 2>/dev/null
make_secrets "$T/secrets" "$T/ca"
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision accepted a CA without keyCertSign"
assert_contains "$out" "keyUsage keyCertSign is missing"

# A key of another pair.
make_ca "$T/ca2"
cp "$T/ca2/ca.crt" "$T/secrets/nodeseal-ca/tls.crt"
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision accepted a mismatching CA key"
assert_contains "$out" "tls.key does not match the certificate"
assert_not_contains "$out" "PRIVATE KEY"
[ ! -e "$T/certs" ] || fail "the certificate directory was created"
pass
