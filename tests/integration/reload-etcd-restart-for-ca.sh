#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The etcd profile against Debian's etcd 3.4 with client mutual TLS: a renewal is served without a
# restart (etcd reads its certificate on every handshake; nodeseal runs nothing), a CA replacement
# needs a restart (etcd builds its CA pool at start): without restart_command that is reported; once
# one is configured (SIGHUP) it runs once, and the serve_check waits for etcd to come back rather
# than restarting it again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"
. "$(dirname "$0")/lib-reload.sh"

command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
        skip "etcd is not installed (packages etcd-server, etcd-client; tests/run-all installs them)"
command -v jq >/dev/null || skip "jq is not installed (tests/run-all installs it)"
[ "$(id -u)" -eq 0 ] || skip "needs root to call RenewCertificates()"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cport=$(free_port)
pport=$(free_port)
make_ca "$T/ca"
make_ca "$T/ca2" "/CN=nodeseal test CA 2"
make_secrets "$T/secrets" "$T/ca"
make_client_cert "$T/ca" "$T/client" app
cat "$T/ca/ca.crt" "$T/ca2/ca.crt" >"$T/client/trust.crt"

# etcd in the background, its pid in $T/etcd.pid; the restart command stops it and starts it again.
cat >"$T/etcd-start" <<SH
#!/bin/sh
[ -s "$T/etcd.pid" ] && kill "\$(cat "$T/etcd.pid")" 2>/dev/null
while [ -s "$T/etcd.pid" ] && kill -0 "\$(cat "$T/etcd.pid")" 2>/dev/null; do sleep 0.05; done
echo restart >>"$T/restarts"
etcd --name n1 --data-dir "$T/etcd" --listen-client-urls https://127.0.0.1:$cport \
        --advertise-client-urls https://127.0.0.1:$cport --listen-peer-urls http://127.0.0.1:$pport \
        --initial-advertise-peer-urls http://127.0.0.1:$pport --initial-cluster n1=http://127.0.0.1:$pport \
        --cert-file "$T/tls/server.crt" --key-file "$T/tls/server.key" --trusted-ca-file "$T/tls/ca.crt" \
        --client-cert-auth --heartbeat-interval 20 --election-timeout 200 >>"$T/etcd.log" 2>&1 </dev/null &
echo \$! >"$T/etcd.pid"
SH
chmod +x "$T/etcd-start"
cleanup_hooks+=("kill \$(cat '$T/etcd.pid') 2>/dev/null")

write_daemon_config "$T/nodeseal.json" "\"profile\": \"etcd\", \"owner\": \"root\",
        \"serve_check\": { \"address\": \"127.0.0.1:$cport\", \"protocol\": \"tls\" }"
sed -i "s|\"directory\": \"$T/certs\"|\"directory\": \"$T/tls\"|" "$T/nodeseal.json"
ns --config "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision: $out"
"$T/etcd-start"
ctl() { etcdctl --endpoints "https://127.0.0.1:$cport" --cacert "$T/client/trust.crt" --cert "$T/client/client.crt" \
        --key "$T/client/client.key" --command-timeout=2s "$@"; }
healthy() { ctl endpoint health >/dev/null 2>&1; }
wait_for 15 healthy || fail "etcd does not answer over mutual TLS: $(tail -n 20 "$T/etcd.log")"
set +e
out=$(etcdctl --endpoints "https://127.0.0.1:$cport" --cacert "$T/client/trust.crt" --command-timeout=2s \
        endpoint health 2>&1)
set -e
assert_contains "$out" "unhealthy" "a client without a certificate"
pid=$(cat "$T/etcd.pid")

start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
start_client_loop puts ctl put k v

# Renewal: nothing to run, and etcd serves the new certificate at once.
first=$(serial_of "$T/tls/server.crt")
call RenewCertificates >/dev/null || fail "RenewCertificates() failed"
[ "$(serial_of "$T/tls/server.crt")" != "$first" ] || fail "RenewCertificates() did not renew"
expect_reload node confirmed 10
assert_not_contains "$(cat "$DAEMON_LOG")" "running reload hook" "daemon log"
assert_eq "$(cat "$T/etcd.pid")" "$pid" "etcd pid after the renewal"
sleep 0.5
stop_client_loop puts 3

# A CA replacement without restart_command: reported as needing a restart.
rotate_ca_secret "$T/secrets" "$T/ca" "$T/ca2"
expect_reload node needs-restart 10
assert_contains "$(reload_field node message)" "etcd reads its CA file at start only"
ns -c "$T/nodeseal.json" status
assert_contains "$out" "reload needs-restart"

# With one (configuration reloaded), it runs once; the serve_check waits for etcd to come back.
sed -i "s|\"profile\": \"etcd\",|\"profile\": \"etcd\", \"restart_command\": [\"$T/etcd-start\"],|" "$T/nodeseal.json"
kill -HUP "$DAEMON_PID"
expect_reload node confirmed 20
[ "$(grep -c restart "$T/restarts")" == 2 ] ||
        fail "etcd starts (the first and one restart): $(grep -c restart "$T/restarts"); log: $(cat "$DAEMON_LOG")"
healthy || fail "etcd is not healthy after its restart"
assert_eq "$(openssl s_client -connect "127.0.0.1:$cport" -cert "$T/client/client.crt" -key "$T/client/client.key" \
        </dev/null 2>/dev/null | openssl x509 -noout -serial)" "$(serial_of "$T/tls/server.crt")" "served after the restart"
pass
