#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The volume part of the reboot path, in a QEMU guest (opening a LUKS mapping needs device-mapper,
# which the build machines' kernel lacks; tests/vm is the harness). One boot: a volume is
# provisioned once (format, mkfs, mount: not measured), then, with it open and mounted,
#   - "nodeseal provision" (volumes only, directory secret source) against the shell pipeline a
#     user would write for the same guarantee (key checked against the LUKS header, the mapping
#     active on that device, the mount point on the mapper, the file system writable; one process
#     per step), BENCH_VM_RUNS runs each, interleaved, median and p90 of wall time, median CPU.
#     "nodeseal provision" makes no write test (nodeseal check does): the pipeline's touch + rm
#     are two processes more than nodeseal's side does;
#   - the cold path: the volume closed (umount + cryptsetup close, not measured) before each run,
#     "nodeseal provision" opening and mounting it against "cryptsetup open" + "mount".
# Under TCG (no KVM) every instruction is emulated: the absolute times are slow and noisy, the
# ratios are what this measures. BENCH_VM=0 skips it (so does --smoke unless BENCH_VM=1).
set -uo pipefail

if [[ -e /etc/nodeseal-vm/command.sh ]]; then
        # --- in the guest -------------------------------------------------------------------------
        set -e
        . "$(dirname "$(readlink -f "$0")")/../vm/lib.sh"
        [[ ${1:-} == --guest ]] && shift
        results=$SCRATCH/results
        : >"$results"
        # Everything the runs touch is local to the guest (the build directory and SCRATCH are 9p
        # shares): the binaries are copied to tmpfs, the keys are on tmpfs like a mounted Secret.
        SCRATCH=/run/nodeseal-bench
        mkdir -p "$SCRATCH/bin"
        cp "$NODESEAL" "$BENCH_RUN" "$SCRATCH/bin/"
        NODESEAL=$SCRATCH/bin/nodeseal BENCH_RUN=$SCRATCH/bin/bench-run
        mnt=/srv/nodeseal-bench/pgdata dev=/dev/vda name=nodeseal-pgdata
        ns_config "{ \"name\": \"pgdata\", \"device\": \"$dev\", \"mountpoint\": \"$mnt\", \"key\": \"pg\" }"
        ns_key pg
        key=$(ns_key_file pg)

        # Provisioned once, not measured.
        ns_ok provision
        assert_contains "$out" "formatting $dev as LUKS2"
        mounted_from "$mnt" "/dev/mapper/$name" || fail "$mnt is not mounted from /dev/mapper/$name"

        # What a user would run at boot instead, each step a process, as a script would.
        cat >"$SCRATCH/reboot-volume.sh" <<'SH'
#!/bin/sh
set -e
key=$1 dev=$2 name=$3 mnt=$4
cryptsetup open --test-passphrase --key-file "$key" "$dev"
cryptsetup status "$name" | grep "^ *device: *$dev\$" >/dev/null
[ "$(findmnt -n -o SOURCE --mountpoint "$mnt")" = "/dev/mapper/$name" ]
touch "$mnt/.reboot-check"
rm "$mnt/.reboot-check"
SH
        cat >"$SCRATCH/open-volume.sh" <<'SH'
#!/bin/sh
set -e
key=$1 dev=$2 name=$3 mnt=$4
cryptsetup open --key-file "$key" "$dev" "$name"
mount "/dev/mapper/$name" "$mnt"
SH
        chmod +x "$SCRATCH/reboot-volume.sh" "$SCRATCH/open-volume.sh"
        pipeline=("$key" "$dev" "$name" "$mnt")
        # Once each, unmeasured: both work here, and the binaries are in the page cache.
        "$SCRATCH/reboot-volume.sh" "${pipeline[@]}" || fail "the shell pipeline fails on the open volume"
        ns_ok provision

        # The runs are interleaved, one of each in turn (the order alternating), so that the host's
        # load, which TCG feels at once, drifts over both sides alike. Each sample is one bench-run
        # (wait4()'s wall and CPU time of the command alone); stats() gives bench-run's summary.
        samples=$SCRATCH/samples
        : >"$samples"
        # sample NAME [BENCH-RUN OPTIONS] COMMAND...: one timed run of COMMAND, as "NAME WALL CPU".
        sample() {
                local name=$1 line
                shift
                line=$("$BENCH_RUN" -n 1 "$@")
                echo "$name $(tr ' ' '\n' <<<"$line" | sed -n 's/^wall_s=//p') $(tr ' ' '\n' <<<"$line" | sed -n 's/^cpu_s=//p')" >>"$samples"
        }
        # stats NAME: median (bench-run's: the upper one) and p90 (nearest rank) of NAME's samples.
        stats() {
                local w c k
                w=$(awk -v n="$1" '$1 == n { print $2 }' "$samples" | sort -g)
                c=$(awk -v n="$1" '$1 == n { print $3 }' "$samples" | sort -g)
                k=$(wc -l <<<"$w")
                echo "wall_s=$(sed -n "$((k / 2 + 1))p" <<<"$w") cpu_s=$(sed -n "$((k / 2 + 1))p" <<<"$c") runs=$k" \
                        "wall_p90_s=$(sed -n "$(((9 * k + 9) / 10))p" <<<"$w") cpu_p90_s=$(sed -n "$(((9 * k + 9) / 10))p" <<<"$c")"
        }
        ours=("$NODESEAL" -c "$NS_CONFIG" provision)
        # The pipeline's first step alone (warm_keycheck): one libcryptsetup context and one key slot
        # unlocked, the least any check of the key against the header costs.
        keycheck=(cryptsetup open --test-passphrase --key-file "$key" "$dev")
        for ((i = 0; i < BENCH_VM_RUNS; i++)); do
                if ((i % 2 == 0)); then
                        sample warm_ours "${ours[@]}"
                        sample warm_theirs "$SCRATCH/reboot-volume.sh" "${pipeline[@]}"
                        sample warm_keycheck "${keycheck[@]}"
                else
                        sample warm_keycheck "${keycheck[@]}"
                        sample warm_theirs "$SCRATCH/reboot-volume.sh" "${pipeline[@]}"
                        sample warm_ours "${ours[@]}"
                fi
        done
        log "warm runs done"
        close="umount $mnt && cryptsetup close $name"
        for ((i = 0; i < BENCH_VM_COLD_RUNS; i++)); do
                if ((i % 2 == 0)); then
                        sample cold_ours -b "$close" "${ours[@]}"
                        sample cold_theirs -b "$close" "$SCRATCH/open-volume.sh" "${pipeline[@]}"
                else
                        sample cold_theirs -b "$close" "$SCRATCH/open-volume.sh" "${pipeline[@]}"
                        sample cold_ours -b "$close" "${ours[@]}"
                fi
        done
        ((BENCH_VM_COLD_RUNS == 0)) || log "cold runs done"
        {
                echo "guest $(nproc) vCPUs, kernel $(uname -r), $(cryptsetup --version | cut -d' ' -f1-2)"
                for n in warm_ours warm_theirs warm_keycheck cold_ours cold_theirs; do
                        ((BENCH_VM_COLD_RUNS > 0)) || [[ $n != cold_* ]] || continue
                        echo "$n $(stats "$n")"
                done
        } >>"$results"
        # Still (or again) open and mounted from the mapper, and nodeseal agrees.
        mounted_from "$mnt" "/dev/mapper/$name" || fail "$mnt is not mounted from /dev/mapper/$name after the runs"
        ns_ok check
        ns_ok close
        echo done >>"$results"
        exit 0
fi

# --- on the host --------------------------------------------------------------------------------------
. "$(dirname "$0")/lib.sh"
VM_DIR=$SOURCE_ROOT/tests/vm

if [ "${BENCH_SMOKE:-0}" = 1 ]; then
        : "${BENCH_VM:=0}" "${BENCH_VM_RUNS:=2}" "${BENCH_VM_COLD_RUNS:=2}"
fi
BENCH_VM=${BENCH_VM:-1}
BENCH_VM_RUNS=${BENCH_VM_RUNS:-20}
BENCH_VM_COLD_RUNS=${BENCH_VM_COLD_RUNS:-20}

# not_run REASON: the clear line when the VM tier does not run; exit 77 (skipped).
not_run() {
        note "Reboot path, volume: not measured: $1."
        exit 77
}
if [ "$BENCH_VM" = 0 ]; then
        if [ "${BENCH_SMOKE:-0}" = 1 ]; then
                not_run "smoke mode does not boot the VM (about a minute under TCG; BENCH_VM=1 to boot it anyway)"
        fi
        not_run "BENCH_VM=0"
fi
command -v qemu-system-x86_64 >/dev/null ||
        not_run "the VM tier cannot run here: qemu-system-x86_64 is not installed (tests/vm/vm-setup installs it)"
if ! setup=$("$VM_DIR/vm-setup" --quiet 2>&1); then
        printf '%s\n' "$setup" | sed 's/^/  | /'
        not_run "the VM tier cannot run here: tests/vm/vm-setup failed (above)"
fi

truncate -s 128M "$T/disk.img"
build=$(dirname "$(dirname "$(readlink -f "$NODESEAL")")")
bench_run_dir=$(dirname "$(readlink -f "$BENCH_RUN")")
accel=${NODESEAL_VM_ACCEL:-tcg}
echo "Booting a QEMU guest ($accel, -smp ${NODESEAL_VM_SMP:-2}): $BENCH_VM_RUNS runs with the volume open and mounted, $BENCH_VM_COLD_RUNS cold runs, of each side"
start=$SECONDS
shares=(--share "$build:$build" --share "$T:$T")
[[ $bench_run_dir == "$build"/* ]] || shares+=(--share "$bench_run_dir:$bench_run_dir")
set +e
"$VM_DIR/vm-run" --timeout 1800 --disk "$T/disk.img" "${shares[@]}" \
        --copy "$SOURCE_ROOT/tests/vm:/run/nodeseal-bench-src/tests/vm" \
        --copy "$SOURCE_ROOT/tests/bench:/run/nodeseal-bench-src/tests/bench" \
        --env "NODESEAL=$(readlink -f "$NODESEAL")" --env "BENCH_RUN=$(readlink -f "$BENCH_RUN")" \
        --env "SCRATCH=$T" --env "BENCH_VM_RUNS=$BENCH_VM_RUNS" --env "BENCH_VM_COLD_RUNS=$BENCH_VM_COLD_RUNS" \
        -- /run/nodeseal-bench-src/tests/bench/reboot-path-volume.sh --guest 2>&1 | sed 's/^/  | /'
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] && grep -qx done "$T/results" || fail "the guest run failed (vm-run exited $rc)"
echo "The guest ran for $((SECONDS - start)) s."

res() { sed -n "s/^$1 //p" "$T/results"; }
guest=$(sed -n 's/^guest //p' "$T/results")
tcg="VM: $accel, $guest"
[ "$accel" = tcg ] && tcg="VM under TCG (no KVM), $guest"
cmd="vm-run ... reboot-path-volume.sh --guest, $BENCH_VM_RUNS runs of each, interleaved: bench-run -n 1"

ours=$(res warm_ours) theirs=$(res warm_theirs)
ow=$(field "$ours" wall_s) tw=$(field "$theirs" wall_s) op=$(field "$ours" wall_p90_s) tp=$(field "$theirs" wall_p90_s)
oc=$(field "$ours" cpu_s) tc=$(field "$theirs" cpu_s)
r=$(calc "$ow / $tw") rp=$(calc "$op / $tp")
row "Reboot path, volume (wall, VM)" "median $ow s, p90 $op s (nodeseal provision, volume open and mounted: no write test)" \
        "median $tw s, p90 $tp s (cryptsetup open --test-passphrase + cryptsetup status + findmnt + touch/rm, 6 processes)" \
        "${r}x (p90 ${rp}x)" "≤0.5x" "$(verdict "$r" '<=' 0.5)" \
        "$cmd nodeseal -c CONFIG provision; bench-run -n 1 sh reboot-volume.sh KEY /dev/vda nodeseal-pgdata MNT"
r=$(calc "($oc > 0.001 ? $oc : 0.001) / ($tc > 0.001 ? $tc : 0.001)")
row "Reboot path, volume (CPU, VM)" "$oc s" "$tc s" "${r}x" "≤0.5x" "$(verdict "$r" '<=' 0.5)" "(the same runs)"
kc=$(res warm_keycheck)
kw=$(field "$kc" wall_s) kp=$(field "$kc" wall_p90_s) kcpu=$(field "$kc" cpu_s)
row "Reboot path, volume: against the key check alone (VM)" "median $ow s wall, $oc s CPU (nodeseal provision, as above)" \
        "median $kw s, p90 $kp s wall, $kcpu s CPU (cryptsetup open --test-passphrase alone: the pipeline's first step)" \
        "$(calc "$ow / $kw")x (CPU $(calc "$oc / $kcpu")x)" "-" "n/a" \
        "(interleaved with the above) bench-run -n 1 cryptsetup open --test-passphrase --key-file KEY /dev/vda"

if [ "$BENCH_VM_COLD_RUNS" -gt 0 ]; then
        ours=$(res cold_ours) theirs=$(res cold_theirs)
        ow=$(field "$ours" wall_s) tw=$(field "$theirs" wall_s) op=$(field "$ours" wall_p90_s) tp=$(field "$theirs" wall_p90_s)
        oc=$(field "$ours" cpu_s) tc=$(field "$theirs" cpu_s)
        row "Cold open, volume (VM)" \
                "median $ow s, p90 $op s wall, $oc s CPU (nodeseal provision: key checked, opened, mounted, checked)" \
                "median $tw s, p90 $tp s wall, $tc s CPU (cryptsetup open + mount)" \
                "$(calc "$ow / $tw")x (CPU $(calc "$oc / $tc")x)" "-" "n/a" \
                "$BENCH_VM_COLD_RUNS runs of each, interleaved: bench-run -n 1 -b 'umount MNT && cryptsetup close nodeseal-pgdata' (nodeseal -c CONFIG provision | sh open-volume.sh KEY /dev/vda nodeseal-pgdata MNT)"
fi
note "Volume rows: measured in one QEMU boot ($tcg), 64-byte key, pbkdf2 key slot as nodeseal makes it, ext4 on a 128 MiB virtio disk.$([ "$accel" = tcg ] && echo ' TCG emulates every instruction: absolute times are slow and noisy, the ratios are what counts.')"
bench_done
