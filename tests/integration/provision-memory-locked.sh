#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision, which holds the keys, locks its memory (mlockall, on fault); without CAP_IPC_LOCK it
# says so once and provisions all the same.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
command -v strace >/dev/null || skip "strace is not installed (package strace)"
command -v setpriv >/dev/null || skip "setpriv is not installed (package util-linux)"
[ "$(id -u)" = 0 ] || skip "needs root (CAP_IPC_LOCK, and dropping it)"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
write_config "$T/nodeseal.json"
# AddressSanitizer makes mlockall() a no-op without the system call, and its leak check does not
# work under ptrace: a sanitized build is checked for the warnings only.
sanitized=false
grep -qa __asan_init "$NODESEAL" && sanitized=true
# provision_traced FILE [PREFIX...]: provision (under PREFIX), its mlockall() calls in FILE.
provision_traced() {
        local file=$1
        shift
        : >"$file"
        set +e
        if $sanitized; then
                out=$("$@" "$NODESEAL" -c "$T/nodeseal.json" provision 2>&1)
        else
                out=$(strace -f -qq -e trace=mlockall -o "$file" "$@" "$NODESEAL" -c "$T/nodeseal.json" provision 2>&1)
        fi
        rc=$?
        set -e
}

provision_traced "$T/strace"
assert_eq "$rc" 0 "provision exit status ($out)"
assert_not_contains "$out" "Cannot lock"
$sanitized || assert_contains "$(cat "$T/strace")" "mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT) = 0"

# Without the capability (and RLIMIT_MEMLOCK finite, as by default): one warning, no attempt,
# and the certificate is issued anyway.
rm -rf "$T/certs"
provision_traced "$T/strace-nocap" setpriv --bounding-set=-ipc_lock
assert_eq "$rc" 0 "provision exit status without CAP_IPC_LOCK ($out)"
assert_eq "$(grep -c "Cannot lock this process's memory" <<<"$out")" 1 "warnings ($out)"
assert_contains "$out" "needs CAP_IPC_LOCK"
[ -f "$T/certs/tls.crt" ] || fail "no certificate issued without CAP_IPC_LOCK"
assert_not_contains "$(cat "$T/strace-nocap")" "mlockall("
pass
