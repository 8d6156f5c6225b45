#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A second provision keeps what the first issued: same serial, files not rewritten.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_config "$T/nodeseal.json"

ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "first provision ($out)"
serial=$(serial_of "$T/certs/tls.crt")
mtimes=$(stat -c '%n %Y.%y' "$T/certs"/*)
sleep 1.1

ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "second provision ($out)"
assert_contains "$out" "(nothing changed)"
assert_eq "$(serial_of "$T/certs/tls.crt")" "$serial" "serial after the rerun"
assert_eq "$(stat -c '%n %Y.%y' "$T/certs"/*)" "$mtimes" "file times after the rerun"

# A changed wish (one more name) does reissue.
write_config "$T/nodeseal.json" '"include_node_ips": false, "validity_days": 30'
sed -i 's/"localhost"\]/"localhost", "db.example"]/' "$T/nodeseal.json"
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision with a new SAN ($out)"
[ "$(serial_of "$T/certs/tls.crt")" != "$serial" ] || fail "a new SAN did not cause a reissue"
assert_contains "$(openssl x509 -in "$T/certs/tls.crt" -noout -ext subjectAltName)" "DNS:db.example"
pass
