#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# check exits 6 when the certificate does not chain to the current CA, and 4 when a file is missing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

make_ca "$T/ca"
make_ca "$T/other" "/CN=another CA"
make_secrets "$T/secrets" "$T/ca"
write_config "$T/nodeseal.json"

ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision ($out)"

# The CA moved on (the runtime bundle is another CA) but the certificate did not.
cp "$T/other/ca.crt" "$T/run/ca.crt"
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 6 "check exit status ($out)"
assert_eq "$(wc -l <<<"$out")" 1 "lines of check output"
assert_contains "$out" "does not chain to the current CA"

# A provision with the new CA repairs it.
make_secrets "$T/secrets" "$T/other"
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision with the new CA ($out)"
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check after the new CA ($out)"
openssl verify -CAfile "$T/other/ca.crt" "$T/certs/tls.crt" >/dev/null || fail "not reissued by the new CA"

# A missing key file: exit 4, naming the file.
rm "$T/certs/tls.key"
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 4 "check exit status without the key ($out)"
assert_contains "$out" "key file $T/certs/tls.key is missing"
pass
