#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# ca-rotate with the kubernetes source: each step prints the whole new CA Secret (what
# "kubectl replace -f -" takes), with the resourceVersion it was made from; applied with a PUT it
# moves the Secret to the next stage, a second run says there is nothing to do, and a manifest
# made from a Secret that changed since is refused by the API server (409). Nothing secret in the
# command's log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kube-lib.sh"

start_fake
make_ca "$T/ca"
remember_secret "$(sed -n 2p "$T/ca/ca.key")"
# Of type kubernetes.io/tls, as "nodeseal bootstrap" makes it (a Secret's type cannot change).
printf '{"metadata":{"name":"nodeseal-ca","namespace":"nodeseal"},"type":"kubernetes.io/tls","data":{"tls.crt":"%s","tls.key":"%s"}}' \
        "$(base64 -w0 <"$T/ca/ca.crt")" "$(base64 -w0 <"$T/ca/ca.key")" >"$T/ca-secret.json"
fk_post_file /fake/secrets "$T/ca-secret.json" >/dev/null
rm "$T/ca-secret.json"
write_config "$T/c.json"
put_secret() { kapi PUT /api/v1/namespaces/nodeseal/secrets/nodeseal-ca "@$1" >"$T/put.out"; }
stage() { "$NODESEAL" -c "$T/c.json" ca-rotate status 2>>"$LOGS/stderr"; }
key_of() { python3 -c 'import json,sys; print(sorted(json.load(open(sys.argv[1]))["data"]))' "$1"; }

assert_eq "$(stage)" none "stage before"
"$NODESEAL" -c "$T/c.json" ca-rotate prepare >"$T/prepare.json" 2>>"$LOGS/stderr" || fail "prepare: $(cat "$LOGS/stderr")"
assert_eq "$(key_of "$T/prepare.json")" "['ca.crt', 'next.crt', 'next.key', 'tls.crt', 'tls.key']" "keys after prepare"
grep -q '"resourceVersion": "[0-9]*"' "$T/prepare.json" || fail "no resourceVersion in the manifest"
remember_secret "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["next.key"][:60])' "$T/prepare.json")"
# Made now, applied after someone else changed the Secret: refused.
"$NODESEAL" -c "$T/c.json" ca-rotate prepare >"$T/stale.json" 2>>"$LOGS/stderr"
put_secret "$T/prepare.json"
grep -q '"resourceVersion"' "$T/put.out" || fail "PUT of the printed Secret failed: $(cat "$T/put.out")"
assert_eq "$(stage)" prepared "stage after prepare"
put_secret "$T/stale.json"
assert_contains "$(cat "$T/put.out")" '"code":409'
assert_eq "$(stage)" prepared "stage after a stale manifest"
# Twice: nothing printed, nothing to do.
ns -c "$T/c.json" ca-rotate prepare
assert_eq "$rc" 0 "prepare twice"
assert_contains "$out" "already prepared: nothing to do"
# nodeseal ca: old + new.
assert_eq "$("$NODESEAL" -c "$T/c.json" ca | grep -c BEGIN)" 2 "certificates in the bundle after prepare"

"$NODESEAL" -c "$T/c.json" ca-rotate activate >"$T/activate.json" 2>>"$LOGS/stderr" || fail "activate"
assert_eq "$(key_of "$T/activate.json")" "['ca.crt', 'previous.crt', 'previous.key', 'tls.crt', 'tls.key']" "keys after activate"
put_secret "$T/activate.json"
assert_eq "$(stage)" activated "stage after activate"
"$NODESEAL" -c "$T/c.json" ca-rotate finish >"$T/finish.json" 2>>"$LOGS/stderr" || fail "finish"
assert_eq "$(key_of "$T/finish.json")" "['ca.crt', 'tls.crt', 'tls.key']" "keys after finish"
put_secret "$T/finish.json"
assert_eq "$(stage)" none "stage after finish"
assert_eq "$("$NODESEAL" -c "$T/c.json" ca | grep -c BEGIN)" 1 "certificates in the bundle after finish"
cp "$T/c.json" "$LOGS/"
assert_no_secrets
pass
