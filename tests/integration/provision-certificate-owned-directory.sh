#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The legitimate layout: a certificate directory that belongs to the datastore's user (like
# /var/lib/postgresql) below root-owned ancestors works, with the owner and modes configured; what
# that user plants inside it (a symlink or a hard link in place of a file) is replaced, never
# followed, and a root-only file it points at keeps its owner, mode and content.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

chmod 755 "$T"
make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
mkdir -p "$T/lib/postgresql" "$T/victim"
chown nobody:nogroup "$T/lib/postgresql"
chmod 700 "$T/lib/postgresql" "$T/victim"
CERT_DIR=$T/lib/postgresql write_config "$T/nodeseal.json" '"owner": "nobody", "group": "nogroup"'

ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision into the datastore user's directory ($out)"
assert_eq "$(stat -c '%U:%G %a' "$T/lib/postgresql")" "nobody:nogroup 700" "the directory"
assert_eq "$(stat -c '%U:%G %a' "$T/lib/postgresql/tls.key")" "nobody:nogroup 640" "tls.key"
assert_eq "$(stat -c '%U:%G %a' "$T/lib/postgresql/tls.crt")" "nobody:nogroup 644" "tls.crt"
assert_eq "$(stat -c '%U:%G %a' "$T/lib/postgresql/ca.crt")" "nobody:nogroup 644" "ca.crt"
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check ($out)"

# The datastore's user replaces the key by a symlink to a root-only file.
echo "root's own" >"$T/victim/precious"
chmod 600 "$T/victim/precious"
cp "$T/ca/ca.crt" "$T/victim/ca-copy.pem"
chmod 600 "$T/victim/ca-copy.pem"
before=$(tree_of "$T/victim"; sha256sum "$T/victim"/*)
as_nobody ln -sf "$T/victim/precious" "$T/lib/postgresql/tls.key"
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision with a symlinked key ($out)"
[ -L "$T/lib/postgresql/tls.key" ] && fail "tls.key is still a symlink"
assert_eq "$(tree_of "$T/victim"; sha256sum "$T/victim"/*)" "$before" "the symlink's target"

# A hard link to a root-only file that holds the same CA certificate (what a user could make
# where fs.protected_hardlinks is 0; root makes it here): nodeseal must not chown or chmod it.
ln -f "$T/victim/ca-copy.pem" "$T/lib/postgresql/ca.crt"
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision with a hard-linked CA file ($out)"
assert_eq "$(stat -c '%U:%G %a %h' "$T/victim/ca-copy.pem")" "root:root 600 1" "the hard link's other name"
assert_eq "$(tree_of "$T/victim"; sha256sum "$T/victim"/*)" "$before" "the root-only directory"

ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check at the end ($out)"

# A directory of another non-root user than the files' owner is refused.
mkdir -m 700 "$T/lib/other"
chown daemon "$T/lib/other"
CERT_DIR=$T/lib/other write_config "$T/nodeseal.json" '"owner": "nobody", "group": "nogroup"'
ns -c "$T/nodeseal.json" provision
[ "$rc" -ne 0 ] || fail "provision into another user's directory ($out)"
assert_contains "$out" "Refusing $T/lib/other: $T/lib/other is owned by uid 1 (daemon)"
[ -z "$(ls -A "$T/lib/other")" ] || fail "files written into $T/lib/other"
pass
