#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# First-boot key generation: nodes racing to create the same key end with one key, the one stored.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/off.json"
write_config "$T/c.json" '"generate_missing_keys": true' '{"initial_sec": 0.1, "max_sec": 0.5, "max_attempts": 5}'

kg --config "$T/off.json" put nodeseal-keys-node-1 pgdata
assert_eq "$rc" 1 "exit status with generation off"
assert_contains "$out" "Key \"pgdata\" of Secret nodeseal-keys-node-1 is missing and secrets.kubernetes.generate_missing_keys is off"

stored() {  # stored NAME KEY: sha256 of what the API server holds
        kapi GET "/api/v1/namespaces/nodeseal/secrets/$1" | python3 -c '
import base64, hashlib, json, sys
print(hashlib.sha256(base64.b64decode(json.load(sys.stdin)["data"][sys.argv[1]])).hexdigest())' "$2"
}

# race NAME KEY N: N processes at once; all must return the one stored value, exactly one its own.
race() {
        local name=$1 key=$2 n=$3 i want mine=0
        for i in $(seq 1 "$n"); do
                "$KUBE_GET" --config "$T/c.json" put "$name" "$key" >"$LOGS/race.$name.$key.$i" 2>&1 &
        done
        wait
        want=$(stored "$name" "$key")
        for i in $(seq 1 "$n"); do
                grep -q "sha256=$want size=64" "$LOGS/race.$name.$key.$i" \
                        || fail "process $i of the race for $name/$key: $(cat "$LOGS/race.$name.$key.$i")"
                grep -q "stored-mine" "$LOGS/race.$name.$key.$i" && mine=$((mine + 1))
        done
        assert_eq "$mine" 1 "processes whose own key was stored ($name/$key)"
}

# Every write slowed down, so that the racers all see "missing" and all write: the server picks one.
fk_fault '{"mode": "slow", "delay_ms": 400, "method": "POST"}'
fk_fault '{"mode": "slow", "delay_ms": 400, "method": "PATCH"}'
s=$(fk_last_seq)
race nodeseal-keys-node-1 pgdata 2            # nobody has the Secret: POST races POST
[ "$(fk_requests "$s" | grep -c '"method": "POST".*"status": 409')" -ge 1 ] || fail "no AlreadyExists seen in the POST race"
s=$(fk_last_seq)
race nodeseal-keys-node-1 wal 3               # the Secret exists without the key: PATCH races PATCH
[ "$(fk_requests "$s" | grep -c '"method": "PATCH".*"status": 409')" -ge 1 ] || fail "no Conflict seen in the PATCH race"
fk_clear
# Without help, as it comes.
for i in 1 2 3 4 5; do race "nodeseal-keys-r$i" data 3; done

# A key that exists is returned, never replaced.
before=$(stored nodeseal-keys-node-1 pgdata)
kg --config "$T/c.json" put nodeseal-keys-node-1 pgdata
assert_contains "$out" "stored-other sha256=$before"
assert_eq "$(stored nodeseal-keys-node-1 pgdata)" "$before" "stored key"

# What was written: Opaque, labelled, both keys present, nothing else changed.
kapi GET /api/v1/namespaces/nodeseal/secrets/nodeseal-keys-node-1 | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["type"] == "Opaque", s["type"]
assert s["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "nodeseal"}, s["metadata"]
assert sorted(s["data"]) == ["pgdata", "wal"], sorted(s["data"])' || fail "the Secret is not as written"

# A failure in the middle (the write refused) is reported, not papered over.
fk_fault '{"mode": "status", "code": 403, "method": "PATCH"}'
kg --config "$T/c.json" put nodeseal-keys-node-1 newkey
assert_eq "$rc" 1 "exit status"
assert_contains "$out" "Failed to add key \"newkey\" to Secret nodeseal/nodeseal-keys-node-1: Forbidden"
assert_contains "$out" "needs \"patch\" on secrets \"nodeseal-keys-node-1\""
fk_clear
for f in "$LOGS"/race.*; do grep -o 'sha256=[0-9a-f]*' "$f" >/dev/null; done
assert_no_secrets
pass
