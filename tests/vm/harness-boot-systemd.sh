#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# harness-boot-systemd: systemd mode boots to multi-user, runs the command from a unit, returns its status.
#
# Also checks what later scenarios rely on: units from --unit-dir are installed and started,
# udevd names disks by serial under /dev/disk/by-id, the system bus is up, and nothing failed.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	[[ -x /lib/systemd/systemd ]] || skip "the host has no systemd to boot"
	scratch_dir
	make_disk "$SCRATCH/disk.img" 16
	mkdir "$SCRATCH/units" "$SCRATCH/units/multi-user.target.wants"
	cat > "$SCRATCH/units/nsvm-probe.service" <<-'UNIT'
		[Unit]
		Description=probe unit installed by harness-boot-systemd
		[Service]
		Type=oneshot
		RemainAfterExit=yes
		ExecStart=/bin/sh -c 'echo probe-ran > /run/nsvm-probe'
	UNIT
	ln -s ../nsvm-probe.service "$SCRATCH/units/multi-user.target.wants/nsvm-probe.service"

	# The checks pass → the guest exits 42, so a non-zero status is shown to come back as well.
	rc=0
	vm_run_self --systemd --timeout 300 --unit-dir "$SCRATCH/units" --disk "$SCRATCH/disk.img,serial=nsvm-sd0" || rc=$?
	assert_eq 42 "$rc" "status of the systemd-mode checks (42 = all passed)"

	# A plain zero comes back too.
	rc=0
	vm_run --systemd --timeout 300 -- true || rc=$?
	assert_eq 0 "$rc" "status of 'true' in systemd mode"
	log "pass"
	exit 0
fi

# --- in the guest: PID 1 is systemd, this runs from nodeseal-vm-command.service ---------------------
assert_eq systemd "$(cat /proc/1/comm)" "PID 1"
state=$(systemctl is-system-running --wait || true)
if [[ $state != running ]]; then
	systemctl --failed --no-pager >&2 || true
	fail "system state is '$state', not running"
fi
assert_eq active "$(systemctl is-active multi-user.target)" "multi-user.target"
assert_eq nodeseal-vm-command.service "$(systemctl show -P Id "$(cut -d: -f3 < /proc/self/cgroup | sed 's|.*/||')")" \
	"unit the command runs in"
assert_eq active "$(systemctl is-active nsvm-probe.service)" "unit installed with --unit-dir"
assert_eq probe-ran "$(cat /run/nsvm-probe)" "output of the --unit-dir unit"
assert_eq active "$(systemctl is-active systemd-udevd.service)" "systemd-udevd"
udevadm settle --timeout=30
[[ $(readlink -f /dev/disk/by-id/virtio-nsvm-sd0) == /dev/vda ]] ||
	fail "/dev/disk/by-id/virtio-nsvm-sd0 does not point at /dev/vda: $(ls -l /dev/disk/by-id 2>&1)"
busctl --system status > /dev/null || fail "no system bus"
[[ $(systemd-detect-virt) != docker ]] || fail "systemd believes it runs in a container"
exit 42
