# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# A three-member etcd cluster (Debian's etcd-server 3.4) on loopback with client and peer mutual
# TLS from nodeseal's etcd profile files: member i serves from $T/n$i/etcd-tls (server.crt,
# server.key, ca.crt) on distinct ports. Each member runs under a small supervisor loop that
# starts it again when it exits, so that "restarting" a member is killing it (what a hook can do
# without leaving a child behind). Sourced after lib.sh.

command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
        skip "etcd is not installed (packages etcd-server, etcd-client; tests/run-all installs them)"

# wait_for SECS COMMAND...: retries COMMAND every 0.1 s for up to SECS seconds (unless a library
# sourced before defines it).
declare -F wait_for >/dev/null || wait_for() {
        local secs=$1 i
        shift
        for ((i = 0; i < secs * 10; i++)); do
                "$@" && return 0
                sleep 0.1
        done
        return 1
}

ETCD_PORTS=()     # client port, peer port of member i at 2i, 2i+1 (i from 1)
etcd_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# etcd_ports: picks 6 free ports.
etcd_ports() {
        local i
        for i in 1 2 3 4 5 6 7 8; do ETCD_PORTS[$i]=$(etcd_free_port); done
}
etcd_client_port() { echo "${ETCD_PORTS[$((2 * $1))]}"; }
etcd_peer_port() { echo "${ETCD_PORTS[$((2 * $1 + 1))]}"; }
etcd_endpoint() { echo "https://127.0.0.1:$(etcd_client_port "$1")"; }
etcd_endpoints() { echo "$(etcd_endpoint 1),$(etcd_endpoint 2),$(etcd_endpoint 3)"; }

# etcd_start_member I: member I under its supervisor (the loop ends when $T/etcd-stop exists).
etcd_start_member() {
        local i=$1 d=$T/n$1 cluster
        cluster="n1=https://127.0.0.1:$(etcd_peer_port 1),n2=https://127.0.0.1:$(etcd_peer_port 2),n3=https://127.0.0.1:$(etcd_peer_port 3)"
        mkdir -p "$d/etcd-data"
        chmod 700 "$d/etcd-data"
        (
                while [ ! -e "$T/etcd-stop" ]; do
                        etcd --name "n$i" --data-dir "$d/etcd-data" \
                                --listen-client-urls "$(etcd_endpoint "$i")" --advertise-client-urls "$(etcd_endpoint "$i")" \
                                --listen-peer-urls "https://127.0.0.1:$(etcd_peer_port "$i")" \
                                --initial-advertise-peer-urls "https://127.0.0.1:$(etcd_peer_port "$i")" \
                                --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token nodeseal-test \
                                --cert-file "$d/etcd-tls/server.crt" --key-file "$d/etcd-tls/server.key" \
                                --trusted-ca-file "$d/etcd-tls/ca.crt" --client-cert-auth \
                                --peer-cert-file "$d/etcd-tls/server.crt" --peer-key-file "$d/etcd-tls/server.key" \
                                --peer-trusted-ca-file "$d/etcd-tls/ca.crt" --peer-client-cert-auth \
                                --heartbeat-interval 50 --election-timeout 500 --logger zap --log-outputs stderr \
                                >>"$d/etcd.log" 2>&1 &
                        echo $! >"$d/etcd.pid"
                        wait $! || true   # killed: start it again
                        echo "exited $(date +%s.%N)" >>"$d/etcd.restarts"
                done
        ) &
        cleanup_hooks+=("touch '$T/etcd-stop'; kill \$(cat '$d/etcd.pid') 2>/dev/null; wait $! 2>/dev/null")
}

# etcdctl_as I ARGS...: etcdctl with member I's own certificate and bundle (what its peers use).
etcdctl_as() {
        local i=$1 d=$T/n$1/etcd-tls
        shift
        ETCDCTL_API=3 etcdctl --cacert "$d/ca.crt" --cert "$d/server.crt" --key "$d/server.key" \
                --dial-timeout 2s --command-timeout 3s "$@"
}

# etcd_healthy: every member answers "endpoint health" on its own endpoint (quorum: a member
# reports healthy only when a linearizable read through the raft leader works).
etcd_healthy() {
        local i
        for i in 1 2 3; do
                etcdctl_as "$i" --endpoints "$(etcd_endpoint "$i")" endpoint health >/dev/null 2>&1 || return 1
        done
}
