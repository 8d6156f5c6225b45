#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# D-Bus: Describe() latency (p50, p99) at BENCH_BUS_RATE calls per second (default 1000) for
# BENCH_BUS_SECONDS, against the bus's own org.freedesktop.DBus.GetId() at the same rate, in the
# same window, as the floor (a call the dbus-daemon answers itself). The daemon uses the kubernetes source, on a private
# bus, in three states: at rest; while the fake API server answers every request 3 s late (the watch
# is restarted into it and a Reconcile() is waiting on a worker); and while it throttles (429,
# Retry-After 250 s), the same way.
. "$(dirname "$0")/lib.sh"
. "$SOURCE_ROOT/tests/integration/kube-lib.sh"
. "$SOURCE_ROOT/tests/integration/lib-daemon.sh"
: "${BENCH_BUS:?BENCH_BUS must point at the bench-bus program}"

make_ca "$T/ca"
start_fake --bookmark-seconds 60
fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
cat >"$T/nodeseal.json" <<JSON
{ "node_name": "$NODE_NAME", "runtime_directory": "$T/run",
  "secrets": { "source": "kubernetes", "kubernetes": { "api_url": "$FAKE_KUBE_URL", "ca_file": "$FAKE_KUBE_CA",
               "token_file": "$T/token", "namespace": "nodeseal" } },
  "certificates": [ { "name": "node", "directory": "$T/certs", "dns_names": ["{node}", "localhost"] } ] }
JSON
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready 60
sleep 1

measure() {
        local state=$1 limit=$2 ours floor r
        both=$("$BENCH_BUS" "$BUS_ADDRESS" "$BENCH_BUS_SECONDS" "$BENCH_BUS_RATE" \
                org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 Describe \
                org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId) || fail "no answer ($state)"
        ours=$(grep '^method=Describe ' <<<"$both") floor=$(grep '^method=GetId ' <<<"$both")
        r=$(calc "$(field "$ours" p99_ms) / $(field "$floor" p99_ms)")
        row "Describe() p99, $state" \
                "p50 $(field "$ours" p50_ms) ms, p99 $(field "$ours" p99_ms) ms, max $(field "$ours" max_ms) ms ($(field "$ours" calls) calls at $(field "$ours" rate)/s, $(field "$ours" failed) failed)" \
                "GetId(): p50 $(field "$floor" p50_ms) ms, p99 $(field "$floor" p99_ms) ms, max $(field "$floor" max_ms) ms ($(field "$floor" rate)/s)" \
                "${r}x (p99)" "<$limit ms" "$(verdict "$(field "$ours" p99_ms)" '<' "$limit")" \
                "bench-bus ADDRESS $BENCH_BUS_SECONDS $BENCH_BUS_RATE org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 Describe org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetId"
}

measure "at rest" 2

# misbehave FAULT: the fault on every API request, the watch restarted into it, a Reconcile() waiting.
misbehave() {
        fk_clear
        fk_fault "$1"
        fk POST /fake/watches/close >/dev/null
        call_async reconcile Reconcile
        sleep 0.5
}
misbehave '{"mode": "slow", "delay_ms": 3000}'
measure "API server slow (3 s per answer)" 5
misbehave '{"mode": "status", "code": 429, "retry_after": 250}'
measure "API server throttling (429, Retry-After 250)" 5
fk_clear
stop_daemon
note "D-Bus: each state is measured for ${BENCH_BUS_SECONDS} s at ${BENCH_BUS_RATE} calls/s of each method, Describe() and GetId() (the floor) one after the other at each tick, by one synchronous client; a call is timed from send to reply."
bench_done
