#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# SIGHUP reloads the configuration: RELOADING=1 then READY=1, a certificate added to the config is
# issued and shown; a broken config is refused and the daemon goes on with the old one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_daemon_config "$T/nodeseal.json"
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready

jq '.certificates += [{"name": "second", "directory": "'"$T"'/certs2", "profile": "postgresql", "owner": "root"}]' \
        "$T/nodeseal.json" >"$T/new.json"
mv "$T/new.json" "$T/nodeseal.json"
kill -HUP "$DAEMON_PID"
wait_for 10 test -s "$T/certs2/server.crt" || fail "the added certificate was not issued: $(cat "$DAEMON_LOG")"
ready_twice() { [ "$(grep -c '^READY=1$' "$NOTIFY_LOG")" -eq 2 ]; }
wait_for 5 ready_twice || fail "no READY=1 after the reload: $(cat "$NOTIFY_LOG")"
grep -q '^RELOADING=1$' "$NOTIFY_LOG" || fail "no RELOADING=1"
wait_for 5 bash -c '[[ "$(busctl --address='"$BUS_ADDRESS"' get-property org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 Certificates)" == "a(sst) 2 \"node\" \"ready\""*"\"second\" \"ready\""* ]]' ||
        fail "Certificates does not show the added certificate: $(get_property Certificates)"
assert_contains "$(cat "$DAEMON_LOG")" "Configuration reloaded: 0 volume(s), 2 certificate(s)."

# A broken config: refused, named, and the daemon keeps the old one.
echo '{"certificates": [{"name": "x"}]}' >"$T/nodeseal.json"
kill -HUP "$DAEMON_PID"
wait_for 10 grep -q 'Keeping the old configuration' "$DAEMON_LOG" || fail "a broken config was not refused: $(cat "$DAEMON_LOG")"
assert_contains "$(cat "$DAEMON_LOG")" "certificates[0].directory"
kill -0 "$DAEMON_PID" || fail "the daemon died on a broken config"
assert_contains "$(get_property LastError)" "certificates[0].directory" "LastError after a broken config"
assert_eq "$(get_property State)" 's "ready"' "State after a broken config"
assert_contains "$(get_property Certificates)" '"second"' "Certificates after a broken config"
pass
