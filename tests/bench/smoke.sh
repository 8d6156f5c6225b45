#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The benchmarks' smoke check: run-all --smoke runs every benchmark end to end at tiny sizes (5
# nodes, windows of a few seconds) and prints the table, with a row from each. A test that the
# benchmarks work, not a timed test: no figure is judged here.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$("$here/run-all" --smoke "${1:?Usage: smoke.sh BUILDDIR}" 2>&1)
rc=$?
printf '%s\n' "$out"
[ $rc -eq 0 ] || { echo "FAIL: run-all --smoke exited $rc" >&2; exit 1; }
grep -q '^| figure | nodeseal | comparison | ratio | target |' <<<"$out" || { echo "FAIL: no table" >&2; exit 1; }
for r in "Unlock CPU per volume" "Reboot path, certificates" "Issuance ec-p256" "At rest, directory" "At rest, kubernetes" \
        "Describe() p99, at rest" "Fleet: API requests per node" "Fleet: CA change to every node"; do
        grep -qF "| $r" <<<"$out" || { echo "FAIL: no row \"$r\" in the table" >&2; exit 1; }
done
echo "PASS: smoke.sh"
