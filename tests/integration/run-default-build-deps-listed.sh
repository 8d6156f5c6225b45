#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The README's first command (deploy/local/run-default) builds nodeseal on a fresh machine, so it
# must install every library the build needs: each -dev package of debian/control's Build-Depends
# is in its package list (CI installs them all first, so only this check would notice one missing).
. "$(dirname "$0")/lib.sh"

deps=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$SOURCE_ROOT/debian/control" | grep -o 'lib[a-z0-9.+-]*-dev' | sort -u)
[ -n "$deps" ] || fail "no -dev packages found in debian/control's Build-Depends"
listed=$(sed -n '/^packages=(/,/)/p' "$SOURCE_ROOT/deploy/local/run-default")
for d in $deps; do
        grep -qw -- "$d" <<<"$listed" || fail "deploy/local/run-default does not install $d (a Build-Depends of debian/control)"
done
pass
