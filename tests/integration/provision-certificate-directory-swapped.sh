#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The certificate directory replaced by a symlink to a root-only directory after nodeseal checked
# it and before it writes: the files still go into the directory that was checked, never into the
# symlink's target. NODESEAL_TEST_PAUSE_AT=certificate-directory stops nodeseal (SIGSTOP) between
# the two, which makes the race deterministic. Root plays the attacker here: below root-only
# ancestors no one else can swap the directory, which is the point of refusing any other.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
mkdir -m 700 "$T/victim"
mkdir "$T/srv"
CERT_DIR=$T/srv/tls write_config "$T/nodeseal.json"

# wait_stopped PID: until the process is stopped (state T), at most 20 s.
wait_stopped() {
        local i state
        for ((i = 0; i < 200; i++)); do
                state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || fail "nodeseal exited before the pause: $(cat "$T/out")"
                [ "$state" == T ] && return 0
                sleep 0.1
        done
        fail "nodeseal did not stop at the pause point: $(cat "$T/out")"
}

swap_during() {
        NODESEAL_TEST_PAUSE_AT=certificate-directory "$NODESEAL" -c "$T/nodeseal.json" provision >"$T/out" 2>&1 &
        pid=$!
        wait_stopped $pid
        "$@"
        kill -CONT $pid
        set +e
        wait $pid
        rc=$?
        set -e
        out=$(cat "$T/out")
}

# A new directory: created, checked, then swapped.
swap_during eval 'mv "$T/srv/tls" "$T/srv/tls.checked" && ln -s "$T/victim" "$T/srv/tls"'
[ -z "$(ls -A "$T/victim")" ] || fail "written into the symlink's target: $(ls -A "$T/victim") ($out)"
assert_eq "$rc" 0 "provision after the swap ($out)"
for f in tls.crt tls.key ca.crt; do [ -f "$T/srv/tls.checked/$f" ] || fail "$f not in the checked directory"; done

# An existing directory with valid files (the reuse path), swapped the same way.
rm "$T/srv/tls"
mv "$T/srv/tls.checked" "$T/srv/tls"
key=$(sha256sum <"$T/srv/tls/tls.key")
swap_during eval 'mv "$T/srv/tls" "$T/srv/tls.checked" && ln -s "$T/victim" "$T/srv/tls"'
[ -z "$(ls -A "$T/victim")" ] || fail "reuse: written into the symlink's target: $(ls -A "$T/victim") ($out)"
assert_eq "$rc" 0 "reuse: provision after the swap ($out)"
assert_eq "$(sha256sum <"$T/srv/tls.checked/tls.key")" "$key" "reuse: the key kept"
pass
