#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A certificate reaching its renewal point is renewed by the running daemon (new serial, new
# notAfter on the bus) and the reload hook runs after each change, with the file paths in its
# environment; a hook that hangs is killed at the timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is not installed"

# A CA from yesterday, so that node certificates start at now - 300 s (nodeseal's clock skew) and
# live 1 day + 300 s = 86700 s. renew_fraction 1 - 306/86700 puts the renewal point 6 s after issuing
# (the check margin, 8.6 s here, comes later).
python3 "$SOURCE_ROOT/tests/integration/make-ca-backdated.py" "$T/ca" 1
make_secrets "$T/secrets" "$T/ca"
cat >"$T/hook" <<HOOK
#!/bin/sh
echo "\$NODESEAL_CERTIFICATE \$(openssl x509 -noout -serial -in "\$NODESEAL_CERT_FILE") \$NODESEAL_KEY_FILE \$NODESEAL_CA_FILE" >>"$T/hook.log"
HOOK
chmod +x "$T/hook"
write_daemon_config "$T/nodeseal.json" '"validity_days": 1, "renew_fraction": 0.99647058823, "reload_command": ["'"$T"'/hook"]' '"check": { "expiry_margin_days": 0.0001 }'
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
wait_for 5 test -s "$T/hook.log" || fail "the hook did not run after the first issue: $(cat "$DAEMON_LOG")"
first=$(serial_of "$T/certs/tls.crt")
assert_eq "$(cat "$T/hook.log")" "node $first $T/certs/tls.key $T/certs/ca.crt" "hook environment"
prop=$(get_property Certificates)

# Renewed by the timer, around 6 s later (+ up to 0.5 s of jitter).
serial_changed() { [ "$(serial_of "$T/certs/tls.crt")" != "$first" ]; }
wait_for 20 serial_changed || fail "not renewed: $(cat "$DAEMON_LOG")"
second=$(serial_of "$T/certs/tls.crt")
openssl verify -CAfile "$T/ca/ca.crt" "$T/certs/tls.crt" >/dev/null || fail "the renewed certificate does not verify"
wait_for 5 grep -q "^node $second " "$T/hook.log" || fail "the hook did not run after the renewal: $(cat "$T/hook.log")"
assert_contains "$(cat "$DAEMON_LOG")" "A certificate reached its renewal point."
assert_contains "$(cat "$DAEMON_LOG")" "reload hook (pid"
property_changed() { [ "$(get_property Certificates)" != "$prop" ]; }
wait_for 5 property_changed || fail "Certificates did not change on the bus"
assert_eq "$(get_property State)" 's "ready"' "State after renewal"
# The renewal is not a loop: at most one more in the next 3 s (each lives 6 s).
sleep 3
[ "$(wc -l <"$T/hook.log")" -le 4 ] || fail "renewing in a loop: $(cat "$T/hook.log")"

# A hook that hangs is killed at hook_timeout_sec (5 s here); the daemon goes on.
printf '#!/bin/sh\nexec sleep 600\n' >"$T/hook"
wait_for 25 grep -q "still running after 5 s, killing it" "$DAEMON_LOG" || fail "a hanging hook was not killed: $(cat "$DAEMON_LOG")"
wait_for 5 grep -q "killed by signal" "$DAEMON_LOG" || fail "the killed hook's end was not logged"
assert_eq "$(get_property Ready)" "b true" "Ready with a hanging hook"
pass
