#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A symlink that a non-root user planted on the way to a certificate directory (or the runtime
# directory) is refused, naming it, and its target (a root-only directory) stays untouched: the
# classic attack through a world-writable sticky directory such as /tmp.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

chmod 755 "$T"
make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
mkdir -m 700 "$T/victim"
echo "root's own" >"$T/victim/precious"
chmod 600 "$T/victim/precious"
mkdir "$T/shared"
chmod 1777 "$T/shared"
as_nobody ln -s "$T/victim" "$T/shared/tls"
as_nobody ln -s "$T/victim" "$T/shared/run"
before=$(tree_of "$T/victim")

refused() {
        local what=$1 link=$2
        ns -c "$T/nodeseal.json" provision
        [ "$rc" -ne 0 ] || fail "$what: provision followed the symlink ($out)"
        assert_contains "$out" "$link is a symbolic link" "$what: provision's message"
        assert_eq "$(tree_of "$T/victim")" "$before" "$what: the symlink's target"
}

# The certificate directory is the symlink.
CERT_DIR=$T/shared/tls write_config "$T/nodeseal.json"
refused "certificate directory" "$T/shared/tls"

# The symlink is one of its parents (the rest would be created below it).
CERT_DIR=$T/shared/tls/postgresql write_config "$T/nodeseal.json"
refused "parent of the certificate directory" "$T/shared/tls"

# The runtime directory (which gets the CA trust bundle) is the symlink.
RUN_DIR=$T/shared/run write_config "$T/nodeseal.json"
refused "runtime directory" "$T/shared/run"

# check refuses it too, rather than reading through it.
CERT_DIR=$T/shared/tls write_config "$T/nodeseal.json"
ns -c "$T/nodeseal.json" check
[ "$rc" -ne 0 ] || fail "check passed through the symlink ($out)"

# Without the symlinks, the same configuration works.
rm "$T/shared/tls" "$T/shared/run"
mkdir "$T/shared/tls"
CERT_DIR=$T/shared/tls write_config "$T/nodeseal.json"
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision without the symlink ($out)"
ns -c "$T/nodeseal.json" check
assert_eq "$rc" 0 "check without the symlink ($out)"
assert_eq "$(tree_of "$T/victim")" "$before" "the root-only directory at the end"
pass
