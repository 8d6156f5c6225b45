# SPDX-License-Identifier: Apache-2.0
# Helpers for the volume scenarios on the host: image files and loop devices (no device-mapper
# here, so a provision formats, enrols and refuses for real, and stops where it would open the
# mapping), configs, sums, and the NODESEAL_TEST_PAUSE_AT seam. Sourced after lib.sh.

[ "$(id -u)" = 0 ] || skip "volume scenarios need root (loop devices, cryptsetup headers)"
command -v losetup >/dev/null || skip "losetup (util-linux) is needed"
command -v cryptsetup >/dev/null || skip "cryptsetup (cryptsetup-bin) is needed"

# loop_new FILE SIZE_MB: a zeroed image attached to a free loop device, detached at exit; prints it.
# Called as $(loop_new ...), a subshell: the detach is detach_loops' below, not a hook of its own.
loop_new() {
        local dev
        rm -f "$1"
        truncate -s "${2}M" "$1"
        dev=$(losetup -f --show "$1") || fail "no loop device for $1 (losetup -f failed)"
        echo "$dev"
}

# At exit: every loop device whose image is in $T (partitions first, as partx added them).
detach_loops() {
        local dev
        for dev in $(losetup -n -O NAME,BACK-FILE -l | awk -v t="$T/" 'index($2, t) == 1 { print $1 }'); do
                partx -d "$dev" 2>/dev/null || true
                losetup -d "$dev" || true
        done
}
cleanup_hooks+=(detach_loops)

sum_of() { sha256sum <"$1" | cut -d' ' -f1; }

# volume_config FILE DEVICE [EXTRA-VOLUME-JSON] [SECRETS-JSON]: one volume "data" on DEVICE,
# directory source in $T/secrets unless SECRETS-JSON replaces it; header backups in $T/headers.
volume_config() {
        cat >"$1" <<JSON
{
  "node_name": "$NODE_NAME",
  "runtime_directory": "$T/run",
  "secrets": ${4:-{ \"directory\": \"$T/secrets\" \}},
  "volumes": [ { "name": "data", "device": "$2", "mountpoint": "$T/mnt", "header_backup": "$T/headers"${3:+, $3} } ]
}
JSON
}

# volume_key NAME [BYTE]: 64 bytes (random, or BYTE repeated) as key NAME of the keys Secret.
KEYS_DIR=$T/secrets/nodeseal-keys-$NODE_NAME
volume_key() {
        mkdir -p "$KEYS_DIR"
        chmod 0700 "$T/secrets" "$KEYS_DIR"
        if [ -n "${2:-}" ]; then
                head -c 64 /dev/zero | tr '\0' "$2" >"$KEYS_DIR/$1"
        else
                head -c 64 /dev/urandom >"$KEYS_DIR/$1"
        fi
}

# opens_with DEVICE KEYFILE: the key opens a slot of the LUKS header (no mapping made).
opens_with() { cryptsetup open --test-passphrase --key-file "$2" "$1" >/dev/null 2>&1; }

# ns_paused STEP ARGS...: runs nodeseal in the background with NODESEAL_TEST_PAUSE_AT=STEP and
# waits until it has stopped itself there; sets ns_pid and ns_log. Fails if it ends first.
ns_paused() {
        local step=$1 i state
        shift
        ns_log=$T/paused.log
        NODESEAL_TEST_PAUSE_AT=$step "$NODESEAL" "$@" >"$ns_log" 2>&1 &
        ns_pid=$!
        for i in $(seq 1 300); do
                state=$(awk '/^State:/ { print $2 }' "/proc/$ns_pid/status" 2>/dev/null || true)
                [ "$state" = T ] && return 0
                [ -n "$state" ] || fail "nodeseal ended before it reached step $step: $(cat "$ns_log")"
                sleep 0.05
        done
        fail "nodeseal did not reach step $step in 15 s"
}

# ns_resume: lets the paused nodeseal go on; sets out and rc like ns.
ns_resume() {
        kill -CONT "$ns_pid"
        set +e
        wait "$ns_pid"
        rc=$?
        set -e
        out=$(cat "$ns_log")
}

# kube_volume_config FILE DEVICE: kube-lib.sh's write_config (the fake API server as the source)
# with the one volume "data" on DEVICE.
kube_volume_config() {
        write_config "$1"
        python3 - "$1" "$2" "$T/mnt" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["volumes"] = [{"name": "data", "device": sys.argv[2], "mountpoint": sys.argv[3],
                "header_backup": sys.argv[3] + ".headers"}]
json.dump(c, open(sys.argv[1], "w"))
PY
}
