#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A real Redis (tls-auth-clients yes, no plaintext port) and the daemon with the redis hook over the
# Unix admin socket and a serve_check: while a client loop runs, a failed hook is retried and
# reported, a renewal, a new trust bundle alone (the rotation's first stage) and then a CA
# replacement are taken without a restart (the hook no longer speaks TLS with the trust it
# changes), and "check --serving" sees the old and the new certificate.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
. "$(dirname "$0")/lib-reload.sh"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        skip "redis-server is not installed (packages redis-server, redis-tools; tests/run-all installs them)"
command -v jq >/dev/null || skip "jq is not installed (tests/run-all installs it)"
[ "$(id -u)" -eq 0 ] || skip "needs root to call RenewCertificates()"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
make_ca "$T/ca"
make_ca "$T/ca2" "/CN=nodeseal test CA 2"
make_secrets "$T/secrets" "$T/ca"
make_client_cert "$T/ca" "$T/client" app-1
# Clients were given both CAs (the rotation's first stage) and keep their old-CA certificate.
cat "$T/ca/ca.crt" "$T/ca2/ca.crt" >"$T/client/trust.crt"

# The admin socket the hook uses is a link made later: until then the hook fails.
write_daemon_config "$T/nodeseal.json" "\"profile\": \"redis\", \"owner\": \"$(id -un)\",
        \"reload_command\": [\"/usr/bin/env\", \"NODESEAL_REDIS_SOCKET=$T/admin.sock\", \"$SOURCE_ROOT/hooks/redis\"],
        \"serve_check\": { \"address\": \"127.0.0.1:$port\", \"protocol\": \"tls\" }"
sed -i "s|\"directory\": \"$T/certs\"|\"directory\": \"$T/redis-tls\"|" "$T/nodeseal.json"
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready

mkdir -p "$T/redis-data"
redis-server --port 0 --bind 127.0.0.1 --tls-port "$port" --unixsocket "$T/redis.sock" --unixsocketperm 700 \
        --tls-cert-file "$T/redis-tls/redis.crt" --tls-key-file "$T/redis-tls/redis.key" \
        --tls-ca-cert-file "$T/redis-tls/ca.crt" --tls-auth-clients yes \
        --dir "$T/redis-data" --save "" --appendonly no --daemonize no >"$T/redis.log" 2>&1 &
redis=$!
cleanup_hooks+=("kill $redis 2>/dev/null; wait $redis 2>/dev/null")
cli() {
        redis-cli --tls --cacert "$T/client/trust.crt" --cert "$T/client/client.crt" --key "$T/client/client.key" \
                -h 127.0.0.1 -p "$port" "$@"
}
pong() { [ "$(cli ping 2>/dev/null)" == PONG ]; }
wait_for 10 pong || fail "Redis does not answer over mutual TLS: $(cat "$T/redis.log")"

# CCX's mode: plaintext and TLS without a client certificate are refused.
set +e
out=$(redis-cli -h 127.0.0.1 -p "$port" ping 2>&1)
out2=$(redis-cli --tls --cacert "$T/client/trust.crt" -h 127.0.0.1 -p "$port" ping 2>&1)
set -e
assert_not_contains "$out" PONG "a plaintext client"
assert_not_contains "$out2" PONG "a TLS client without a certificate"

# The hook of the first issue failed (no admin socket) and is retried, and said so.
expect_reload node retrying 10
assert_contains "$(reload_field node message)" "reload hook exited with status 1"
assert_contains "$(get_property Reloads)" "retrying"
ln -s "$T/redis.sock" "$T/admin.sock"
expect_reload node confirmed 10
start_client_loop redis cli ping

# A renewal whose hook fails: the datastore keeps serving the old certificate, and says until when.
rm "$T/admin.sock"
first=$(serial_of "$T/redis-tls/redis.crt")
call RenewCertificates >/dev/null || fail "RenewCertificates() failed"
second=$(serial_of "$T/redis-tls/redis.crt")
[ "$second" != "$first" ] || fail "RenewCertificates() did not renew"
expect_reload node retrying 10
ns -c "$T/nodeseal.json" check --serving
assert_eq "$rc" 8 "check --serving while the old certificate is served: $out"
assert_contains "$out" "still serves another certificate (serial ${first#serial=}, valid until"
ns -c "$T/nodeseal.json" status
# Retrying, or running its next try: the reason stays until it works.
assert_contains "$out" ": the reload hook exited with status 1"
# Retried with backoff until it works.
ln -s "$T/redis.sock" "$T/admin.sock"
expect_reload node confirmed 10
ns -c "$T/nodeseal.json" check --serving
assert_eq "$rc" 0 "check --serving after the reload: $out"

# The rotation's first stage: the Secret still signs with CA 1 and trusts CA 2 too. Only the CA
# file changes, and that alone gets the hook: a client with a CA 2 certificate is let in.
make_client_cert "$T/ca2" "$T/client2" app-2
cli2() {
        redis-cli --tls --cacert "$T/client/trust.crt" --cert "$T/client2/client.crt" --key "$T/client2/client.key" \
                -h 127.0.0.1 -p "$port" "$@"
}
pong2() { [ "$(cli2 ping 2>/dev/null)" == PONG ]; }
! pong2 || fail "a CA 2 client was let in before Redis trusted CA 2"
second=$(serial_of "$T/redis-tls/redis.crt")
cat "$T/ca/ca.crt" "$T/ca2/ca.crt" >"$T/secrets/nodeseal-ca/ca.crt"
wait_for 10 pong2 || fail "Redis does not trust CA 2 after the bundle changed: $(tail -n 20 "$DAEMON_LOG")"
assert_eq "$(serial_of "$T/redis-tls/redis.crt")" "$second" "the certificate (kept: only the CA file changed)"
expect_reload node confirmed 10

# A CA replacement: the Secret signs with CA 2 and trusts both. The hook reaches Redis over its
# socket although Redis trusts CA 1 only until it reloads.
rotate_ca_secret "$T/secrets" "$T/ca" "$T/ca2"
third_signed() { openssl verify -CAfile "$T/ca2/ca.crt" "$T/redis-tls/redis.crt" >/dev/null 2>&1; }
wait_for 10 third_signed || fail "no certificate from CA 2: $(tail -n 20 "$DAEMON_LOG")"
served() {
        openssl s_client -connect "127.0.0.1:$port" -cert "$T/client/client.crt" -key "$T/client/client.key" \
                </dev/null 2>/dev/null | openssl x509 -noout -serial
}
# Nothing tells this script when the daemon saw the Secret change: what is served says it.
serves_file() { [ "$(served)" == "$(serial_of "$T/redis-tls/redis.crt")" ]; }
wait_for 15 serves_file || fail "Redis serves $(served), not the certificate from CA 2"
expect_reload node confirmed 10
pong || fail "the client with its old-CA certificate was refused after the CA replacement"
pong2 || fail "the client with its CA 2 certificate was refused after the CA replacement"
stop_client_loop redis
kill -0 "$redis" || fail "Redis went away (it must not be restarted)"
pass
