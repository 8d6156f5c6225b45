#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# meson install --destdir puts everything in place: the binary, units, drop-ins, the D-Bus policy,
# tmpfiles.d, the reload hooks (executable) and the man pages; the units name the installed binary.
. "$(dirname "$0")/lib.sh"
: "${BUILD_ROOT:?BUILD_ROOT must point at the meson build directory}"

meson install -C "$BUILD_ROOT" --destdir "$T/root" --no-rebuild --quiet >"$T/install.log" 2>&1 ||
        fail "meson install failed: $(cat "$T/install.log")"
prefix=$(meson introspect "$BUILD_ROOT" --buildoptions | jq -r '.[] | select(.name == "prefix") | .value')
sbindir=$(meson introspect "$BUILD_ROOT" --buildoptions | jq -r '.[] | select(.name == "sbindir") | .value')
datadir=$(meson introspect "$BUILD_ROOT" --buildoptions | jq -r '.[] | select(.name == "datadir") | .value')
libexecdir=$(meson introspect "$BUILD_ROOT" --buildoptions | jq -r '.[] | select(.name == "libexecdir") | .value')
mandir=$(meson introspect "$BUILD_ROOT" --buildoptions | jq -r '.[] | select(.name == "mandir") | .value')
r=$T/root$prefix
units=$r/lib/systemd/system

[ -x "$r/$sbindir/nodeseal" ] || fail "no $prefix/$sbindir/nodeseal"
for f in "$units/nodeseal.service" "$r/$datadir/dbus-1/system.d/org.nodeseal.Agent1.conf" \
        "$r/lib/tmpfiles.d/nodeseal.conf" "$r/$mandir/man8/nodeseal.8" "$r/$mandir/man5/nodeseal.json.5"; do
        [ -s "$f" ] || fail "not installed: ${f#"$T/root"}"
done
for u in postgresql@.service postgresql.service mariadb.service mysql.service redis-server.service; do
        [ -s "$units/$u.d/nodeseal.conf" ] || fail "no drop-in for $u"
        assert_contains "$(cat "$units/$u.d/nodeseal.conf")" "ExecStartPre=$prefix/$sbindir/nodeseal check" "$u drop-in"
        assert_contains "$(cat "$units/$u.d/nodeseal.conf")" "Requires=nodeseal.service" "$u drop-in"
done
for h in postgresql mysql redis; do
        [ -x "$r/$libexecdir/nodeseal/hooks/$h" ] || fail "hook $h not installed executable"
done
assert_contains "$(cat "$units/nodeseal.service")" "ExecStart=$prefix/$sbindir/nodeseal run"
assert_contains "$(cat "$r/lib/tmpfiles.d/nodeseal.conf")" "d /run/nodeseal 0755 root root"
# The binary looks for the hooks where they were installed.
grep -qF "$prefix/$libexecdir/nodeseal/hooks" "$r/$sbindir/nodeseal" || fail "the binary does not name the hooks directory"
# The man pages are well-formed roff.
if command -v groff >/dev/null; then
        for m in "$r/$mandir/man8/nodeseal.8" "$r/$mandir/man5/nodeseal.json.5"; do
                w=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
                [ -z "$w" ] || fail "groff warnings for ${m##*/}: $w"
        done
fi
pass
