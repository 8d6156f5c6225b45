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

# --- nodeseal scenarios -----------------------------------------------------------------------------

# vm_nodeseal_self [VM-RUN OPTIONS...] [-- ARGS...]: vm_run_self with the build tree shared (it may
# be under /tmp, which the guest does not see) and $NODESEAL and $SCRATCH passed on. SCRATCH is
# shared too, so secrets and results outlive one guest (a "reboot" is a second vm_nodeseal_self).
vm_nodeseal_self() {
	[[ -n ${NODESEAL:-} && -x $NODESEAL ]] || fail "NODESEAL must name the built nodeseal binary"
	local build
	build=$(dirname "$(dirname "$(readlink -f "$NODESEAL")")")
	vm_run_self --share "$build:$build" --share "$SCRATCH:$SCRATCH" \
		--env "NODESEAL=$(readlink -f "$NODESEAL")" --env "SCRATCH=$SCRATCH" "$@"
}

# In the guest. vm_writer MOUNT WORK SIZE PAUSE: a file of SIZE bytes (head -c) into MOUNT every
# PAUSE seconds, synced, its sum then appended to WORK/sums (synced too: it may have to outlive a
# power cut), numbered on from the sums already there, until WORK/stop exists.
vm_writer() {
	local mnt=$1 work=$2 size=$3 pause=$4 i=0
	[[ ! -e $work/sums ]] || i=$(wc -l < "$work/sums")
	while [[ ! -e $work/stop ]]; do
		head -c "$size" /dev/urandom > "$mnt/w$i"
		sync "$mnt/w$i"
		echo "$(sha256_of "$mnt/w$i") w$i" >> "$work/sums"
		sync "$work/sums"
		i=$((i + 1))
		sleep "$pause"
	done
}

# In the guest. vm_power_loss: the scenario passed up to here and ends as a power cut ends a node:
# its status reported (as guest-run reports it), then the power off at once: no sync, no unmount,
# nothing waited for (a device stack left suspended on purpose would hold a sync for ever).
vm_power_loss() {
	log "ok, cutting the power"
	echo "NODESEAL-VM-EXIT=0" > /dev/ttyS1
	echo o > /proc/sysrq-trigger
	sleep 60
}

# In the guest. ns_config VOLUMES-JSON [EXTRA-TOP-LEVEL-JSON]: writes $SCRATCH/nodeseal.json with
# the directory source in $SCRATCH/secrets; sets NS_CONFIG.
ns_config() {
	NS_CONFIG=$SCRATCH/nodeseal.json
	cat > "$NS_CONFIG" <<-JSON
	{ "node_name": "vm-node", "runtime_directory": "/run/nodeseal-test",
	  "secrets": { "directory": "$SCRATCH/secrets" }${2:+, $2},
	  "volumes": [ $1 ] }
	JSON
}

# ns_key NAME [SOURCE]: stores 64 bytes (from SOURCE, default /dev/urandom) as key NAME.
ns_key() {
	local dir=$SCRATCH/secrets/nodeseal-keys-vm-node
	mkdir -p "$dir"
	chmod 0700 "$SCRATCH/secrets" "$dir"
	head -c 64 "${2:-/dev/urandom}" > "$dir/$1"
}
ns_key_file() { echo "$SCRATCH/secrets/nodeseal-keys-vm-node/$1"; }

# ns ARGS...: runs nodeseal with NS_CONFIG; sets $out (stdout+stderr, also logged) and $rc.
ns() {
	rc=0
	out=$("$NODESEAL" --config "${NS_CONFIG:?}" --log-format text "$@" 2>&1) || rc=$?
	printf '%s\n' "$out" | sed 's/^/  | /' >&2
}
ns_ok() {
	ns "$@"
	((rc == 0)) || fail "nodeseal $* exited $rc"
}
assert_contains() {
	[[ $1 == *"$2"* ]] || fail "${3:-output}: '$2' not in: $1"
}

# mounted_from MOUNTPOINT DEVICE: the topmost mount at MOUNTPOINT is DEVICE (compared by number).
mounted_from() {
	local want have
	want=$(printf '%d:%d' "0x$(stat -L -c %t "$2")" "0x$(stat -L -c %T "$2")")
	have=$(awk -v m="$1" '$5 == m { d = $3 } END { print d }' /proc/self/mountinfo)
	[[ -n $have && $have == "$want" ]]
}
