#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# watch-events-resume: watch streams ADDED/MODIFIED/DELETED in order, resumes exactly, expires old RVs.
source "$(dirname "$0")/lib.sh"

start_server --history 20 --bookmark-seconds 0.3
S=/api/v1/namespaces/default/secrets

# watch QUERY [curl options]: the event stream to $WORK/watch, one JSON event per line; prints curl's exit code
watch() {
    local rc=0
    rm -f "$WORK/watch"
    curl -sS -N --max-time "${WATCH_MAX:-10}" --cacert "$CA" -H "Authorization: Bearer $TOKEN" \
        -o "$WORK/watch" -D "$WORK/watch-headers" "$URL$S?watch=1&$1" 2>"$WORK/watch-err" || rc=$?
    echo "$rc"
}
# events: "TYPE name rv" per event of $WORK/watch
events() {
    [ -f "$WORK/watch" ] || return 0     # curl creates no file for an empty body
    python3 - "$WORK/watch" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    o = e["object"]
    m = o.get("metadata", {})
    print(e["type"], m.get("name", o.get("reason", "-")), m.get("resourceVersion", o.get("code", "-")))
EOF
}
secret() { printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"%s"%s},"data":{"k":"%s"}}' "$1" "${3-}" "$2"; }
# snap QUERY: what a watch sends at once; a replay needs no waiting for timeoutSeconds
snap() {
    local rc
    rc=$(WATCH_MAX=0.4 watch "$1")
    [ "$rc" = 0 ] || [ "$rc" = 28 ] || fail "watch $1: curl exit $rc: $(cat "$WORK/watch-err")"
}
rv_of() { jq_py "$WORK/body" 'd["metadata"]["resourceVersion"]'; }

# a starting point, then ADDED, MODIFIED, DELETED of w1 and an ADDED of w2
api GET "$S" >/dev/null
rv0=$(rv_of)
api POST "$S" "$(secret w1 djE=)" >/dev/null; rv_add=$(rv_of)
api PUT "$S/w1" "$(secret w1 djI=)" >/dev/null; rv_mod=$(rv_of)
api PUT "$S/w1" "$(secret w1 djI=)" >/dev/null          # a no-op update: no event, no new RV
[ "$(rv_of)" = "$rv_mod" ] && pass "a no-op update keeps the resourceVersion" || fail "no-op update bumped the RV"
api DELETE "$S/w1" >/dev/null
api GET "$S" >/dev/null; rv_del=$(rv_of)
api POST "$S" "$(secret w2 dzI=)" >/dev/null; rv_w2=$(rv_of)

start=$(date +%s%N)
rc=$(watch "resourceVersion=$rv0&timeoutSeconds=1")
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
want=$(printf 'ADDED w1 %s\nMODIFIED w1 %s\nDELETED w1 %s\nADDED w2 %s' "$rv_add" "$rv_mod" "$rv_del" "$rv_w2")
[ "$(events)" = "$want" ] && pass "replay from RV $rv0: ADDED, MODIFIED, DELETED, ADDED in order" ||
    fail "replay: $(events) (wanted $want)"
[ "$rc" = 0 ] && [ "$elapsed" -ge 900 ] && [ "$elapsed" -lt 3000 ] &&
    pass "timeoutSeconds=1 ends the stream cleanly after ${elapsed} ms" || fail "timeout: curl $rc after $elapsed ms: $(cat "$WORK/watch-err")"
grep -qi '^transfer-encoding: chunked' "$WORK/watch-headers" && grep -qi '^content-type: application/json' "$WORK/watch-headers" &&
    pass "chunked application/json stream" || fail "watch headers: $(cat "$WORK/watch-headers")"
[ "$(jq_py "$WORK/body" '0')" = 0 ] # keep $WORK/body parsable for later checks

# resume from the last RV seen: nothing missed, nothing repeated
snap "resourceVersion=$rv_mod"
[ "$(events)" = "$(printf 'DELETED w1 %s\nADDED w2 %s' "$rv_del" "$rv_w2")" ] &&
    pass "resume from RV $rv_mod" || fail "resume: $(events)"
snap "resourceVersion=$rv_w2"
[ -z "$(events)" ] && pass "resume from the newest RV: no event" || fail "resume from newest: $(events)"

# live events reach an open watch as they happen (the watch is started before the writes)
watch "resourceVersion=$rv_w2&timeoutSeconds=1&fieldSelector=metadata.name%3Dw3" >"$WORK/live-rc" &
sleep 0.2
api POST "$S" "$(secret w3 djE=)" >/dev/null; rv3a=$(rv_of)
api POST "$S" "$(secret other djE=)" >/dev/null
api PATCH "$S/w3" '{"data":{"k":"djI="}}' application/merge-patch+json >/dev/null; rv3m=$(rv_of)
wait
[ "$(events)" = "$(printf 'ADDED w3 %s\nMODIFIED w3 %s' "$rv3a" "$rv3m")" ] && [ "$(cat "$WORK/live-rc")" = 0 ] &&
    pass "live watch with fieldSelector sees only w3" || fail "live watch: $(events) rc=$(cat "$WORK/live-rc")"

# without a resourceVersion: the current state as ADDED, then changes
snap ""
[ "$(events | awk '{print $1, $2}' | sort | tr '\n' ' ')" = "ADDED other ADDED w2 ADDED w3 " ] &&
    pass "watch without RV starts with the current state" || fail "initial state: $(events)"

# a label selector: an object that stops matching leaves with DELETED, one that starts matching ADDED
api PATCH "$S/w2" '{"metadata":{"labels":{"role":"ca"}}}' application/merge-patch+json >/dev/null; rv_l0=$(rv_of)
api PATCH "$S/w2" '{"metadata":{"labels":{"role":"other"}}}' application/merge-patch+json >/dev/null; rv_l1=$(rv_of)
api PATCH "$S/w3" '{"metadata":{"labels":{"role":"ca"}}}' application/merge-patch+json >/dev/null; rv_l2=$(rv_of)
snap "resourceVersion=$rv_w2&labelSelector=role%3Dca"
[ "$(events)" = "$(printf 'ADDED w2 %s\nDELETED w2 %s\nADDED w3 %s' "$rv_l0" "$rv_l1" "$rv_l2")" ] &&
    pass "labelSelector transitions" || fail "labelSelector: $(events)"

# bookmarks carry the current RV
snap "resourceVersion=$rv_l2&allowWatchBookmarks=true"
if events | grep "^BOOKMARK - $rv_l2$" >/dev/null; then pass "BOOKMARK with the current RV"; else fail "bookmarks: $(events)"; fi

# sendInitialEvents (the WatchList protocol): the state, then the initial-events-end bookmark
snap "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
python3 - "$WORK/watch" <<'EOF' && pass "sendInitialEvents ends with the initial-events-end bookmark" || fail "sendInitialEvents: $(cat "$WORK/watch")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert [e["type"] for e in ev[:4]] == ["ADDED"] * 3 + ["BOOKMARK"], ev
assert ev[3]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}, ev[3]
EOF

# 410: an RV older than the window answers one ERROR event and closes
for i in $(seq 1 25); do api PATCH "$S/w2" "{\"data\":{\"n\":\"$(printf '%02d' "$i" | base64)\"}}" application/merge-patch+json >/dev/null; done
start=$(date +%s%N)
rc=$(watch "resourceVersion=$rv0&timeoutSeconds=5")
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
floor=$(admin GET /fake/state | python3 -c 'import json,sys; print(json.load(sys.stdin)["floor"])')
want="{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: $rv0 ($floor)\",\"reason\":\"Expired\",\"code\":410}}"
[ "$(cat "$WORK/watch")" = "$want" ] && [ "$rc" = 0 ] && [ "$elapsed" -lt 1000 ] &&
    pass "too old RV: one ERROR 410 Expired event, closed at once" || fail "410: rc=$rc ${elapsed}ms $(cat "$WORK/watch")"
# the window still holds the recent past
api GET "$S/w2" >/dev/null; rv_now=$(rv_of)
snap "resourceVersion=$((rv_now - 3))"
[ "$(events | wc -l)" = 3 ] && pass "recent RVs still resume" || fail "recent resume: $(events)"
# compaction through the control API expires everything before now
admin POST /fake/compact >/dev/null
snap "resourceVersion=$((rv_now - 1))"
events | grep '^ERROR Expired 410$' >/dev/null && pass "compaction expires older RVs" || fail "after compaction: $(events)"

# the control API ends open watches, as an API server restart would
watch "resourceVersion=$rv_now&timeoutSeconds=30" >"$WORK/closed-rc" &
sleep 0.3
start=$(date +%s%N)
admin POST /fake/watches/close >/dev/null
wait
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(cat "$WORK/closed-rc")" = 0 ] && [ "$elapsed" -lt 1500 ] && pass "POST /fake/watches/close ends watches cleanly" ||
    fail "watches/close: rc=$(cat "$WORK/closed-rc") after ${elapsed} ms"
finish
