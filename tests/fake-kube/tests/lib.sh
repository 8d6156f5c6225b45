# SPDX-License-Identifier: Apache-2.0
# lib.sh: shared helpers of the fake-kube tests (sourced, not run): a private server, curl and JSON checks.

set -euo pipefail

FAKE_KUBE_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TEST_NAME=$(basename "$0" .sh)
FAILED=0

skip() { echo "SKIP $TEST_NAME: $*"; exit 77; }
fail() { echo "FAIL $TEST_NAME: $*" >&2; FAILED=1; }
pass() { echo "ok   $*"; }
die() { echo "FAIL $TEST_NAME: $*" >&2; exit 1; }

for tool in curl openssl; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
done
# Debian's interpreter when there is one: it starts in milliseconds, unlike version-manager shims
if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=$(command -v python3) || skip "python3 is not installed"; fi
export PYTHON
python3() { "$PYTHON" "$@"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/$TEST_NAME.XXXXXX")
SERVER_DIR=$WORK/server

cleanup() {
    local rc=$?
    "$FAKE_KUBE_HOME/fake-kube-ctl" stop "$SERVER_DIR" || true
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -f "$SERVER_DIR/server.log" ]; then
        echo "--- server log (last 40 lines)" >&2
        tail -n 40 "$SERVER_DIR/server.log" >&2
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server [fake-kube.py options...]: one server per test, on a free loopback port
start_server() {
    eval "$("$FAKE_KUBE_HOME/fake-kube-ctl" start "$SERVER_DIR" --bind 127.0.0.1 --port 0 "$@")"
    URL=$FAKE_KUBE_URL
    CA=$FAKE_KUBE_CA
    TOKEN=$FAKE_KUBE_TOKEN
    ADMIN=$FAKE_KUBE_ADMIN_TOKEN
}

# api METHOD PATH [BODY [CONTENT-TYPE]]: body to $WORK/body, headers to $WORK/headers; prints the HTTP code
api() {
    local method=$1 path=$2 body=${3-} ctype=${4:-application/json}
    local args=(-sS --max-time 10 --cacert "$CA" -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}'
                -X "$method" -H "Authorization: Bearer ${API_TOKEN:-$TOKEN}")
    [ -n "$body" ] && args+=(-H "Content-Type: $ctype" --data-binary "$body")
    curl "${args[@]}" "$URL$path"
}

# admin METHOD PATH [JSON]: the control API; fails the test if it does not answer 2xx
admin() {
    local method=$1 path=$2 body=${3-}
    # control-ca.crt trusts the wrong-cert fault's CA too, so faults can always be cleared
    local args=(-sS --max-time 10 --cacert "$SERVER_DIR/control-ca.crt" -o "$WORK/admin-body" -w '%{http_code}'
                -X "$method" -H "Authorization: Bearer $ADMIN")
    [ -n "$body" ] && args+=(-H "Content-Type: application/json" --data-binary "$body")
    local code
    code=$(curl "${args[@]}" "$URL$path")
    case $code in
        2??) cat "$WORK/admin-body" ;;
        *) die "control API $method $path answered $code: $(cat "$WORK/admin-body")" ;;
    esac
}

# jq_py FILE EXPR: evaluates a Python expression over the JSON document `d` of FILE
jq_py() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
r = eval(sys.argv[2])
print(json.dumps(r) if isinstance(r, (dict, list)) else r)
EOF
}

# expect_status NAME CODE GOT REASON [MESSAGE]: checks the HTTP code and the Status body in $WORK/body
expect_status() {
    local what=$1 want=$2 got=$3 reason=$4 message=${5-}
    if [ "$got" != "$want" ]; then
        fail "$what: HTTP $got, wanted $want: $(cat "$WORK/body")"
        return
    fi
    local check
    check=$(python3 - "$WORK/body" "$want" "$reason" "$message" <<'EOF'
import json, sys
path, code, reason, message = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    d = json.load(open(path))
except ValueError as e:
    print(f"body is not JSON: {e}"); sys.exit()
want = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason}
bad = [f"{k}={d.get(k)!r} (wanted {v!r})" for k, v in want.items() if d.get(k) != v]
if d.get("metadata") != {}:
    bad.append("metadata is not {}")
if message and d.get("message") != message:
    bad.append(f"message={d.get('message')!r} (wanted {message!r})")
print("; ".join(bad))
EOF
)
    if [ -n "$check" ]; then
        fail "$what: $check"
    else
        pass "$what: $want $reason"
    fi
}

finish() {
    if [ "$FAILED" -ne 0 ]; then
        echo "FAIL $TEST_NAME"
        exit 1
    fi
    echo "PASS $TEST_NAME"
}
