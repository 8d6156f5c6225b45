#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# build-deb-lintian-clean: the Debian package builds with dpkg-buildpackage (debhelper 13, meson),
# lintian finds nothing (pedantic and info included; what is overridden is explained in
# debian/nodeseal.lintian-overrides and the README), and the package holds every file in its
# Debian place, the configuration as a conffile, the dependencies nodeseal needs, and maintainer
# scripts that enable nodeseal.service without starting it (nor stopping it on upgrade).
. "$(dirname "$(readlink -f "$0")")/lib.sh"
T=$(mktemp -d /tmp/nodeseal-pkg.XXXXXX)
trap 'rm -rf "$T"' EXIT

need_deb
log "package: $(basename "$DEB") ($(stat -c %s "$DEB") bytes)"

# lintian, as strict as it goes (not experimental): no tag at all may remain.
command -v lintian > /dev/null || skip "lintian is not installed (tests/run-all installs it)"
changes=$(ls "$PKG_OUT"/deb/nodeseal_*.changes)
rc=0
tags=$(lintian --pedantic --display-info --fail-on error,warning,info,pedantic "$changes" 2>&1 |
        grep -v '^running with root privileges is not recommended!$') || rc=$?
[[ -z $tags ]] || fail "lintian: $tags"

# The files in their Debian places (Debian 12: units in /lib/systemd/system).
dpkg-deb -c "$DEB" > "$T/listing"
awk '{ print $6 }' "$T/listing" | sed 's|^\./|/|' > "$T/contents"
for f in /usr/sbin/nodeseal \
        /lib/systemd/system/nodeseal.service \
        /lib/systemd/system/postgresql@.service.d/nodeseal.conf \
        /lib/systemd/system/postgresql.service.d/nodeseal.conf \
        /lib/systemd/system/mariadb.service.d/nodeseal.conf \
        /lib/systemd/system/mysql.service.d/nodeseal.conf \
        /lib/systemd/system/redis-server.service.d/nodeseal.conf \
        /usr/share/dbus-1/system.d/org.nodeseal.Agent1.conf \
        /usr/lib/tmpfiles.d/nodeseal.conf \
        /usr/libexec/nodeseal/hooks/postgresql /usr/libexec/nodeseal/hooks/mysql /usr/libexec/nodeseal/hooks/redis \
        /usr/share/man/man8/nodeseal.8.gz /usr/share/man/man5/nodeseal.json.5.gz \
        /usr/share/doc/nodeseal/copyright /usr/share/doc/nodeseal/README.Debian \
        /etc/nodeseal/nodeseal.json; do
        grep -qxF "$f" "$T/contents" || fail "$f is not in the package"
done
! grep -q '^/usr/lib/systemd/system\|^/usr/local\|^/etc/systemd\|^/etc/nodeseal/secrets' "$T/contents" ||
        fail "files outside their places: $(grep '^/usr/lib/systemd/system\|^/usr/local\|^/etc/systemd\|^/etc/nodeseal/secrets' "$T/contents")"
grep -q '^-rwxr-xr-x .* \./usr/libexec/nodeseal/hooks/postgresql$' "$T/listing" || fail "the hooks are not executable"

dpkg-deb -e "$DEB" "$T/control"
[[ $(cat "$T/control/conffiles") == /etc/nodeseal/nodeseal.json ]] ||
        fail "conffiles: '$(cat "$T/control/conffiles")', expected /etc/nodeseal/nodeseal.json alone"
depends=$(dpkg-deb -f "$DEB" Depends)
for d in e2fsprogs libcryptsetup12 libblkid1 libcurl4 libcjson1 libsystemd0 libmicrohttpd12 libssl3 libc6; do
        [[ $depends == *"$d"* ]] || fail "Depends lacks $d: $depends"
done
# nodeseal uses libcryptsetup, never the cryptsetup command.
[[ $depends != *cryptsetup-bin* ]] || fail "Depends names cryptsetup-bin: $depends"
[[ $(dpkg-deb -f "$DEB" Suggests) == *xfsprogs* ]] || fail "xfsprogs is not suggested"

# Enabled, never started by the installation; an upgrade neither stops nor restarts it.
grep -q "deb-systemd-helper enable 'nodeseal.service'" "$T/control/postinst" || fail "postinst does not enable nodeseal.service"
! grep -qE 'deb-systemd-invoke (start|restart|try-restart)|systemctl (start|restart)' "$T/control/postinst" ||
        fail "postinst starts nodeseal.service"
! grep -qs 'deb-systemd-invoke stop' "$T/control/preinst" "$T/control/prerm" || fail "an upgrade or removal stops nodeseal.service"
grep -q 'systemd-tmpfiles .*--create nodeseal.conf' "$T/control/postinst" || fail "postinst does not create /run/nodeseal"

# The shipped configuration is valid and does nothing: the packaged binary accepts it, and provision
# and check succeed with no Secrets anywhere (no volume, no certificate).
dpkg-deb -x "$DEB" "$T/root"
jq -e '.volumes == [] and .certificates == []' "$T/root/etc/nodeseal/nodeseal.json" > /dev/null ||
        fail "the shipped configuration has volumes or certificates"
jq '. + {"runtime_directory": "'"$T"'/run"}' "$T/root/etc/nodeseal/nodeseal.json" > "$T/nodeseal.json"
for verb in provision check; do
        rc=0
        out=$("$T/root/usr/sbin/nodeseal" --config "$T/nodeseal.json" --log-format text "$verb" 2>&1) || rc=$?
        ((rc == 0)) || fail "nodeseal $verb with the shipped configuration exited $rc: $out"
done
[[ $out == *"0 volume(s) and 0 certificate(s) in place"* ]] || fail "check with the shipped configuration: $out"
# The units name the packaged binary.
grep -qx 'ExecStart=/usr/sbin/nodeseal run' "$T/root/lib/systemd/system/nodeseal.service" || fail "ExecStart in nodeseal.service"
grep -qx 'ExecStartPre=/usr/sbin/nodeseal check --quiet' "$T/root/lib/systemd/system/postgresql@.service.d/nodeseal.conf" ||
        fail "ExecStartPre in the postgresql@ drop-in"
strings "$T/root/usr/sbin/nodeseal" | grep -x /usr/libexec/nodeseal/hooks >/dev/null || fail "the binary does not look for the hooks in /usr/libexec/nodeseal/hooks"

# Built out of tree: the repository has no build products of dpkg-buildpackage.
for f in debian/nodeseal debian/.debhelper debian/files debian/debhelper-build-stamp obj-x86_64-linux-gnu; do
        [[ ! -e $SOURCE_ROOT/$f ]] || fail "the package build left $f in the source tree"
done
log "pass"
