#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A real MariaDB (Debian's) serving TLS from nodeseal's mysql profile: a client that verifies the
# server against nodeseal's CA connects over TLS, a non-TLS client is refused, and FLUSH SSL serves
# a renewed certificate without a restart.
. "$(dirname "$0")/lib.sh"

command -v mariadbd >/dev/null || skip "MariaDB server not installed (tests/run-all installs it)"
id mysql >/dev/null 2>&1 || skip "no mysql user"
[ "$(id -u)" -eq 0 ] || skip "needs root to run MariaDB as the mysql user"

chmod 0755 "$T"
make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat >"$T/nodeseal.json" <<JSON
{ "node_name": "db-1", "runtime_directory": "$T/run",
  "secrets": { "directory": "$T/secrets" },
  "certificates": [
    { "name": "mysql", "profile": "mysql", "directory": "$T/tls", "key_type": "rsa-2048",
      "dns_names": ["{node}", "localhost"], "ip_addresses": ["127.0.0.1"] } ] }
JSON
ns --config "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision: $out"
assert_eq "$(stat -c %U "$T/tls/server-key.pem")" mysql "owner of server-key.pem"

mkdir -p "$T/data" "$T/sock" && chown mysql:mysql "$T/data" "$T/sock"
mariadb-install-db --no-defaults --datadir="$T/data" --user=mysql --auth-root-authentication-method=normal \
        >"$T/install.log" 2>&1 || { cat "$T/install.log"; fail "mariadb-install-db failed"; }
mariadbd --no-defaults --user=mysql --datadir="$T/data" --socket="$T/sock/m.sock" --pid-file="$T/sock/m.pid" \
        --bind-address=127.0.0.1 --port="$port" --skip-name-resolve --log-error="$T/err.log" \
        --ssl-cert="$T/tls/server-cert.pem" --ssl-key="$T/tls/server-key.pem" --ssl-ca="$T/tls/ca.pem" \
        --require-secure-transport=ON &
cleanup_hooks+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
for _ in $(seq 100); do [ -S "$T/sock/m.sock" ] && break; sleep 0.2; done
[ -S "$T/sock/m.sock" ] || { cat "$T/err.log"; fail "MariaDB did not start with nodeseal's files"; }

# A user for TCP clients (no password; the test instance is private and on loopback).
mariadb --no-defaults -S "$T/sock/m.sock" -u root -e \
        "CREATE USER 'tester'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'tester'@'127.0.0.1';"

tls_client() {
        mariadb --no-defaults -h 127.0.0.1 -P "$port" -u tester --ssl --ssl-verify-server-cert \
                --ssl-ca="$T/run/ca.crt" -N -B "$@"
}
cipher=$(tls_client -e "SHOW STATUS LIKE 'Ssl_cipher'" | cut -f2)
[ -n "$cipher" ] || fail "no TLS cipher in use"

set +e
err=$(mariadb --no-defaults -h 127.0.0.1 -P "$port" -u tester --skip-ssl -e 'SELECT 1' 2>&1)
r=$?
set -e
[ $r -ne 0 ] || fail "a non-TLS connection was accepted"
# MariaDB 10.11 answers a plain-text login under require_secure_transport with "Access denied".
grep -qE "insecure transport|Access denied" <<<"$err" || fail "unexpected refusal: $err"
assert_eq "$(tls_client -e "SHOW VARIABLES LIKE 'require_secure_transport'" | cut -f2)" ON

served_serial() {
        openssl s_client -starttls mysql -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -serial
}
before=$(served_serial)
assert_eq "$before" "$(openssl x509 -in "$T/tls/server-cert.pem" -noout -serial)" "served certificate"

sed -i 's/"localhost"\]/"localhost", "db.example"]/' "$T/nodeseal.json"
ns --config "$T/nodeseal.json" provision
assert_eq "$rc" 0 "reprovision: $out"
new=$(openssl x509 -in "$T/tls/server-cert.pem" -noout -serial)
[ "$new" != "$before" ] || fail "certificate was not reissued"
tls_client -e "FLUSH SSL"
assert_eq "$(served_serial)" "$new" "served certificate after FLUSH SSL"
pass
