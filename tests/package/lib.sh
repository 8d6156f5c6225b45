# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared helpers of the package tier: the Debian package and the container image are built once per
# state of the sources, into the build tree, whichever test (this tier or the vm one) needs them
# first; the others wait on a lock and reuse them.
#   need_deb     sets DEB to the .deb built from the current sources
#   need_image   sets IMAGE_DIR to the output of deploy/image/build-image for that .deb

set -euo pipefail

: "${BUILD_ROOT:?BUILD_ROOT must point at the meson build directory}"
SOURCE_ROOT=${SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PKG_OUT=$BUILD_ROOT/package

_pkg_name=$(basename "$0")
fail() { echo "[$_pkg_name] FAIL: $*" >&2; exit 1; }
skip() { echo "[$_pkg_name] SKIP: $*" >&2; exit 77; }
log() { echo "[$_pkg_name] $*" >&2; }

# sources_hash: what the package is built from (the files git knows, with their contents; the
# tests are not in the package).
sources_hash() {
        if git -C "$SOURCE_ROOT" rev-parse --git-dir > /dev/null 2>&1; then
                (cd "$SOURCE_ROOT" && git ls-files -z --cached --others --exclude-standard -- . ':!tests' |
                        xargs -0 -r sha256sum 2> /dev/null | sha256sum | cut -d' ' -f1)
        else
                date +%s%N # no git: build anew every time
        fi
}

# _built NAME COMMAND...: runs COMMAND under the tier's lock unless NAME's stamp matches the sources.
_built() {
        local name=$1 hash
        shift
        mkdir -p "$PKG_OUT"
        exec 9> "$PKG_OUT/.lock"
        flock 9
        hash=$(sources_hash)
        if [[ $(cat "$PKG_OUT/$name.stamp" 2> /dev/null) != "$hash" ]]; then
                rm -f "$PKG_OUT/$name.stamp"
                local t0=$SECONDS
                "$@" || { flock -u 9; return 1; }
                log "$name built in $((SECONDS - t0)) s"
                echo "$hash" > "$PKG_OUT/$name.stamp"
        fi
        flock -u 9
}

need_root() {
        [[ $(id -u) == 0 ]] || skip "building and installing Debian packages and image roots needs root"
}

need_deb() {
        need_root
        command -v dpkg-buildpackage > /dev/null || skip "dpkg-dev is not installed (tests/run-all installs it)"
        _built deb "$SOURCE_ROOT/deploy/package/build-deb" "$PKG_OUT/deb" > /dev/null || fail "deploy/package/build-deb failed"
        DEB=$(ls "$PKG_OUT"/deb/nodeseal_*_*.deb | grep -v dbgsym | head -n1)
        [[ -s $DEB ]] || fail "no .deb in $PKG_OUT/deb"
}

need_image() {
        need_deb
        command -v mmdebstrap > /dev/null || skip "mmdebstrap is not installed (tests/run-all installs it)"
        export NODESEAL_DEB=$DEB
        _built image "$SOURCE_ROOT/deploy/image/build-image" "$PKG_OUT/image" ||
                fail "deploy/image/build-image failed"
        IMAGE_DIR=$PKG_OUT/image
}
