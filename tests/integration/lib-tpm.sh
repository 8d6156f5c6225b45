# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# A TPM 2.0 for the node key: Debian's swtpm over its socket TCTI on loopback. Sourced after lib.sh.

command -v swtpm >/dev/null || fail "swtpm is needed (tests/run-all installs it)"
command -v tpm2_pcrextend >/dev/null || fail "tpm2_pcrextend is needed (package tpm2-tools)"

# start_swtpm NAME: a TPM with its state in $T/NAME, on two free loopback ports; sets TCTI. The
# ports are free when picked but may be taken before swtpm binds them (tests run side by side):
# then another pair is picked.
start_swtpm() {
        local port pid try
        mkdir -p "$T/$1"
        for try in 1 2 3 4 5; do
                port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
                # the control port is the next one
                swtpm socket --tpm2 --tpmstate dir="$T/$1" --flags not-need-init,startup-clear \
                        --server type=tcp,port="$port",bindaddr=127.0.0.1 --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
                        --log file="$T/$1.log" &
                pid=$!
                cleanup_hooks+=("kill $pid 2>/dev/null")
                TCTI="swtpm:host=127.0.0.1,port=$port"
                swtpm_up() { kill -0 "$pid" 2>/dev/null && bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; }
                swtpm_gone() { ! kill -0 "$pid" 2>/dev/null; }
                wait_for 20 bash -c "kill -0 $pid 2>/dev/null || exit 0; exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null || true
                swtpm_up && return 0
                swtpm_gone || fail "swtpm did not listen: $(cat "$T/$1.log")"
        done
        fail "swtpm did not listen after $try tries: $(cat "$T/$1.log")"
}
