#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision issues a generic-profile certificate from a directory source: files and modes, openssl
# verifies it for TLS server and client use, and check passes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_config "$T/nodeseal.json"

ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision exit status ($out)"

for f in tls.crt tls.key ca.crt; do [ -f "$T/certs/$f" ] || fail "$f not written"; done
assert_file_mode "$T/certs" 755
assert_file_mode "$T/certs/tls.key" 600
assert_file_mode "$T/certs/tls.crt" 644
assert_file_mode "$T/certs/ca.crt" 644
cmp -s "$T/certs/ca.crt" "$T/ca/ca.crt" || fail "ca.crt is not the CA certificate"
cmp -s "$T/run/ca.crt" "$T/ca/ca.crt" || fail "the runtime trust bundle is not the CA certificate"

for purpose in sslserver sslclient; do
        v=$(openssl verify -CAfile "$T/ca/ca.crt" -purpose $purpose "$T/certs/tls.crt" 2>&1) ||
                fail "openssl verify -purpose $purpose: $v"
done
text=$(openssl x509 -in "$T/certs/tls.crt" -noout -text)
assert_contains "$text" "Subject: CN = $NODE_NAME"
assert_contains "$text" "DNS:$NODE_NAME, DNS:localhost, IP Address:127.0.0.1"
assert_contains "$text" "TLS Web Server Authentication, TLS Web Client Authentication"
assert_contains "$text" "CA:FALSE"
assert_contains "$text" "ecdsa-with-SHA256"
assert_contains "$text" "ASN1 OID: prime256v1"
# The key belongs to the certificate.
[ "$(openssl pkey -in "$T/certs/tls.key" -pubout)" == "$(openssl x509 -in "$T/certs/tls.crt" -noout -pubkey)" ] ||
        fail "tls.key does not match tls.crt"

ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check exit status ($out)"
assert_contains "$out" "ok: 0 volume(s) and 1 certificate(s) in place"
pass
