#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Events an operator reads with kubectl: the daemon, in a pod (POD_NAME/POD_NAMESPACE/POD_UID from
# the downward API), meets a CA Secret that holds no CA and keeps retrying; one Event CAInvalid on its
# Pod, its count raised by PATCH on each retry (not one Event per retry), that "kubectl get events"
# and "kubectl describe pod" show in one line. Without the permission to post Events the daemon
# says so once and carries on; given a real CA, it gets ready. A reload hook that fails 3 times in a
# row gets an Event of its own.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"
. "$(dirname "$0")/lib-daemon.sh"
command -v kubectl >/dev/null || skip "kubectl is not installed"
kubectl() { command kubectl --kubeconfig "$FAKE_KUBE_KUBECONFIG" --cache-dir "$T/kube-cache" -n nodeseal "$@"; }

start_fake
pod=nodeseal-x7k2p
uid=6f1c2a5e-0d4b-4c39-9a57-3c1f0e8b2d11
fk POST /fake/pods "{\"metadata\": {\"name\": \"$pod\", \"namespace\": \"nodeseal\", \"uid\": \"$uid\"},
  \"spec\": {\"nodeName\": \"$NODE_NAME\", \"containers\": [{\"name\": \"nodeseal\", \"image\": \"localhost/nodeseal:0.1.0\"}]}}" >/dev/null
mkdir -p "$T/bad"
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$T/bad/ca.key" \
        -out "$T/bad/ca.crt" -days 30 -subj "/CN=leaf pretending" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" 2>/dev/null
remember_secret "$(sed -n 2p "$T/bad/ca.key")"
fk_secret nodeseal-ca "tls.crt=$T/bad/ca.crt" "tls.key=$T/bad/ca.key"
write_config "$T/base.json" "" '{"initial_sec": 0.2, "max_sec": 0.5, "jitter": 0}'
python3 - "$T/base.json" "$T/c.json" "$T" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["certificates"] = [{"name": "db", "directory": sys.argv[3] + "/certs", "reload_command": ["/bin/false"]}]
c["daemon"] = {"recheck_sec": 600}
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY

start_bus allow-all
start_notify
start_daemon "$T/c.json" POD_NAME=$pod POD_NAMESPACE=nodeseal POD_UID=$uid
event_count() {
        kubectl get events -o json | python3 -c '
import json, sys
items = [e for e in json.load(sys.stdin)["items"] if e["reason"] == "CAInvalid"]
print(len(items), items[0]["count"] if items else 0)'
}
counted() { read -r n c <<<"$(event_count)"; [ "$n" = 1 ] && [ "$c" -ge 3 ]; }
wait_for 30 counted || fail "no CAInvalid Event counted 3 times: $(event_count); $(tail -n 20 "$DAEMON_LOG")"

# One Event, on the Pod (by uid, as kubectl describe looks it up), with the Node as related object.
kubectl get events -o json >"$LOGS/events.json"
python3 - "$LOGS/events.json" "$pod" "$uid" "$NODE_NAME" <<'PY' || fail "the Event: $(cat "$LOGS/events.json")"
import json, sys
items, pod, uid, node = json.load(open(sys.argv[1]))["items"], sys.argv[2], sys.argv[3], sys.argv[4]
assert len(items) == 1, items
e = items[0]
assert e["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": "nodeseal", "uid": uid}, e
assert e["related"]["kind"] == "Node" and e["related"]["name"] == node, e
assert e["type"] == "Warning" and e["source"]["component"] == "nodeseal", e
assert e["message"].startswith('CA (Secret nodeseal-ca): tls.crt: "leaf pretending" is not a CA certificate'), e
PY
creates=$(fk_requests 0 | grep -c '"method": "POST", "path": "/api/v1/namespaces/nodeseal/events"' || true)
patches=$(fk_requests 0 | grep -c '"method": "PATCH", "path": "/api/v1/namespaces/nodeseal/events/' || true)
assert_eq "$creates" 1 "Events created (the rest are count patches)"
[ "$patches" -ge 2 ] || fail "the count was not raised by PATCH: $patches patches"

# What an operator reads, in one line each.
line=$(kubectl get events | grep CAInvalid) || fail "kubectl get events: $(kubectl get events 2>&1)"
printf '%s\n' "$(kubectl get events)" >"$LOGS/get-events.txt"
assert_contains "$line" "Warning   CAInvalid   pod/$pod   CA (Secret nodeseal-ca): tls.crt: \"leaf pretending\" is not a CA certificate (basicConstraints CA:TRUE is missing)"
grep -Eq '^[0-9]+s \(x[0-9]+ over [0-9]+s\) ' <<<"$line" || fail "no count in LAST SEEN: $line"
kubectl describe pod "$pod" >"$LOGS/describe.txt" 2>&1 || fail "kubectl describe pod: $(cat "$LOGS/describe.txt")"
grep -E "^  Warning  CAInvalid  .*\(x[0-9]+ over .*\)  nodeseal  CA \(Secret nodeseal-ca\): tls.crt: \"leaf pretending\" is not a CA" \
        "$LOGS/describe.txt" >/dev/null || fail "kubectl describe pod shows no CAInvalid line: $(cat "$LOGS/describe.txt")"

# Without the permission: logged once, and the daemon carries on (and gets ready once the CA is fixed).
fk POST /fake/permissions "{\"token\": \"$FAKE_KUBE_TOKEN\", \"rules\": [{\"verbs\": [\"get\", \"list\", \"watch\"], \"resources\": [\"secrets\"]}]}" >/dev/null
s=$(fk_last_seq)
refused() { [ "$(fk_requests "$s" | grep '/events' | grep -c '"status": 403')" -ge 3 ]; }
wait_for 20 refused || fail "no refused Event posts: $(fk_requests "$s" | tail -n 5)"
assert_eq "$(grep -c 'Not allowed to post Events' "$DAEMON_LOG")" 1 "warnings about the missing permission"
assert_contains "$(grep 'Not allowed to post Events' "$DAEMON_LOG")" "grant create and patch on events"
assert_contains "$(grep 'Not allowed to post Events' "$DAEMON_LOG")" "cannot patch resource \"events\""
assert_not_contains "$(grep 'Not allowed to post Events' "$DAEMON_LOG")" "on secrets"
fk POST /fake/permissions "{\"token\": \"$FAKE_KUBE_TOKEN\", \"rules\": null}" >/dev/null
make_ca "$T/ca"
remember_secret "$(sed -n 2p "$T/ca/ca.key")"
kube_replace_ca "$T/ca"
wait_ready 20

# A reload hook that fails every time (here after the first certificate and two renewals): once it
# has failed 3 times in a row, the next attempt posts ReloadHookFailing.
hooks_failed() { [ "$(jq -r '.certificates[0].hook_failures_in_row' "$T/run/status.json")" -ge "$1" ]; }
wait_for 10 hooks_failed 1 || fail "the hook did not fail once: $(cat "$T/run/status.json")"
call RenewCertificates >/dev/null
wait_for 10 hooks_failed 2 || fail "the hook did not fail twice: $(cat "$T/run/status.json")"
call RenewCertificates >/dev/null
wait_for 10 hooks_failed 3 || fail "the hook did not fail 3 times: $(cat "$T/run/status.json")"
call Reconcile >/dev/null
line=$(kubectl get events | grep ReloadHookFailing) || fail "no ReloadHookFailing Event: $(kubectl get events 2>&1)"
assert_contains "$line" "Warning   ReloadHookFailing   pod/$pod   Certificate db: its reload hook keeps failing (3 times in a row or more)"
stop_daemon
assert_eq "$daemon_rc" 0 "daemon exit status"
cp "$DAEMON_LOG" "$LOGS/"
assert_no_secrets
pass
