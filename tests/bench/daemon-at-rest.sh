#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The daemon at rest, ready, with the shipped daemon settings (poll_sec 10, recheck_sec 60, the
# watch restarted every 300 s), for the directory source and for the kubernetes source (the fake API
# server sending a BOOKMARK every 60 s, about what kube-apiserver does): RSS and private dirty memory
# (smaps_rollup), wakeups (voluntary + involuntary context switches) per minute, and CPU per hour
# (the daemon's own from schedstat, plus its workers' from cutime/cstime), over a window of
# BENCH_REST_SECONDS (default 60; the figures per minute and per hour are extrapolated from it).
# Comparison: a timer running the user's shell check (reboot-path.sh's pipeline) every recheck_sec.
. "$(dirname "$0")/lib.sh"
. "$SOURCE_ROOT/tests/integration/lib-cert.sh"
. "$SOURCE_ROOT/tests/integration/kube-lib.sh"
. "$SOURCE_ROOT/tests/integration/lib-daemon.sh"

window=$BENCH_REST_SECONDS
make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"

# The comparison: the shell check a timer would run every 60 s instead of a daemon.
cat >"$T/check.sh" <<'SH'
#!/bin/sh
set -e
ca=$1/nodeseal-ca/tls.crt crt=$2/tls.crt key=$2/tls.key
openssl verify -CAfile "$ca" "$crt" >/dev/null
openssl x509 -in "$crt" -noout -checkend 604800 >/dev/null
[ "$(openssl x509 -in "$crt" -noout -pubkey)" = "$(openssl pkey -in "$key" -pubout)" ]
SH
chmod +x "$T/check.sh"

cat >"$T/directory.json" <<JSON
{ "node_name": "$NODE_NAME", "runtime_directory": "$T/run-directory",
  "secrets": { "directory": "$T/secrets" },
  "certificates": [ { "name": "node", "directory": "$T/certs-directory", "dns_names": ["{node}", "localhost"] } ] }
JSON

start_fake --bookmark-seconds 60
fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
cat >"$T/kubernetes.json" <<JSON
{ "node_name": "$NODE_NAME", "runtime_directory": "$T/run-kubernetes",
  "secrets": { "source": "kubernetes", "kubernetes": { "api_url": "$FAKE_KUBE_URL", "ca_file": "$FAKE_KUBE_CA",
               "token_file": "$T/token", "namespace": "nodeseal" } },
  "certificates": [ { "name": "node", "directory": "$T/certs-kubernetes", "dns_names": ["{node}", "localhost"] } ] }
JSON

start_bus allow-all
start_notify
hz=$(getconf CLK_TCK)
for source in directory kubernetes; do
        : >"$NOTIFY_LOG"
        start_daemon "$T/$source.json"
        wait_ready 60
        sleep 1
        before=$(rest_sample "$DAEMON_PID")
        sleep "$window"
        after=$(rest_sample "$DAEMON_PID")
        read -r c0 n0 k0 <<<"$before"
        read -r c1 n1 k1 <<<"$after"
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status")
        dirty=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$DAEMON_PID/smaps_rollup")
        stop_daemon

        check=$("$BENCH_RUN" -n "$BENCH_RUNS" "$T/check.sh" "$T/secrets" "$T/certs-$source")
        wakeups=$(calc "($c1 - $c0) * 60 / $window")
        cpu_h=$(calc "(($n1 - $n0) / 1e9 + ($k1 - $k0) / $hz) * 3600 / $window")
        timer_h=$(calc "$(field "$check" cpu_s) * 60")
        cmd="nodeseal run ($source source, shipped daemon settings) on a private bus; /proc/PID/status, smaps_rollup, schedstat over ${window} s"
        row "At rest, $source: private dirty" "$(calc "$dirty / 1024") MiB (RSS $(calc "$rss / 1024") MiB)" \
                "target 4 MiB" "-" "≤4 MiB" "$(verdict "$dirty" '<=' 4096)" "$cmd"
        row "At rest, $source: wakeups" "$wakeups per minute ($((c1 - c0)) in ${window} s)" \
                "one per poll interval (10 s): 6 per minute" "$(calc "$wakeups / 6")x" "≤6 per minute" \
                "$(verdict "$wakeups" '<=' 6)" "$cmd"
        row "At rest, $source: CPU per hour" "$cpu_h s (daemon $(calc "($n1 - $n0) / 1e6") ms + workers $(( (k1 - k0) * 1000 / hz )) ms in ${window} s)" \
                "$timer_h s (a timer running the shell check every 60 s)" "$(calc "$cpu_h / $timer_h")x" "-" "n/a" \
                "$cmd; bench-run -n $BENCH_RUNS sh check.sh SECRETS CERTS, times 60"
done
note "At rest: wakeups and CPU per minute/hour are extrapolated from a ${window} s window (BENCH_REST_SECONDS); the re-check every recheck_sec (60 s) starts a worker process, counted in CPU (workers, in clock ticks of 10 ms) and in the daemon's wakeups."
bench_done
