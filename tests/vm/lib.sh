# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# lib.sh: helpers shared by the VM tests, on the host and inside the guest.
#
# Source it from a test script:   . "$(dirname "$(readlink -f "$0")")/lib.sh"
# A test script is usually both halves: on the host it prepares disks and calls vm_run_self, which
# boots a guest that runs the same script with --guest. Exit status: 0 pass, 77 skip, else fail.

# Where this directory is on the host, and where vm_run_self puts a copy of it in the guest
# (copied, not shared: the guest cannot modify the tests, and a tree under the host's /tmp, which
# the guest does not see, works too).
VM_DIR=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
VM_GUEST_DIR=/run/nodeseal-vm-tests

# Messages go to stderr with the test's name, so interleaved guest and host output stays readable.
_vm_name=$(basename "$0")
log() { echo "[$_vm_name] $*" >&2; }
fail() { echo "[$_vm_name] FAIL: $*" >&2; exit 1; }
skip() { echo "[$_vm_name] SKIP: $*" >&2; exit 77; }

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
	[[ $1 == "$2" ]] || fail "${3:-value}: expected '$1', got '$2'"
}

# assert_ok WHAT CMD... : run CMD, fail with WHAT (and CMD's status) when it fails.
assert_ok() {
	local what=$1 rc=0
	shift
	"$@" || rc=$?
	((rc == 0)) || fail "$what: '$*' exited $rc"
}

# Under set -e a failing command ends the script silently; say which one, so that a failure in the
# guest (whose shell is gone afterwards) can be understood from the log alone.
set -E
trap 'echo "[$_vm_name] FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR

in_guest() { [[ -e /etc/nodeseal-vm/command.sh ]]; }

# make_disk FILE SIZE_MB: a sparse, zeroed raw image (blank as far as libblkid can tell).
make_disk() {
	rm -f "$1"
	truncate -s "${2}M" "$1" || fail "cannot create disk image $1"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# scratch_dir: a private directory removed when the script exits. Sets SCRATCH.
scratch_dir() {
	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/nodeseal-vmtest.XXXXXX") || fail "mktemp failed"
	trap 'rm -rf "$SCRATCH"' EXIT
}

# wait_for SECS CMD...: poll CMD every 0.2 s until it succeeds; non-zero after SECS.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

# vm_require: skip (77) when this machine cannot run the VM tier at all, with the reason; get the
# kernel otherwise. A real failure of vm-setup on a machine that should work still fails.
vm_require() {
	[[ -e /dev/null ]] || skip "no /dev/null"
	if ! command -v qemu-system-x86_64 > /dev/null && [[ $(id -u) != 0 ]]; then
		skip "qemu-system-x86_64 is not installed and installing it needs root (run tests/vm/vm-setup)"
	fi
	"$VM_DIR/vm-setup" --quiet > /dev/null || fail "tests/vm/vm-setup failed"
}

vm_run() { "$VM_DIR/vm-run" "$@"; }

# vm_run_self [VM-RUN OPTIONS...] [-- ARGS...]: run this very script in a guest as
# "SCRIPT --guest ARGS...". Returns the guest script's exit status.
vm_run_self() {
	local opts=()
	while (($#)) && [[ $1 != -- ]]; do
		opts+=("$1")
		shift
	done
	(($#)) && shift
	vm_run --copy "$VM_DIR:$VM_GUEST_DIR" "${opts[@]}" -- "$VM_GUEST_DIR/$(basename "$0")" --guest "$@"
}
