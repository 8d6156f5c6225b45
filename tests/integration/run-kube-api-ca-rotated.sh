#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The API server's own CA rotates while the daemon runs: the service-account ca.crt is rewritten in
# place (old + new, then new only) and the API server moves to a certificate of the new CA. The
# daemon's watch reconnects through the new CA (libcurl would otherwise keep its cached store of the
# old file for 24 hours) and delivers the next change of the CA Secret; a one-shot request works too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"
. "$(dirname "$0")/lib-daemon.sh"

serial_of() { openssl x509 -noout -serial -in "$1"; }

start_fake
# The file the kubelet keeps up to date: the daemon and this script's API calls trust it.
cp "$FAKE_KUBE_CA" "$T/kube-ca.crt"
FAKE_KUBE_CA=$T/kube-ca.crt
make_ca "$T/ca"
make_ca "$T/ca2" "/CN=nodeseal second test CA"
remember_secret "$(sed -n 2p "$T/ca/ca.key")" "$(sed -n 2p "$T/ca2/ca.key")"
fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
write_config "$T/base.json" "" '{"initial_sec": 0.2, "max_sec": 1}'
python3 - "$T/base.json" "$T/c.json" "$T" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["certificates"] = [{"name": "db", "directory": sys.argv[3] + "/certs"}]
c["daemon"] = {"recheck_sec": 600, "renew_jitter_sec": 1}
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY

start_bus allow-all
start_notify
start_daemon "$T/c.json"
wait_ready 20
first=$(serial_of "$T/certs/tls.crt")
sleep 2   # the watch is set up after the attempt that got ready

# The cluster's new CA and the API server's certificate under it (the same names as the old one).
make_ca "$T/kube2" "/CN=fake-kube second CA"
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$T/kube2/server.key" \
        -out "$T/kube2/server.csr" -subj /CN=kube-apiserver 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n' >"$T/kube2/ext.cnf"
openssl x509 -req -in "$T/kube2/server.csr" -CA "$T/kube2/ca.crt" -CAkey "$T/kube2/ca.key" -CAcreateserial \
        -days 30 -extfile "$T/kube2/ext.cnf" -out "$T/kube2/server.crt" 2>/dev/null

# What the kubelet does: the bundle rewritten in place (a new file renamed over the name), old +
# new first; then the API server switches (open watches end), then the bundle holds the new CA only.
cat "$T/kube-ca.crt" "$T/kube2/ca.crt" >"$T/kube-ca.new" && mv "$T/kube-ca.new" "$T/kube-ca.crt"
printf '{"cert": "%s", "key": "%s", "ca": "%s"}' "$T/kube2/server.crt" "$T/kube2/server.key" "$T/kube2/ca.crt" \
        >"$T/tls.json"
fk_post_file /fake/tls "$T/tls.json" >/dev/null
cp "$T/kube2/ca.crt" "$T/kube-ca.new" && mv "$T/kube-ca.new" "$T/kube-ca.crt"
sleep 2

# The watch carries on: it reports the replaced CA Secret, and the daemon reissues under it.
kube_replace_ca "$T/ca2"
grep -q '"resourceVersion"' "$T/patch.out" || fail "the API call through the new CA failed: $(cat "$T/patch.out")"
expect_reissued_under "$T/ca2" "$first" 20
assert_eq "$(get_property State)" 's "ready"' "State"

# A request of a new process (what a worker does) too.
ns -c "$T/c.json" provision
assert_eq "$rc" 0 "provision through the rotated API server CA: $out"

cp "$DAEMON_LOG" "$NOTIFY_LOG" "$LOGS/"
assert_no_secrets
pass
