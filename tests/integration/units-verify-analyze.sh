#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# systemd-analyze verify accepts the installed units and drop-ins (with the installed binary's path
# pointed at the one under the temporary root, so that verify finds it), the service keeps its
# gate settings, and no setting gives it a mount namespace of its own (its mounts must be seen by
# the datastore).
. "$(dirname "$0")/lib.sh"
: "${BUILD_ROOT:?BUILD_ROOT must point at the meson build directory}"
command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (package systemd)"

meson install -C "$BUILD_ROOT" --destdir "$T/root" --no-rebuild --quiet >"$T/install.log" 2>&1 ||
        fail "meson install failed: $(cat "$T/install.log")"
prefix=$(meson introspect "$BUILD_ROOT" --buildoptions | jq -r '.[] | select(.name == "prefix") | .value')
mkdir -p "$T/units"
cp -r "$T/root$prefix/lib/systemd/system/." "$T/units/"
# The units name $prefix/sbin/nodeseal; under the temporary root it is $T/root$prefix/sbin/nodeseal.
find "$T/units" -type f -exec sed -i "s|$prefix/|$T/root$prefix/|g" {} +
# Stand-ins for the datastores' own units, so that the drop-ins are verified on any host.
for u in postgresql@.service postgresql.service mariadb.service mysql.service redis-server.service; do
        printf '[Unit]\nDescription=stand-in for %s\n[Service]\nExecStart=/bin/true\n' "$u" >"$T/units/$u"
done

set +e
out=$(SYSTEMD_UNIT_PATH=$T/units: systemd-analyze verify --man=no "$T/units/nodeseal.service" \
        postgresql@15-main.service postgresql.service mariadb.service mysql.service redis-server.service 2>&1)
rc=$?
set -e
assert_eq "$rc" 0 "systemd-analyze verify ($out)"
[ -z "$out" ] || fail "systemd-analyze verify complained: $out"

# verify reads the drop-ins: a broken one must fail it (the check above can fail).
printf '[Service]\nExecStartPre=%s/no/such/binary check\n' "$T" >"$T/units/redis-server.service.d/broken.conf"
set +e
out=$(SYSTEMD_UNIT_PATH=$T/units: systemd-analyze verify --man=no redis-server.service 2>&1)
set -e
assert_contains "$out" "no/such/binary" "verify of a broken drop-in"
rm "$T/units/redis-server.service.d/broken.conf"

unit=$(cat "$T/units/nodeseal.service")
for setting in Type=notify TimeoutStartSec=infinity Restart=on-failure WatchdogSec= NoNewPrivileges=yes \
        LockPersonality=yes RestrictRealtime=yes MemoryDenyWriteExecute=yes SystemCallArchitectures=native \
        LimitCORE=0; do
        assert_contains "$unit" "$setting" "nodeseal.service"
done
# mlockall() needs it: keys and Secret bodies stay out of swap.
grep -q '^CapabilityBoundingSet=.*CAP_IPC_LOCK' "$T/units/nodeseal.service" ||
        fail "nodeseal.service's CapabilityBoundingSet= lacks CAP_IPC_LOCK (mlockall)"
for setting in ProtectSystem ProtectHome PrivateTmp PrivateDevices ProtectKernelTunables ProtectKernelModules \
        ProtectControlGroups ReadOnlyPaths ReadWritePaths InaccessiblePaths TemporaryFileSystem PrivateMounts \
        MountFlags RootDirectory ProtectClock ProtectKernelLogs; do
        ! grep -q "^$setting=" "$T/units/nodeseal.service" ||
                fail "nodeseal.service sets $setting=, which gives it a mount namespace or device policy of its own"
done
pass
