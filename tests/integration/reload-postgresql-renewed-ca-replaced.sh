#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A real PostgreSQL (Debian's) in CCX's modes, hostssl only: VERIFY_CA (clientcert=verify-ca) for one
# role, REQUIRED (TLS, no client certificate) for another, plaintext refused. The daemon with the
# postgresql hook over the Unix socket and a serve_check (SSLRequest): while a verify-full client
# loop runs, a renewal and a CA replacement are served without a restart, and a reload that "worked"
# (pg_reload_conf() is true) while the old certificate is still served is reported and retried.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
. "$(dirname "$0")/lib-reload.sh"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/initdb" ] || skip "PostgreSQL server not installed (tests/run-all installs it)"
id postgres >/dev/null 2>&1 || skip "no postgres user"
command -v jq >/dev/null || skip "jq is not installed (tests/run-all installs it)"
[ "$(id -u)" -eq 0 ] || skip "needs root to run PostgreSQL as the postgres user"

chmod 0755 "$T"
make_ca "$T/ca"
make_ca "$T/ca2" "/CN=nodeseal test CA 2"
make_secrets "$T/secrets" "$T/ca"
make_client_cert "$T/ca" "$T/client" postgres
cat "$T/ca/ca.crt" "$T/ca2/ca.crt" >"$T/client/trust.crt"
chmod 0600 "$T/client/client.key"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/sock" && chown postgres "$T/sock"

# The hook, wrapped: while $T/skip-reload exists it "succeeds" without reloading, as
# pg_reload_conf() does when the server fails to load the new files.
cat >"$T/pg-reload" <<SH
#!/bin/sh
[ -e "$T/skip-reload" ] && exit 0
exec /usr/bin/env NODESEAL_POSTGRESQL_HOST="$T/sock" NODESEAL_POSTGRESQL_PORT=$port "$SOURCE_ROOT/hooks/postgresql"
SH
chmod +x "$T/pg-reload"
write_daemon_config "$T/nodeseal.json" "\"profile\": \"postgresql\", \"reload_command\": [\"$T/pg-reload\"],
        \"serve_check\": { \"address\": \"127.0.0.1:$port\", \"protocol\": \"postgres\" }"
sed -i "s|\"directory\": \"$T/certs\"|\"directory\": \"$T/tls\"|" "$T/nodeseal.json"
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
assert_eq "$(stat -c %U "$T/tls/server.key")" postgres "owner of server.key"

install -d -o postgres -m 0700 "$T/pgdata"
runuser -u postgres -- "$pgbin/initdb" --no-sync -D "$T/pgdata" -A trust >/dev/null
cat >>"$T/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$T/sock'
ssl = on
ssl_cert_file = '$T/tls/server.crt'
ssl_key_file = '$T/tls/server.key'
ssl_ca_file = '$T/tls/root.crt'
CONF
# hostssl only: VERIFY_CA for postgres, REQUIRED for the role "required"; nothing in plaintext.
cat >"$T/pgdata/pg_hba.conf" <<HBA
local all all trust
hostssl all postgres 127.0.0.0/8 trust clientcert=verify-ca
hostssl all required 127.0.0.0/8 trust
hostnossl all all 0.0.0.0/0 reject
HBA
runuser -u postgres -- "$pgbin/pg_ctl" -D "$T/pgdata" -l "$T/sock/pg.log" -w start >/dev/null ||
        { cat "$T/sock/pg.log"; fail "PostgreSQL did not start with nodeseal's files"; }
cleanup_hooks+=("runuser -u postgres -- '$pgbin/pg_ctl' -D '$T/pgdata' -m immediate stop >/dev/null 2>&1")
pid=$(head -n 1 "$T/pgdata/postmaster.pid")
runuser -u postgres -- psql -X -q -h "$T/sock" -p "$port" -c 'CREATE ROLE required LOGIN' postgres

verify_ca="host=localhost port=$port user=postgres dbname=postgres sslrootcert=$T/client/trust.crt sslcert=$T/client/client.crt sslkey=$T/client/client.key sslmode=verify-full"
required="host=localhost port=$port user=required dbname=postgres sslrootcert=$T/client/trust.crt sslmode=verify-full"
q() { psql "$1" -XAtc "$2"; }
refused() {
        local out
        set +e
        out=$(psql "$1" -XAtc 'SELECT 1' 2>&1)
        local r=$?
        set -e
        [ $r -ne 0 ] || fail "$2 was accepted"
        echo "$out"
}
assert_eq "$(q "$verify_ca" 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')" t "VERIFY_CA over TLS"
assert_eq "$(q "$required" 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')" t "REQUIRED over TLS"
out=$(refused "${verify_ca%% sslcert=*} sslmode=verify-full" "VERIFY_CA without a client certificate")
assert_contains "$out" "certificate"
out=$(refused "host=127.0.0.1 port=$port user=required dbname=postgres sslmode=disable" "plaintext (REQUIRED)")
assert_contains "$out" "no encryption"
refused "host=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=disable" "plaintext (VERIFY_CA)" >/dev/null

expect_reload node confirmed 15
start_client_loop pg q "$verify_ca" 'SELECT 1'
start_client_loop pgreq q "$required" 'SELECT 1'

# A renewal whose reload is a no-op: the serve_check sees the old certificate, says until when, retries.
first=$(serial_of "$T/tls/server.crt")
touch "$T/skip-reload"
call RenewCertificates >/dev/null || fail "RenewCertificates() failed"
[ "$(serial_of "$T/tls/server.crt")" != "$first" ] || fail "RenewCertificates() did not renew"
expect_reload node retrying 10
assert_contains "$(reload_field node message)" "still serves the old certificate (serial ${first#serial=}, valid until"
[ "$(reload_field node served_not_after)" -gt 0 ] || fail "served_not_after not reported"
ns -c "$T/nodeseal.json" check --serving
assert_eq "$rc" 8 "check --serving while the old certificate is served: $out"
rm "$T/skip-reload"
expect_reload node confirmed 10
served() { openssl s_client -starttls postgres -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -serial; }
assert_eq "$(served)" "$(serial_of "$T/tls/server.crt")" "served after the renewal"

# A CA replacement: signed by CA 2, root.crt holds both; same postmaster throughout.
rotate_ca_secret "$T/secrets" "$T/ca" "$T/ca2"
from_ca2() { openssl verify -CAfile "$T/ca2/ca.crt" "$T/tls/server.crt" >/dev/null 2>&1; }
wait_for 10 from_ca2 || fail "no certificate from CA 2: $(tail -n 20 "$DAEMON_LOG")"
# Nothing tells this script when the daemon saw the Secret change: what is served says it.
serves_file() { [ "$(served)" == "$(serial_of "$T/tls/server.crt")" ]; }
wait_for 15 serves_file || fail "PostgreSQL serves $(served), not the certificate from CA 2"
expect_reload node confirmed 10
ns -c "$T/nodeseal.json" check --serving
assert_eq "$rc" 0 "check --serving: $out"
stop_client_loop pg
stop_client_loop pgreq
assert_eq "$(head -n 1 "$T/pgdata/postmaster.pid")" "$pid" "postmaster pid (no restart)"
pass
