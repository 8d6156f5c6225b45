#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The daemon's metrics, with the kubernetes source: the textfile (for node_exporter's textfile
# collector) and GET /metrics both pass "promtool check metrics" and say what the daemon knows
# (ready, the certificate's notAfter and renewal time, the CA's notAfter, attempts, API requests by
# verb and code, a failing hook); a scraper that connects and sends nothing, and one that sends a
# request and reads nothing, hold up neither other scrapes nor D-Bus.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"
. "$(dirname "$0")/lib-daemon.sh"

command -v promtool >/dev/null || skip "promtool is not installed (package prometheus)"

start_fake
make_ca "$T/ca"
fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
remember_secret "$(sed -n 2p "$T/ca/ca.key")"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
write_config "$T/base.json" "" '{"initial_sec": 0.2, "max_sec": 1}'
python3 - "$T/base.json" "$T/c.json" "$T" "$port" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
t = sys.argv[3]
c["certificates"] = [{"name": "db", "directory": t + "/certs", "reload_command": ["/bin/false"]}]
c["daemon"] = {"recheck_sec": 600, "renew_jitter_sec": 1}
c["metrics"] = {"textfile": t + "/textfile/nodeseal.prom", "listen": "127.0.0.1:" + sys.argv[4]}
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
mkdir "$T/textfile"

start_bus allow-all
start_notify
start_daemon "$T/c.json"
wait_ready 20
wait_for 10 grep -q 'nodeseal_hook_runs_total{name="db"} [1-9]' "$T/textfile/nodeseal.prom" ||
        fail "no hook run in the textfile: $(cat "$T/textfile/nodeseal.prom" 2>&1)"

# check FILE WHAT: promtool is happy, and the values are the daemon's.
check() {
        local text
        text=$(cat "$1")
        promtool check metrics <"$1" >"$T/promtool.out" 2>&1 || fail "$2: promtool check metrics: $(cat "$T/promtool.out")"
        assert_contains "$text" "nodeseal_ready 1" "$2"
        assert_contains "$text" 'nodeseal_state{state="ready"} 1' "$2"
        assert_contains "$text" 'nodeseal_certificate_state{name="db",state="ready"} 1' "$2"
        not_after=$(date -d "$(openssl x509 -in "$T/certs/tls.crt" -noout -enddate | cut -d= -f2)" +%s)
        assert_contains "$text" "nodeseal_certificate_expiry_timestamp_seconds{name=\"db\"} $not_after.000000" "$2"
        grep -q '^nodeseal_certificate_renewal_timestamp_seconds{name="db"} [0-9]' <<<"$text" || fail "$2: no renewal time"
        ca_not_after=$(date -d "$(openssl x509 -in "$T/ca/ca.crt" -noout -enddate | cut -d= -f2)" +%s)
        assert_contains "$text" "nodeseal_ca_expiry_timestamp_seconds $ca_not_after.000000" "$2"
        grep -q '^nodeseal_reconcile_attempts_total{kind="provision"} [1-9]' <<<"$text" || fail "$2: no attempts: $text"
        assert_contains "$text" 'nodeseal_reconcile_failures_total{kind="provision"} 0' "$2"
        grep -q '^nodeseal_reconcile_last_duration_seconds 0\.[0-9]*[1-9]' <<<"$text" || fail "$2: no duration: $text"
        # The worker's GET of the CA Secret, reported to the daemon.
        grep -q '^nodeseal_kubernetes_api_requests_total{verb="get",code="200"} [1-9]' <<<"$text" ||
                fail "$2: no API requests: $text"
        # The hook fails every time and is retried with backoff: as many failures as runs, at least one.
        runs=$(sed -n 's/^nodeseal_hook_runs_total{name="db"} \([0-9]*\)$/\1/p' <<<"$text")
        [ -n "$runs" ] && [ "$runs" -ge 1 ] || fail "$2: no hook run: $text"
        assert_contains "$text" "nodeseal_hook_failures_total{name=\"db\"} $runs" "$2"
}
check "$T/textfile/nodeseal.prom" textfile
assert_file_mode "$T/textfile/nodeseal.prom" 644
# Atomic: nothing but the file itself in its directory (no temporary left behind).
assert_eq "$(ls -A "$T/textfile")" nodeseal.prom "the textfile directory"

url=http://127.0.0.1:$port/metrics
curl -sS -D "$T/headers" -o "$T/scrape.prom" "$url" || fail "GET /metrics failed"
check "$T/scrape.prom" "GET /metrics"
assert_contains "$(cat "$T/headers")" "Content-Type: text/plain; version=0.0.4; charset=utf-8"
# The daemon's own watch is counted there too (the textfile is written on changes of state only).
wait_for 10 eval 'curl -sS "$url" | grep "^nodeseal_kubernetes_api_requests_total{verb=\"watch\",code=\"200\"} [1-9]" >/dev/null' ||
        fail "no watch request counted: $(curl -sS "$url")"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" 404 "GET /"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")" 405 "POST /metrics"

# Stuck scrapers: one connects and says nothing, one asks and never reads (a small receive buffer).
python3 - "$port" >"$T/stuck.log" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
quiet = socket.create_connection(("127.0.0.1", port))
deaf = socket.socket()
deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
deaf.connect(("127.0.0.1", port))
deaf.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
print("STUCK", flush=True)
time.sleep(30)
PY
stuck=$!
cleanup_hooks+=("kill $stuck 2>/dev/null")
wait_for 5 grep -q STUCK "$T/stuck.log" || fail "the stuck scraper did not start: $(cat "$T/stuck.log")"
probe_describe 3
curl -sS -m 2 -o "$T/scrape2.prom" "$url" || fail "GET /metrics did not answer beside the stuck scrapers"
check "$T/scrape2.prom" "GET /metrics beside stuck scrapers"
kill "$stuck"

stop_daemon
assert_eq "$daemon_rc" 0 "daemon exit status"
assert_contains "$(cat "$DAEMON_LOG")" "Serving metrics on http://127.0.0.1:$port/metrics."
cp "$DAEMON_LOG" "$T/textfile/nodeseal.prom" "$T/scrape.prom" "$LOGS/"
assert_no_secrets
pass
