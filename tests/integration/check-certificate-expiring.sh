#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# check exits 5 with a one-line reason when the certificate expires within the margin; provision
# renews such a certificate (renewal comes no later than the check margin), and a configuration
# whose certificates would live no longer than the margin is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
# A 3-day certificate, issued under a 1-day margin.
write_config "$T/nodeseal.json" '"validity_days": 3' '"check": { "expiry_margin_days": 1 }'
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision ($out)"
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check with a 1-day margin ($out)"
first=$(serial_of "$T/certs/tls.crt")

# The margin raised to 7 days (and certificates of 30): the 3-day one is now expiring.
write_config "$T/nodeseal.json" '"validity_days": 30' '"check": { "expiry_margin_days": 7 }'
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 5 "check exit status ($out)"
assert_eq "$(wc -l <<<"$out")" 1 "lines of check output"
assert_contains "$out" "not ready: Certificate node: $T/certs/tls.crt expires on "
assert_contains "$out" "within the 7-day margin"

# provision renews it: it is due, whatever its renew_fraction says.
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision after the margin was raised ($out)"
[ "$(serial_of "$T/certs/tls.crt")" != "$first" ] || fail "the expiring certificate was kept"
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check after the renewal ($out)"

# Certificates that would live no longer than the margin: refused, naming both settings.
write_config "$T/nodeseal.json" '"validity_days": 3' '"check": { "expiry_margin_days": 7 }'
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 1 "provision with validity_days under the margin ($out)"
assert_contains "$out" "certificates[0].validity_days: 3 day(s) is not longer than check.expiry_margin_days (7)"
pass
