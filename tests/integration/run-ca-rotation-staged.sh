#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A CA rotation driven by "nodeseal ca-rotate" on the directory source while the daemon runs:
# prepare brings old + new into the node's bundle and runs the hook (the bundle alone changed);
# activate waits until that hook has succeeded (the datastore trusts the new CA) and for the
# jitter, then reissues under the new CA; finish drops the old CA. The node reports each stage
# (CARotation, Describe(), status) and "check" passes at every point. Each step twice is a no-op; a
# step out of order is refused naming the stage.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
# The hook: records the number of CAs in the bundle it was run for; slow while $T/slow exists (a
# datastore whose reload takes a while: nothing may be reissued under the new CA meanwhile).
cat >"$T/hook" <<EOS
#!/bin/sh
[ -e "$T/slow" ] && sleep 4
echo "\$(grep -c BEGIN "\$NODESEAL_CA_FILE")" >>"$T/hook.log"
EOS
chmod +x "$T/hook"
write_config "$T/nodeseal.json" '"reload_command": ["'"$T"'/hook"]' \
        '"retry": { "initial_sec": 0.2, "max_sec": 1 }, "daemon": { "poll_sec": 0.3, "recheck_sec": 30, "rotation_jitter_sec": 1.5, "hook_timeout_sec": 10 }'
rotate() { ns -c "$T/nodeseal.json" ca-rotate "$@"; }
rotation() { get_property CARotation; }
issued_by() { [ "$(openssl x509 -noout -issuer -in "$T/certs/tls.crt")" == "issuer=$1" ]; }
checks() { ns -c "$T/nodeseal.json" check; assert_eq "$rc" 0 "check ($1): $out"; }
stage_is() { [ "$(rotation)" == "$1" ]; }

start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
wait_for 10 stage_is '(sss) "none" "none" ""' || fail "CARotation before a rotation: $(rotation)"
old_issuer=$(openssl x509 -noout -subject -in "$T/ca/ca.crt" | sed 's/^subject=//')

rotate activate
assert_eq "$rc" 1 "activate before prepare"
assert_contains "$out" "activate refused: the CA Secret is not being rotated: run prepare to start"

# prepare: the bundle gets both CAs, the old CA still signs.
touch "$T/slow"
rotate prepare --ca-name "nodeseal CA two"
assert_eq "$rc" 0 "prepare: $out"
rotate prepare
assert_eq "$rc" 0 "prepare twice: $out"
assert_contains "$out" "already prepared: nothing to do"
[ -s "$T/secrets/nodeseal-ca/next.key" ] && [ "$(stat -c %a "$T/secrets/nodeseal-ca/next.key")" == 600 ] ||
        fail "next.key missing or not 0600"
two_cas() { [ "$(grep -c BEGIN "$T/certs/ca.crt")" == 2 ]; }
wait_for 10 two_cas || fail "the bundle does not hold old + new: $(cat "$DAEMON_LOG")"
checks "prepared, hook still running"
# The hook has not finished: the node has not reached "prepared", and activate must not reissue.
not_loaded() { [[ "$(rotation)" == '(sss) "prepared" "none" "certificate node: its datastore has not loaded'* ]]; }
wait_for 3 not_loaded || fail "CARotation while the hook runs: $(rotation)"
rotate activate
assert_eq "$rc" 0 "activate: $out"
sleep 2
issued_by "$old_issuer" || fail "reissued under the new CA before the datastore loaded the bundle"
checks "activated, bundle not loaded yet"
assert_contains "$(cat "$DAEMON_LOG")" "kept under the previous CA for now: its datastore has not loaded a trust bundle with the new CA yet"
rm "$T/slow"

# Once the hook has succeeded, the reissue comes after the jitter.
wait_for 15 issued_by "CN = nodeseal CA two" || fail "not reissued under the new CA: $(cat "$DAEMON_LOG")"
assert_contains "$(cat "$DAEMON_LOG")" "reissuing under it in"
wait_for 10 stage_is '(sss) "activated" "activated" ""' || fail "CARotation after activate: $(rotation)"
checks "activated"
openssl verify -CAfile "$T/ca/ca.crt" "$T/certs/tls.crt" >/dev/null 2>&1 &&
        fail "a client trusting only the old CA still accepts the new certificate (the control would not fail)"
rotate activate
assert_contains "$out" "already activated: nothing to do"

rotate finish
assert_eq "$rc" 0 "finish: $out"
one_ca() { [ "$(grep -c BEGIN "$T/certs/ca.crt")" == 1 ] && [ "$(grep -c BEGIN "$T/run/ca.crt")" == 1 ]; }
wait_for 10 one_ca || fail "the old CA is still in the bundle"
wait_for 10 stage_is '(sss) "none" "none" ""' || fail "CARotation after finish: $(rotation)"
checks "finished"
[ -e "$T/secrets/nodeseal-ca/previous.key" ] && fail "previous.key left in the Secret"
ls -a "$T/secrets" | grep staging >/dev/null && fail "a staging directory was left behind"
# Every bundle the hook saw: 1 (first issue), 2 (prepare), then 2 again (reissue), then 1.
assert_eq "$(tr '\n' ' ' <"$T/hook.log")" "1 2 2 1 " "bundles the hook ran for"
status=$(NODESEAL_LOG_LEVEL= "$NODESEAL" -c "$T/nodeseal.json" status --bus-address "$BUS_ADDRESS")
assert_contains "$status" "CA rotation:  this node: none; CA Secret: none"
assert_contains "$(cat "$T/run/status.json")" '"ca_rotation":{"secret_stage":"none","node_stage":"none","caught_up":true'
pass
