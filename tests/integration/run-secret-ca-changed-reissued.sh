#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The CA in the (directory) Secret is replaced while the daemon runs: it notices without a signal,
# issues a certificate under the new CA, updates the trust bundle, CANotAfter and GetCA(), and runs
# the reload hook.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
. "$(dirname "$0")/lib-daemon.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
printf '#!/bin/sh\necho "$NODESEAL_CERTIFICATE" >>"%s"\n' "$T/hook.log" >"$T/hook"
chmod +x "$T/hook"
write_daemon_config "$T/nodeseal.json" '"reload_command": ["'"$T"'/hook"]'
start_bus allow-all
start_notify
start_daemon "$T/nodeseal.json"
wait_ready
wait_for 5 test -s "$T/hook.log" || fail "no hook after the first issue"
first=$(serial_of "$T/certs/tls.crt")
ca_prop=$(get_property CANotAfter)

sleep 1.1   # a CA made in another second has another notAfter
make_ca "$T/ca2" "/CN=nodeseal second test CA"
replace_ca_secret "$T/secrets" "$T/ca2"
expect_reissued_under "$T/ca2" "$first" 15
cmp -s "$T/certs/ca.crt" "$T/ca2/ca.crt" || fail "the certificate's CA file is not the new CA"
hooked_twice() { [ "$(wc -l <"$T/hook.log")" -ge 2 ]; }
wait_for 5 hooked_twice || fail "the hook did not run after the CA change"
ca_changed() { [ "$(get_property CANotAfter)" != "$ca_prop" ]; }
wait_for 5 ca_changed || fail "CANotAfter did not change"
ca_pem=$(busctl --address="$BUS_ADDRESS" --json=short call org.nodeseal.Agent1 /org/nodeseal/Agent1 \
        org.nodeseal.Agent1 GetCA | jq -r '.data[0]')
assert_eq "$(openssl x509 -noout -subject <<<"$ca_pem")" "subject=CN = nodeseal second test CA" "GetCA() after the change"
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check after the CA change ($out)"
pass
