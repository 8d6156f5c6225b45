#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Why the postgresql profile refuses an Ed25519 CA and not an Ed25519 node key, against a real
# PostgreSQL with SCRAM and channel_binding=require: a certificate signed by an Ed25519 CA (made with
# openssl) fails in libpq ("could not find digest for NID UNDEF"); nodeseal refuses to issue under
# such a CA, naming the reason and writing nothing; an Ed25519 node key under a P-256 CA works.
. "$(dirname "$0")/lib.sh"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/initdb" ] || skip "PostgreSQL server not installed (tests/run-all installs it)"
id postgres >/dev/null 2>&1 || skip "no postgres user"
[ "$(id -u)" -eq 0 ] || skip "needs root to run PostgreSQL as the postgres user"

chmod 0755 "$T"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
make_ca "$T/ca"
mkdir -p "$T/caed"
openssl req -x509 -new -nodes -newkey ed25519 -keyout "$T/caed/ca.key" -out "$T/caed/ca.crt" -days 30 \
        -subj "/CN=Ed25519 CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
# The control: a P-256 leaf signed by the Ed25519 CA, made with openssl.
mkdir -p "$T/control"
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$T/control/server.key" \
        -out "$T/control/server.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$T/control/ext"
openssl x509 -req -in "$T/control/server.csr" -CA "$T/caed/ca.crt" -CAkey "$T/caed/ca.key" -CAcreateserial \
        -days 2 -extfile "$T/control/ext" -out "$T/control/server.crt" 2>/dev/null
chown postgres "$T/control/server.key" && chmod 600 "$T/control/server.key"

# nodeseal: an Ed25519 node key under the P-256 CA is issued; under the Ed25519 CA nothing is.
make_secrets "$T/secrets" "$T/ca"
make_secrets "$T/secrets-ed" "$T/caed"
config() {
        cat >"$1" <<JSON
{ "node_name": "pg-1", "runtime_directory": "$T/run-$3", "secrets": { "directory": "$2" },
  "certificates": [ { "name": "pg", "profile": "postgresql", "key_type": "ed25519", "directory": "$T/tls-$3",
                      "dns_names": ["localhost"] } ] }
JSON
}
config "$T/ok.json" "$T/secrets" ok
config "$T/ed.json" "$T/secrets-ed" ed
ns -c "$T/ed.json" provision
[ "$rc" -ne 0 ] || fail "provision issued a certificate under an Ed25519 CA for postgresql"
assert_contains "$out" "the CA's key is ed25519, which the postgresql profile refuses"
assert_contains "$out" "channel binding"
[ ! -e "$T/tls-ed/server.crt" ] || fail "a certificate was written under the refused CA"
ns -c "$T/ok.json" provision
assert_eq "$rc" 0 "provision with an Ed25519 node key: $out"

install -d -o postgres -m 0700 "$T/pgdata"
echo pw >"$T/pw" && chown postgres "$T/pw"
runuser -u postgres -- "$pgbin/initdb" --no-sync -D "$T/pgdata" -A scram-sha-256 --pwfile="$T/pw" >/dev/null
mkdir -p "$T/sock" && chown postgres "$T/sock"
start_with() {
        cat >"$T/pgdata/postgresql.auto.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$T/sock'
ssl = on
ssl_cert_file = '$1/server.crt'
ssl_key_file = '$1/server.key'
CONF
        runuser -u postgres -- "$pgbin/pg_ctl" -D "$T/pgdata" -l "$T/sock/pg.log" -w start >/dev/null ||
                { cat "$T/sock/pg.log"; fail "PostgreSQL did not start with $1"; }
}
stop_pg() { runuser -u postgres -- "$pgbin/pg_ctl" -D "$T/pgdata" -m immediate stop >/dev/null; }
cleanup_hooks+=("runuser -u postgres -- '$pgbin/pg_ctl' -D '$T/pgdata' -m immediate stop >/dev/null 2>&1")
login() {
        set +e
        out=$(PGPASSWORD=pw psql "host=localhost port=$port user=postgres dbname=postgres sslmode=verify-full sslrootcert=$1 channel_binding=require" -XAtc "SELECT 'in'" 2>&1)
        rc=$?
        set -e
}

start_with "$T/control"
login "$T/caed/ca.crt"
[ "$rc" -ne 0 ] || fail "channel binding worked with an Ed25519 CA signature (the refusal has no reason any more)"
assert_contains "$out" "could not find digest for NID UNDEF"
stop_pg

start_with "$T/tls-ok"
login "$T/ca/ca.crt"
assert_eq "$rc" 0 "channel binding with an Ed25519 node key under a P-256 CA: $out"
assert_eq "$out" in "login"
pass
