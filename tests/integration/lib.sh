# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the integration scenarios: a scratch directory, assertions, a CA made with openssl.
# Sourced by tests/integration/*.sh; NODESEAL is the binary under test, SOURCE_ROOT the checkout.

set -euo pipefail

: "${NODESEAL:?NODESEAL must point at the nodeseal binary}"
SOURCE_ROOT=${SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T=$(mktemp -d /tmp/nodeseal-it.XXXXXX)
cleanup_hooks=()
cleanup() {
        local h
        for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done
        rm -rf "$T"
}
trap cleanup EXIT
export NODE_NAME=${NODE_NAME:-node-1}

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
pass() { echo "PASS: ${0##*/}"; exit 0; }

assert_eq() { [ "$1" == "$2" ] || fail "${3:-values differ}: expected '$2', got '$1'"; }
assert_contains() { grep -qF -- "$2" <<<"$1" || fail "${3:-output} does not contain '$2': $1"; }
assert_not_contains() { ! grep -qF -- "$2" <<<"$1" || fail "${3:-output} contains '$2': $1"; }
assert_file_mode() { local m; m=$(stat -c %a "$1"); [ "$m" == "$2" ] || fail "$1 has mode $m, expected $2"; }

# wait_for SECS COMMAND...: retries COMMAND every 0.1 s for up to SECS seconds.
wait_for() {
        local secs=$1 i
        shift
        for ((i = 0; i < secs * 10; i++)); do
                "$@" && return 0
                sleep 0.1
        done
        return 1
}

# Runs nodeseal, capturing stdout+stderr in $out and the exit status in $rc; never aborts the script.
ns() {
        set +e
        out=$("$NODESEAL" "$@" 2>&1)
        rc=$?
        set -e
}

# make_ca DIR [SUBJECT]: a self-signed EC P-256 CA in DIR/ca.crt and DIR/ca.key, made with openssl,
# independent of the code under test.
make_ca() {
        local dir=$1 subj=${2:-/CN=nodeseal test CA}
        mkdir -p "$dir"
        openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$dir/ca.key" \
                -out "$dir/ca.crt" -days 365 -subj "$subj" \
                -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
                2>/dev/null
}

# make_secrets DIR CADIR [VOLUME...]: the directory secret source layout: DIR/nodeseal-ca/tls.{crt,key}
# and DIR/nodeseal-keys-$NODE_NAME/<volume> with 64 random bytes each.
make_secrets() {
        local dir=$1 ca=$2 v
        shift 2
        mkdir -p "$dir/nodeseal-ca" "$dir/nodeseal-keys-$NODE_NAME"
        cp "$ca/ca.crt" "$dir/nodeseal-ca/tls.crt"
        cp "$ca/ca.key" "$dir/nodeseal-ca/tls.key"
        for v in "$@"; do head -c 64 /dev/urandom >"$dir/nodeseal-keys-$NODE_NAME/$v"; done
}

# replace_ca_secret DIR CADIR: DIR/nodeseal-ca replaced by CADIR's CA the way a kubelet updates a
# mounted Secret: new files in a new directory, then renames.
replace_ca_secret() {
        mkdir "$1/new-ca"
        cp "$2/ca.crt" "$1/new-ca/tls.crt"
        cp "$2/ca.key" "$1/new-ca/tls.key"
        mv "$1/nodeseal-ca" "$1/old-ca"
        mv "$1/new-ca" "$1/nodeseal-ca"
}

# as_nobody CMD...: runs CMD as the unprivileged user nobody (a stand-in for a datastore's user).
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }

# tree_of DIR: every name under DIR with its owner, mode and size, to show that nothing changed.
tree_of() { find "$1" -printf '%p %u:%g %m %s\n' | sort; }
