#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The kubernetes source through another HTTP stack: nginx in front of the fake API server, speaking
# HTTP/2 to nodeseal (as a real kube-apiserver does when the client offers h2, which libcurl does)
# and HTTP/1.1 to the fake. A missing Secret's Status passes through and is reported; provision
# issues from the CA Secret; the daemon's watch streams over HTTP/2 through the proxy and a
# replaced CA is acted on without polling. nginx's log shows every API request came as HTTP/2.
# keepalive_requests 1 makes nginx send GOAWAY on every HTTP/2 connection as soon as its first
# request arrives (as a real server does when it sheds connections): that stream, a watch included,
# runs to its end, and new requests take new connections.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"
. "$(dirname "$0")/lib-daemon.sh"
command -v nginx >/dev/null || skip "nginx is not installed (package nginx)"

serial_of() { openssl x509 -noout -serial -in "$1"; }

start_fake
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/nginx/logs"
user=
[ "$(id -u)" -ne 0 ] || user="user root root;"
cat >"$T/nginx/nginx.conf" <<CONF
$user
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log warn;
events { worker_connections 64; }
http {
    log_format api '\$server_protocol \$request_method \$uri \$status \$connection \$connection_requests';
    access_log $T/nginx/logs/access.log api;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    server {
        listen 127.0.0.1:$port ssl http2;
        keepalive_requests 1;
        ssl_certificate $FAKE_KUBE_DIR/server.crt;
        ssl_certificate_key $FAKE_KUBE_DIR/server.key;
        location / {
            proxy_pass $FAKE_KUBE_URL;
            proxy_ssl_trusted_certificate $FAKE_KUBE_CA;
            proxy_ssl_verify on;
            proxy_ssl_name localhost;   # nginx checks names, not IP addresses
            proxy_http_version 1.1;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 600s;
        }
    }
}
CONF
nginx -t -p "$T/nginx" -c "$T/nginx/nginx.conf" 2>"$T/nginx/t.log" || fail "nginx rejects the config: $(cat "$T/nginx/t.log")"
nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon on;' || fail "nginx did not start"
cleanup_hooks+=("kill \$(cat \"$T/nginx/nginx.pid\") 2>/dev/null")
listening() { curl -s -o /dev/null --cacert "$FAKE_KUBE_CA" "https://127.0.0.1:$port/version"; }
wait_for 10 listening || fail "nginx does not answer on port $port"

make_ca "$T/ca"
make_ca "$T/ca2" "/CN=nodeseal second test CA"
remember_secret "$(sed -n 2p "$T/ca/ca.key")" "$(sed -n 2p "$T/ca2/ca.key")"
FAKE_KUBE_URL=https://127.0.0.1:$port write_config "$T/base.json" "" '{"initial_sec": 0.2, "max_sec": 1}'
python3 - "$T/base.json" "$T/c.json" "$T" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
t = sys.argv[3]
c["certificates"] = [{"name": "db", "directory": t + "/certs", "reload": False}]
c["daemon"] = {"recheck_sec": 600, "renew_jitter_sec": 1}
c["retry"]["max_attempts"] = 2
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
grep -q "127.0.0.1:$port" "$T/c.json" || fail "the config does not point at the proxy"

# A missing Secret: the API's Status comes through the proxy and is reported as such.
ns --config "$T/c.json" provision
printf '%s\n' "$out" >"$LOGS/provision.1"
[ "$rc" -ne 0 ] || fail "provision succeeded without the CA Secret"
assert_contains "$out" "Secret nodeseal-ca not found in namespace nodeseal"

fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
ns --config "$T/c.json" provision
printf '%s\n' "$out" >"$LOGS/provision.2"
assert_eq "$rc" 0 "provision through the HTTP/2 proxy ($out)"
openssl verify -CAfile "$T/ca/ca.crt" "$T/certs/tls.crt" >/dev/null || fail "the certificate does not chain to the CA"

# The daemon: ready, then the watch (over HTTP/2, through the proxy) sees the CA replaced.
python3 - "$T/c.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
del c["retry"]["max_attempts"]
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
start_bus allow-all
start_notify
NODESEAL_LOG_LEVEL=debug start_daemon "$T/c.json"
wait_ready 20
first=$(serial_of "$T/certs/tls.crt")
watch_started() { [ "$(fk_count 0 'watch=')" -gt 0 ]; }
wait_for 10 watch_started || fail "no watch reached the fake through the proxy: $(fk_requests 0)"
sleep 1
kube_replace_ca "$T/ca2"
expect_reissued_under "$T/ca2" "$first" 20
stop_daemon

# Every request nginx saw from nodeseal came over HTTP/2 (the probe above used curl's default too).
cp "$T/nginx/logs/access.log" "$LOGS/nginx-access.log"
grep -q . "$T/nginx/logs/access.log" || fail "nginx logged no request"
other=$(grep -v '^HTTP/2.0 ' "$T/nginx/logs/access.log" || true)
[ -z "$other" ] || fail "requests not over HTTP/2: $other"
assert_contains "$(cat "$T/nginx/logs/access.log")" "HTTP/2.0 GET /api/v1/namespaces/nodeseal/secrets/nodeseal-ca 200"
# GOAWAY after each connection's first request: one request per connection, many connections, and
# the watch that carried the change (on a connection already told to go away) ended cleanly.
more=$(awk '$6 > 1' "$T/nginx/logs/access.log")
[ -z "$more" ] || fail "a connection served more than one request despite keepalive_requests 1: $more"
[ "$(awk '{print $5}' "$T/nginx/logs/access.log" | sort -u | wc -l)" -ge 3 ] || fail "too few connections: $(cat "$T/nginx/logs/access.log")"
bad=$(fk_requests 0 | grep 'watch=' | grep -v '"status": 200' || true)
[ -z "$bad" ] || fail "watches that did not end as a 200 stream: $bad"
assert_not_contains "$(cat "$DAEMON_LOG")" "retrying in" "the daemon log (a watch failed)"
cp "$DAEMON_LOG" "$LOGS/"
assert_no_secrets
pass
