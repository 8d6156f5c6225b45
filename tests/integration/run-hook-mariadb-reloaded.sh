#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped mysql hook, run by the daemon after RenewCertificates(): a real MariaDB serving TLS from
# the mysql profile's files serves the new certificate afterwards (FLUSH SSL), without a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"

command -v mariadbd >/dev/null || skip "MariaDB server not installed (tests/run-all installs it)"
id mysql >/dev/null 2>&1 || skip "no mysql user"
[ "$(id -u)" -eq 0 ] || skip "needs root to run MariaDB as the mysql user"

chmod 0755 "$T"
make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '[client]\nsocket=%s\nuser=root\n' "$T/sock/m.sock" >"$T/hook.cnf"
write_daemon_config "$T/nodeseal.json" "\"profile\": \"mysql\", \"key_type\": \"rsa-2048\",
        \"reload_command\": [\"/usr/bin/env\", \"NODESEAL_MYSQL_DEFAULTS_FILE=$T/hook.cnf\", \"$SOURCE_ROOT/hooks/mysql\"]"
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
cleanup_hooks+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
for _ in $(seq 100); do [ -S "$T/sock/m.sock" ] && break; sleep 0.2; done
[ -S "$T/sock/m.sock" ] || { cat "$T/sock/err.log"; fail "MariaDB did not start with nodeseal's files"; }

# Without any account for 127.0.0.1 the server answers a TCP client with an error, not a handshake.
mariadb --no-defaults -S "$T/sock/m.sock" -u root -e \
        "CREATE USER 'tester'@'127.0.0.1' IDENTIFIED BY ''; GRANT USAGE ON *.* TO 'tester'@'127.0.0.1';"

served_serial() {

        openssl s_client -starttls mysql -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -serial
}
first=$(serial_of "$T/tls/server-cert.pem")
serving() { [ -n "$(served_serial)" ]; }
wait_for 20 serving || fail "MariaDB does not serve TLS on $port: $(cat "$T/sock/err.log")"
assert_eq "$(served_serial)" "$first" "served certificate"

start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
assert_not_contains "$(cat "$DAEMON_LOG")" "running reload hook" "daemon log (the files were in place: no change, no hook)"

call RenewCertificates >/dev/null || fail "RenewCertificates() failed"
second=$(serial_of "$T/tls/server-cert.pem")
[ "$second" != "$first" ] || fail "RenewCertificates() did not renew"
wait_for 15 grep -q "reload hook (pid [0-9]*) succeeded" "$DAEMON_LOG" ||
        fail "the mysql hook did not succeed: $(cat "$DAEMON_LOG")"
assert_contains "$(cat "$DAEMON_LOG")" "FLUSH SSL: done"
assert_eq "$(served_serial)" "$second" "served certificate after the hook"
pass
