#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A real Redis (Debian's redis-server) serves TLS on 127.0.0.1 with the redis profile's files and
# requires client certificates; redis-cli connects with the node certificate as its client
# certificate. Installs redis-server with apt-get when missing and possible.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >"$T/apt.log" 2>&1 ||
                        skip "redis-server is missing and apt-get could not install it: $(tail -n 3 "$T/apt.log")"
        else
                skip "redis-server is missing (Debian package redis-server) and cannot be installed as $(id -un)"
        fi
fi
redis-server --version >/dev/null 2>&1 || skip "redis-server does not run"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
# The files belong to whoever runs Redis here (the package's "redis" user may not exist).
write_config "$T/nodeseal.json" "\"profile\": \"redis\", \"owner\": \"$(id -un)\""
sed -i "s|\"directory\": \"$T/certs\"|\"directory\": \"$T/redis-tls\"|" "$T/nodeseal.json"

ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision ($out)"
for f in redis.crt redis.key ca.crt; do [ -f "$T/redis-tls/$f" ] || fail "$f not written"; done
assert_file_mode "$T/redis-tls/redis.key" 600

port=$((20000 + RANDOM % 20000))
mkdir -p "$T/redis-data"
redis-server --port 0 --bind 127.0.0.1 --tls-port "$port" \
        --tls-cert-file "$T/redis-tls/redis.crt" --tls-key-file "$T/redis-tls/redis.key" \
        --tls-ca-cert-file "$T/redis-tls/ca.crt" --tls-auth-clients yes \
        --dir "$T/redis-data" --save "" --appendonly no --daemonize no >"$T/redis.log" 2>&1 &
redis=$!
cleanup_hooks+=("kill $redis 2>/dev/null; wait $redis 2>/dev/null")

cli() {
        redis-cli --tls --cacert "$T/redis-tls/ca.crt" --cert "$T/redis-tls/redis.crt" --key "$T/redis-tls/redis.key" \
                -h 127.0.0.1 -p "$port" "$@"
}
for _ in $(seq 100); do
        [ "$(cli ping 2>/dev/null)" == "PONG" ] && break
        kill -0 $redis 2>/dev/null || {
                grep -qi "tls.*not.*support\|not compiled" "$T/redis.log" && skip "redis-server built without TLS"
                fail "redis-server exited: $(cat "$T/redis.log")"
        }
        sleep 0.1
done
assert_eq "$(cli ping 2>&1)" "PONG" "ping over mutual TLS"
assert_eq "$(cli set nodeseal works 2>&1)" "OK" "SET"
assert_eq "$(cli get nodeseal 2>&1)" "works" "GET"

# Without a client certificate the server refuses (tls-auth-clients yes).
set +e
out=$(redis-cli --tls --cacert "$T/redis-tls/ca.crt" -h 127.0.0.1 -p "$port" ping 2>&1)
set -e
assert_not_contains "$out" "PONG" "a client without a certificate"

# A client that trusts another CA refuses the server.
make_ca "$T/other" "/CN=another CA"
set +e
out=$(redis-cli --tls --cacert "$T/other/ca.crt" --cert "$T/redis-tls/redis.crt" --key "$T/redis-tls/redis.key" \
        -h 127.0.0.1 -p "$port" ping 2>&1)
set -e
assert_not_contains "$out" "PONG" "a client trusting another CA"
pass
