#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A real MariaDB (Debian's) in CCX's modes: require_secure_transport=ON, a user REQUIRE X509 and one
# with TLS only, plaintext refused. The daemon with the mysql hook over the Unix socket and a
# serve_check (greeting, SSL request): while verifying clients run, a renewal and a CA replacement
# are served without a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
. "$(dirname "$0")/lib-reload.sh"

command -v mariadbd >/dev/null || skip "MariaDB server not installed (tests/run-all installs it)"
id mysql >/dev/null 2>&1 || skip "no mysql user"
command -v jq >/dev/null || skip "jq is not installed (tests/run-all installs it)"
[ "$(id -u)" -eq 0 ] || skip "needs root to run MariaDB as the mysql user"

chmod 0755 "$T"
make_ca "$T/ca"
make_ca "$T/ca2" "/CN=nodeseal test CA 2"
make_secrets "$T/secrets" "$T/ca"
make_client_cert "$T/ca" "$T/client" app
cat "$T/ca/ca.crt" "$T/ca2/ca.crt" >"$T/client/trust.crt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[client]\nsocket=%s\nuser=root\n' "$T/sock/m.sock" >"$T/hook.cnf"
write_daemon_config "$T/nodeseal.json" "\"profile\": \"mysql\", \"key_type\": \"rsa-2048\",
        \"reload_command\": [\"/usr/bin/env\", \"NODESEAL_MYSQL_DEFAULTS_FILE=$T/hook.cnf\", \"$SOURCE_ROOT/hooks/mysql\"],
        \"serve_check\": { \"address\": \"127.0.0.1:$port\", \"protocol\": \"mysql\" }"
sed -i "s|\"directory\": \"$T/certs\"|\"directory\": \"$T/tls\"|" "$T/nodeseal.json"
ns --config "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision: $out"

mkdir -p "$T/data" "$T/sock" && chown mysql:mysql "$T/data" "$T/sock"
mariadb-install-db --no-defaults --datadir="$T/data" --user=mysql --auth-root-authentication-method=socket \
        >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "mariadb-install-db failed"; }
mariadbd --no-defaults --user=mysql --datadir="$T/data" --socket="$T/sock/m.sock" --pid-file="$T/sock/m.pid" \
        --bind-address=127.0.0.1 --port="$port" --skip-name-resolve --log-error="$T/sock/err.log" \
        --ssl-cert="$T/tls/server-cert.pem" --ssl-key="$T/tls/server-key.pem" --ssl-ca="$T/tls/ca.pem" \
        --require-secure-transport=ON &
mariadbd=$!
cleanup_hooks+=("kill $mariadbd 2>/dev/null; wait $mariadbd 2>/dev/null")
for _ in $(seq 100); do [ -S "$T/sock/m.sock" ] && break; sleep 0.2; done
[ -S "$T/sock/m.sock" ] || { cat "$T/sock/err.log"; fail "MariaDB did not start with nodeseal's files"; }
mariadb --no-defaults -S "$T/sock/m.sock" -u root -e "
        CREATE USER 'app'@'127.0.0.1' REQUIRE X509; GRANT USAGE ON *.* TO 'app'@'127.0.0.1';
        CREATE USER 'tls'@'127.0.0.1' REQUIRE SSL; GRANT USAGE ON *.* TO 'tls'@'127.0.0.1';
        CREATE USER 'plain'@'127.0.0.1'; GRANT USAGE ON *.* TO 'plain'@'127.0.0.1';"

tcp() { mariadb --no-defaults -h 127.0.0.1 -P "$port" "$@"; }
x509=(-u app --ssl-ca="$T/client/trust.crt" --ssl-cert="$T/client/client.crt" --ssl-key="$T/client/client.key"
      --ssl-verify-server-cert)
assert_eq "$(tcp "${x509[@]}" -NBe "SHOW STATUS LIKE 'Ssl_version'" | cut -f2 | cut -c1-3)" TLS "REQUIRE X509 over TLS"
assert_eq "$(tcp -u tls --ssl-ca="$T/client/trust.crt" --ssl-verify-server-cert -NBe 'SELECT 1')" 1 "REQUIRE SSL over TLS"
refused() {
        local out r
        set +e
        out=$(tcp "$@" -NBe 'SELECT 1' 2>&1)
        r=$?
        set -e
        [ $r -ne 0 ] || fail "accepted: $*"
        echo "$out"
}
# Plaintext: refused (require_secure_transport) even for a user without REQUIRE, whom TLS lets in.
assert_eq "$(tcp -u plain --ssl-ca="$T/client/trust.crt" --ssl-verify-server-cert -NBe 'SELECT 1')" 1 "no REQUIRE over TLS"
refused -u plain --skip-ssl >/dev/null
refused -u tls --skip-ssl >/dev/null
refused -u app --skip-ssl >/dev/null
assert_contains "$(refused -u app --ssl-ca="$T/client/trust.crt" --ssl-verify-server-cert)" "Access denied"

start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
start_client_loop x509 tcp "${x509[@]}" -NBe 'SELECT 1'

served() { openssl s_client -starttls mysql -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -serial; }
first=$(serial_of "$T/tls/server-cert.pem")
assert_eq "$(served)" "$first" "served certificate"
call RenewCertificates >/dev/null || fail "RenewCertificates() failed"
[ "$(serial_of "$T/tls/server-cert.pem")" != "$first" ] || fail "RenewCertificates() did not renew"
expect_reload node confirmed 15
assert_eq "$(served)" "$(serial_of "$T/tls/server-cert.pem")" "served after the renewal"

rotate_ca_secret "$T/secrets" "$T/ca" "$T/ca2"
from_ca2() { openssl verify -CAfile "$T/ca2/ca.crt" "$T/tls/server-cert.pem" >/dev/null 2>&1; }
wait_for 10 from_ca2 || fail "no certificate from CA 2: $(tail -n 20 "$DAEMON_LOG")"
# Nothing tells this script when the daemon saw the Secret change: what is served says it.
serves_file() { [ "$(served)" == "$(serial_of "$T/tls/server-cert.pem")" ]; }
wait_for 15 serves_file || fail "MariaDB serves $(served), not the certificate from CA 2"
expect_reload node confirmed 10
ns -c "$T/nodeseal.json" check --serving
assert_eq "$rc" 0 "check --serving: $out"
stop_client_loop x509
refused -u plain --skip-ssl >/dev/null
kill -0 "$mariadbd" || fail "MariaDB went away (it must not be restarted)"
pass
