#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# nodeseal run on a private bus: READY=1 once the certificate is in place, the watchdog pinged, and
# the status on D-Bus (introspection, properties, Describe(), GetCA()), in "nodeseal status" and in
# status.json.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_daemon_config "$T/nodeseal.json"
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json" WATCHDOG_USEC=1000000
wait_ready

# READY=1 came with a status, and only once the files were there.
assert_contains "$(cat "$NOTIFY_LOG")" "STATUS=Ready: 0 volume(s) and 1 certificate(s) in place"
[ -s "$T/certs/tls.crt" ] || fail "READY=1 without a certificate"
wait_for 5 notified WATCHDOG=1 || fail "no WATCHDOG=1 with WATCHDOG_USEC set: $(cat "$NOTIFY_LOG")"

intro=$(busctl --address="$BUS_ADDRESS" introspect org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1)
for member in .Describe .GetCA .Reconcile .RenewCertificates .State .Ready .StatusText .LastError .Volumes \
        .Certificates .CANotAfter; do
        assert_contains "$intro" "$member " "introspection"
done
assert_contains "$(busctl --address="$BUS_ADDRESS" introspect --xml-interface org.nodeseal.Agent1 /org/nodeseal/Agent1)" \
        '<arg type="s" name="json" direction="out"/>' "argument names in the introspection XML"

assert_eq "$(get_property State)" 's "ready"' "State"
assert_eq "$(get_property Ready)" "b true" "Ready"
assert_eq "$(get_property LastError)" 's ""' "LastError"
assert_eq "$(get_property Volumes)" "a(sss) 0" "Volumes"
assert_eq "$(get_property Reencryption)" "a(ssbttttt) 0" "Reencryption"
not_after_usec=$(( $(date -d "$(openssl x509 -in "$T/certs/tls.crt" -noout -enddate | cut -d= -f2)" +%s) * 1000000 ))
assert_eq "$(get_property Certificates)" "a(sst) 1 \"node\" \"ready\" $not_after_usec" "Certificates"
ca_not_after_usec=$(( $(date -d "$(openssl x509 -in "$T/ca/ca.crt" -noout -enddate | cut -d= -f2)" +%s) * 1000000 ))
assert_eq "$(get_property CANotAfter)" "t $ca_not_after_usec" "CANotAfter"

json=$(describe)
assert_eq "$(jq -r .state <<<"$json")" ready "Describe().state"
assert_eq "$(jq -r .ready <<<"$json")" true "Describe().ready"
assert_eq "$(jq -r .node <<<"$json")" node-1 "Describe().node"
assert_eq "$(jq -r .pid <<<"$json")" "$DAEMON_PID" "Describe().pid"
assert_eq "$(jq -r '.certificates[0].name' <<<"$json")" node "Describe() certificate"
assert_eq "$(jq -r '.certificates[0].not_after' <<<"$json")" "$not_after_usec" "Describe() not_after"

ca_pem=$(busctl --address="$BUS_ADDRESS" --json=short call org.nodeseal.Agent1 /org/nodeseal/Agent1 \
        org.nodeseal.Agent1 GetCA | jq -r '.data[0]')
assert_eq "$(openssl x509 -noout -fingerprint -sha256 <<<"$ca_pem")" \
        "$(openssl x509 -noout -fingerprint -sha256 -in "$T/ca/ca.crt")" "GetCA()"

# The status file says the same as the bus.
assert_eq "$(jq -c 'del(.status)' "$T/run/status.json")" "$(jq -c 'del(.status)' <<<"$json")" "status.json"

ns -c "$T/nodeseal.json" status --bus-address "$BUS_ADDRESS"
assert_eq "$rc" 0 "status ($out)"
assert_contains "$out" "State:        ready"
assert_contains "$out" "From:         D-Bus"
assert_contains "$out" "  node                 ready"
ns -c "$T/nodeseal.json" status --json --bus-address "$BUS_ADDRESS"
assert_eq "$rc" 0 "status --json ($out)"
assert_eq "$(jq -r .state <<<"$out")" ready "status --json"

# No private data in what the daemon said.
assert_not_contains "$(cat "$DAEMON_LOG" "$NOTIFY_LOG" "$T/run/status.json")" "PRIVATE KEY" "logs"
pass
