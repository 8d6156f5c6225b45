#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The reload sidecar beside a real Redis, as in a datastore pod: `nodeseal provision` (the agent)
# renews the certificate in a directory the sidecar watches; the sidecar reloads Redis over its unix
# socket (the local admin channel, no TLS trust needed) and openssl s_client sees the new
# certificate served by the same Redis process. A reload that fails while Redis is not up yet is
# retried and shown in the status file (--probe exits 1), a burst of writes gives one reload, and a
# key that does not match the certificate is never handed to Redis. Each reload is confirmed by the
# certificate's serve_check (the leaf Redis serves on loopback is the file's).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        skip "redis-server is not installed (packages redis-server, redis-tools; tests/run-all installs them)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
# The reload over the unix socket; redis-cli exits 0 on an error reply, so the reply is checked.
# While $T/hang exists it hangs instead (an admin channel that does not answer).
cat >"$T/reload-redis" <<EOF
#!/bin/sh
[ ! -e "$T/hang" ] || exec sleep 60
redis-cli -s "$T/redis.sock" CONFIG SET tls-cert-file "\$NODESEAL_CERT_FILE" tls-key-file "\$NODESEAL_KEY_FILE" \
        tls-ca-cert-file "\$NODESEAL_CA_FILE" | grep -x OK >/dev/null
EOF
chmod +x "$T/reload-redis"
# write NAMES: the agent's config (and the sidecar's: the same file, as in the ConfigMap).
write() {
        CERT_DIR=$T/redis-tls write_config "$T/nodeseal.json" \
                "\"profile\": \"redis\", \"owner\": \"$(id -un)\", \"reload_command\": [\"$T/reload-redis\"],
                 \"serve_check\": { \"address\": \"127.0.0.1:$port\", \"protocol\": \"tls\" }" \
                "\"retry\": { \"initial_sec\": 0.2, \"max_sec\": 0.5 }, \"daemon\": { \"hook_timeout_sec\": 1 }"
        sed -i "s|\"dns_names\": \[\"{node}\", \"localhost\"\]|\"dns_names\": [$1]|" "$T/nodeseal.json"
}
write '"{node}", "localhost"'
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision ($out)"
first=$(serial_of "$T/redis-tls/redis.crt")
# The test's own client certificate (Redis checks clients: tls-auth-clients yes).
cp "$T/redis-tls/redis.crt" "$T/client.crt"
cp "$T/redis-tls/redis.key" "$T/client.key"

status=$T/sidecar.status
"$NODESEAL" -c "$T/nodeseal.json" reload-sidecar --status-file "$status" --poll-sec 0.1 --settle-sec 0.5 \
        >"$T/sidecar.log" 2>&1 &
sidecar=$!
cleanup_hooks+=("kill $sidecar 2>/dev/null; wait $sidecar 2>/dev/null")

# Redis is not up yet: the start-up reload fails, is retried, and the status says so.
failing() { grep -q "failures=[1-9]" "$status" 2>/dev/null; }
wait_for 10 failing || fail "no failed reload in the status: $(cat "$status" "$T/sidecar.log")"
ns reload-sidecar --probe --status-file "$status"
assert_eq "$rc" 1 "probe while the reload fails ($out)"
assert_contains "$out" "reload=retrying"
assert_contains "$(cat "$T/sidecar.log")" "reload hook exited with status 1; trying again"

mkdir -p "$T/redis-data"
redis-server --port 0 --bind 127.0.0.1 --unixsocket "$T/redis.sock" --unixsocketperm 700 --tls-port "$port" \
        --tls-cert-file "$T/redis-tls/redis.crt" --tls-key-file "$T/redis-tls/redis.key" \
        --tls-ca-cert-file "$T/redis-tls/ca.crt" --tls-auth-clients yes \
        --dir "$T/redis-data" --save "" --appendonly no --daemonize no >"$T/redis.log" 2>&1 &
redis=$!
cleanup_hooks+=("kill $redis 2>/dev/null; wait $redis 2>/dev/null")

reloads() { sed -n 's/.* reloads=\([0-9]*\) .*/\1/p' "$status"; }
reloaded() { [ "$(reloads)" == "$1" ] && grep -q "failures=0" "$status"; }
wait_for 10 reloaded 1 || fail "the sidecar did not reload once Redis was up: $(cat "$status" "$T/sidecar.log")"
ns reload-sidecar --probe --status-file "$status"
assert_eq "$rc" 0 "probe after the reload ($out)"
assert_contains "$out" "phase=idle reload=confirmed"

served_serial() {
        openssl s_client -connect "127.0.0.1:$port" -CAfile "$T/ca/ca.crt" -cert "$T/client.crt" \
                -key "$T/client.key" </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}
assert_eq "$(served_serial)" "$first" "served certificate at first"

# The agent renews (a new name in the config makes it issue anew): key, certificate and CA files
# are written one after the other, the sidecar reloads once.
write '"{node}", "localhost", "redis.example"'
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "renewing provision ($out)"
second=$(serial_of "$T/redis-tls/redis.crt")
[ "$second" != "$first" ] || fail "provision did not renew"
wait_for 10 reloaded 2 || fail "no reload after the renewal: $(cat "$status" "$T/sidecar.log")"
assert_eq "$(served_serial)" "$second" "served certificate after the renewal"
kill -0 "$redis" || fail "Redis went away"
sleep 1
assert_eq "$(reloads)" 2 "reloads after one renewal (a burst coalesced)"

# A key that is not the certificate's (caught between two writes, say) is held back.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.key" 2>/dev/null
cp "$T/other.key" "$T/redis-tls/.redis.key.new" && mv "$T/redis-tls/.redis.key.new" "$T/redis-tls/redis.key"
held() { grep -q "not reloading yet: key file .* does not match" "$T/sidecar.log"; }
wait_for 10 held || fail "a mismatching key was not held back: $(cat "$T/sidecar.log")"
assert_eq "$(reloads)" 2 "reloads with a mismatching key"
assert_eq "$(served_serial)" "$second" "served certificate with a mismatching key on disk"

# The agent repairs the pair; the sidecar reloads that.
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "repairing provision ($out)"
third=$(serial_of "$T/redis-tls/redis.crt")
wait_for 10 reloaded 3 || fail "no reload after the repair: $(cat "$status" "$T/sidecar.log")"
assert_eq "$(served_serial)" "$third" "served certificate after the repair"
kill -0 "$redis" || fail "Redis went away"

# A reload that hangs is killed after hook_timeout_sec and retried; nothing waits for it.
touch "$T/hang"
write '"{node}", "localhost", "redis.example", "hang.example"'
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision while the reload hangs ($out)"
timed_out() { grep -q "message=the reload hook killed by signal" "$status"; }
wait_for 10 timed_out || fail "a hanging reload was not timed out: $(cat "$status" "$T/sidecar.log")"
ns reload-sidecar --probe --status-file "$status"
assert_eq "$rc" 1 "probe while the reload hangs ($out)"
rm "$T/hang"
fourth=$(serial_of "$T/redis-tls/redis.crt")
wait_for 10 reloaded 4 || fail "no reload once the hook answered again: $(cat "$status" "$T/sidecar.log")"
assert_eq "$(served_serial)" "$fourth" "served certificate after the hanging reload"

[ -n "${SHOW_LOG:-}" ] && cat "$T/sidecar.log" "$status" >&2
assert_contains "$(cat "$status")" "reload=confirmed"
kill -TERM "$sidecar"
rc=0; wait "$sidecar" || rc=$?
assert_eq "$rc" 0 "the sidecar's exit status on SIGTERM"
pass
