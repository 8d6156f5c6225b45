#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# image-chroot-provision-certificates: the DaemonSet's image, built with no registry (mmdebstrap from
# Debian's packages plus nodeseal's .deb, imported with podman), is small and works. This machine
# cannot run containers (its rlimits refuse them), so the image's own root - the layer of the OCI
# archive, or the root tarball where podman could not import - is unpacked and entered with chroot:
# every shared library nodeseal and mkfs.ext4 need is there (ldd), and nodeseal --version,
# bootstrap --directory, a certificates-only provision and check work in it.
. "$(dirname "$(readlink -f "$0")")/lib.sh"
T=$(mktemp -d /tmp/nodeseal-img.XXXXXX)
root=$T/root
cleanup() {
        umount "$root/proc" 2> /dev/null || true
        umount "$root/dev" 2> /dev/null || true
        rm -rf "$T"
}
trap cleanup EXIT

need_image
version=$(sed -n '1s/^nodeseal (\([^-)]*\).*/\1/p' "$SOURCE_ROOT/debian/changelog")
image=localhost/nodeseal:$version
archive=$IMAGE_DIR/nodeseal-$version.oci.tar
tarball=$IMAGE_DIR/nodeseal-rootfs-$version.tar

# The manifests run the image the build produces.
grep -q "image: $image\$" "$SOURCE_ROOT/deploy/kubernetes/daemonset.yaml" ||
        fail "deploy/kubernetes/daemonset.yaml does not name $image"

mkdir -p "$root" "$T/oci"
if [[ -s $archive ]]; then
        # The OCI archive: its index names the image, its config runs nodeseal, its one layer is the root.
        tar -C "$T/oci" -xf "$archive"
        assert_ref=$(jq -r '.manifests[0].annotations["org.opencontainers.image.ref.name"]' "$T/oci/index.json")
        [[ $assert_ref == "$image" ]] || fail "the OCI archive's image is '$assert_ref', not $image"
        manifest=$T/oci/blobs/$(jq -r '.manifests[0].digest' "$T/oci/index.json" | tr : /)
        config=$T/oci/blobs/$(jq -r '.config.digest' "$manifest" | tr : /)
        [[ $(jq -c .config.Cmd "$config") == '["/usr/sbin/nodeseal","run"]' ]] || fail "image Cmd: $(jq -c .config.Cmd "$config")"
        [[ $(jq -r '.layers | length' "$manifest") == 1 ]] || fail "the image has $(jq -r '.layers | length' "$manifest") layers"
        layer=$T/oci/blobs/$(jq -r '.layers[0].digest' "$manifest" | tr : /)
        tar -C "$root" --numeric-owner -xzf "$layer"
        log "image $image: OCI archive $(du -h "$archive" | cut -f1), layer $(du -h "$layer" | cut -f1) compressed"
else
        log "no OCI archive (podman could not import here: $(tail -n 3 "$IMAGE_DIR/podman.log" 2> /dev/null | tr '\n' ' ')); testing the root tarball"
        tar -C "$root" --numeric-owner -xf "$tarball"
fi
size_mb=$(du -sm --apparent-size "$root" | cut -f1)
log "the image's root: $size_mb MB"
((size_mb < 100)) || fail "the image's root is $size_mb MB: it should hold the essential set, nodeseal and its libraries only"

# Nothing of the build machine in it, no documentation, the package installed by dpkg.
[[ ! -e $root/work && ! -e $root$PKG_OUT ]] || fail "the image holds the build machine's paths"
[[ -z $(ls "$root/usr/share/man" 2> /dev/null) ]] || fail "man pages in the image"
in_root() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 chroot "$root" "$@"; }
in_root dpkg-query -W -f '${Status}\n' nodeseal | grep -x "install ok installed" >/dev/null || fail "nodeseal is not installed in the image"
in_root dpkg -L nodeseal > "$T/files"
for f in /usr/sbin/nodeseal /etc/nodeseal/nodeseal.json /lib/systemd/system/nodeseal.service; do
        grep -qxF "$f" "$T/files" || fail "dpkg -L nodeseal in the image lacks $f"
done
[[ $(in_root dpkg-query -W -f '${Status}' apt 2> /dev/null) != "install ok installed" ]] || fail "apt is in the image"

# Every library there (ldd runs the image's own loader).
for b in /usr/sbin/nodeseal /usr/sbin/mkfs.ext4; do
        in_root ldd "$b" > "$T/ldd" 2>&1 || fail "ldd $b in the image: $(cat "$T/ldd")"
        ! grep -q "not found" "$T/ldd" || fail "libraries missing in the image for $b: $(grep 'not found' "$T/ldd")"
done
in_root mkfs.ext4 -V > /dev/null 2>&1 || fail "mkfs.ext4 does not run in the image"

mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
out=$(in_root nodeseal --version) || fail "nodeseal --version in the image"
[[ $out == "nodeseal $version" ]] || fail "nodeseal --version: '$out'"
# The shipped configuration: nothing to do, and check says so.
out=$(in_root nodeseal check 2>&1) || fail "nodeseal check with the image's configuration: $out"

# bootstrap --directory, then the certificate half of provision (no device-mapper here) and check.
in_root nodeseal bootstrap --directory /var/lib/nodeseal/secrets --node node-1 > "$T/bootstrap.log" 2>&1 ||
        fail "nodeseal bootstrap --directory in the image: $(cat "$T/bootstrap.log")"
cat > "$root/etc/nodeseal/certs-only.json" <<-JSON
{ "node_name": "node-1",
  "secrets": { "source": "directory", "directory": "/var/lib/nodeseal/secrets" },
  "certificates": [ { "name": "node", "profile": "generic", "directory": "/var/lib/nodeseal/tls",
                      "dns_names": ["{node}", "{node}.db.example.internal"] } ] }
JSON
out=$(in_root nodeseal --config /etc/nodeseal/certs-only.json --log-format json provision 2>&1) ||
        fail "nodeseal provision in the image: $out"
out=$(in_root nodeseal --config /etc/nodeseal/certs-only.json check 2>&1) || fail "nodeseal check in the image: $out"
[[ $out == *"0 volume(s) and 1 certificate(s) in place"* ]] || fail "nodeseal check in the image: $out"
cert=$(ls "$root"/var/lib/nodeseal/tls/*.crt | grep -v -e ca.crt -e root.crt | head -n1)
openssl verify -CAfile "$root/var/lib/nodeseal/secrets/nodeseal-ca/tls.crt" -purpose sslserver "$cert" > /dev/null ||
        fail "the certificate issued in the image does not verify"
openssl x509 -in "$cert" -noout -ext subjectAltName | grep "DNS:node-1.db.example.internal" >/dev/null ||
        fail "the certificate issued in the image lacks its SAN"
in_root nodeseal --config /etc/nodeseal/certs-only.json ca | openssl x509 -noout > /dev/null || fail "nodeseal ca in the image"
log "pass"
