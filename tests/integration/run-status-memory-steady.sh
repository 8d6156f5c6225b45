#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The daemon's memory stays flat under a stream of status queries: VmRSS before and after 2000
# Describe() and property reads, after a warm-up, differs by less than 1 MiB.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"

# Under ASan, freed memory waits in a quarantine (which would look like growth); keep it tiny. Leaks
# proper are LeakSanitizer's job when the daemon exits.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_daemon_config "$T/nodeseal.json"
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
queries() {
        local i
        for ((i = 0; i < $1; i++)); do
                call Describe >/dev/null
                if ((i % 10 == 0)); then get_property Certificates >/dev/null; fi
        done
}

queries 200
before=$(rss)
queries 2000
after=$(rss)
echo "VmRSS before: $before kB, after: $after kB"
[ $((after - before)) -lt 1024 ] || fail "VmRSS grew from $before kB to $after kB over 2000 queries"
assert_eq "$(jq -r .state <<<"$(describe)")" ready "state after the queries"
stop_daemon
assert_eq "$daemon_rc" 0 "exit status (LeakSanitizer, when built with it)"
pass
