#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nodeseal provision with the kubernetes source against every fault of the fake API server: a
# failure that names the reason, no progress (no certificate, no trust bundle) while the fault
# holds, success once it clears, and no secret in any output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
make_ca "$T/ca"
remember_secret "$(sed -n 2p "$T/ca/ca.key")"
fk_secret nodeseal-ca "tls.crt=$T/ca/ca.crt" "tls.key=$T/ca/ca.key"
write_config "$T/base.json" "" '{"initial_sec": 0.1, "max_sec": 0.2, "max_attempts": 2}'

n=0
try_fault() {
        local fault=$1 expect=$2 dir
        n=$((n + 1))
        dir=$T/f$n
        python3 - "$T/base.json" "$dir.json" "$dir" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["runtime_directory"] = sys.argv[3] + "/run"
c["certificates"] = [{"name": "db", "profile": "generic", "directory": sys.argv[3] + "/tls", "reload": False}]
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
        fk_fault "$fault"
        ns --config "$dir.json" provision
        printf '%s\n' "$out" >"$LOGS/fault.$n"
        [ "$rc" -ne 0 ] || fail "provision succeeded under the fault $fault"
        assert_contains "$out" "$expect" "message under the fault $fault"
        [ ! -e "$dir/tls" ] || [ -z "$(ls -A "$dir/tls")" ] || fail "files written under the fault $fault: $(ls "$dir/tls")"
        [ ! -e "$dir/run/ca.crt" ] || fail "trust bundle written under the fault $fault"
        ns --config "$dir.json" check
        assert_eq "$rc" 4 "check under the fault $fault"

        fk_clear
        ns --config "$dir.json" provision
        printf '%s\n' "$out" >"$LOGS/cleared.$n"
        assert_eq "$rc" 0 "provision once the fault $fault cleared ($out)"
        openssl verify -CAfile "$T/ca/ca.crt" "$dir/tls/tls.crt" >/dev/null 2>&1 || fail "no valid certificate after $fault cleared"
        ns --config "$dir.json" check
        assert_eq "$rc" 0 "check once the fault $fault cleared ($out)"
}

try_fault '{"mode": "down"}' "Gave up after 2 attempts"
try_fault '{"mode": "status", "code": 401}' "did not accept our credentials"
try_fault '{"mode": "status", "code": 403}' "The ServiceAccount needs \"get\" on secrets \"nodeseal-ca\""
try_fault '{"mode": "status", "code": 404}' "Secret nodeseal-ca not found in namespace nodeseal"
try_fault '{"mode": "status", "code": 429, "retry_after": 0}' "is throttling us"
try_fault '{"mode": "status", "code": 500}' "server error from the API server $FAKE_KUBE_URL"
try_fault '{"mode": "truncated"}' "was cut short"
try_fault '{"mode": "garbage"}' "is not valid JSON"
try_fault '{"mode": "wrong-cert"}' "failed verification against the CA file $FAKE_KUBE_CA"
try_fault '{"mode": "slow", "delay_ms": 6000}' "did not answer in time"
assert_no_secrets
pass
