#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# harness-boot-script: plain mode runs a command, shows its output and returns its exit status.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

vm_require
scratch_dir

# Output comes back, status 0 comes back. The word is built in the guest so that the check cannot
# pass on an echo of the command line.
out=$(vm_run -- bash -c 'echo "hello from $(uname -r) pid1=$(cat /proc/1/comm)"') || fail "true command failed: $?"
log "guest said: $out"
[[ $out == *"hello from "*-amd64" pid1="* ]] || fail "guest output missing: $out"
[[ $out != *"hello from $(uname -r) "* ]] || fail "the command ran on the host kernel, not in the guest"

# A non-zero status comes back as is, and output written before it is still shown.
rc=0
out=$(vm_run -- bash -c 'echo before-exit; exit 3') || rc=$?
assert_eq 3 "$rc" "exit status of 'exit 3'"
[[ $out == *before-exit* ]] || fail "output before a failing exit is lost: $out"

# Arguments keep their boundaries and quoting; the environment and cwd are passed (a cwd the guest
# sees: the host's /tmp, where a clone may live, is a fresh tmpfs there).
# One guest for the three (a boot costs seconds): bash gets the arguments after its script as "$@".
rc=0
out=$(cd /usr/share && vm_run --env 'NSVM_T=x y$z' -- \
	bash -c 'printf "<%s>" "$@"; echo; echo "env=$NSVM_T cwd=$PWD"' bash 'a b' '' "c'd") || rc=$?
assert_eq 0 "$rc" "printf status"
[[ $out == *"<a b><><c'd>"* ]] || fail "arguments mangled: $out"
[[ $out == *"env=x y\$z cwd=/usr/share"* ]] || fail "env or cwd not passed: $out"

# A writable share: what the guest writes is on the host afterwards, and back.
echo from-host > "$SCRATCH/in"
vm_run --share "$SCRATCH:/mnt/share" -- bash -c 'cat /mnt/share/in > /mnt/share/out; echo guest >> /mnt/share/out' ||
	fail "share command failed"
assert_eq "from-host
guest" "$(cat "$SCRATCH/out")" "file written through the share"

# A command that does not exist is an ordinary failure (127), not a hung guest.
rc=0
vm_run -- /nonexistent/command > /dev/null 2>&1 || rc=$?
assert_eq 127 "$rc" "status of a missing command"

# The timeout fires and says so.
rc=0
vm_run --timeout 10 -- sleep 600 > /dev/null 2> "$SCRATCH/err" || rc=$?
assert_eq 124 "$rc" "status after --timeout"
grep -q timeout "$SCRATCH/err" || fail "no timeout message: $(cat "$SCRATCH/err")"
log "pass"
