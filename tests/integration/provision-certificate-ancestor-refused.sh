#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A certificate directory below a directory that a non-root user can write (owned by them, or
# writable by a group or by everyone without the sticky bit) is refused, naming that directory and
# who can write it; nothing is created below it. A root-owned sticky directory (like /tmp) is fine.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-cert.sh"

chmod 755 "$T"
make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
mkdir "$T/home" "$T/grp" "$T/ww" "$T/sticky"
chown nobody:nogroup "$T/home"
chgrp nogroup "$T/grp"
chmod 775 "$T/grp"
chmod 777 "$T/ww"
chmod 1777 "$T/sticky"

refused() {
        local dir=$1 parent=$2 reason=$3
        CERT_DIR=$dir write_config "$T/nodeseal.json"
        ns -c "$T/nodeseal.json" provision
        [ "$rc" -ne 0 ] || fail "provision accepted $dir below $parent ($out)"
        assert_contains "$out" "Refusing $dir: $parent $reason" "provision's message"
        [ ! -e "$dir" ] || fail "$dir was created below $parent"
}

# Like Debian's /var/lib/postgresql/NN, owned by the datastore's user.
refused "$T/home/tls" "$T/home" "is owned by uid 65534 (nobody), not root"
refused "$T/home/a/b/tls" "$T/home" "is owned by uid 65534 (nobody), not root"
refused "$T/grp/tls" "$T/grp" "is writable by group 65534 (nogroup)"
refused "$T/ww/tls" "$T/ww" "is writable by every user"

# The existing directory is as unsafe as a new one would be.
mkdir "$T/home/tls"
refused_existing() {
        CERT_DIR=$T/home/tls write_config "$T/nodeseal.json"
        ns -c "$T/nodeseal.json" provision
        [ "$rc" -ne 0 ] || fail "provision accepted $T/home/tls ($out)"
        assert_contains "$out" "Refusing $T/home/tls: $T/home is owned by uid 65534 (nobody), not root"
        [ -z "$(ls -A "$T/home/tls")" ] || fail "files written into $T/home/tls"
}
refused_existing

# Root's sticky world-writable directory: others cannot rename or remove root's entries in it.
CERT_DIR=$T/sticky/tls write_config "$T/nodeseal.json"
ns -c "$T/nodeseal.json" provision
assert_eq "$rc" 0 "provision below a sticky directory ($out)"
[ -f "$T/sticky/tls/tls.key" ] || fail "no key below the sticky directory"
pass
