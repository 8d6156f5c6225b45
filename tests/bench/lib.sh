# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by the benchmark scripts: the integration helpers (scratch directory $T, make_ca,
# make_secrets, the private bus and the daemon), sizes, and "row", which prints one figure beside
# its comparison and appends it to the results table. Benchmarks print numbers; they fail only when
# something cannot run, never because of a number.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$BENCH_DIR/../integration/lib.sh"
. "$BENCH_DIR/lib-table.sh"

: "${BENCH_RUN:?BENCH_RUN must point at the bench-run program}"

# Sizes: BENCH_SMOKE=1 makes everything tiny (the test suite's smoke check); each knob can be set alone.
if [ "${BENCH_SMOKE:-0}" = 1 ]; then
        : "${BENCH_RUNS:=1}" "${BENCH_REST_SECONDS:=2}" "${BENCH_BUS_SECONDS:=0.5}" "${BENCH_ISSUE_COUNT:=2}"
        : "${BENCH_ARGON2_ITER_MS:=50}" "${BENCH_KEY_TYPES:=ec-p256 ed25519}"
fi
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_REST_SECONDS=${BENCH_REST_SECONDS:-60}
BENCH_BUS_SECONDS=${BENCH_BUS_SECONDS:-5}
BENCH_BUS_RATE=${BENCH_BUS_RATE:-1000}
BENCH_ISSUE_COUNT=${BENCH_ISSUE_COUNT:-20}
BENCH_KEY_TYPES=${BENCH_KEY_TYPES:-ec-p256 ec-p384 rsa-2048 rsa-3072 ed25519}
# Empty: cryptsetup's own default (a benchmark aiming at 2 s).
BENCH_ARGON2_ITER_MS=${BENCH_ARGON2_ITER_MS:-}

# The table's rows; run-all passes one file for every script.
if [ -z "${BENCH_RESULTS:-}" ]; then
        BENCH_RESULTS=$T/results.tsv
        BENCH_OWN_TABLE=1
fi

calc() { awk "BEGIN { printf \"%.4g\", $* }"; }
# field LINE NAME: the value of NAME=VALUE in a line of bench-run / bench-bus / bench-issue output.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# verdict VALUE OP LIMIT: "met" or "missed".
verdict() { awk "BEGIN { exit !($1 $2 $3) }" && echo met || echo missed; }

# row FIGURE OURS THEIRS RATIO TARGET VERDICT COMMAND: prints the figure beside its comparison and
# the command that measured it, and appends it to the table. OURS and THEIRS carry their units
# and what they are; RATIO is OURS/THEIRS ("-" when there is no comparison).
row() {
        printf '\n%s\n  nodeseal:    %s\n  comparison:  %s\n  ratio:       %s   target: %s (%s)\n  command:     %s\n' \
                "$1" "$2" "$3" "$4" "$5" "$6" "$7"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" >>"$BENCH_RESULTS"
}

# note TEXT: a line under the figures (and in the table's notes).
note() {
        printf '  note: %s\n' "$1"
        printf 'NOTE\t%s\n' "$1" >>"$BENCH_RESULTS"
}

bench_done() {
        [ "${BENCH_OWN_TABLE:-0}" = 1 ] && print_table "$BENCH_RESULTS"
        exit 0
}

# rest_sample PID: "ctxt cpu_ns child_ticks" of a process: voluntary + involuntary context switches
# (each time it went to sleep and woke, or was preempted), its own CPU time in ns (schedstat), and
# its waited-for children's CPU time in clock ticks (cutime + cstime).
rest_sample() {
        local v n cpu ticks
        v=$(awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$1/status")
        n=$(awk '/^nonvoluntary_ctxt_switches:/ { print $2 }' "/proc/$1/status")
        cpu=$(awk '{ print $1 }' "/proc/$1/schedstat")
        ticks=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $14 + $15 }')
        echo "$((v + n)) $cpu $ticks"
}
