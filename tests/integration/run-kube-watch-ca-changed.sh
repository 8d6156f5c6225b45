#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The daemon with the kubernetes source: waits (no READY=1) while the CA Secret is missing, gets
# ready once it is created, and when the Secret is replaced, the watch (not a re-check: that is set
# to 10 minutes) makes it issue a certificate under the new CA and run the hook. No secret in the
# daemon's output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"
. "$(dirname "$0")/lib-daemon.sh"

serial_of() { openssl x509 -noout -serial -in "$1"; }

start_fake
make_ca "$T/ca"
make_ca "$T/ca2" "/CN=nodeseal second test CA"
remember_secret "$(sed -n 2p "$T/ca/ca.key")" "$(sed -n 2p "$T/ca2/ca.key")"
printf '#!/bin/sh\necho "$NODESEAL_CERTIFICATE" >>"%s"\n' "$T/hook.log" >"$T/hook"
chmod +x "$T/hook"
write_config "$T/base.json" "" '{"initial_sec": 0.2, "max_sec": 1}'
python3 - "$T/base.json" "$T/c.json" "$T" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
t = sys.argv[3]
c["certificates"] = [{"name": "db", "directory": t + "/certs", "reload_command": [t + "/hook"]}]
c["daemon"] = {"recheck_sec": 600, "renew_jitter_sec": 1}
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY

start_bus allow-all
start_notify
start_daemon "$T/c.json"
wait_for 10 grep -q '^STATUS=Waiting: CA (Secret nodeseal-ca): Secret nodeseal-ca not found' "$NOTIFY_LOG" ||
        fail "STATUS= does not name the missing Secret: $(cat "$NOTIFY_LOG")"
! ready_notified || fail "READY=1 without the CA Secret"

fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
wait_ready 20
openssl verify -CAfile "$T/ca/ca.crt" "$T/certs/tls.crt" >/dev/null || fail "the certificate does not chain to the first CA"
first=$(serial_of "$T/certs/tls.crt")
sleep 2   # the watch is set up after the attempt that got ready

# Replaced in place, which the watch reports as MODIFIED.
kube_replace_ca "$T/ca2"
expect_reissued_under "$T/ca2" "$first" 20
hooked_twice() { [ "$(wc -l <"$T/hook.log")" -ge 2 ]; }
wait_for 5 hooked_twice || fail "the hook did not run after the CA change: $(cat "$T/hook.log" 2>&1)"
assert_eq "$(get_property State)" 's "ready"' "State"

cp "$DAEMON_LOG" "$NOTIFY_LOG" "$LOGS/"
cp "$T/run/status.json" "$LOGS/"
assert_no_secrets
pass
