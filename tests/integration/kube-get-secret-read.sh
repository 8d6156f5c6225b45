#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A Secret's keys read over HTTPS, decoded into the right bytes; a missing key or Secret named.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
write_config "$T/c.json"
random_key "$T/k1"
head -c 1000 /dev/urandom >"$T/k2"
head -c 700000 /dev/urandom >"$T/k3"   # near the API server's 1 MiB limit for a Secret
fk_secret "nodeseal-keys-$NODE_NAME" "pgdata=$T/k1" "big.key=$T/k2" "huge=$T/k3"

kg --config "$T/c.json" get "nodeseal-keys-$NODE_NAME" pgdata
assert_eq "$rc" 0 "exit status ($out)"
assert_contains "$out" "value sha256=$(sha256_of "$T/k1") size=64"
kg --config "$T/c.json" get "nodeseal-keys-$NODE_NAME" big.key
assert_contains "$out" "value sha256=$(sha256_of "$T/k2") size=1000"

kg --config "$T/c.json" get "nodeseal-keys-$NODE_NAME" huge
assert_contains "$out" "value sha256=$(sha256_of "$T/k3") size=700000"

kg --config "$T/c.json" get "nodeseal-keys-$NODE_NAME" other
assert_eq "$rc" 5 "exit status for a missing key (ENOKEY)"
assert_contains "$out" "Secret nodeseal-keys-$NODE_NAME in namespace nodeseal has no key \"other\""

kg --config "$T/c.json" get nodeseal-ca tls.crt
assert_eq "$rc" 4 "exit status for a missing Secret (ENOENT)"
assert_contains "$out" "Secret nodeseal-ca not found in namespace nodeseal"
assert_contains "$out" "NotFound: secrets \"nodeseal-ca\" not found"

# What went over the wire: GETs of the one Secret, authenticated with the token.
[ "$(fk_count 0 "\"path\": \"/api/v1/namespaces/nodeseal/secrets/nodeseal-keys-node-1\"")" -ge 1 ] \
        || fail "no GET of the keys Secret in the request log"
assert_no_secrets
pass
