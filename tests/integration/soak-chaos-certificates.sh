#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The chaos soak, certificates on the host: "nodeseal run" with the kubernetes source against the
# fake API server while chaos.py switches faults at random (down, slow, silent, 429 with
# Retry-After, 5xx, garbage, truncated, unterminated, wrong certificate, watches closed, history
# compacted, the CA Secret replaced, replaced by a mismatched pair, deleted) and checks the
# invariants throughout (see chaos.py). NODESEAL_SOAK_SEC sets the length (180 s by default, as CI runs it; the
# README's hour-long run sets 3600), NODESEAL_SOAK_SEED a reproducible schedule.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"
. "$(dirname "$0")/lib-daemon.sh"

python3 -c 'import cryptography' 2>/dev/null || fail "python3-cryptography is needed (tests/run-all installs it)"
start_fake --history 200
for i in 0 1 2; do make_ca "$T/ca$i" "/CN=nodeseal chaos CA $i"; remember_secret "$(sed -n 2p "$T/ca$i/ca.key")"; done
fk_secret nodeseal-ca "tls.crt=$T/ca0/ca.crt" "tls.key=$T/ca0/ca.key"

# Short timeouts and a low backoff cap so that a minute sees many attempts; the watch restarts often.
write_config "$T/base.json" "" '{"initial_sec": 0.2, "max_sec": 3, "jitter": 0.2}'
python3 - "$T/base.json" "$T/c.json" "$T" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
t = sys.argv[3]
c["certificates"] = [{"name": "db", "directory": t + "/certs"}]
c["daemon"] = {"recheck_sec": 5, "renew_jitter_sec": 0.5, "poll_sec": 0.5}
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY

start_bus allow-all
start_notify
start_daemon "$T/c.json" WATCHDOG_USEC=3000000
wait_ready 30

# RSS growth allowed: 8 MiB; under ASan its quarantine of freed memory (up to 256 MiB) dominates.
# The ASan build runs the same soak for 60 s by default: the plain build's 180 s run is the long
# one, and the sanitizers' findings come early.
seconds=180 rss_limit=8192
if ldd "$NODESEAL" 2>/dev/null | grep libasan >/dev/null; then
        seconds=60 rss_limit=$((256 * 1024))
fi
seconds=${NODESEAL_SOAK_SEC:-$seconds}
set +e
env BUS_ADDRESS="$BUS_ADDRESS" NOTIFY_LOG="$NOTIFY_LOG" DAEMON_PID="$DAEMON_PID" WATCHDOG_USEC=3000000 \
        CHAOS_CA_DIRS="$T/ca0:$T/ca1:$T/ca2" CHAOS_CONFIG="$T/c.json" CHAOS_CERT="$T/certs/tls.crt" \
        CHAOS_STATUS_FILE="$T/run/status.json" CHAOS_BACKOFF_CAP=3 CHAOS_RECHECK_SEC=5 CHAOS_SECONDS="$seconds" CHAOS_RSS_LIMIT_KIB=$rss_limit \
        CHAOS_SEED="${NODESEAL_SOAK_SEED:-0}" \
        python3 "$SOURCE_ROOT/tests/integration/chaos.py" | tee "$LOGS/chaos.out"
rc=${PIPESTATUS[0]}
set -e
cp "$DAEMON_LOG" "$LOGS/"
[ "$rc" -eq 0 ] || fail "invariants broke under chaos (seed ${NODESEAL_SOAK_SEED:-random}); daemon log tail: $(tail -n 30 "$DAEMON_LOG")"
kill -0 "$DAEMON_PID" || fail "the daemon died"
assert_no_secrets
pass
