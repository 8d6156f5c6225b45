#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# After a Secret is read and everything freed, no copy of its value is left in the process's
# memory, raw or base64 (libcurl's and OpenSSL's buffers, cJSON, ours); while the value is held,
# the same scan finds it, so the scan can fail.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

# meson's MALLOC_PERTURB_ makes glibc overwrite what is freed: that would hide what this looks for.
unset MALLOC_PERTURB_
start_fake
write_config "$T/c.json"
# A small Secret: its whole body sits in one TLS record and one read of each buffer, the last one
# each buffer held.
head -c 48 /dev/urandom >"$T/marker"
fk_secret nodeseal-ca "tls.key=$T/marker"

check_scan() {
        kg --config "$T/c.json" scan nodeseal-ca tls.key
        assert_eq "$rc" 0 "exit status ($out)"
        held=$(grep '^held raw=' <<<"$out") || fail "no held scan: $out"
        freed=$(grep '^freed raw=' <<<"$out") || fail "no freed scan: $out"
        # The control: while held, the value is found in both forms (the Secret's JSON is cached).
        [[ $held =~ raw=([0-9]+)\ base64=([0-9]+) ]] || fail "unparsable: $held"
        [ "${BASH_REMATCH[1]}" -ge 1 ] || fail "the scan did not find the held value: $out"
        [ "${BASH_REMATCH[2]}" -ge 1 ] || fail "the scan did not find the cached Secret's base64: $out"
        assert_contains "$freed" "freed raw=0 base64=0" "what is left after freeing ($out)"
}

check_scan
# Over a connection that first failed and was retried: every buffer of both is gone too.
fk_fault '{"mode": "truncated", "count": 1}'
check_scan
assert_no_secrets
pass
