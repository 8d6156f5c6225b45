# SPDX-License-Identifier: Apache-2.0
# Helpers for the kube-* scenarios: the fake API server, a config pointing at it, kube-get runs,
# the fake's request log and the "no secret in any output" check. Sourced after lib.sh.

: "${KUBE_GET:?KUBE_GET must point at the kube-get test program}"
FAKE_CTL=$SOURCE_ROOT/tests/fake-kube/fake-kube-ctl
command -v python3 >/dev/null || skip "python3 is needed for the fake API server"
command -v openssl >/dev/null || skip "openssl is needed for the fake API server"

# Every secret a scenario makes is recorded here, in every form it could leak in.
SECRETS_FILE=$T/secrets.txt
: >"$SECRETS_FILE"
LOGS=$T/logs
mkdir -p "$LOGS"

remember_secret() { printf '%s\n' "$@" >>"$SECRETS_FILE"; }

# start_fake [fake-kube.py options...]: starts the server in $T/fake, exports FAKE_KUBE_*.
start_fake() {
        eval "$("$FAKE_CTL" start "$T/fake" --namespace nodeseal --bookmark-seconds 1 "$@")"
        cleanup_hooks+=("\"$FAKE_CTL\" stop \"$T/fake\"")
        remember_secret "$FAKE_KUBE_TOKEN" "$FAKE_KUBE_ADMIN_TOKEN"
        cp "$FAKE_KUBE_DIR/token" "$T/token"
        chmod 600 "$T/token"
}

fk() { "$FAKE_CTL" admin "$T/fake" "$@"; }
fk_fault() { fk POST /fake/faults "$1" >/dev/null; }
fk_clear() { fk DELETE /fake/faults >/dev/null; }

# fk_post_file PATH FILE: a control-API POST with the body from a file (key material stays out of argv).
fk_post_file() {
        printf 'Authorization: Bearer %s\nContent-Type: application/json\n' "$FAKE_KUBE_ADMIN_TOKEN" >"$T/admin-headers"
        curl -sS --cacert "$FAKE_KUBE_CA" -H @"$T/admin-headers" -X POST --data-binary @"$2" "$FAKE_KUBE_URL$1"
}

# fk_secret NAME KEY=FILE...: creates a Secret in namespace nodeseal through the control API.
fk_secret() {
        local name=$1 kv first=1
        shift
        {
                printf '{"metadata":{"name":"%s","namespace":"nodeseal"},"data":{' "$name"
                for kv in "$@"; do
                        [ $first = 1 ] || printf ','
                        first=0
                        printf '"%s":"%s"' "${kv%%=*}" "$(base64 -w0 <"${kv#*=}")"
                done
                printf '}}'
        } >"$T/secret-body.json"
        for kv in "$@"; do
                # Small keys are remembered in every form; for big ones a prefix of each form suffices.
                remember_secret "$(base64 -w0 <"${kv#*=}" | head -c 200)" "$(od -An -tx1 -v <"${kv#*=}" | tr -d ' \n' | head -c 200)"
        done
        fk_post_file /fake/secrets "$T/secret-body.json" >/dev/null
        rm -f "$T/secret-body.json"
}

# kapi METHOD PATH [JSON]: the Kubernetes API as the nodeseal user (for changes a scenario makes).
kapi() {
        local args=(-sS --cacert "$FAKE_KUBE_CA" -H "Authorization: Bearer $FAKE_KUBE_TOKEN" -X "$1")
        [ -n "${3:-}" ] && args+=(-H "Content-Type: ${4:-application/json}" --data-binary "$3")
        curl "${args[@]}" "$FAKE_KUBE_URL$2"
}

# kube_replace_ca CADIR: nodeseal-ca's data replaced in place by CADIR's CA (a PATCH, what kubectl
# apply does, which a watch reports as MODIFIED). The body goes through a file (curl's @FILE), so
# that the key is not in an argv.
kube_replace_ca() {
        printf '{"data": {"tls.crt": "%s", "tls.key": "%s"}}' "$(base64 -w0 <"$1/ca.crt")" "$(base64 -w0 <"$1/ca.key")" \
                >"$T/patch.json"
        kapi PATCH /api/v1/namespaces/nodeseal/secrets/nodeseal-ca "@$T/patch.json" application/merge-patch+json >"$T/patch.out"
        rm "$T/patch.json"
}

# random_key FILE: 64 random bytes, remembered.
random_key() { head -c 64 /dev/urandom >"$1"; }
sha256_of() { sha256sum <"$1" | cut -d' ' -f1; }

# write_config FILE [extra "kubernetes" fields] [retry object]
write_config() {
        local file=$1 extra=${2:-} retry=${3:-'{"initial_sec": 0.2, "max_sec": 1, "max_attempts": 3}'}
        cat >"$file" <<EOF
{
  "node_name": "$NODE_NAME",
  "runtime_directory": "$T/run",
  "secrets": {
    "source": "kubernetes",
    "kubernetes": {
      "api_url": "$FAKE_KUBE_URL",
      "ca_file": "$FAKE_KUBE_CA",
      "token_file": "$T/token",
      "namespace": "nodeseal",
      "connect_timeout_sec": 2,
      "request_timeout_sec": 4,
      "watch_timeout_sec": 5${extra:+,
      $extra}
    }
  },
  "retry": $retry
}
EOF
}

# kg ARGS...: runs kube-get; stdout+stderr in $out, status in $rc, all output also kept in $LOGS.
kg_n=0
kg() {
        kg_n=$((kg_n + 1))
        set +e
        out=$("$KUBE_GET" "$@" 2>&1)
        rc=$?
        set -e
        printf '%s\n' "$out" >"$LOGS/kube-get.$kg_n"
}

# The fake's request log (API requests only) as JSON lines: seq time method path query status fault.
fk_requests() {
        fk GET "/fake/requests?since=${1:-0}" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["items"]:
    print(json.dumps({k: e.get(k) for k in ("seq", "time", "method", "path", "query", "status", "fault")}))'
}
fk_last_seq() { fk GET "/fake/requests?all=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["last"])'; }
# fk_count SINCE PATTERN: how many API requests since SINCE have PATTERN in their log line.
fk_count() { local l; l=$(fk_requests "$1"); grep -cF -- "$2" <<<"$l" || true; }

# No secret (token, admin token, key in base64 or hex) in any output the scenario collected, nor
# in what the fake logged of our requests (paths, queries: a token in a URL would show there).
assert_no_secrets() {
        local s f
        # The fake's log, less the scenario's own control requests (DELETE /fake/tokens/TOKEN).
        grep -v 'auth=admin$' "$T/fake/server.log" >"$LOGS/server.log" 2>/dev/null || true
        while IFS= read -r s; do
                [ -n "$s" ] || continue
                for f in "$LOGS"/*; do
                        if grep -qF -- "$s" "$f"; then
                                fail "a secret leaked into $(basename "$f")"
                        fi
                done
        done <"$SECRETS_FILE"
}

# wait_for [SECS] COMMAND...: retries for up to SECS (default 20) seconds. Both forms: the kube
# scenarios give a command only; lib.sh's wait_for, which this replaces, takes SECS first (the
# daemon scenarios that source both, and lib-daemon.sh itself, use that form).
wait_for() {
        local secs=20 i
        if [[ "$1" =~ ^[0-9]+$ ]]; then
                secs=$1
                shift
        fi
        for ((i = 0; i < secs * 10; i++)); do
                if "$@"; then return 0; fi
                sleep 0.1
        done
        return 1
}
