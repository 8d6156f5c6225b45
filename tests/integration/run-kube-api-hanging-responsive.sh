#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# An API server that takes requests and never answers: the attempt hangs in its worker, while the
# daemon answers Describe() within 100 ms every time, keeps sending WATCHDOG=1, holds a Reconcile()
# made meanwhile until an attempt after it finishes (and answers with its outcome), and on SIGTERM
# stops the hanging worker and exits within 2 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"
. "$(dirname "$0")/lib-daemon.sh"

start_fake --silent-max 600
make_ca "$T/ca"
remember_secret "$(sed -n 2p "$T/ca/ca.key")"
fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
write_config "$T/base.json" "" '{"initial_sec": 0.2, "max_sec": 1}'
python3 - "$T/base.json" "$T/c.json" "$T" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["certificates"] = [{"name": "db", "directory": sys.argv[3] + "/certs"}]
c["daemon"] = {"recheck_sec": 600, "renew_jitter_sec": 1}
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY

fk_fault '{"mode": "silent"}'
start_bus allow-all
start_notify
start_daemon "$T/c.json" WATCHDOG_USEC=1000000
wait_for 10 busctl --address="$BUS_ADDRESS" status org.nodeseal.Agent1 >/dev/null 2>&1 ||
        fail "the daemon did not take its name: $(cat "$DAEMON_LOG")"
sleep 1   # the first attempt now waits for an answer that does not come

probe_describe 6
expect_watchdog 3
assert_eq "$(describe | jq -r .state)" starting "state while the first attempt hangs"

# Reconcile() now: coalesced into one attempt after the hanging one, answered when that finishes.
call_async reconcile Reconcile
sleep 1
call_returned reconcile && fail "Reconcile() answered before an attempt after it ran: $(cat "$T/reconcile.out")"
probe_describe 2
fk_clear
wait_for 60 call_returned reconcile || fail "Reconcile() never answered: $(tail -n 20 "$DAEMON_LOG")"
assert_eq "$(cat "$T/reconcile.rc")" 0 "Reconcile() once the API answers again ($(cat "$T/reconcile.out"))"
wait_ready 30
openssl verify -CAfile "$T/ca/ca.crt" "$T/certs/tls.crt" >/dev/null || fail "the certificate does not chain to the CA"

# SIGTERM while an attempt hangs: the worker is stopped, the waiting caller gets an error.
fk_fault '{"mode": "silent"}'
call_async renew RenewCertificates
sleep 1
workers=$(worker_pids)
[ -n "$workers" ] || fail "no worker runs the attempt: $(tail -n 20 "$DAEMON_LOG")"
probe_describe 1
stop_daemon_within 2
assert_eq "$daemon_rc" 0 "exit status after SIGTERM"
for p in $workers; do
        ! kill -0 "$p" 2>/dev/null || fail "worker $p outlived the daemon"
done
wait_for 5 call_returned renew || fail "RenewCertificates() got no answer"
assert_contains "$(cat "$T/renew.out")" "Call failed: The daemon is stopping." "RenewCertificates() at SIGTERM"

cp "$DAEMON_LOG" "$NOTIFY_LOG" "$LOGS/"
assert_no_secrets
pass
