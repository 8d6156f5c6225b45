#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The proof of a CA rotation with overlap: three nodeseal nodes (three configs against one
# directory secret source) running a three-member etcd cluster with client and peer mutual TLS from
# nodeseal's certificates, PostgreSQL on node 1, Redis on node 2 and MariaDB on node 3, while clients
# loop through the whole rotation.
# Clients take their trust from "nodeseal ca" and refresh it after prepare, as the README says;
# the peers trust the node's own bundle. etcd reads its CA files at start only, so each node's
# restart_command restarts its member: one at a time, only while all are healthy (else it fails and
# nodeseal retries it with backoff). Asserted: no failed connection or handshake in any stage,
# every member healthy at every step, and a control client that never refreshed its trust failing
# from activate on. Before the rotation, issue 12's etcd checks: a renewal is picked up without a
# restart, and a client certificate from another CA is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-etcd.sh"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
        skip "redis-server is not installed (packages redis-server, redis-tools; tests/run-all installs them)"
[ "$(id -u)" -eq 0 ] || skip "needs root (the secrets directory must be root's)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/initdb" ] && id postgres >/dev/null 2>&1 || skip "PostgreSQL server not installed (tests/run-all installs it)"
command -v mariadbd >/dev/null && id mysql >/dev/null 2>&1 || skip "MariaDB server not installed (tests/run-all installs it)"
chmod 0755 "$T"

make_ca "$T/ca"
mkdir -p "$T/secrets/nodeseal-ca"
chmod 700 "$T/secrets"
cp "$T/ca/ca.crt" "$T/secrets/nodeseal-ca/tls.crt"
cp "$T/ca/ca.key" "$T/secrets/nodeseal-ca/tls.key"
etcd_ports
redis_port=$(etcd_free_port)
pg_port=$(etcd_free_port)
my_port=$(etcd_free_port)
me=$(id -un)

# restart-member I: what each node's etcd certificate runs when its CA file changed.
cat >"$T/restart-member" <<EOS
#!/bin/bash
i=\$1 d=$T/n\$1
exec 9>"$T/restart.lock"
flock 9
ctl() { ETCDCTL_API=3 etcdctl --cacert "\$d/etcd-tls/ca.crt" --cert "\$d/etcd-tls/server.crt" \\
        --key "\$d/etcd-tls/server.key" --dial-timeout 1s --command-timeout 2s "\$@" >/dev/null 2>&1; }
all_healthy() { for e in ${ETCD_PORTS[2]} ${ETCD_PORTS[4]} ${ETCD_PORTS[6]}; do
        ctl --endpoints "https://127.0.0.1:\$e" endpoint health || return 1; done; }
exec >>"$T/restart.log" 2>&1
echo "\$(date +%T.%N) n\$i: restart wanted"
for n in \$(seq 50); do all_healthy && break; sleep 0.2; done
all_healthy || { echo "not all members healthy: not restarting n\$i now"; exit 1; }
old=\$(cat "\$d/etcd.pid")
kill "\$old"
for n in \$(seq 100); do
        [ "\$(cat "\$d/etcd.pid")" != "\$old" ] && all_healthy && { echo "\$(date +%T.%N) n\$i restarted"; exit 0; }
        sleep 0.2
done
echo "n\$i did not come back healthy"; exit 1
EOS
# reload-redis: the datastore's local admin channel (its Unix socket), never the TLS being changed.
cat >"$T/reload-redis" <<EOS
#!/bin/sh
exec redis-cli -s "$T/redis.sock" CONFIG SET tls-cert-file "\$NODESEAL_CERT_FILE" tls-key-file "\$NODESEAL_KEY_FILE" \\
        tls-ca-cert-file "\$NODESEAL_CA_FILE"
EOS
# reload-pg: over the server's Unix socket, as its superuser.
cat >"$T/reload-pg" <<EOS
#!/bin/sh
exec runuser -u postgres -- psql -h "$T/pgsock" -p $pg_port -d postgres -Atc 'SELECT pg_reload_conf()'
EOS
# reload-mariadb: FLUSH SSL over the server's Unix socket.
cat >"$T/reload-mariadb" <<EOS
#!/bin/sh
exec mariadb --no-defaults -S "$T/mysock/m.sock" -u root -e 'FLUSH SSL'
EOS
chmod +x "$T/restart-member" "$T/reload-redis" "$T/reload-pg" "$T/reload-mariadb"

for i in 1 2 3; do
        mkdir -p "$T/n$i"
        redis=
        [ $i = 1 ] && redis=", { \"name\": \"postgresql\", \"profile\": \"postgresql\", \"directory\": \"$T/n1/pg-tls\",
            \"dns_names\": [\"localhost\"], \"ip_addresses\": [\"127.0.0.1\"], \"reload_command\": [\"$T/reload-pg\"] }"
        [ $i = 3 ] && redis=", { \"name\": \"mariadb\", \"profile\": \"mysql\", \"directory\": \"$T/n3/my-tls\",
            \"dns_names\": [\"localhost\"], \"ip_addresses\": [\"127.0.0.1\"], \"reload_command\": [\"$T/reload-mariadb\"] }"
        [ $i = 2 ] && redis=", { \"name\": \"redis\", \"profile\": \"redis\", \"directory\": \"$T/n2/redis-tls\", \"owner\": \"$me\",
            \"dns_names\": [\"localhost\"], \"ip_addresses\": [\"127.0.0.1\"], \"reload_command\": [\"$T/reload-redis\"] }"
        cat >"$T/n$i/nodeseal.json" <<JSON
{
  "node_name": "n$i",
  "runtime_directory": "$T/n$i/run",
  "secrets": { "directory": "$T/secrets" },
  "retry": { "initial_sec": 0.2, "max_sec": 1 },
  "daemon": { "poll_sec": 0.3, "recheck_sec": 1, "rotation_jitter_sec": 3, "hook_timeout_sec": 30 },
  "certificates": [
    { "name": "etcd", "profile": "etcd", "directory": "$T/n$i/etcd-tls", "owner": "$me",
      "dns_names": ["{node}", "localhost"], "ip_addresses": ["127.0.0.1"],
      "restart_command": ["$T/restart-member", "$i"] }$redis
  ]
}
JSON
        ns -c "$T/n$i/nodeseal.json" provision
        assert_eq "$rc" 0 "first provision of n$i: $out"
done
for i in 1 2 3; do etcd_start_member $i; done
wait_for 30 etcd_healthy || fail "the etcd cluster did not come up: $(tail -n 5 "$T"/n*/etcd.log)"
mkdir -p "$T/redis-data"
redis-server --port 0 --bind 127.0.0.1 --tls-port "$redis_port" --unixsocket "$T/redis.sock" --unixsocketperm 700 \
        --tls-cert-file "$T/n2/redis-tls/redis.crt" --tls-key-file "$T/n2/redis-tls/redis.key" \
        --tls-ca-cert-file "$T/n2/redis-tls/ca.crt" --tls-auth-clients yes \
        --dir "$T/redis-data" --save "" --appendonly no --daemonize no >"$T/redis-server.log" 2>&1 &
cleanup_hooks+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
install -d -o postgres -m 0700 "$T/pgdata"
install -d -o postgres -m 0755 "$T/pgsock"
runuser -u postgres -- "$pgbin/initdb" -D "$T/pgdata" -A trust >/dev/null
cat >>"$T/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$T/pgsock'
ssl = on
ssl_cert_file = '$T/n1/pg-tls/server.crt'
ssl_key_file = '$T/n1/pg-tls/server.key'
ssl_ca_file = '$T/n1/pg-tls/root.crt'
CONF
printf '%s\n' "local all all trust" "hostssl all all 127.0.0.0/8 trust clientcert=verify-ca" \
        "hostnossl all all 0.0.0.0/0 reject" >"$T/pgdata/pg_hba.conf"
runuser -u postgres -- "$pgbin/pg_ctl" -D "$T/pgdata" -l "$T/pgsock/pg.log" -w start >/dev/null ||
        fail "PostgreSQL did not start: $(cat "$T/pgsock/pg.log")"
cleanup_hooks+=("runuser -u postgres -- '$pgbin/pg_ctl' -D '$T/pgdata' -m immediate stop >/dev/null 2>&1")

install -d -o mysql -g mysql "$T/mydata" "$T/mysock"
mariadb-install-db --no-defaults --datadir="$T/mydata" --user=mysql --auth-root-authentication-method=normal \
        >"$T/mariadb-install.log" 2>&1 || fail "mariadb-install-db failed: $(cat "$T/mariadb-install.log")"
mariadbd --no-defaults --user=mysql --datadir="$T/mydata" --socket="$T/mysock/m.sock" --pid-file="$T/mysock/m.pid" \
        --bind-address=127.0.0.1 --port="$my_port" --skip-name-resolve --log-error="$T/mysock/err.log" \
        --ssl-cert="$T/n3/my-tls/server-cert.pem" --ssl-key="$T/n3/my-tls/server-key.pem" --ssl-ca="$T/n3/my-tls/ca.pem" \
        --require-secure-transport=ON &
cleanup_hooks+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
wait_for 30 test -S "$T/mysock/m.sock" || fail "MariaDB did not start: $(cat "$T/mysock/err.log")"
mariadb --no-defaults -S "$T/mysock/m.sock" -u root -e \
        "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '' REQUIRE X509; GRANT ALL ON *.* TO 'app'@'127.0.0.1';"

for i in 1 2 3; do
        "$NODESEAL" -c "$T/n$i/nodeseal.json" --log-format text run --bus-address "unix:path=$T/no-bus" \
                >>"$T/n$i/daemon.log" 2>&1 &
        cleanup_hooks+=("kill $! 2>/dev/null; wait $! 2>/dev/null")
done
node_json() { cat "$T/n$1/run/status.json" 2>/dev/null; }
node_ready() { [[ "$(node_json "$1")" == *'"ready":true'* ]]; }
for i in 1 2 3; do wait_for 20 node_ready $i || fail "n$i not ready: $(cat "$T/n$i/daemon.log")"; done

# ---- issue 12: a renewal is picked up without a restart ----
served_serial() {
        openssl s_client -connect "127.0.0.1:$(etcd_client_port "$1")" -CAfile "$T/ca/ca.crt" \
                -cert "$T/n1/etcd-tls/server.crt" -key "$T/n1/etcd-tls/server.key" </dev/null 2>/dev/null |
                openssl x509 -noout -serial 2>/dev/null
}
restarts() { cat "$T/n$1/etcd.restarts" 2>/dev/null | wc -l; }
before=$(served_serial 2)
rm "$T/n2/etcd-tls/server.crt"   # the next re-check provisions a new key and certificate
renewed() { [ -s "$T/n2/etcd-tls/server.crt" ] && [ "$(served_serial 2)" == "$(openssl x509 -noout -serial -in "$T/n2/etcd-tls/server.crt")" ]; }
wait_for 15 renewed || fail "member 2 does not serve its renewed certificate: $(served_serial 2)"
[ "$(served_serial 2)" != "$before" ] || fail "same certificate served after the renewal"
assert_eq "$(restarts 2)" 0 "restarts of member 2 for a renewal"
# ---- the client loops ----
mkdir -p "$T/client" "$T/control"
"$NODESEAL" -c "$T/n1/nodeseal.json" ca >"$T/client/ca.crt"
# The clients' own certificate: node 1's, copied as one file (certificate and key together), so
# that a client never reads the key of one and the certificate of another; refreshed after activate.
client_identity() { (umask 077 && cat "$T/n1/etcd-tls/server.crt" "$T/n1/etcd-tls/server.key" >"$T/client/id.new") &&
        mv "$T/client/id.new" "$T/client/id.pem"; }
client_identity
cp "$T/client/ca.crt" "$T/control/ca.crt"
echo none >"$T/stage"
# loop NAME TRUSTDIR CMD...: runs CMD (with $TRUST the bundle) until $T/stop; one line per try.
loop() {
        local name=$1 trust=$2 n=0
        shift 2
        while [ ! -e "$T/stop" ]; do
                n=$((n + 1))
                if TRUST=$trust/ca.crt "$@" >"$T/$name.last" 2>&1; then
                        echo "ok $(cat "$T/stage")" >>"$T/$name.log"
                else
                        echo "fail $(cat "$T/stage") $(date +%T.%N) $(tr '\n' ' ' <"$T/$name.last" | head -c 300)" >>"$T/$name.log"
                fi
                sleep 0.1
        done
}
etcd_client() {
        local endpoints
        endpoints=$(etcd_endpoints)
        [ "$TRUST" == "$T/control/ca.crt" ] && endpoints=${endpoints//127.0.0.1/localhost}
        put() {
                ETCDCTL_API=3 etcdctl --cacert "$TRUST" --cert "$T/client/id.pem" --key "$T/client/id.pem" \
                        --endpoints "$endpoints" --dial-timeout 3s --command-timeout 5s put loop "$RANDOM" 2>&1
        }
        local out
        out=$(put) && return 0
        # A put on a member being restarted (etcd 3.4 reads its CA at start only) ends with the
        # connection closed under it; etcdctl does not retry a write, an application would: once,
        # and it is counted. Never after a certificate error.
        grep -q 'x509\|certificate\|tls:' <<<"$out" && { echo "$out"; return 1; }
        echo "retried after: $(tr '\n' ' ' <<<"$out" | head -c 200)" >>"$T/etcd-retries.log"
        put
}
redis_client() {
        timeout 5 redis-cli --tls --cacert "$TRUST" --cert "$T/client/id.pem" --key "$T/client/id.pem" \
                -h 127.0.0.1 -p "$redis_port" PING </dev/null | grep -x PONG >/dev/null
}
pg_client() {
        timeout 5 psql "host=localhost port=$pg_port user=postgres dbname=postgres sslmode=verify-full sslrootcert=$TRUST sslcert=$T/client/id.pem sslkey=$T/client/id.pem" \
                -Atc 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' </dev/null | grep -x t >/dev/null
}
my_client() {
        timeout 5 mariadb --no-defaults -h 127.0.0.1 -P "$my_port" -u app --ssl --ssl-verify-server-cert \
                --ssl-ca="$TRUST" --ssl-cert="$T/client/id.pem" --ssl-key="$T/client/id.pem" -N -B \
                -e "SHOW STATUS LIKE 'Ssl_cipher'" </dev/null | grep . >/dev/null
}
export -f etcd_client redis_client pg_client my_client
export T redis_port ETCD_PORTS_STR="${ETCD_PORTS[*]}"
loop etcd "$T/client" etcd_client & loops=($!)
loop redis "$T/client" redis_client & loops+=($!)
loop etcd-control "$T/control" etcd_client & loops+=($!)
loop redis-control "$T/control" redis_client & loops+=($!)
loop pg "$T/client" pg_client & loops+=($!)
loop pg-control "$T/control" pg_client & loops+=($!)
loop mariadb "$T/client" my_client & loops+=($!)
loop mariadb-control "$T/control" my_client & loops+=($!)
cleanup_hooks+=("touch '$T/stop'; wait ${loops[*]} 2>/dev/null")
sleep 1

node_stage() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])).get("ca_rotation",{}); print(r.get("node_stage",""), r.get("secret_stage",""))' "$T/n$1/run/status.json" 2>/dev/null; }
all_at() { local i; for i in 1 2 3; do [ "$(node_stage $i)" == "$1 $1" ] || return 1; done; }
step() {
        local s=$1 want=$2 secs=$3 t0=$SECONDS
        echo "$s" >"$T/stage"
        ns -c "$T/n1/nodeseal.json" ca-rotate "$s"
        assert_eq "$rc" 0 "ca-rotate $s: $out"
        wait_for "$secs" all_at "$want" ||
                fail "not every node reached $want: $(for i in 1 2 3; do node_stage $i; cat "$T/n$i/run/status.json"; tail -n 5 "$T/n$i/daemon.log"; done)"
        etcd_healthy || fail "the etcd cluster is not healthy after $s"
        for i in 1 2 3; do
                ns -c "$T/n$i/nodeseal.json" check
                assert_eq "$rc" 0 "check on n$i after $s: $out"
        done
        echo "$s: every node at $want in $((SECONDS - t0)) s"
}

# Handshakes the servers log as failed for trust (x509, bad certificate) from here on: not the
# connections a restarting member drops. etcd: peers and clients, but not the control
# client, which names the members "localhost" (so its rejections carry that server name). Redis
# cannot tell who failed: its count is taken before the control client starts failing.
etcd_tls_errors() {
        local n=0 i
        for i in 1 2 3; do
                n=$((n + $(tail -n +"$(( ${log_at[$i]} + 1 ))" "$T/n$i/etcd.log" | grep 'x509: \|bad certificate\|unknown certificate' |
                        grep -vc localhost || true)))
        done
        echo $n
}
redis_tls_errors() { tail -n +"$(( ${log_at[0]} + 1 ))" "$T/redis-server.log" | grep -c 'Error accepting a client connection' || true; }
pg_tls_errors() { tail -n +"$(( ${log_at[4]} + 1 ))" "$T/pgsock/pg.log" | grep -c 'could not accept SSL connection' || true; }
log_at=([0]=$(wc -l <"$T/redis-server.log") [4]=$(wc -l <"$T/pgsock/pg.log"))
for i in 1 2 3; do log_at[$i]=$(wc -l <"$T/n$i/etcd.log"); done

step prepare prepared 40
"$NODESEAL" -c "$T/n1/nodeseal.json" ca >"$T/client/ca.new" && mv "$T/client/ca.new" "$T/client/ca.crt"
sleep 1
redis_prepare_errors=$(redis_tls_errors)
pg_prepare_errors=$(pg_tls_errors)
step activate activated 30
client_identity
sleep 1
step finish none 40
sleep 1
touch "$T/stop"
wait "${loops[@]}" 2>/dev/null || true
etcd_errors=$(etcd_tls_errors)

# A client certificate of another CA is refused (after the rotation: by the new bundle).
make_ca "$T/other" "/CN=some other CA"
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$T/other/client.key" \
        -out "$T/other/client.csr" -subj /CN=intruder 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$T/other/ext.cnf"
openssl x509 -req -in "$T/other/client.csr" -CA "$T/other/ca.crt" -CAkey "$T/other/ca.key" -CAcreateserial \
        -days 1 -extfile "$T/other/ext.cnf" -out "$T/other/client.crt" 2>/dev/null
ETCDCTL_API=3 etcdctl --cacert "$T/client/ca.crt" --cert "$T/other/client.crt" --key "$T/other/client.key" \
        --endpoints "$(etcd_endpoint 1)" --dial-timeout 2s --command-timeout 2s put intruder x >"$T/intruder.out" 2>&1 &&
        fail "a client certificate of another CA was accepted"
[ "$(etcd_tls_errors)" -gt "$etcd_errors" ] || fail "member 1 did not log the refused client certificate"
etcdctl_as 1 --endpoints "$(etcd_endpoint 1)" put owner ok >/dev/null || fail "the node's own certificate is refused"

count() { grep -c "^$1" "$T/$2.log" || true; }
for l in etcd redis pg mariadb; do
        echo "$l client: $(count ok $l) ok, $(count fail $l) failed; control: $(count "ok" $l-control) ok, $(count fail $l-control) failed ($(count "fail activate" $l-control) in activate, $(count "fail finish" $l-control) in finish)"
done
restarts_all=$(( $(restarts 1) + $(restarts 2) + $(restarts 3) ))
echo "etcd client: $(cat "$T/etcd-retries.log" 2>/dev/null | wc -l) write(s) retried once after a restarting member closed the connection"
echo "etcd member restarts: $restarts_all"
echo "failed TLS handshakes logged: etcd (peers and clients, all stages) $etcd_errors, Redis (none and prepare) $redis_prepare_errors, Redis all stages with the control client's $(redis_tls_errors), PostgreSQL (none and prepare) $pg_prepare_errors, with the control client's $(pg_tls_errors)"
if [ -n "${ROTATE_KEEP_LOGS:-}" ]; then mkdir -p "$ROTATE_KEEP_LOGS"; cp -r "$T"/n* "$T"/*.log "$ROTATE_KEEP_LOGS/"; fi
assert_eq "$etcd_errors" 0 "failed TLS handshakes in the etcd cluster"
assert_eq "$redis_prepare_errors" 0 "failed TLS handshakes at Redis before activate"
assert_eq "$pg_prepare_errors" 0 "failed TLS handshakes at PostgreSQL before activate"
for l in etcd redis pg mariadb; do
        [ "$(count fail $l)" == 0 ] || fail "$l client: failed connections: $(grep ^fail "$T/$l.log" | head -n 5)"
        [ "$(count ok $l)" -gt 20 ] || fail "$l client: too few tries to prove anything"
        [ "$(count "fail none" $l-control)" == 0 ] && [ "$(count "fail prepare" $l-control)" == 0 ] ||
                fail "$l control client failed before activate: $(grep ^fail "$T/$l-control.log" | head -n 3)"
        [ "$(count "fail finish" $l-control)" -gt 0 ] || fail "$l control client never failed: the test cannot fail"
done
[ "$restarts_all" -ge 6 ] || fail "expected each member restarted at prepare and at finish, got $restarts_all"
pass
