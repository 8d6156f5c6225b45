#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# check exits 5 with a one-line reason when the certificate expires within the margin.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_config "$T/nodeseal.json" '"validity_days": 3' '"check": { "expiry_margin_days": 7 }'

ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision ($out)"

ns -c "$T/nodeseal.json" check
assert_eq "$rc" 5 "check exit status ($out)"
assert_eq "$(wc -l <<<"$out")" 1 "lines of check output"
assert_contains "$out" "not ready: Certificate node: $T/certs/tls.crt expires on "
assert_contains "$out" "within the 7-day margin"

# Within its margin nothing is wrong.
write_config "$T/nodeseal.json" '"validity_days": 3' '"check": { "expiry_margin_days": 1 }'
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check with a 1-day margin ($out)"
pass
