#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The shipped redis hook, run by the daemon after RenewCertificates(): a real Redis serving TLS from
# the redis profile's files serves the new certificate afterwards, without a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        skip "redis-server is not installed (packages redis-server, redis-tools; tests/run-all installs them)"
[ "$(id -u)" -eq 0 ] || skip "needs root to call RenewCertificates()"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
# The hook's environment is nodeseal's own; the admin socket goes through env(1) in the argv.
write_daemon_config "$T/nodeseal.json" "\"profile\": \"redis\", \"owner\": \"$(id -un)\",
        \"reload_command\": [\"/usr/bin/env\", \"NODESEAL_REDIS_SOCKET=$T/redis.sock\", \"$SOURCE_ROOT/hooks/redis\"]"
sed -i "s|\"directory\": \"$T/certs\"|\"directory\": \"$T/redis-tls\"|" "$T/nodeseal.json"
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
# The first issue ran the hook too, before Redis was there: it failed, and that was logged.
wait_for 10 grep -q "reload hook (pid [0-9]*) exited with status" "$DAEMON_LOG" ||
        fail "the failing first hook was not logged: $(cat "$DAEMON_LOG")"

mkdir -p "$T/redis-data"
redis-server --port 0 --bind 127.0.0.1 --tls-port "$port" --unixsocket "$T/redis.sock" --unixsocketperm 700 \
        --tls-cert-file "$T/redis-tls/redis.crt" --tls-key-file "$T/redis-tls/redis.key" \
        --tls-ca-cert-file "$T/redis-tls/ca.crt" --tls-auth-clients yes \
        --dir "$T/redis-data" --save "" --appendonly no --daemonize no >"$T/redis.log" 2>&1 &
redis=$!
cleanup_hooks+=("kill $redis 2>/dev/null; wait $redis 2>/dev/null")

# The serial of the certificate Redis serves now.
served_serial() {
        openssl s_client -connect "127.0.0.1:$port" -CAfile "$T/ca/ca.crt" -cert "$T/redis-tls/redis.crt" \
                -key "$T/redis-tls/redis.key" </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}
up() { [ -n "$(served_serial)" ]; }
wait_for 10 up || fail "Redis does not serve TLS: $(cat "$T/redis.log")"
first=$(serial_of "$T/redis-tls/redis.crt")
assert_eq "$(served_serial)" "$first" "served certificate before the renewal"

call RenewCertificates >/dev/null || fail "RenewCertificates() failed"
second=$(serial_of "$T/redis-tls/redis.crt")
[ "$second" != "$first" ] || fail "RenewCertificates() did not renew"
wait_for 10 grep -q "reload hook (pid [0-9]*) succeeded" "$DAEMON_LOG" ||
        fail "the redis hook did not succeed: $(cat "$DAEMON_LOG")"
serves_second() { [ "$(served_serial)" == "$second" ]; }
wait_for 10 serves_second || fail "Redis still serves $(served_serial), not $second"
kill -0 "$redis" || fail "Redis went away"
pass
