#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# apiserver-fidelity: where a real kube-apiserver is harsher than a kind fake, this one is too
# (README.md, "Fidelity", cites the apiserver code for each): a time-based watch history (410 once
# the window has passed), no bookmark before the first event and one 2 s before the deadline, 429 as
# text/plain with Retry-After (and Connection: close while shutting down), an undecodable query
# parameter dropped as Go drops it (so a name-restricted list is refused 403), and the 422s of an
# immutable Secret and of one over 1 MiB.
source "$(dirname "$0")/lib.sh"

start_server --history-seconds 1.5 --bookmark-seconds 60
S=/api/v1/namespaces/default/secrets
secret() { printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"%s"},"data":{"k":"%s"}%s}' "$1" "$2" "${3-}"; }
rv_of() { jq_py "$WORK/body" 'd["metadata"]["resourceVersion"]'; }
# watch QUERY SECS: curl's exit status; the events in $WORK/watch, their arrival (ms) in $WORK/times
watch() {
    rm -f "$WORK/watch"
    curl -sS -N --max-time "$2" --cacert "$CA" -H "Authorization: Bearer $TOKEN" "$URL$S?watch=1&$1" 2>/dev/null |
        python3 -c '
import sys, time
t0 = time.monotonic()
with open(sys.argv[1], "w") as w, open(sys.argv[2], "w") as tm:
    for line in sys.stdin:
        w.write(line); w.flush()
        tm.write("%d\n" % ((time.monotonic() - t0) * 1000))' "$WORK/watch" "$WORK/times"
}
types() { python3 -c 'import json,sys; print(" ".join(json.loads(l)["type"] for l in open(sys.argv[1])))' "$WORK/watch"; }

# --- bookmarks: none before the cacher has seen an event, even 2 s before the deadline
watch "allowWatchBookmarks=true&timeoutSeconds=3" 6
[ -z "$(types)" ] && pass "no bookmark before any event" || fail "bookmark before any event: $(types)"

api POST "$S" "$(secret w1 djE=)" >/dev/null; rv1=$(rv_of)
api PATCH "$S/w1" '{"data":{"k":"djI="}}' application/merge-patch+json >/dev/null; rv2=$(rv_of)

# --- the window: resuming within it replays; after it, 410 inside a 200 stream
watch "resourceVersion=$rv1&timeoutSeconds=1" 4
[ "$(types)" = MODIFIED ] && pass "resume within the window replays the change" || fail "resume: $(types)"

# bookmarks: at about deadline - 2 s (here timeoutSeconds=3: at 1 s), with the current RV
watch "resourceVersion=$rv2&allowWatchBookmarks=true&timeoutSeconds=3" 6
t=$(head -n1 "$WORK/times")
[ "$(types)" = BOOKMARK ] && [ "$t" -ge 800 ] && [ "$t" -le 2500 ] &&
    pass "one bookmark 2 s before the deadline (${t} ms into a 3 s watch)" || fail "bookmark: $(types) at ${t:-none} ms"
[ "$(jq_py "$WORK/watch" 'd["object"]["metadata"]["resourceVersion"]')" = "$rv2" ] &&
    pass "the bookmark carries the current RV" || fail "bookmark RV: $(cat "$WORK/watch")"

sleep 1.6
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 4 --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
    "$URL$S?watch=1&resourceVersion=$rv1&timeoutSeconds=1")
watch "resourceVersion=$rv1&timeoutSeconds=1" 4
[ "$code" = 200 ] && [ "$(types)" = ERROR ] &&
    [ "$(jq_py "$WORK/watch" 'd["object"]["message"]')" = "too old resource version: $rv1 ($rv2)" ] &&
    [ "$(jq_py "$WORK/watch" 'd["object"]["code"]')" = 410 ] &&
    pass "after the window: 200, then an ERROR 410 too old resource version" || fail "window: $code $(cat "$WORK/watch")"
watch "resourceVersion=$rv2&timeoutSeconds=1" 4
[ -z "$(types)" ] && pass "resuming at the current RV after the window is fine" || fail "current RV: $(types)"

# --- 429 as text/plain; shutting down adds Connection: close
# plain_429 WHAT MESSAGE HEADER...: GET w1 answered 429 with MESSAGE as text/plain and each header line
plain_429() {
    local what=$1 message=$2 h code ok=1
    shift 2
    code=$(api GET "$S/w1")
    [ "$code" = 429 ] && [ "$(cat "$WORK/body")" = "$message" ] || ok=0
    for h in 'Content-Type: text/plain; charset=utf-8' "$@"; do grep -qi "^$h" "$WORK/headers" || ok=0; done
    [ "$ok" = 1 ] && pass "$what" || fail "$what: $code $(cat "$WORK/headers" "$WORK/body")"
}
admin POST /fake/faults '{"mode":"status","code":429,"retry_after":2,"count":1}' >/dev/null
plain_429 "429: text/plain, Retry-After" "Too many requests, please try again later." 'Retry-After: 2'
admin POST /fake/faults '{"mode":"status","code":429,"count":1,"body":"status"}' >/dev/null
code=$(api GET "$S/w1")
expect_status "429 with a Status body (\"body\": \"status\")" 429 "$code" TooManyRequests "Too many requests, please try again later."
admin POST /fake/faults '{"mode":"shutdown","count":1}' >/dev/null
plain_429 "shutdown: 429, Retry-After: 5, Connection: close" "The apiserver is shutting down, please try again later." \
    'Retry-After: 5' 'Connection: close'

# --- an undecodable query parameter is dropped: a list restricted to one name becomes a list of all
admin POST /fake/permissions "{\"token\": \"$TOKEN\", \"rules\": [{\"verbs\": [\"get\", \"list\", \"watch\"], \"resources\": [\"secrets\"], \"names\": [\"w1\"]}]}" >/dev/null
code=$(api GET "$S?fieldSelector=metadata.name%3Dw1")
[ "$code" = 200 ] && pass "list by name within the permission" || fail "list by name: $code $(cat "$WORK/body")"
for q in 'fieldSelector=metadata.name%3Dw1%zz' 'fieldSelector=metadata.name%3Dw1;x' 'fieldSelector=metadata.name%3Dw1%'; do
    code=$(api GET "$S?$q")
    expect_status "undecodable $q" 403 "$code" Forbidden \
        'secrets is forbidden: User "system:serviceaccount:default:nodeseal" cannot list resource "secrets" in API group "" in the namespace "default"'
done
admin POST /fake/permissions "{\"token\": \"$TOKEN\", \"rules\": null}" >/dev/null

# --- 422: an immutable Secret, and one over 1 MiB
api POST "$S" "$(secret frozen djE= ',"immutable":true')" >/dev/null
code=$(api PATCH "$S/frozen" '{"data":{"k":"djI="}}' application/merge-patch+json)
expect_status "immutable data" 422 "$code" Invalid \
    'Secret "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set'
[ "$(jq_py "$WORK/body" 'd["details"]')" = '{"name": "frozen", "kind": "Secret", "causes": [{"reason": "FieldValueForbidden", "message": "Forbidden: field is immutable when `immutable` is set", "field": "data"}]}' ] &&
    pass "immutable: the details and causes" || fail "immutable details: $(cat "$WORK/body")"
big=$(head -c 1048577 /dev/zero | base64 -w0)
printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"big"},"data":{"k":"%s"}}' "$big" >"$WORK/big.json"
code=$(api POST "$S" "@$WORK/big.json")
expect_status "over 1 MiB" 422 "$code" Invalid 'Secret "big" is invalid: data: Too long: must have at most 1048576 bytes'

# --- SIGTERM with --shutdown-delay: new requests get the shutdown 429 meanwhile; health checks do not
eval "$("$FAKE_KUBE_HOME/fake-kube-ctl" start "$WORK/second" --bind 127.0.0.1 --port 0 --shutdown-delay 3)"
kill -TERM "$FAKE_KUBE_PID"
sleep 0.3
code=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --max-time 4 --cacert "$FAKE_KUBE_CA" \
    -H "Authorization: Bearer $FAKE_KUBE_TOKEN" "$FAKE_KUBE_URL$S")
[ "$code" = 429 ] && grep -qi '^Connection: close' "$WORK/headers" &&
    pass "shutdown delay: 429 with Connection: close" || fail "shutdown delay: $code $(cat "$WORK/headers")"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 4 --cacert "$FAKE_KUBE_CA" \
    -H "Authorization: Bearer $FAKE_KUBE_TOKEN" "$FAKE_KUBE_URL/readyz")
[ "$code" = 200 ] && pass "shutdown delay: /readyz still answered" || fail "shutdown delay /readyz: $code"
"$FAKE_KUBE_HOME/fake-kube-ctl" stop "$WORK/second"

finish
