#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# bootstrap --directory writes the directory source layout, provision then works end to end, and a
# second bootstrap refuses to overwrite anything.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

write_config "$T/nodeseal.json" "" '"volumes": [ { "name": "data", "device": "/dev/vdb", "mountpoint": "/srv/data" }, { "name": "wal", "key": "wal-key", "device": "/dev/vdc", "mountpoint": "/srv/wal" } ]'

ns -c "$T/nodeseal.json" bootstrap --directory "$T/secrets"
assert_eq "$rc" 0 "bootstrap ($out)"
assert_file_mode "$T/secrets" 700
assert_file_mode "$T/secrets/nodeseal-ca" 700
assert_file_mode "$T/secrets/nodeseal-keys-$NODE_NAME" 700
for f in nodeseal-ca/tls.crt nodeseal-ca/tls.key nodeseal-ca/ca.crt "nodeseal-keys-$NODE_NAME/data" "nodeseal-keys-$NODE_NAME/wal-key"; do
        assert_file_mode "$T/secrets/$f" 600
done
assert_eq "$(stat -c %s "$T/secrets/nodeseal-keys-$NODE_NAME/data")" 64 "volume key size"
assert_eq "$(stat -c %s "$T/secrets/nodeseal-keys-$NODE_NAME/wal-key")" 64 "volume key size"
cmp -s "$T/secrets/nodeseal-keys-$NODE_NAME/data" "$T/secrets/nodeseal-keys-$NODE_NAME/wal-key" && fail "two keys are equal"
text=$(openssl x509 -in "$T/secrets/nodeseal-ca/tls.crt" -noout -text)
assert_contains "$text" "CA:TRUE"
assert_contains "$text" "Certificate Sign, CRL Sign"
assert_contains "$text" "Subject: CN = nodeseal CA"

# The certificate half of provision, with the volumes left out (no device-mapper here).
write_config "$T/certs-only.json"
ns -c "$T/certs-only.json" provision
assert_eq "$rc" 0 "provision ($out)"
openssl verify -CAfile "$T/secrets/nodeseal-ca/ca.crt" -purpose sslserver "$T/certs/tls.crt" >/dev/null ||
        fail "the issued certificate does not verify against the bootstrapped CA"
ns -c "$T/certs-only.json" check
assert_eq "$rc" 0 "check ($out)"

# Never overwritten: a second bootstrap fails and changes nothing.
sums=$(cd "$T/secrets" && find . -type f -exec sha256sum {} + | sort)
ns -c "$T/nodeseal.json" bootstrap --directory "$T/secrets"
[ "$rc" -ne 0 ] || fail "a second bootstrap succeeded"
assert_contains "$out" "already exists; refusing to overwrite anything, nothing written"
assert_eq "$(cd "$T/secrets" && find . -type f -exec sha256sum {} + | sort)" "$sums" "secrets after a refused bootstrap"

# Only a new node's keys exist nowhere yet, but the CA does: still refused as a whole.
ns -c "$T/nodeseal.json" bootstrap --directory "$T/secrets" --node node-9
[ "$rc" -ne 0 ] || fail "bootstrap for a new node overwrote the CA"
[ ! -e "$T/secrets/nodeseal-keys-node-9" ] || fail "keys written although bootstrap was refused"

# Keys are never written below a directory another user can change: it could redirect them.
if [ "$(id -u)" -eq 0 ]; then
        mkdir "$T/users"
        chown nobody "$T/users"
        ns -c "$T/nodeseal.json" bootstrap --directory "$T/users/secrets" --node node-1
        [ "$rc" -ne 0 ] || fail "bootstrap wrote keys below a directory that nobody owns"
        assert_contains "$out" "Refusing $T/users/secrets"
        [ -z "$(ls -A "$T/users")" ] || fail "something was written below nobody's directory: $(ls -A "$T/users")"
fi

# Without a config file at all (only when this machine has none at the default path).
if [ ! -e /etc/nodeseal/nodeseal.json ]; then
        ns bootstrap --directory "$T/fresh" --node node-2 --volume data
        assert_eq "$rc" 0 "bootstrap with built-in defaults ($out)"
        assert_contains "$out" "using the built-in defaults"
        assert_eq "$(stat -c %s "$T/fresh/nodeseal-keys-node-2/data")" 64 "volume key size"
fi
pass
