#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The dm-crypt workqueue flags, through the mapper, in a QEMU guest (device-mapper is missing on the
# build machines). One boot: a volume on a virtio-scsi disk that QEMU reports as non-rotational
# (rotation_rate=1) is provisioned with the default "auto" (no_read_workqueue and
# no_write_workqueue on), then the same volume with both set to false (nodeseal reloads the live
# mapping), in turn, BENCH_VM_FLAG_ROUNDS rounds each: fio, 4 KiB random reads and writes (70/30),
# O_DIRECT, iodepth 16, on a file in the mounted filesystem, BENCH_VM_FIO_SECONDS each. Figures:
# IOPS, median over the rounds. Under TCG the crypto itself is emulated:
# the absolute numbers are slow, the ratio between the two settings is the figure. BENCH_VM=0 skips
# it (so does --smoke unless BENCH_VM=1).
set -uo pipefail

if [[ -e /etc/nodeseal-vm/command.sh ]]; then
        # --- in the guest -------------------------------------------------------------------------
        set -e
        . "$(dirname "$(readlink -f "$0")")/../vm/lib.sh"
        results=$SCRATCH/results
        : >"$results"
        modprobe virtio_scsi
        modprobe sd_mod
        wait_for 20 test -b /dev/sda || fail "the SCSI disk did not appear"
        [[ $(</sys/block/sda/queue/rotational) == 0 ]] || fail "/dev/sda is not reported non-rotational"
        cp "$NODESEAL" /run/nodeseal
        NODESEAL=/run/nodeseal SCRATCH=/run/nodeseal-bench
        mkdir -p "$SCRATCH"
        mnt=/srv/nodeseal-bench/data
        ns_key data
        # flags SETTING: provision the volume with both workqueue flags at SETTING ("auto" or false).
        flags() {
                ns_config "{ \"name\": \"data\", \"device\": \"/dev/sda\", \"mountpoint\": \"$mnt\",
                             \"luks\": { \"no_read_workqueue\": $1, \"no_write_workqueue\": $1 } }"
                ns_ok provision
        }
        flags '"auto"'
        table=$(cryptsetup status nodeseal-data | sed -n 's/^ *flags: *//p')
        [[ $table == "no_read_workqueue no_write_workqueue" ]] || fail "auto on the SSD gave flags '$table'"
        fio_run() {
                fio --name=flags --filename="$mnt/fio.dat" --size=64M --rw=randrw --rwmixread=70 --bs=4k \
                        --direct=1 --ioengine=libaio --iodepth=16 --runtime="$BENCH_VM_FIO_SECONDS" --time_based \
                        --output-format=json 2>/dev/null |
                        jq -r '.jobs[0].read.iops + .jobs[0].write.iops'
        }
        fio_run >/dev/null   # lays out the file, unmeasured
        for ((i = 0; i < BENCH_VM_FLAG_ROUNDS; i++)); do
                flags '"auto"'
                echo "on $(fio_run)" >>"$results"
                flags false
                [[ -z $(cryptsetup status nodeseal-data | sed -n 's/^ *flags: *//p') ]] || fail "flags still on after false"
                echo "off $(fio_run)" >>"$results"
        done
        echo "guest $(nproc) vCPUs, kernel $(uname -r), $(fio --version)" >>"$results"
        ns_ok close
        echo done >>"$results"
        exit 0
fi

# --- on the host --------------------------------------------------------------------------------------
. "$(dirname "$0")/lib.sh"
VM_DIR=$SOURCE_ROOT/tests/vm
if [ "${BENCH_SMOKE:-0}" = 1 ]; then
        : "${BENCH_VM:=0}" "${BENCH_VM_FLAG_ROUNDS:=1}" "${BENCH_VM_FIO_SECONDS:=2}"
fi
BENCH_VM=${BENCH_VM:-1}
BENCH_VM_FLAG_ROUNDS=${BENCH_VM_FLAG_ROUNDS:-3}
BENCH_VM_FIO_SECONDS=${BENCH_VM_FIO_SECONDS:-10}
not_run() {
        note "Workqueue flags: not measured: $1."
        exit 77
}
if [ "$BENCH_VM" = 0 ]; then
        [ "${BENCH_SMOKE:-0}" = 1 ] && not_run "smoke mode does not boot the VM (BENCH_VM=1 to boot it anyway)"
        not_run "BENCH_VM=0"
fi
command -v qemu-system-x86_64 >/dev/null || not_run "qemu-system-x86_64 is not installed (tests/vm/vm-setup installs it)"
command -v fio >/dev/null && command -v jq >/dev/null || not_run "fio and jq are needed"
"$VM_DIR/vm-setup" --quiet >/dev/null 2>&1 || not_run "tests/vm/vm-setup failed"

truncate -s 256M "$T/ssd.img"
build=$(dirname "$(dirname "$(readlink -f "$NODESEAL")")")
accel=${NODESEAL_VM_ACCEL:-tcg}
echo "Booting a QEMU guest ($accel): $BENCH_VM_FLAG_ROUNDS rounds of fio, ${BENCH_VM_FIO_SECONDS} s each, flags on and off"
set +e
"$VM_DIR/vm-run" --timeout 1800 --scsi-disk "$T/ssd.img,rotation_rate=1" --share "$build:$build" --share "$T:$T" \
        --copy "$SOURCE_ROOT/tests/vm:/run/nodeseal-bench-src/tests/vm" \
        --copy "$SOURCE_ROOT/tests/bench:/run/nodeseal-bench-src/tests/bench" \
        --env "NODESEAL=$(readlink -f "$NODESEAL")" --env "SCRATCH=$T" \
        --env "BENCH_VM_FLAG_ROUNDS=$BENCH_VM_FLAG_ROUNDS" --env "BENCH_VM_FIO_SECONDS=$BENCH_VM_FIO_SECONDS" \
        -- /run/nodeseal-bench-src/tests/bench/luks-flags.sh --guest 2>&1 | sed 's/^/  | /'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] && grep -qx done "$T/results" || fail "the guest run failed (vm-run exited $rc)"

# median KIND COLUMN: the upper median of that column over the rounds.
median() { awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$T/results" | sort -g | awk '{ a[NR] = $1 } END { print a[int(NR / 2) + 1] }'; }
on_iops=$(median on 2) off_iops=$(median off 2)
guest=$(sed -n 's/^guest //p' "$T/results")
row "Workqueue flags on a non-rotational disk (fio, VM)" \
        "$(calc "$on_iops") IOPS (no_read_workqueue no_write_workqueue: the default \"auto\")" \
        "$(calc "$off_iops") IOPS (both false: the kernel's crypto workqueues)" \
        "$(calc "$on_iops / $off_iops")x IOPS" "-" "n/a" \
        "fio --rw=randrw --rwmixread=70 --bs=4k --direct=1 --ioengine=libaio --iodepth=16 --runtime=$BENCH_VM_FIO_SECONDS on ext4 on the mapper, median of $BENCH_VM_FLAG_ROUNDS interleaved rounds"
note "Workqueue flags: one QEMU boot ($accel, $guest), virtio-scsi disk with rotation_rate=1 on a host image file (cache=unsafe).$([ "$accel" = tcg ] && echo ' TCG emulates the crypto too: the ratio is the figure, not the absolute numbers.')"
bench_done
