#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A certificate that already expires with its CA is not reissued when it reaches its renewal point:
# a new one could not live longer, and reissuing it would reload the datastore on every attempt.
# The daemon keeps it, says why once, and schedules no renewal until the CA is replaced.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed"

# The CA ends in 2 days; certificates want 30, so each is cut at the CA's notAfter, and with
# renew_fraction 0.9999 its renewal point is a few seconds after its notBefore: already past when
# it is issued.
python3 "$SOURCE_ROOT/tests/integration/make-ca-backdated.py" "$T/ca" 1 2
make_secrets "$T/secrets" "$T/ca"
cat >"$T/hook" <<HOOK
#!/bin/sh
openssl x509 -noout -serial -in "\$NODESEAL_CERT_FILE" >>"$T/hook.log"
HOOK
chmod +x "$T/hook"
write_daemon_config "$T/nodeseal.json" '"validity_days": 30, "renew_fraction": 0.9999, "reload_command": ["'"$T"'/hook"]' '"check": { "expiry_margin_days": 1 }'
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
first=$(serial_of "$T/certs/tls.crt")
assert_eq "$(openssl x509 -noout -enddate -in "$T/certs/tls.crt")" "$(openssl x509 -noout -enddate -in "$T/ca/ca.crt")" \
        "the certificate's notAfter (cut at the CA's)"

# Several retry intervals (1 s) and re-checks (2 s) later: the same certificate, one hook run.
sleep 6
assert_eq "$(serial_of "$T/certs/tls.crt")" "$first" "serial after 6 s"
assert_eq "$(cat "$T/hook.log")" "$first" "hook runs"
assert_eq "$(get_property Ready)" "b true" "Ready"
assert_not_contains "$(cat "$DAEMON_LOG")" "A certificate reached its renewal point."
assert_not_contains "$(cat "$DAEMON_LOG")" "right after issuing"

# A provision by hand keeps it too, and says why.
"$NODESEAL" --config "$T/nodeseal.json" provision >"$T/provision.out" 2>&1 || fail "provision: $(cat "$T/provision.out")"
assert_contains "$(cat "$T/provision.out")" "it already expires with the CA"
assert_eq "$(serial_of "$T/certs/tls.crt")" "$first" "serial after a provision"

# A replaced CA is acted on: a new certificate from it.
python3 "$SOURCE_ROOT/tests/integration/make-ca-backdated.py" "$T/ca2" 1 400
replace_ca_secret "$T/secrets" "$T/ca2"
expect_reissued_under "$T/ca2" "$first" 20
pass
