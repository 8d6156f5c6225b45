#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A 429 with Retry-After: 250 makes the attempt wait minutes in its worker, never the daemon:
# Describe() within 100 ms every time, WATCHDOG=1 goes on, SIGTERM ends it within 2 s. With a
# deadline on attempts (daemon.attempt_timeout_sec), Reconcile() answers with that attempt's
# failure, named.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"
. "$(dirname "$0")/lib-daemon.sh"

start_fake
make_ca "$T/ca"
remember_secret "$(sed -n 2p "$T/ca/ca.key")"
fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
write_config "$T/base.json" "" '{"initial_sec": 0.2, "max_sec": 1}'
make_config() {
        python3 - "$T/base.json" "$1" "$T" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["certificates"] = [{"name": "db", "directory": sys.argv[3] + "/certs"}]
c["daemon"] = json.loads(sys.argv[4])
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
}
make_config "$T/c.json" '{"recheck_sec": 600}'
make_config "$T/deadline.json" '{"recheck_sec": 600, "attempt_timeout_sec": 4}'

fk_fault '{"mode": "status", "code": 429, "retry_after": 250}'
start_bus allow-all
start_notify
start_daemon "$T/c.json" WATCHDOG_USEC=1000000
wait_for 10 busctl --address="$BUS_ADDRESS" status org.nodeseal.Agent1 >/dev/null 2>&1 ||
        fail "the daemon did not take its name: $(cat "$DAEMON_LOG")"
wait_for 10 test "$(fk_count 0 nodeseal-ca)" -ge 1 || fail "no request reached the API server"

probe_describe 6
expect_watchdog 3
stop_daemon_within 2
assert_eq "$daemon_rc" 0 "exit status after SIGTERM"

# With a deadline: the attempt is stopped after 4 s and Reconcile() says so.
: >"$NOTIFY_LOG"
start_daemon "$T/deadline.json" WATCHDOG_USEC=1000000
wait_for 10 busctl --address="$BUS_ADDRESS" status org.nodeseal.Agent1 >/dev/null 2>&1 ||
        fail "the daemon did not take its name: $(cat "$DAEMON_LOG")"
call_async reconcile Reconcile
probe_describe 3
wait_for 30 call_returned reconcile || fail "Reconcile() never answered: $(tail -n 20 "$DAEMON_LOG")"
assert_eq "$(cat "$T/reconcile.rc")" 1 "Reconcile() during throttling ($(cat "$T/reconcile.out"))"
assert_contains "$(cat "$T/reconcile.out")" "did not finish within 4 s"
assert_contains "$(get_property LastError)" "did not finish within 4 s" "LastError"
stop_daemon_within 2

cp "$DAEMON_LOG" "$NOTIFY_LOG" "$LOGS/"
assert_no_secrets
pass
