#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# faults-inject-clear: every fault mode of the control API does what it says, and clears.
source "$(dirname "$0")/lib.sh"

start_server
P=/api/v1/namespaces/default/secrets/f1
api POST /api/v1/namespaces/default/secrets \
    '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"f1"},"data":{"k":"dmFsdWUtb2YtYS1yZWFzb25hYmxlLWxlbmd0aC10by10cmlja2xl"}}' >/dev/null

# get [curl options]: GET $P; prints "curl-exit http-code milliseconds"
get() {
    local out rc=0
    out=$(curl -sS --cacert "$CA" -H "Authorization: Bearer $TOKEN" -o "$WORK/body" -D "$WORK/headers" \
        -w '%{http_code} %{time_total}' "$@" "$URL$P" 2>"$WORK/curl-err") || rc=$?
    python3 -c 'import sys; c, t = sys.argv[2].split(); print(sys.argv[1], c, int(float(t) * 1000))' "$rc" "${out:-000 0}"
}
fault() { admin POST /fake/faults "$1" >/dev/null; }
clear_faults() { admin DELETE /fake/faults >/dev/null; }
healthy() {
    local r
    r=$(get --max-time 5)
    [ "${r% *}" = "0 200" ] && pass "$1: cleared, answers 200 again" || fail "$1: after clearing: $r $(cat "$WORK/curl-err")"
}

# down: the connection closes without an answer (curl: empty reply)
fault '{"mode":"down"}'
r=$(get --max-time 5)
[ "${r% *}" = "52 000" ] && pass "down: connection closed without a reply" || fail "down: $r $(cat "$WORK/curl-err")"
clear_faults; healthy down
# down at the connection: closed before the TLS handshake, for COUNT connections
fault '{"mode":"down","stage":"connect","count":1}'
r=$(get --max-time 5)
case ${r%% *} in 35|56) pass "down (stage connect): handshake fails (curl ${r%% *})" ;; *) fail "down connect: $r" ;; esac
healthy "down (stage connect, count 1)"

# slow: the answer waits delay_ms
fault '{"mode":"slow","delay_ms":1200}'
r=$(get --max-time 0.5)
[ "${r%% *}" = 28 ] && pass "slow: a 0.5 s client times out" || fail "slow/timeout: $r"
r=$(get --max-time 5)
ms=${r##* }
[ "${r% *}" = "0 200" ] && [ "$ms" -ge 1100 ] && pass "slow: answered after $ms ms" || fail "slow: $r"
clear_faults; healthy slow
# slow with trickle: the body comes a few bytes at a time
fault '{"mode":"slow","delay_ms":0,"trickle_ms":50,"trickle_bytes":64,"count":1}'
r=$(get --max-time 5)
ms=${r##* }
[ "${r% *}" = "0 200" ] && [ "$ms" -ge 150 ] && jq_py "$WORK/body" 'd["metadata"]["name"]' >/dev/null &&
    pass "slow (trickle): full body in $ms ms" || fail "trickle: $r"

# silent: accepted, never answered; the client gives up
fault '{"mode":"silent"}'
r=$(get --max-time 1)
[ "${r%% *}" = 28 ] && [ "${r##* }" -ge 900 ] && pass "silent: no answer until the client's 1 s timeout" || fail "silent: $r"
clear_faults; healthy silent

# status codes, each with the real Status body
for spec in '401 Unauthorized Unauthorized' \
            '403 Forbidden secrets "f1" is forbidden: User "system:serviceaccount:default:nodeseal" cannot get resource "secrets" in API group "" in the namespace "default"' \
            '404 NotFound secrets "f1" not found' \
            '409 Conflict Operation cannot be fulfilled on secrets "f1": the object has been modified; please apply your changes to the latest version and try again' \
            '500 InternalError Internal error occurred: fake-kube injected fault' \
            '503 ServiceUnavailable the server is currently unable to handle the request'; do
    read -r code reason message <<<"$spec"
    fault "{\"mode\":\"status\",\"code\":$code,\"count\":1}"
    r=$(get --max-time 5)
    if [ "$code" = 403 ]; then message=${spec#403 Forbidden }; fi
    expect_status "status $code" "$code" "$(cut -d' ' -f2 <<<"$r")" "$reason" "$message"
done
healthy "status (count 1)"
# 429 with Retry-After, and the request log shows what the client sent meanwhile
fault '{"mode":"status","code":429,"retry_after":3,"count":2}'
seq0=$(admin GET /fake/requests | python3 -c 'import json,sys; print(json.load(sys.stdin)["last"])')
r=$(get --max-time 5)
# as max-in-flight and API Priority and Fairness answer it: text/plain from Go's http.Error, no Status
[ "$(cut -d' ' -f2 <<<"$r")" = 429 ] && pass "status 429" || fail "status 429: $r"
[ "$(cat "$WORK/body")" = 'Too many requests, please try again later.' ] && pass "429 body is the plain text" ||
    fail "429 body: $(cat "$WORK/body")"
grep -qi '^Content-Type: text/plain; charset=utf-8' "$WORK/headers" && pass "429 is text/plain" || fail "429 headers: $(cat "$WORK/headers")"
grep -qi '^Retry-After: 3' "$WORK/headers" && pass "429 carries Retry-After: 3" || fail "429 headers: $(cat "$WORK/headers")"
r1=$(get --max-time 5); r2=$(get --max-time 5)
[ "$(cut -d' ' -f2 <<<"$r1") $(cut -d' ' -f2 <<<"$r2")" = "429 200" ] && pass "count 2: the third request passes" || fail "count: $r1 / $r2"
admin GET "/fake/requests?since=$seq0" >"$WORK/requests.json"
[ "$(jq_py "$WORK/requests.json" '[(e["status"], e["fault"], e["auth"]) for e in d["items"]]')" = \
  '[[429, "status", "bearer"], [429, "status", "bearer"], [200, null, "bearer"]]' ] &&
    pass "the request log records each request and its fault" || fail "request log: $(cat "$WORK/requests.json")"
grep -q -- "$TOKEN" "$WORK/requests.json" && fail "the request log holds the token"

# match: only requests whose path contains the string are hit
fault '{"mode":"status","code":500,"match":"/secrets/other"}'
r=$(get --max-time 5)
[ "$(cut -d' ' -f2 <<<"$r")" = 200 ] && pass "match: other paths are untouched" || fail "match: $r"
code=$(api GET /api/v1/namespaces/default/secrets/other)
[ "$code" = 500 ] && pass "match: the matching path fails" || fail "match: $code"
clear_faults

# truncated: Content-Length promises more than is sent, then the connection closes
fault '{"mode":"truncated","count":1}'
r=$(get --max-time 5)
[ "${r%% *}" = 18 ] && pass "truncated: curl sees a partial body" || fail "truncated: $r $(cat "$WORK/curl-err")"
healthy "truncated (count 1)"

# truncated on a watch: half an event, then the stream breaks without its last chunk
fault '{"mode":"truncated","match":"watch=1","count":1}'
rc=0
curl -sS -N --max-time 5 --cacert "$CA" -H "Authorization: Bearer $TOKEN" -o "$WORK/watch" \
    "$URL/api/v1/namespaces/default/secrets?watch=1&timeoutSeconds=2" 2>"$WORK/curl-err" || rc=$?
[ "$rc" = 18 ] && ! python3 -c 'import json,sys; json.loads(open(sys.argv[1]).read())' "$WORK/watch" 2>/dev/null &&
    pass "truncated watch: the stream breaks mid-event" || fail "truncated watch: curl $rc $(cat "$WORK/watch")"

# garbage: 200 with a body that is not JSON
fault '{"mode":"garbage","count":1}'
r=$(get --max-time 5)
if [ "${r% *}" = "0 200" ] && ! python3 -c 'import json,sys; json.load(open(sys.argv[1], "rb"))' "$WORK/body" 2>/dev/null; then
    pass "garbage: 200 with a body that is not JSON"
else
    fail "garbage: $r"
fi
healthy "garbage (count 1)"

# wrong-cert: handshakes present a certificate of another CA
fault '{"mode":"wrong-cert"}'
r=$(get --max-time 5)
[ "${r%% *}" = 60 ] && pass "wrong-cert: curl --cacert ca.crt fails verification" || fail "wrong-cert: $r $(cat "$WORK/curl-err")"
r=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$SERVER_DIR/wrong-ca.crt" -H "Authorization: Bearer $TOKEN" "$URL$P" 2>&1)
[ "$r" = 200 ] && pass "wrong-cert: the certificate is the wrong CA's" || fail "wrong-cert with wrong-ca.crt: $r"
clear_faults; healthy wrong-cert

# faults are listed, and one can be removed by id
id=$(admin POST /fake/faults '{"mode":"status","code":503}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
[ "$(admin GET /fake/faults | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" = 1 ] &&
    pass "GET /fake/faults lists the fault" || fail "fault list"
admin DELETE "/fake/faults/$id" >/dev/null
healthy "DELETE /fake/faults/ID"

# the control API refuses a wrong admin token and bad fault specs
code=$(API_TOKEN=$TOKEN api GET /fake/faults)
expect_status "control API with a non-admin token" 401 "$code" Unauthorized
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer $ADMIN" -X POST \
    --data-binary '{"mode":"explode"}' "$URL/fake/faults")
[ "$code" = 400 ] && pass "unknown fault mode: 400" || fail "unknown mode: $code"
finish
