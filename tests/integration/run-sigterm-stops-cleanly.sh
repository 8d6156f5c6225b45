#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# SIGTERM: STOPPING=1, exit 0, status.json says "stopped", and "nodeseal status" falls back to the
# file when no daemon answers. Without any bus (a container) the daemon runs and writes the file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_daemon_config "$T/nodeseal.json"
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
pid=$DAEMON_PID

stop_daemon
assert_eq "$daemon_rc" 0 "exit status after SIGTERM"
notified STOPPING=1 || fail "no STOPPING=1: $(cat "$NOTIFY_LOG")"
assert_eq "$(jq -r .state "$T/run/status.json")" stopped "status.json after SIGTERM"
assert_eq "$(jq -r .ready "$T/run/status.json")" false "status.json ready after SIGTERM"
[ -s "$T/certs/tls.crt" ] || fail "the certificate went away on stop"

# The bus is still there, the daemon is not: the file answers.
ns -c "$T/nodeseal.json" status --bus-address "$BUS_ADDRESS"
assert_eq "$rc" 0 "status without a daemon ($out)"
assert_contains "$out" "State:        stopped"
assert_contains "$out" "From:         $T/run/status.json"
ns -c "$T/nodeseal.json" status --json --bus-address "$BUS_ADDRESS"
assert_eq "$(jq -r .pid <<<"$out")" "$pid" "status --json from the file"

# No bus at all: the system bus socket does not exist.
: >"$NOTIFY_LOG"
NOTIFY_SOCKET=$T/notify.sock DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-bus "$NODESEAL" -c "$T/nodeseal.json" \
        --log-format text run >"$T/nobus.log" 2>&1 &
DAEMON_PID=$!
cleanup_hooks+=("kill $DAEMON_PID 2>/dev/null")
wait_ready
assert_contains "$(cat "$T/nobus.log")" "No D-Bus"
written_by_daemon() { [ "$(jq -r .pid "$T/run/status.json")" == "$DAEMON_PID" ]; }
wait_for 5 written_by_daemon || fail "status.json not written without a bus"
assert_eq "$(jq -r .state "$T/run/status.json")" ready "status.json without a bus"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-bus ns -c "$T/nodeseal.json" status
assert_eq "$rc" 0 "status without a bus ($out)"
assert_contains "$out" "State:        ready"
assert_contains "$out" "From:         $T/run/status.json"
assert_not_contains "$out" "stale"

kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-bus ns -c "$T/nodeseal.json" status
assert_contains "$out" "stale: the daemon, pid $DAEMON_PID, is gone"
pass
