#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Reconcile() and RenewCertificates() are for root: refused by the daemon itself on a bus that lets
# anyone call anything, and by the shipped bus policy; anyone may read the status.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (to call as nobody, and to own the name under the shipped policy)"
command -v setpriv >/dev/null || skip "setpriv is not installed (package util-linux)"
command -v dbus-send >/dev/null || skip "dbus-send is not installed (package dbus-bin)"

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
# dbus-send rather than busctl: it prints the error's name and message as sent (busctl says
# "Access denied" for any AccessDenied error, which would hide who refused).
nobody_call() {
        set +e
        out=$(as_nobody dbus-send --bus="$BUS_ADDRESS" --print-reply --dest=org.nodeseal.Agent1 /org/nodeseal/Agent1 \
                "org.nodeseal.Agent1.$1" 2>&1)
        rc=$?
        set -e
}

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_daemon_config "$T/nodeseal.json"

# 1. A bus that allows everything: what refuses is the handler.
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
serial=$(serial_of "$T/certs/tls.crt")

for method in Reconcile RenewCertificates; do
        nobody_call "$method"
        [ "$rc" -ne 0 ] || fail "nobody may call $method()"
        assert_contains "$out" "Error org.freedesktop.DBus.Error.AccessDenied: $method() is for root only" \
                "$method() as nobody"
        assert_contains "$(cat "$DAEMON_LOG")" "Refused $method() to uid 65534"
done
assert_eq "$(serial_of "$T/certs/tls.crt")" "$serial" "serial after refused calls"
nobody_call Describe
assert_eq "$rc" 0 "Describe() as nobody ($out)"
assert_contains "$out" '"state":"ready"'
nobody_call GetCA
assert_eq "$rc" 0 "GetCA() as nobody ($out)"
assert_contains "$out" "BEGIN CERTIFICATE"

call Reconcile >/dev/null || fail "root's Reconcile() failed"
call RenewCertificates >/dev/null || fail "root's RenewCertificates() failed"
[ "$(serial_of "$T/certs/tls.crt")" != "$serial" ] || fail "RenewCertificates() did not issue a new certificate"
stop_daemon
assert_eq "$daemon_rc" 0 "daemon exit status"
kill "$BUS_PID"

# 2. The shipped policy on a system-bus-like default: the bus refuses before the daemon sees it.
: >"$DAEMON_LOG"
start_bus shipped-policy
start_daemon "$T/nodeseal.json"
wait_for 10 busctl --address="$BUS_ADDRESS" status org.nodeseal.Agent1 >/dev/null 2>&1 ||
        fail "the daemon did not take its name under the shipped policy: $(cat "$DAEMON_LOG")"
for method in Reconcile RenewCertificates; do
        nobody_call "$method"
        [ "$rc" -ne 0 ] || fail "the policy let nobody call $method()"
        assert_contains "$out" "Error org.freedesktop.DBus.Error.AccessDenied: Rejected send message" \
                "$method() as nobody under the policy"
done
assert_not_contains "$(cat "$DAEMON_LOG")" "Refused" "daemon log (the bus should have refused first)"
nobody_call Describe
assert_eq "$rc" 0 "Describe() as nobody under the policy ($out)"
nobody_call GetCA
assert_eq "$rc" 0 "GetCA() as nobody under the policy ($out)"
set +e
out=$(as_nobody busctl --address="$BUS_ADDRESS" get-property org.nodeseal.Agent1 /org/nodeseal/Agent1 \
        org.nodeseal.Agent1 Ready 2>&1)
rc=$?
set -e
assert_eq "$rc" 0 "get-property as nobody ($out)"
set +e
out=$(as_nobody busctl --address="$BUS_ADDRESS" introspect org.nodeseal.Agent1 /org/nodeseal/Agent1 2>&1)
rc=$?
set -e
assert_eq "$rc" 0 "introspect as nobody ($out)"
assert_contains "$out" ".Reconcile"
call Reconcile >/dev/null || fail "root's Reconcile() failed under the policy"
pass
