#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# provision-generated-key-kubernetes: the kubernetes source (the fake API server on the guest's
# loopback) with generate_missing_keys: a blank disk gets a new key that is in the Secret before
# the disk is formatted, and that key (read back from the API) opens it. Without the option, a
# missing key formats nothing. Two nodes racing to create the same Secret end with one key that
# opens both their disks.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"

if ! in_guest; then
	vm_require
	scratch_dir
	for d in a b c; do make_disk "$SCRATCH/$d.img" 64; done
	: "${SOURCE_ROOT:=$(cd "$VM_DIR/../.." && pwd)}"
	vm_nodeseal_self --copy "$SOURCE_ROOT/tests/fake-kube:/run/nodeseal-fake-kube" \
		--disk "$SCRATCH/a.img" --disk "$SCRATCH/b.img" --disk "$SCRATCH/c.img"
	exit 0
fi

# --- in the guest ---------------------------------------------------------------------------------
ctl=/run/nodeseal-fake-kube/fake-kube-ctl
eval "$("$ctl" start "$SCRATCH/fake" --namespace nodeseal)"
trap '"$ctl" stop "$SCRATCH/fake" || true' EXIT
cp "$FAKE_KUBE_DIR/token" "$SCRATCH/token"
chmod 0600 "$SCRATCH/token"

# kube_config FILE GENERATE KEYS-SECRET VOLUME-JSON
kube_config() {
	cat > "$1" <<-JSON
	{ "node_name": "vm-node", "runtime_directory": "/run/nodeseal-test",
	  "secrets": { "source": "kubernetes", "keys_secret": "$3",
	    "kubernetes": { "api_url": "$FAKE_KUBE_URL", "ca_file": "$FAKE_KUBE_CA", "token_file": "$SCRATCH/token",
	                    "namespace": "nodeseal", "generate_missing_keys": $2 } },
	  "retry": { "initial_sec": 0.2, "max_sec": 1, "max_attempts": 3 },
	  "volumes": [ $4 ] }
	JSON
}
# secret_key SECRET KEY OUT: the key's bytes as the API server has them.
secret_key() {
	curl -sS --cacert "$FAKE_KUBE_CA" -H @<(printf 'Authorization: Bearer %s\n' "$(cat "$SCRATCH/token")") \
		"$FAKE_KUBE_URL/api/v1/namespaces/nodeseal/secrets/$1" |
		python3 -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(sys.stdin)["data"][sys.argv[1]]))' "$2" > "$3"
}

# Generation off, key missing: nothing formatted.
kube_config "$SCRATCH/off.json" false nodeseal-keys-vm-node "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$SCRATCH/a\" }"
NS_CONFIG=$SCRATCH/off.json
before=$(sha256_of /dev/vda)
ns provision
assert_eq 1 "$rc" "provision without the key and without generation"
assert_contains "$out" "Secret nodeseal-keys-vm-node not found in namespace nodeseal"
assert_eq "$before" "$(sha256_of /dev/vda)" "blank disk after a refused provision"
assert_eq "" "$(blkid -p -o value -s TYPE /dev/vda || true)" "vda still blank"

# Generation on: the Secret is created, then the disk formatted with what the Secret holds.
kube_config "$SCRATCH/on.json" true nodeseal-keys-vm-node "{ \"name\": \"data\", \"device\": \"/dev/vda\", \"mountpoint\": \"$SCRATCH/a\" }"
NS_CONFIG=$SCRATCH/on.json
ns_ok provision
assert_contains "$out" "key \"data\" missing from Secret nodeseal-keys-vm-node; creating it"
secret_key nodeseal-keys-vm-node data "$SCRATCH/a.key"
assert_eq 64 "$(stat -c %s "$SCRATCH/a.key")" "size of the generated key"
! grep -qF "$(base64 -w0 < "$SCRATCH/a.key")" <<< "$out" || fail "the key (base64) is in nodeseal's output"
ns_ok check
echo data-a > "$SCRATCH/a/f"
ns_ok close
cryptsetup open --test-passphrase --key-file "$SCRATCH/a.key" /dev/vda || fail "the key in the Secret does not open the disk"
# A rerun uses the stored key, creates nothing.
ns_ok provision
[[ $out != *creating* && $out != *formatting* ]] || fail "rerun generated or formatted again: $out"
assert_eq data-a "$(cat "$SCRATCH/a/f")" "data after the rerun"
ns_ok close

# Two nodes racing to create the same Secret (same key name, their own disks): one key wins,
# both disks open with it.
for d in b c; do
	kube_config "$SCRATCH/$d.json" true nodeseal-keys-shared \
		"{ \"name\": \"shared$d\", \"key\": \"data\", \"device\": \"/dev/vd$d\", \"mountpoint\": \"$SCRATCH/$d\" }"
done
"$NODESEAL" --config "$SCRATCH/b.json" provision > "$SCRATCH/b.log" 2>&1 &
pb=$!
"$NODESEAL" --config "$SCRATCH/c.json" provision > "$SCRATCH/c.log" 2>&1 &
pc=$!
wait "$pb" || { cat "$SCRATCH/b.log" >&2; fail "node b failed"; }
wait "$pc" || { cat "$SCRATCH/c.log" >&2; fail "node c failed"; }
secret_key nodeseal-keys-shared data "$SCRATCH/shared.key"
for d in b c; do
	NS_CONFIG=$SCRATCH/$d.json
	ns_ok close
	cryptsetup open --test-passphrase --key-file "$SCRATCH/shared.key" /dev/vd$d ||
		fail "the one key in the Secret does not open /dev/vd$d"
done
log "ok"
