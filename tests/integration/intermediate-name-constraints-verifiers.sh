#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Per-node intermediate CAs (secrets.signer "intermediate"): a root and two nodes with the directory
# source; each node makes its intermediate key (wrapped to itself) and request, the operator issues
# each for that node's names only, and each node signs its certificate with it. Then a compromised
# node-a, holding its intermediate key, mints certificates for node-b's DNS name and node-b's IP: every
# verifier that trusts only the root (openssl verify, a Go TLS client and server, PostgreSQL with
# verify-full, etcd with client TLS) rejects them, while the nodes' own certificates pass. Also: node-a
# signs without tls.key in the CA Secret, refuses a name outside its constraints, and the operator's
# issue ignores the names a request asks for and refuses a request whose signature does not verify.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-intermediate.sh"

# Every verifier is required (tests/run-all installs them): a run without one would prove nothing.
[ "$(id -u)" -eq 0 ] || skip "needs root (node keys are root's; PostgreSQL runs as postgres)"
command -v go >/dev/null || fail "Go is needed (package golang-go; tests/run-all installs it)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/initdb" ] || fail "the PostgreSQL server is needed (package postgresql; tests/run-all installs it)"
id postgres >/dev/null 2>&1 || fail "no postgres user (package postgresql)"
command -v etcd >/dev/null && command -v etcdctl >/dev/null || fail "etcd is needed (packages etcd-server, etcd-client)"
chmod 0755 "$T"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The Go probe, built now from the standard library alone: no network, caches in $T.
mkdir -p "$T/go"
cp "$SOURCE_ROOT/tests/integration/go-tls-probe.go" "$T/go/main.go"
(cd "$T/go" && GOCACHE=$T/go/cache GOPATH=$T/go/path GOPROXY=off GOFLAGS= GO111MODULE=off go build -o probe main.go) ||
        fail "could not build the Go TLS probe"
probe() { "$T/go/probe" "$@"; }

# ---- one setup for every verifier ----
intermediate_setup node-a node-b
S=$T/secrets
cp "$S/nodeseal-ca/ca.crt" "$T/root.crt"

# node_config NODE DNS IP [EXTRA_DNS]: signer intermediate, node key in $T/NODE, one generic certificate.
node_config() {
        mkdir -p -m 0700 "$T/$1"
        cat >"$T/$1.json" <<JSON
{ "node_name": "$1", "runtime_directory": "$T/$1/run",
  "secrets": { "directory": "$S", "signer": "intermediate",
    "wrapping": { "node_key_file": "$T/$1/node.key", "recovery_public_key": "$T/recovery.pub" } },
  "certificates": [ { "name": "node", "directory": "$T/$1/tls",
    "dns_names": ["$2"${4:+, \"$4\"}], "ip_addresses": ["$3"] } ] }
JSON
}
node_config node-a node-a.test 127.0.0.1
node_config node-b node-b.test 127.0.0.2

# Before its intermediate is issued, node-a says what to run (and never falls back to the root key).
ns -c "$T/node-a.json" provision
[ "$rc" -ne 0 ] || fail "node-a provisioned without an intermediate: $out"
assert_contains "$out" "has no intermediate.crt yet: run \"nodeseal intermediate request\""
[ ! -e "$T/node-a/tls/tls.crt" ] || fail "a certificate was written without an intermediate"

declare -A keysha
for n in node-a node-b; do
        ns -c "$T/$n.json" intermediate request
        assert_eq "$rc" 0 "intermediate request on $n: $out"
        assert_contains "$out" "BEGIN CERTIFICATE REQUEST"
        keysha[$n]=$(sed -n 's/^key-sha256: //p' <<<"$out")
        # The digest the operator checks is openssl's of the request's key.
        assert_eq "${keysha[$n]}" "$(openssl req -in "$S/nodeseal-keys-$n/intermediate.csr" -pubkey -noout |
                openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)" "key-sha256 printed by $n"
done
# The key is stored wrapped only: the node's name and the label are bound to it.
[ ! -e "$S/nodeseal-keys-node-a/intermediate.key" ] || fail "a plain intermediate key was stored"
assert_eq "$(jq -r '.node + "/" + .volume' "$S/nodeseal-keys-node-a/intermediate.key.wrapped")" \
        "node-a/intermediate.key" "what the wrapped key is for"
# A second request keeps the key (the request for it stays valid).
csr_before=$(cat "$S/nodeseal-keys-node-a/intermediate.csr")
wrapped_before=$(cat "$S/nodeseal-keys-node-a/intermediate.key.wrapped")
ns -c "$T/node-a.json" intermediate request
assert_eq "$rc" 0 "second request: $out"
assert_contains "$out" "Kept the intermediate CA key of node node-a"
assert_eq "$(cat "$S/nodeseal-keys-node-a/intermediate.key.wrapped")" "$wrapped_before" "wrapped key after a second request"
assert_eq "$(cat "$S/nodeseal-keys-node-a/intermediate.csr")" "$csr_before" "request after a second request"

# A compromised node-b replaces node-a's request with one for its own key: the operator, given the
# digest node-a printed, refuses it; node-a's next request puts its own back.
cp "$S/nodeseal-keys-node-a/intermediate.csr" "$T/csr-a"
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$T/b-own.key" \
        -subj "/CN=nodeseal intermediate node-a" -out "$S/nodeseal-keys-node-a/intermediate.csr" 2>/dev/null
ns -c "$T/operator.json" intermediate issue --node node-a --dns node-a.test --key-sha256 "${keysha[node-a]}"
[ "$rc" -ne 0 ] || fail "the operator certified a request node-b planted: $out"
assert_contains "$out" "the request is not the one the node made"
[ ! -e "$S/nodeseal-keys-node-a/intermediate.crt" ] || fail "intermediate.crt written for a planted request"
ns -c "$T/node-a.json" intermediate request
assert_eq "$rc" 0 "node-a's request after the planted one: $out"
cmp -s "$S/nodeseal-keys-node-a/intermediate.csr" "$T/csr-a" && fail "the request was not made again" || true
assert_eq "$(sed -n 's/^key-sha256: //p' <<<"$out")" "${keysha[node-a]}" "node-a's key after the planted request"

# The operator refuses without names, and ignores any names a request asks for.
ns -c "$T/operator.json" intermediate issue --node node-a
[ "$rc" -ne 0 ] || fail "issued without --dns: $out"
assert_contains "$out" "no --dns given for node node-a"
ns -c "$T/operator.json" intermediate issue --node node-a --dns node-a.test --ip 0.0.0.0/0
[ "$rc" -ne 0 ] || fail "issued for every address: $out"
assert_contains "$out" "is wider than /8"
ns -c "$T/operator.json" intermediate issue --node node-a --dns node-a.test --ip 127.0.0.1/32 --key-sha256 "${keysha[node-a]}"
assert_eq "$rc" 0 "issue node-a: $out"
ns -c "$T/operator.json" intermediate issue --node node-b --dns node-b.test --ip 127.0.0.2
assert_eq "$rc" 0 "issue node-b: $out"
assert_contains "$out" "Certified the key with SHA-256 ${keysha[node-b]} without --key-sha256"
int_a=$T/int-a.crt
openssl x509 -in "$S/nodeseal-keys-node-a/intermediate.crt" -out "$int_a"
text=$(openssl x509 -in "$int_a" -noout -text)
assert_contains "$text" "CA:TRUE, pathlen:0"
assert_contains "$text" "X509v3 Name Constraints: critical"
assert_contains "$text" "DNS:node-a.test"
assert_contains "$text" "IP:127.0.0.1/255.255.255.255"
assert_not_contains "$text" "node-b"

# The operator takes tls.key out of the CA Secret: the nodes sign with their intermediates alone.
mv "$S/nodeseal-ca/tls.key" "$T/root.key"
for n in node-a node-b; do
        ns -c "$T/$n.json" provision
        assert_eq "$rc" 0 "provision $n without the root key: $out"
        ns -c "$T/$n.json" check
        assert_eq "$rc" 0 "check $n: $out"
        assert_eq "$(grep -c 'BEGIN CERTIFICATE' "$T/$n/tls/tls.crt")" 2 "certificates in $n's tls.crt (leaf + intermediate)"
        cmp -s "$T/$n/tls/ca.crt" "$T/root.crt" || fail "$n's ca.crt is not the root alone"
done
A=$T/node-a/tls B=$T/node-b/tls
assert_contains "$(openssl x509 -in "$A/tls.crt" -noout -issuer)" "nodeseal intermediate node-a"

# A name outside node-a's constraints is refused before anything is issued, naming the name.
node_config node-a node-a.test 127.0.0.1 node-b.test
serial=$(openssl x509 -in "$A/tls.crt" -noout -serial)
ns -c "$T/node-a.json" provision
[ "$rc" -ne 0 ] || fail "node-a issued itself a certificate for node-b.test: $out"
assert_contains "$out" "DNS:node-b.test is outside the name constraints of the signing intermediate CA"
assert_eq "$(openssl x509 -in "$A/tls.crt" -noout -serial)" "$serial" "node-a's certificate after the refusal"
node_config node-a node-a.test 127.0.0.1

# ---- the compromised node-a: its intermediate key (what its node key unwraps) mints for node-b ----
ns recover-key --recovery-key "$T/recovery.key" --output "$T/stolen.key" "$S/nodeseal-keys-node-a/intermediate.key.wrapped"
assert_eq "$rc" 0 "recover the intermediate key: $out"
openssl pkey -in "$T/stolen.key" -pubout | cmp -s - <(openssl x509 -in "$int_a" -noout -pubkey) ||
        fail "the recovered key is not the intermediate's"
# mint NAME SAN: $T/minted-NAME/{leaf.crt,chain.crt,key}, signed by node-a's intermediate with openssl.
mint() {
        local d=$T/minted-$1
        mkdir -p "$d"
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$d/key" -out "$d/csr" \
                -subj "/CN=$1" 2>/dev/null
        printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
                "extendedKeyUsage=serverAuth,clientAuth" "subjectAltName=$2" >"$d/ext.cnf"
        openssl x509 -req -in "$d/csr" -CA "$int_a" -CAkey "$T/stolen.key" -set_serial "0x$(openssl rand -hex 8)" \
                -days 30 -extfile "$d/ext.cnf" -out "$d/leaf.crt" 2>/dev/null || fail "minting $1"
        cat "$d/leaf.crt" "$int_a" >"$d/chain.crt"
}
mint own "DNS:node-a.test,IP:127.0.0.1"    # the control: what node-a may mint
mint b-dns "DNS:node-b.test"
mint b-ip "IP:127.0.0.2"

# openssl verify, the root alone trusted.
for c in "$A/tls.crt" "$T/minted-own/chain.crt" "$B/tls.crt"; do
        v=$(openssl verify -CAfile "$T/root.crt" -untrusted "$c" -purpose sslserver "$c" 2>&1) || fail "openssl verify $c: $v"
done
for m in b-dns b-ip; do
        set +e
        v=$(openssl verify -CAfile "$T/root.crt" -untrusted "$T/minted-$m/chain.crt" "$T/minted-$m/chain.crt" 2>&1)
        r=$?
        set -e
        [ $r -ne 0 ] || fail "openssl verify accepted the certificate node-a minted ($m)"
        assert_contains "$v" "permitted subtree violation"
done

# Go, the root alone trusted: as a server's chain for the name the client dials, and as a client's.
go_ok() { local got; got=$(probe "$@" 2>&1) || fail "Go refused a good chain ($*): $got"; }
go_refused() {
        local got
        ! got=$(probe "$@" 2>&1) || fail "Go accepted a minted chain ($*): $got"
        assert_contains "$got" "not authorized to sign for this name" "Go's error"
}
go_ok -root "$T/root.crt" -cert "$A/tls.crt" -key "$A/tls.key" -name node-a.test
go_ok -root "$T/root.crt" -cert "$A/tls.crt" -key "$A/tls.key" -name 127.0.0.1
go_ok -root "$T/root.crt" -cert "$B/tls.crt" -key "$B/tls.key" -name node-b.test
go_ok -root "$T/root.crt" -cert "$T/minted-own/chain.crt" -key "$T/minted-own/key" -name node-a.test
go_refused -root "$T/root.crt" -cert "$T/minted-b-dns/chain.crt" -key "$T/minted-b-dns/key" -name node-b.test
go_refused -root "$T/root.crt" -cert "$T/minted-b-ip/chain.crt" -key "$T/minted-b-ip/key" -name 127.0.0.2
go_ok -mode client -root "$T/root.crt" -cert "$A/tls.crt" -key "$A/tls.key" -server-cert "$B/tls.crt" \
        -server-key "$B/tls.key" -name node-b.test
go_refused -mode client -root "$T/root.crt" -cert "$T/minted-b-dns/chain.crt" -key "$T/minted-b-dns/key" \
        -server-cert "$B/tls.crt" -server-key "$B/tls.key" -name node-b.test

# ---- PostgreSQL: verify-full with only the root; the chain it serves is swapped between runs ----
port=$(free_port)
mkdir -p "$T/pg" "$T/sock"
chown postgres "$T/pg" "$T/sock"
# serve CHAIN KEY: the files PostgreSQL serves, then a reload, waiting until the new leaf is served.
serve_pg() {
        install -o postgres -m 0644 "$1" "$T/pg/server.crt"
        install -o postgres -m 0600 "$2" "$T/pg/server.key"
        [ -n "${pg_started:-}" ] || return 0
        runuser -u postgres -- "$pgbin/pg_ctl" -D "$T/pgdata" reload >/dev/null
        local want
        want=$(openssl x509 -in "$1" -noout -serial)
        wait_for 10 served_is "$want" || fail "PostgreSQL did not serve $1 after a reload"
}
served_is() {
        [ "$(openssl s_client -starttls postgres -connect "127.0.0.1:$port" </dev/null 2>/dev/null |
                openssl x509 -noout -serial 2>/dev/null)" == "$1" ]
}
serve_pg "$A/tls.crt" "$A/tls.key"
install -d -o postgres -m 0700 "$T/pgdata"
runuser -u postgres -- "$pgbin/initdb" -D "$T/pgdata" -A trust >/dev/null
cat >>"$T/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$T/sock'
ssl = on
ssl_cert_file = '$T/pg/server.crt'
ssl_key_file = '$T/pg/server.key'
CONF
printf '%s\n' "local all all trust" "hostssl all all 127.0.0.0/8 trust" "hostnossl all all 0.0.0.0/0 reject" \
        >"$T/pgdata/pg_hba.conf"
runuser -u postgres -- "$pgbin/pg_ctl" -D "$T/pgdata" -l "$T/sock/pg.log" -w start >/dev/null ||
        { cat "$T/sock/pg.log"; fail "PostgreSQL did not start with node-a's chain"; }
cleanup_hooks+=("runuser -u postgres -- '$pgbin/pg_ctl' -D '$T/pgdata' -m immediate stop >/dev/null 2>&1")
pg_started=1
# psql_as NAME: verify-full for NAME (connecting to 127.0.0.1), the root alone trusted.
psql_as() {
        psql "host=$1 hostaddr=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=verify-full sslrootcert=$T/root.crt" \
                -Atc 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' 2>&1
}
got=$(psql_as node-a.test) || fail "psql verify-full to node-a's chain: $got"
assert_eq "$got" t "TLS with node-a's chain"
serve_pg "$T/minted-own/chain.crt" "$T/minted-own/key"
got=$(psql_as node-a.test) || fail "psql verify-full to a chain node-a may mint: $got"
serve_pg "$T/minted-b-dns/chain.crt" "$T/minted-b-dns/key"
! got=$(psql_as node-b.test) || fail "psql verify-full accepted node-a's certificate for node-b.test: $got"
assert_contains "$got" "certificate verify failed"
serve_pg "$B/tls.crt" "$B/tls.key"
got=$(psql_as node-b.test) || fail "psql verify-full to node-b's own chain: $got"

# ---- etcd: client TLS on node-a's chain; etcdctl with only the root, and as a client ----
cport=$(free_port) pport=$(free_port)
mkdir -p "$T/etcd"
cp "$A/tls.crt" "$T/etcd/server.crt"
cp "$A/tls.key" "$T/etcd/server.key"
etcd --name e1 --data-dir "$T/etcd/data" --listen-client-urls "https://127.0.0.1:$cport,https://127.0.0.2:$cport" \
        --advertise-client-urls "https://127.0.0.1:$cport" --listen-peer-urls "http://127.0.0.1:$pport" \
        --initial-advertise-peer-urls "http://127.0.0.1:$pport" --initial-cluster "e1=http://127.0.0.1:$pport" \
        --cert-file "$T/etcd/server.crt" --key-file "$T/etcd/server.key" --trusted-ca-file "$T/root.crt" \
        --client-cert-auth --logger zap --log-outputs stderr >"$T/etcd/log" 2>&1 &
etcd_pid=$!
cleanup_hooks+=("kill $etcd_pid 2>/dev/null; wait $etcd_pid 2>/dev/null")
# etcdctl_with CHAIN KEY [HOST]: a put through the endpoint, trusting the root alone.
etcdctl_with() {
        ETCDCTL_API=3 etcdctl --endpoints "https://${3:-127.0.0.1}:$cport" --cacert "$T/root.crt" --cert "$1" --key "$2" \
                --dial-timeout 2s --command-timeout 3s put k v 2>&1
}
wait_for 20 etcdctl_with "$A/tls.crt" "$A/tls.key" >/dev/null || fail "etcd with node-a's chain: $(tail -n 5 "$T/etcd/log")"
got=$(etcdctl_with "$B/tls.crt" "$B/tls.key") || fail "etcdctl with node-b's own chain as client: $got"
! got=$(etcdctl_with "$T/minted-b-dns/chain.crt" "$T/minted-b-dns/key") ||
        fail "etcd accepted node-a's certificate for node-b.test as a client: $got"
grep -q "not authorized to sign for this name" "$T/etcd/log" || fail "etcd's log does not say why: $(tail -n 5 "$T/etcd/log")"
# etcd reads its certificate files per connection: served at node-b's address, node-b's own chain
# passes and the chain node-a minted for node-b's IP does not (the same name, another issuer).
cp "$B/tls.crt" "$T/etcd/server.crt"
cp "$B/tls.key" "$T/etcd/server.key"
got=$(etcdctl_with "$A/tls.crt" "$A/tls.key" 127.0.0.2) || fail "etcdctl to node-b's own chain at 127.0.0.2: $got"
cp "$T/minted-b-ip/chain.crt" "$T/etcd/server.crt"
cp "$T/minted-b-ip/key" "$T/etcd/server.key"
! got=$(etcdctl_with "$A/tls.crt" "$A/tls.key" 127.0.0.2) ||
        fail "etcdctl accepted a server chain node-a minted for node-b's address: $got"
pass
