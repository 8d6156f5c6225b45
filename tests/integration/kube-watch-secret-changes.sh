#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The watch: changes reach the handler within seconds, across timeouts, dropped streams, 410 Gone,
# server errors and token rotation; no polling.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake --history 50
write_config "$T/c.json" "" '{"initial_sec": 0.2, "max_sec": 1, "max_attempts": 3}'
random_key "$T/k1"
random_key "$T/k2"
fk_secret "nodeseal-keys-$NODE_NAME" "pgdata=$T/k1"

NODESEAL_LOG_LEVEL=debug "$KUBE_GET" --config "$T/c.json" watch 0 120 "nodeseal-keys-$NODE_NAME" nodeseal-ca >"$LOGS/watch.out" 2>&1 &
watcher=$!
cleanup_hooks+=("kill $watcher 2>/dev/null")
wait_for grep -q watching "$LOGS/watch.out" || fail "the watch did not start: $(cat "$LOGS/watch.out")"
started=$(fk_last_seq)

changes() { grep -c "^changed $1\$" "$LOGS/watch.out" || true; }
has_changes() { [ "$(changes "$1")" -ge "$2" ]; }
# expect NAME COUNT: the handler has run COUNT times for NAME within 5 s.
expect() {
        local t0=$SECONDS
        wait_for has_changes "$1" "$2" || fail "expected $2 change(s) of $1, saw $(changes "$1"): $(cat "$LOGS/watch.out")"
        [ $((SECONDS - t0)) -le 5 ] || fail "change of $1 took $((SECONDS - t0)) s"
        sleep 0.3
        assert_eq "$(changes "$1")" "$2" "changes of $1"
}
patch() {
        kapi PATCH "/api/v1/namespaces/nodeseal/secrets/$1" "$2" application/merge-patch+json >/dev/null
}
sleep 1
assert_eq "$(changes "nodeseal-keys-$NODE_NAME")" 0 "changes before anything changed"

# MODIFIED, ADDED, DELETED.
patch "nodeseal-keys-$NODE_NAME" "{\"data\": {\"wal\": \"$(base64 -w0 <"$T/k2")\"}}"
remember_secret "$(base64 -w0 <"$T/k2")"
expect "nodeseal-keys-$NODE_NAME" 1
fk_secret nodeseal-ca "tls.crt=$T/k1"
expect nodeseal-ca 1
kapi DELETE /api/v1/namespaces/nodeseal/secrets/nodeseal-ca >/dev/null
expect nodeseal-ca 2
# A no-op write changes nothing, and calls nobody.
patch "nodeseal-keys-$NODE_NAME" "{\"data\": {\"wal\": \"$(base64 -w0 <"$T/k2")\"}}"
sleep 1.5
assert_eq "$(changes "nodeseal-keys-$NODE_NAME")" 1 "changes after a no-op write"

# Streams dropped by the server: resumed from the last resourceVersion, nothing replayed.
s=$(fk_last_seq)
fk POST /fake/watches/close >/dev/null
sleep 1.5
[ "$(fk_count "$s" 'watch=1')" -ge 2 ] || fail "watches not restarted after being dropped"
[ "$(fk_count "$s" 'watch=1&fieldSelector=metadata.name%3Dnodeseal-keys-node-1&resourceVersion=')" -ge 1 ] \
        || fail "watch not resumed from a resourceVersion"
patch "nodeseal-keys-$NODE_NAME" '{"metadata": {"labels": {"x": "1"}}}'
expect "nodeseal-keys-$NODE_NAME" 2

# 410 Gone: while the watches fail (500), a change is made and the history moves past it; the
# watch resumes from a resourceVersion the server no longer has, lists afresh, and notices.
fk_fault '{"mode": "status", "code": 500, "match": "watch=1"}'
fk POST /fake/watches/close >/dev/null
patch "nodeseal-keys-$NODE_NAME" '{"metadata": {"labels": {"x": "2"}}}'
for i in $(seq 1 60); do fk POST /fake/secrets "{\"metadata\":{\"name\":\"filler-$i\",\"namespace\":\"nodeseal\"}}" >/dev/null; done
fk POST /fake/compact >/dev/null
s=$(fk_last_seq)
fk_clear
expect "nodeseal-keys-$NODE_NAME" 3     # the missed change, noticed through the re-list
# (The fake, like the real server, reports the expired version as an ERROR event in a 200 stream.)
[ "$(fk_count "$s" '"query": "fieldSelector=metadata.name%3Dnodeseal-keys')" -ge 1 ] || fail "no re-list after 410"
grep -q "expired; listing it again" "$LOGS/watch.out" || fail "the watch did not report the expired resourceVersion" 
patch "nodeseal-keys-$NODE_NAME" '{"metadata": {"labels": {"x": "3"}}}'
expect "nodeseal-keys-$NODE_NAME" 4

# The same 410, from a server that ends the stream right after the ERROR event with no newline:
# still an event, so the watch lists afresh at once instead of watching the expired version again.
f500=$(fk POST /fake/faults '{"mode": "status", "code": 500, "match": "watch=1"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
fk_fault '{"mode": "unterminated", "match": "watch=1"}'
fk POST /fake/watches/close >/dev/null
patch "nodeseal-keys-$NODE_NAME" '{"metadata": {"labels": {"x": "3a"}}}'
fk POST /fake/compact >/dev/null
s=$(fk_last_seq)
fk DELETE "/fake/faults/$f500" >/dev/null
expect "nodeseal-keys-$NODE_NAME" 5
[ "$(fk_count "$s" '"query": "fieldSelector=metadata.name%3Dnodeseal-keys')" -ge 1 ] || fail "no re-list after an unterminated 410"
fk_clear
patch "nodeseal-keys-$NODE_NAME" '{"metadata": {"labels": {"x": "3b"}}}'
expect "nodeseal-keys-$NODE_NAME" 6

# The server ends each watch after timeoutSeconds (5 s here); the watch goes on.
s=$(fk_last_seq)
sleep 6.5
[ "$(fk_count "$s" "fieldSelector=metadata.name%3Dnodeseal-keys-$NODE_NAME")" -ge 1 ] || fail "no new watch after the timeout"
patch "nodeseal-keys-$NODE_NAME" '{"metadata": {"labels": {"x": "4"}}}'
expect "nodeseal-keys-$NODE_NAME" 7

# Token rotation: a new token in the file, the old one revoked, the streams dropped.
new=$(fk POST /fake/tokens '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
remember_secret "$new"
printf '%s\n' "$new" >"$T/token.new"
mv "$T/token.new" "$T/token"
fk DELETE "/fake/tokens/$FAKE_KUBE_TOKEN" >/dev/null
FAKE_KUBE_TOKEN=$new
fk POST /fake/watches/close >/dev/null
patch "nodeseal-keys-$NODE_NAME" '{"metadata": {"labels": {"x": "5"}}}'
expect "nodeseal-keys-$NODE_NAME" 8

# The token revoked before the file changes: 401s and backoff, then the new token is picked up.
newer=$(fk POST /fake/tokens '{}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
remember_secret "$newer"
fk DELETE "/fake/tokens/$FAKE_KUBE_TOKEN" >/dev/null
fk POST /fake/watches/close >/dev/null
sleep 1.5
s=$(fk_last_seq)
printf '%s\n' "$newer" >"$T/token"
FAKE_KUBE_TOKEN=$newer
patch "nodeseal-keys-$NODE_NAME" '{"metadata": {"labels": {"x": "6"}}}'
expect "nodeseal-keys-$NODE_NAME" 9

# A silent server (accepts the watch, never answers): dropped after watch_timeout_sec plus
# request_timeout_sec (5 + 4 s here), then the watch goes on.
fk_fault '{"mode": "silent", "match": "watch=1", "count": 2}'
fk POST /fake/watches/close >/dev/null
sleep 1
patch "nodeseal-keys-$NODE_NAME" '{"metadata": {"labels": {"x": "7"}}}'
t0=$SECONDS
wait_for has_changes "nodeseal-keys-$NODE_NAME" 10 || fail "no change seen after a silent watch: $(cat "$LOGS/watch.out")"
[ $((SECONDS - t0)) -le 13 ] || fail "a silent watch held us $((SECONDS - t0)) s"
grep -q "did not answer in time" "$LOGS/watch.out" || fail "the silent watch was not reported as a timeout"

# No polling: between changes, only watch requests (and the lists after 410).
fk_requests "$started" | python3 -c '
import json, sys
for l in sys.stdin:
    r = json.loads(l)
    if r["method"] == "GET" and "/secrets/" in r["path"]:
        sys.exit(f"a GET of a single Secret from the watch: {r}")' || fail "the watch polled"

kill "$watcher"
wait "$watcher" 2>/dev/null || true
assert_no_secrets
pass
