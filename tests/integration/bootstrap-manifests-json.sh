#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bootstrap prints a JSON v1 List of Secrets: a kubernetes.io/tls CA that validates, and one Opaque
# Secret per node with a 64-byte key per volume.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"
command -v jq >/dev/null || skip "jq is not installed (Debian package jq)"

write_config "$T/nodeseal.json"
"$NODESEAL" -c "$T/nodeseal.json" bootstrap --namespace db-system --node node-a --node node-b \
        --volume data --volume wal --ca-name "Example DB CA" --ca-days 365 >"$T/list.json" 2>"$T/err" ||
        fail "bootstrap failed: $(cat "$T/err")"

jq -e . "$T/list.json" >/dev/null || fail "not JSON: $(cat "$T/list.json")"
assert_eq "$(jq -r '.apiVersion + " " + .kind' "$T/list.json")" "v1 List" "list header"
assert_eq "$(jq -r '.items | length' "$T/list.json")" 3 "number of Secrets"
assert_eq "$(jq -r '[.items[] | .apiVersion + "/" + .kind] | unique | join(",")' "$T/list.json")" "v1/Secret" "item kinds"
assert_eq "$(jq -r '[.items[].metadata.namespace] | unique | join(",")' "$T/list.json")" "db-system" "namespaces"
assert_eq "$(jq -r '[.items[] | .metadata.name + ":" + .type] | join(" ")' "$T/list.json")" \
        "nodeseal-ca:kubernetes.io/tls nodeseal-keys-node-a:Opaque nodeseal-keys-node-b:Opaque" "Secret names and types"

# The CA decodes, is a CA for a year, and its key matches.
mkdir -p "$T/secrets/nodeseal-ca"
for k in tls.crt tls.key ca.crt; do
        jq -r --arg k "$k" '.items[0].data[$k]' "$T/list.json" | base64 -d >"$T/secrets/nodeseal-ca/$k" ||
                fail "$k does not decode"
done
text=$(openssl x509 -in "$T/secrets/nodeseal-ca/tls.crt" -noout -text)
assert_contains "$text" "Subject: CN = Example DB CA"
assert_contains "$text" "CA:TRUE"
end=$(date -d "$(openssl x509 -in "$T/secrets/nodeseal-ca/tls.crt" -noout -enddate | cut -d= -f2)" +%s)
days=$(( (end - $(date +%s)) / 86400 ))
[ "$days" -ge 364 ] && [ "$days" -le 365 ] || fail "CA valid for $days days, not 365"
[ "$(openssl pkey -in "$T/secrets/nodeseal-ca/tls.key" -pubout)" == "$(openssl x509 -in "$T/secrets/nodeseal-ca/tls.crt" -noout -pubkey)" ] ||
        fail "the CA key does not match"

# nodeseal itself accepts it.
ns -c "$T/nodeseal.json" ca
assert_eq "$rc" 0 "ca on the bootstrapped Secret ($out)"

# The volume keys: 64 random bytes each, all different.
for i in 1 2; do
        for v in data wal; do
                n=$(jq -r --arg v "$v" ".items[$i].data[\$v]" "$T/list.json" | base64 -d | wc -c)
                assert_eq "$n" 64 "size of key $v in item $i"
        done
done
assert_eq "$(jq -r '[.items[1:][].data[]] | unique | length' "$T/list.json")" 4 "distinct volume keys"
pass
