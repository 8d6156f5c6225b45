# SPDX-License-Identifier: Apache-2.0
# Helpers for the reload scenarios (a real datastore, the daemon, a client loop), on top of lib.sh,
# lib-cert.sh and lib-daemon.sh.

# make_client_cert CADIR DIR CN: DIR/client.crt and DIR/client.key, a client certificate (clientAuth)
# signed by CADIR's CA with openssl, independent of the code under test.
make_client_cert() {
        local ca=$1 dir=$2 cn=$3
        mkdir -p "$dir"
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$dir/client.key" \
                -out "$dir/client.csr" -subj "/CN=$cn" 2>/dev/null
        printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
                "extendedKeyUsage=clientAuth" >"$dir/ext.cnf"
        openssl x509 -req -in "$dir/client.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -CAcreateserial -days 30 \
                -extfile "$dir/ext.cnf" -out "$dir/client.crt" 2>/dev/null
}

# rotate_ca_secret SECRETS OLDCA NEWCA: the CA Secret now signs with NEWCA and its trust bundle
# (ca.crt) holds both CAs, replaced the way a kubelet updates a mounted Secret.
rotate_ca_secret() {
        mkdir "$1/new-ca"
        cp "$3/ca.crt" "$1/new-ca/tls.crt"
        cp "$3/ca.key" "$1/new-ca/tls.key"
        cat "$2/ca.crt" "$3/ca.crt" >"$1/new-ca/ca.crt"
        mv "$1/nodeseal-ca" "$1/old-ca"
        mv "$1/new-ca" "$1/nodeseal-ca"
}

# reload_field CERT FIELD: a field of the certificate's "reload" object in Describe().
reload_field() { describe | jq -r --arg n "$1" ".certificates[] | select(.name == \$n) | .reload.$2"; }
reload_is() { [ "$(reload_field "$1" state)" == "$2" ]; }
# expect_reload CERT STATE SECS: Describe() says so within SECS.
expect_reload() {
        wait_for "$3" reload_is "$1" "$2" ||
                fail "reload of $1 is $(reload_field "$1" state) ($(reload_field "$1" message)), not $2; log: $(tail -n 30 "$DAEMON_LOG")"
}

# start_client_loop NAME CMD...: runs CMD over and over (a client of the datastore) until
# stop_client_loop NAME, counting successes and failures.
start_client_loop() {
        local name=$1
        shift
        (
                ok=0 bad=0
                while [ ! -e "$T/$name.stop" ]; do
                        if "$@" >/dev/null 2>>"$T/$name.err"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
                        echo "$ok $bad" >"$T/$name.count"
                        sleep 0.05
                done
        ) &
        echo $! >"$T/$name.pid"
        cleanup_hooks+=("touch '$T/$name.stop'; kill $! 2>/dev/null")
}

# stop_client_loop NAME: ends the loop; it must have succeeded at least MIN (default 5) times and
# failed never.
stop_client_loop() {
        local ok bad
        touch "$T/$1.stop"
        wait "$(cat "$T/$1.pid")" 2>/dev/null || true
        read -r ok bad <"$T/$1.count"
        [ "$bad" -eq 0 ] || fail "client loop $1: $bad of $((ok + bad)) connections failed: $(tail -n 5 "$T/$1.err")"
        [ "$ok" -ge "${2:-5}" ] || fail "client loop $1: only $ok connections"
        echo "client loop $1: $ok connections, none failed"
}
