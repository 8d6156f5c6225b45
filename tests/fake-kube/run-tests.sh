#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run-tests: runs every fake-kube test script (exit 0 pass, 77 skip, else fail) and prints the tally.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
passed=0 failed=0 skipped=0
failures=()
for t in "$here"/tests/*.sh; do
    [ -x "$t" ] || continue     # lib.sh is sourced, not run
    name=$(basename "$t" .sh)
    log=$(mktemp)
    start=$(date +%s)
    "$t" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    case $rc in
        0) passed=$((passed + 1)); echo "PASS $name (${secs}s)" ;;
        77) skipped=$((skipped + 1)); echo "SKIP $name: $(grep -m1 '^SKIP' "$log" | sed 's/^SKIP [^:]*: //')" ;;
        *) failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name (exit $rc, ${secs}s)"; sed 's/^/    /' "$log" ;;
    esac
    rm -f "$log"
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
