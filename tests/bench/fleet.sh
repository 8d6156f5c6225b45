#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A simulated fleet (fleet.py): BENCH_NODES daemons (default 500; certificates only, no bus) against
# one fake API server. Steady state over BENCH_FLEET_SECONDS (default 60) with the watch restarted
# every BENCH_FLEET_WATCH_TIMEOUT s (default 30) instead of the shipped 300, extrapolated to 300 s
# and to 10 minutes; then the CA Secret replaced, once with renew_jitter_sec 0.001 (the least allowed) and once with the
# shipped 3600, and the time until every node has reissued.
. "$(dirname "$0")/lib.sh"
. "$SOURCE_ROOT/tests/integration/kube-lib.sh"

if [ "${BENCH_SMOKE:-0}" = 1 ]; then
        : "${BENCH_NODES:=5}" "${BENCH_FLEET_SECONDS:=2}" "${BENCH_FLEET_WATCH_TIMEOUT:=2}"
fi
nodes=${BENCH_NODES:-500}
window=${BENCH_FLEET_SECONDS:-60}
wt=${BENCH_FLEET_WATCH_TIMEOUT:-30}
rate=${BENCH_FLEET_START_RATE:-25}
python3 -c 'import cryptography' 2>/dev/null || skip "python3-cryptography is needed"

# A watch and a worker's connection per node, and the control clients: raise the descriptor limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
make_ca "$T/ca" "/CN=nodeseal fleet CA 1"
make_ca "$T/ca-2" "/CN=nodeseal fleet CA 2"
make_ca "$T/ca-3" "/CN=nodeseal fleet CA 3"
# BOOKMARKs every 60 s, about what kube-apiserver sends; a request log that holds the whole run.
start_fake --bookmark-seconds 60 --request-log 2000000 --history 100000
fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
mkdir -m 700 "$T/fleet"

python3 "$BENCH_DIR/fleet.py" --nodeseal "$NODESEAL" --fake-dir "$T/fake" --token-file "$T/token" --root "$T/fleet" \
        --nodes "$nodes" --start-rate "$rate" --watch-timeout "$wt" --window "$window" \
        --jitter 0.001 --ca "$T/ca-2" --jitter 3600 --ca "$T/ca-3" >"$T/fleet.out" || fail "the fleet did not run: $(cat "$T/fleet.out")"
cat "$T/fleet.out"
v() { sed -n "s/^$1=//p" "$T/fleet.out"; }
ready=$(v ready)
[ "$ready" -gt 0 ] || fail "no node got ready"
cmd="BENCH_NODES=$nodes BENCH_FLEET_SECONDS=$window BENCH_FLEET_WATCH_TIMEOUT=$wt tests/bench/fleet.sh (fleet.py)"

row "Fleet: nodes ready" "$ready of $nodes (started $rate/s, all ready after $(v start_s) s)" \
        "-" "-" "N ≥ 500" "$(verdict "$ready" '>=' 500)" "$cmd"
row "Fleet: memory per node" "$(v private_dirty_mib_per_node) MiB private dirty, $(v rss_mib_per_node) MiB RSS ($(v private_dirty_gib_total) GiB private dirty for the fleet)" \
        "target 4 MiB private dirty" "-" "≤4 MiB" "$(verdict "$(v private_dirty_mib_per_node)" '<=' 4)" "$cmd"
wr=$(v window_requests) ww=$(v window_watches)
measured=$(calc "$wr / $ready * 600 / $window")
shipped=$(calc "(($ww / $ready) * $wt / 300 + ($wr - $ww) / $ready) * 600 / $window")
row "Fleet: API requests per node per 10 min (steady state)" \
        "$shipped at the shipped watch_timeout_sec 300 (extrapolated: $wr requests from $ready nodes in $window s, $ww of them watches, with watch_timeout_sec $wt: $measured per 10 min)" \
        "a node polling its Secret once a minute: 10" "$(calc "$shipped / 10")x" "≤1" "$(verdict "$shipped" '<=' 1)" "$cmd"
row "Fleet: fake API server CPU per node (steady state)" \
        "$(calc "$(v window_fake_cpu_s) / $ready * 600 / $window * 1000") ms per 10 min ($(v window_fake_cpu_s) s for $ready nodes in $window s)" \
        "-" "-" "-" "n/a" "$cmd"
row "Fleet: daemon CPU per node (steady state)" \
        "$(calc "$(v window_daemons_cpu_s) / $ready * 3600 / $window") s per hour, workers included" "-" "-" "-" "n/a" "$cmd"
for k in 0 1; do
        j=$(v ca${k}_jitter_s)
        limit=$(calc "$j + 5")
        row "Fleet: CA change to every node, renew_jitter_sec $j" \
                "p50 $(v ca${k}_p50_s) s, p99 $(v ca${k}_p99_s) s, max $(v ca${k}_max_s) s ($(v ca${k}_reached) of $ready nodes reissued; $(v ca${k}_requests_per_node) API requests per node; fake CPU $(v ca${k}_fake_cpu_s) s)" \
                "-" "-" "max ≤ jitter + 5 s ($limit s)" \
                "$([ "$(v ca${k}_reached)" = "$ready" ] && verdict "$(v ca${k}_max_s)" '<=' "$limit" || echo missed)" "$cmd"
done
note "Fleet: requests per 10 minutes are extrapolated from a ${window} s window (BENCH_FLEET_SECONDS) with the watch restarted every ${wt} s; each node watches one Secret (certificates only: nodeseal-ca); a node with volumes also watches its keys Secret, which doubles the watch restarts."
note "Fleet: renew_jitter_sec spreads scheduled renewals only; a CA change reaches every daemon through its watch and each provisions 0.5 s later, jitter or not, so both rounds are a burst of every node at once."
note "Fleet: the fake API server (Python, a thread per connection, each watch waking every second) is not kube-apiserver; its CPU is an upper bound of little meaning beyond this machine."
bench_done
