#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# install-package-enabled-not-started: the Debian package on a real systemd boot, as an operator
# installs it on a running machine (which is what shows --no-start: installed before the boot, the
# enabled unit would simply start with it).
#  1. dpkg -i of the .deb built by deploy/package/build-deb: every file in its place (dpkg -L),
#     nodeseal.service enabled but never started, /run/nodeseal created, the datastore drop-ins
#     applied from /lib/systemd/system;
#  2. the operator's steps: bootstrap --directory /etc/nodeseal/secrets, a volume and a certificate
#     in /etc/nodeseal/nodeseal.json, systemctl start: the installed unit, binary and D-Bus policy
#     (Describe() as nobody) provision the blank disk as LUKS2 and report ready;
#  3. dpkg --remove keeps the configuration, dpkg --purge removes it and the enablement and nothing
#     else: the keys, the certificates and the volume's data stay, the volume stays open and
#     mounted, the running daemon is not stopped by either.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	[[ -x /lib/systemd/systemd ]] || skip "the host has no systemd to boot"
	[[ ! -e /lib/systemd/system/nodeseal.service ]] || skip "nodeseal is installed on the host: the guest (the host's root) would not start clean"
	# The .deb, built once per state of the sources into the build tree (tests/package/lib.sh).
	. "$(dirname "$(readlink -f "$0")")/../package/lib.sh"
	. "$(dirname "$(readlink -f "$0")")/lib.sh"
	need_deb
	scratch_dir
	make_disk "$SCRATCH/disk.img" 256
	cp "$DEB" "$SCRATCH/nodeseal.deb"
	rc=0
	vm_run_self --systemd --timeout 600 --mem 1024 --disk "$SCRATCH/disk.img,serial=nsvm-pkg" \
		--share "$SCRATCH:$SCRATCH" --env "SCRATCH=$SCRATCH" -- install || rc=$?
	((rc == 0)) || fail "the guest failed ($rc)"
	assert_eq crypto_LUKS "$(blkid -p -o value -s TYPE "$SCRATCH/disk.img")" "the disk after the boot"
	! LC_ALL=C grep -q -a -F NODESEAL-VM-PLAINTEXT "$SCRATCH/disk.img" || fail "plaintext on the raw disk"
	log "pass"
	exit 0
fi

# --- in the guest ------------------------------------------------------------------------------------
[[ ${1:-} == --guest ]] && shift
map=/dev/mapper/nodeseal-data
[[ $1 == install ]] || fail "unknown step '$1'"
[[ ! -e /usr/sbin/nodeseal ]] || fail "/usr/sbin/nodeseal exists before the installation"

log "1. dpkg -i (${SECONDS} s after the command started)"
# man-db's trigger would rebuild the whole manual database under TCG for two pages: Debian's own
# switch for it (man-db/auto-update) turned off in this throwaway root.
rm -f /var/lib/man-db/auto-update
dpkg -i "$SCRATCH/nodeseal.deb" > "$SCRATCH/dpkg-i.log" 2>&1 || fail "dpkg -i: $(cat "$SCRATCH/dpkg-i.log")"
dpkg -L nodeseal > "$SCRATCH/files"
for f in /usr/sbin/nodeseal /lib/systemd/system/nodeseal.service /lib/systemd/system/postgresql@.service.d/nodeseal.conf \
	/lib/systemd/system/mariadb.service.d/nodeseal.conf /lib/systemd/system/redis-server.service.d/nodeseal.conf \
	/usr/share/dbus-1/system.d/org.nodeseal.Agent1.conf /usr/lib/tmpfiles.d/nodeseal.conf \
	/usr/libexec/nodeseal/hooks/postgresql /usr/share/man/man8/nodeseal.8.gz /etc/nodeseal/nodeseal.json; do
	grep -qxF "$f" "$SCRATCH/files" || fail "dpkg -L nodeseal lacks $f"
	[[ -e $f ]] || fail "$f is listed but not there"
done
assert_eq /etc/nodeseal/nodeseal.json "$(dpkg-query -W -f '${Conffiles}' nodeseal | awk 'NF { print $1 }')" "conffiles"
assert_eq enabled "$(systemctl is-enabled nodeseal.service)" "nodeseal.service after dpkg -i"
assert_eq inactive "$(systemctl is-active nodeseal.service || true)" "nodeseal.service after dpkg -i"
assert_eq 0 "$(systemctl show -P ExecMainStartTimestampMonotonic nodeseal.service)" "nodeseal.service's start time"
assert_eq /lib/systemd/system/nodeseal.service "$(systemctl show -P FragmentPath nodeseal.service)" "the unit's file"
[[ -d /run/nodeseal ]] || fail "/run/nodeseal was not created (tmpfiles)"
pg_unit=postgresql@15-main.service
[[ $(systemctl show -P DropInPaths "$pg_unit") == */lib/systemd/system/postgresql@.service.d/nodeseal.conf* ]] ||
	fail "the packaged drop-in is not applied to $pg_unit: $(systemctl show -P DropInPaths "$pg_unit")"
[[ $(systemctl show -P Requires "$pg_unit") == *nodeseal.service* ]] || fail "$pg_unit does not require nodeseal.service"

log "2. configured and started (${SECONDS} s)"
nodeseal bootstrap --directory /etc/nodeseal/secrets --node vm-node --volume data > /dev/null
cat > /etc/nodeseal/nodeseal.json <<-JSON
{ "node_name": "vm-node",
  "secrets": { "source": "directory", "directory": "/etc/nodeseal/secrets" },
  "volumes": [ { "name": "data", "device": "/dev/disk/by-id/virtio-nsvm-pkg", "mountpoint": "/srv/pkgdata" } ],
  "certificates": [ { "name": "node", "profile": "generic", "directory": "/srv/pkgdata/tls", "dns_names": ["{node}"] } ] }
JSON
timeout 300 systemctl start nodeseal.service || fail "systemctl start nodeseal.service: $(systemctl show -P StatusText nodeseal.service)"
assert_eq active "$(systemctl is-active nodeseal.service)" "nodeseal.service"
assert_eq /usr/sbin/nodeseal "$(readlink "/proc/$(systemctl show -P MainPID nodeseal.service)/exe")" "the daemon's binary"
assert_eq "b true" "$(busctl --system get-property org.nodeseal.Agent1 /org/nodeseal/Agent1 org.nodeseal.Agent1 Ready)" "Ready"
# Describe() as nobody: allowed by the packaged policy alone (the bus's default denies method calls).
describe() {
	setpriv --reuid=65534 --regid=65534 --clear-groups busctl --system --json=short call org.nodeseal.Agent1 \
		/org/nodeseal/Agent1 org.nodeseal.Agent1 Describe | jq -r '.data[0]' | jq -r .state
}
assert_eq ready "$(describe)" "Describe() as nobody"
! setpriv --reuid=65534 --regid=65534 --clear-groups busctl --system call org.nodeseal.Agent1 /org/nodeseal/Agent1 \
	org.nodeseal.Agent1 Reconcile > /dev/null 2>&1 || fail "Reconcile() as nobody was allowed"
mounted_from /srv/pkgdata "$map" || fail "/srv/pkgdata is not mounted from $map"
nodeseal check --quiet || fail "nodeseal check"
echo "NODESEAL-VM-PLAINTEXT packaged" > /srv/pkgdata/marker
sync
keys=$(cd /etc/nodeseal/secrets && find . -type f -exec sha256sum {} + | sort)
cert=$(sha256sum < /srv/pkgdata/tls/tls.crt)

log "3. remove, then purge (${SECONDS} s)"
dpkg --remove nodeseal > "$SCRATCH/dpkg-r.log" 2>&1 || fail "dpkg --remove: $(cat "$SCRATCH/dpkg-r.log")"
[[ ! -e /usr/sbin/nodeseal && ! -e /lib/systemd/system/nodeseal.service ]] || fail "files left after remove"
[[ -s /etc/nodeseal/nodeseal.json ]] || fail "remove took the configuration"
assert_eq active "$(systemctl is-active nodeseal.service)" "nodeseal.service after remove"
dpkg --purge nodeseal > "$SCRATCH/dpkg-p.log" 2>&1 || fail "dpkg --purge: $(cat "$SCRATCH/dpkg-p.log")"
[[ ! -e /etc/nodeseal/nodeseal.json ]] || fail "purge left the conffile"
[[ ! -e /etc/systemd/system/multi-user.target.wants/nodeseal.service ]] || fail "purge left the enablement"
assert_eq "$keys" "$(cd /etc/nodeseal/secrets && find . -type f -exec sha256sum {} + | sort)" "the keys after purge"
assert_eq "$cert" "$(sha256sum < /srv/pkgdata/tls/tls.crt)" "the certificate after purge"
assert_eq "NODESEAL-VM-PLAINTEXT packaged" "$(cat /srv/pkgdata/marker)" "the volume's data after purge"
mounted_from /srv/pkgdata "$map" || fail "the volume was unmounted by the purge"
assert_eq active "$(systemctl is-active nodeseal.service)" "nodeseal.service after purge"
# The operator stops the old daemon; by default that leaves the volume open and mounted.
systemctl stop nodeseal.service
mounted_from /srv/pkgdata "$map" || fail "the volume was unmounted by the stop"
umount /srv/pkgdata
cryptsetup close nodeseal-data
log "ok (${SECONDS} s)"
