#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# No CA Secret at start: no READY=1, STATUS= and the bus say why, nothing is issued; the Secret
# appears: READY=1 without a restart, and PropertiesChanged tells bus clients.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
command -v dbus-monitor >/dev/null || skip "dbus-monitor is not installed (package dbus-bin)"

mkdir -p "$T/secrets"
write_daemon_config "$T/nodeseal.json"
start_bus allow-all
start_notify
dbus-monitor --address "$BUS_ADDRESS" \
        "type='signal',interface='org.freedesktop.DBus.Properties',path='/org/nodeseal/Agent1'" \
        >"$T/monitor.log" 2>&1 &
cleanup_hooks+=("kill $!")
sleep 0.5
start_daemon "$T/nodeseal.json"

wait_for 10 grep -q '^STATUS=Waiting: CA (Secret nodeseal-ca): .*not found' "$NOTIFY_LOG" ||
        fail "STATUS= does not say the CA Secret is missing: $(cat "$NOTIFY_LOG")"
wait_for 10 grep -q 'attempt 3)' "$NOTIFY_LOG" || fail "no retries: $(cat "$NOTIFY_LOG")"
! ready_notified || fail "READY=1 without a CA"
[ ! -e "$T/certs/tls.crt" ] || fail "a certificate was issued without a CA"
assert_eq "$(get_property State)" 's "waiting"' "State while waiting"
assert_eq "$(get_property Ready)" "b false" "Ready while waiting"
assert_contains "$(get_property LastError)" "Secret nodeseal-ca not found" "LastError"
assert_contains "$(get_property StatusText)" "Waiting: CA (Secret nodeseal-ca)" "StatusText"
assert_eq "$(jq -r .state "$T/run/status.json")" waiting "status.json while waiting"
ns -c "$T/nodeseal.json" status --bus-address "$BUS_ADDRESS"
assert_contains "$out" "Ready:        no"
assert_contains "$out" "Secret nodeseal-ca not found"

# The backoff grows (0.2 s, 0.4 s, 0.8 s, then 1 s at most) rather than spinning.
attempts=$(grep -c '^STATUS=Waiting' "$NOTIFY_LOG")
[ "$attempts" -lt 40 ] || fail "$attempts attempts in a few seconds: no backoff"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
wait_ready 15
[ -s "$T/certs/tls.crt" ] || fail "READY=1 without a certificate"
openssl verify -CAfile "$T/ca/ca.crt" "$T/certs/tls.crt" >/dev/null || fail "the certificate does not chain to the CA"
assert_eq "$(get_property State)" 's "ready"' "State once ready"
kill -0 "$DAEMON_PID" || fail "the daemon is gone"

wait_for 5 grep -q 'boolean true' "$T/monitor.log" || fail "no PropertiesChanged for Ready: $(cat "$T/monitor.log")"
monitor=$(cat "$T/monitor.log")
assert_contains "$monitor" 'member=PropertiesChanged'
assert_contains "$monitor" 'string "Ready"'
assert_contains "$monitor" 'string "State"'
assert_contains "$monitor" 'string "ready"'
assert_contains "$monitor" 'string "Certificates"'
pass
