#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A real PostgreSQL (Debian's) serving TLS from nodeseal's postgresql profile: verify-full against
# nodeseal's CA works, a non-TLS connection is rejected, a node certificate works as a client
# certificate, and a renewed certificate is served after pg_reload_conf() without a restart.
. "$(dirname "$0")/lib.sh"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/initdb" ] || skip "PostgreSQL server not installed (tests/run-all installs it)"
id postgres >/dev/null 2>&1 || skip "no postgres user"
[ "$(id -u)" -eq 0 ] || skip "needs root to run PostgreSQL as the postgres user"

chmod 0755 "$T"
make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat >"$T/nodeseal.json" <<JSON
{ "node_name": "pg-1", "runtime_directory": "$T/run",
  "secrets": { "directory": "$T/secrets" },
  "certificates": [
    { "name": "pg", "profile": "postgresql", "directory": "$T/tls",
      "dns_names": ["{node}", "localhost"], "ip_addresses": ["127.0.0.1"] } ] }
JSON
ns --config "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision: $out"
assert_eq "$(stat -c %U "$T/tls/server.key")" postgres "owner of server.key"
assert_file_mode "$T/tls/server.key" 600

install -d -o postgres -m 0700 "$T/pgdata"
runuser -u postgres -- "$pgbin/initdb" -D "$T/pgdata" -A trust >/dev/null
mkdir -p "$T/sock" && chown postgres "$T/sock"
cat >>"$T/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1, 127.0.0.2'
port = $port
unix_socket_directories = '$T/sock'
ssl = on
ssl_cert_file = '$T/tls/server.crt'
ssl_key_file = '$T/tls/server.key'
ssl_ca_file = '$T/tls/root.crt'
CONF
# TLS only, and a client certificate signed by the CA for every TCP connection.
cat >"$T/pgdata/pg_hba.conf" <<HBA
local all all trust
hostssl all all 127.0.0.0/8 trust clientcert=verify-ca
hostnossl all all 0.0.0.0/0 reject
HBA
runuser -u postgres -- "$pgbin/pg_ctl" -D "$T/pgdata" -l "$T/sock/pg.log" -w start >/dev/null \
        || { cat "$T/sock/pg.log"; fail "PostgreSQL did not start with nodeseal's files"; }
cleanup_hooks+=("runuser -u postgres -- '$pgbin/pg_ctl' -D '$T/pgdata' -m immediate stop >/dev/null 2>&1")
pid=$(head -n 1 "$T/pgdata/postmaster.pid")

# A second node's certificate from the same CA, as the client's.
cat >"$T/client.json" <<JSON
{ "node_name": "app-1", "runtime_directory": "$T/run-client",
  "secrets": { "directory": "$T/secrets" },
  "certificates": [ { "name": "client", "profile": "generic", "directory": "$T/client" } ] }
JSON
ns --config "$T/client.json" provision
assert_eq "$rc" 0 "client provision: $out"

conn="host=localhost port=$port user=postgres dbname=postgres sslrootcert=$T/run/ca.crt sslcert=$T/client/tls.crt sslkey=$T/client/tls.key"
got=$(psql "$conn sslmode=verify-full" -Atc 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()') \
        || fail "verify-full connection failed"
assert_eq "$got" t "TLS in use"

set +e
err=$(psql "$conn sslmode=disable" -Atc 'SELECT 1' 2>&1)
r=$?
set -e
[ $r -ne 0 ] || fail "a non-TLS connection was accepted"
assert_contains "$err" "no encryption"

set +e
err=$(psql "host=localhost port=$port user=postgres dbname=postgres sslrootcert=$T/run/ca.crt sslmode=verify-full" -Atc 'SELECT 1' 2>&1)
r=$?
set -e
[ $r -ne 0 ] || fail "a connection without a client certificate was accepted"

# The wrong name fails verify-full: the certificate names pg-1, localhost and 127.0.0.1 only.
set +e
err=$(psql "${conn/host=localhost/host=127.0.0.2} sslmode=verify-full" -Atc 'SELECT 1' 2>&1)
r=$?
set -e
[ $r -ne 0 ] || fail "verify-full accepted a name the certificate does not carry"
assert_contains "$err" "does not match host name"

served_serial() {
        openssl s_client -starttls postgres -connect "127.0.0.1:$port" -CAfile "$T/run/ca.crt" </dev/null 2>/dev/null \
                | openssl x509 -noout -serial
}
before=$(served_serial)
assert_eq "$before" "$(openssl x509 -in "$T/tls/server.crt" -noout -serial)" "served certificate"

# Renewal: a new SAN forces a new certificate; pg_reload_conf() serves it, same postmaster.
sed -i 's/"localhost"\]/"localhost", "db.example"]/' "$T/nodeseal.json"
ns --config "$T/nodeseal.json" provision
assert_eq "$rc" 0 "reprovision: $out"
new=$(openssl x509 -in "$T/tls/server.crt" -noout -serial)
[ "$new" != "$before" ] || fail "certificate was not reissued"
psql "$conn sslmode=verify-full" -Atc 'SELECT pg_reload_conf()' >/dev/null
sleep 1
assert_eq "$(served_serial)" "$new" "served certificate after reload"
assert_eq "$(head -n 1 "$T/pgdata/postmaster.pid")" "$pid" "postmaster pid"
pass
