#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Two nodes' certificates do mutual TLS with each other (openssl s_server -Verify -www / s_client on
# 127.0.0.1), and a certificate of another CA is turned away.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
command -v timeout >/dev/null || skip "timeout(1) missing"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
for n in node-a node-b; do
        NODE_NAME=$n write_config "$T/$n.json"
        sed -i "s|$T/certs|$T/$n|; s|$T/run|$T/run-$n|" "$T/$n.json"
        ns -c "$T/$n.json" provision
        assert_eq "$rc" 0 "provision $n ($out)"
done

port=$((20000 + RANDOM % 20000))
serve() {
        timeout 20 openssl s_server -accept "127.0.0.1:$port" -naccept 1 -Verify 2 -verify_return_error \
                -cert "$T/node-a/tls.crt" -key "$T/node-a/tls.key" -CAfile "$T/node-a/ca.crt" \
                -www >"$T/server.log" 2>&1 &
        server=$!
        cleanup_hooks+=("kill $server 2>/dev/null")
        for _ in $(seq 50); do
                ss -ltn 2>/dev/null | grep "127.0.0.1:$port " >/dev/null && return 0
                sleep 0.1
        done
        fail "s_server did not start: $(cat "$T/server.log")"
}

serve
set +e
reply=$(printf "GET / HTTP/1.0\r\n\r\n" | timeout 20 openssl s_client -connect "127.0.0.1:$port" -verify_return_error \
        -verify_hostname node-a -CAfile "$T/node-b/ca.crt" -cert "$T/node-b/tls.crt" -key "$T/node-b/tls.key" \
        -ign_eof 2>&1)
crc=$?
set -e
wait "$server" || true
assert_eq "$crc" 0 "s_client exit status ($reply)"
assert_contains "$reply" "Verify return code: 0 (ok)"
assert_contains "$reply" "HTTP/1.0 200 ok" "the server's reply"
# The -www page shows the client certificate the server verified.
assert_contains "$reply" "Subject: CN=node-b" "the server's reply"
assert_contains "$(cat "$T/server.log")" "CN = node-b" "the server's view of the client"

# A client certificate from another CA is refused by the server.
make_ca "$T/evil" "/CN=evil CA"
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$T/evil/c.key" -out "$T/evil/c.csr" \
        -subj "/CN=node-b" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$T/evil/ext"
openssl x509 -req -in "$T/evil/c.csr" -CA "$T/evil/ca.crt" -CAkey "$T/evil/ca.key" -CAcreateserial -days 1 \
        -extfile "$T/evil/ext" -out "$T/evil/c.crt" 2>/dev/null
port=$((port + 1))
serve
set +e
reply=$(printf "GET / HTTP/1.0\r\n\r\n" | timeout 20 openssl s_client -connect "127.0.0.1:$port" -CAfile "$T/node-b/ca.crt" \
        -cert "$T/evil/c.crt" -key "$T/evil/c.key" -ign_eof 2>&1)
set -e
wait "$server" || true
assert_not_contains "$reply" "HTTP/1.0 200 ok" "a foreign client's reply"
assert_contains "$(cat "$T/server.log")" "unable to get local issuer certificate" "the server's log"
pass
