#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Certificate issuance per key type: "nodeseal provision" issuing a node certificate (directory
# source, certificates only, the certificate directory emptied before each run) against the
# openssl CLI doing the same (a key, a CSR, the certificate signed by the CA with the same SANs,
# EKUs, key usage and key identifiers); and nodeseal's issuance in process (bench-issue: the
# library's certificate_provision_full() in a loop, no process start, no config or CA to read).
. "$(dirname "$0")/lib.sh"
. "$SOURCE_ROOT/tests/integration/lib-cert.sh"
: "${BENCH_ISSUE:?BENCH_ISSUE must point at the bench-issue program}"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca"
cat >"$T/openssl-issue.sh" <<'SH'
#!/bin/sh
# openssl-issue.sh KEY_TYPE CADIR OUTDIR: what a user would run to issue a node certificate.
set -e
case $1 in
ec-p256) alg="-algorithm EC -pkeyopt ec_paramgen_curve:P-256" ku=digitalSignature ;;
ec-p384) alg="-algorithm EC -pkeyopt ec_paramgen_curve:P-384" ku=digitalSignature ;;
rsa-2048) alg="-algorithm RSA -pkeyopt rsa_keygen_bits:2048" ku=digitalSignature,keyEncipherment ;;
rsa-3072) alg="-algorithm RSA -pkeyopt rsa_keygen_bits:3072" ku=digitalSignature,keyEncipherment ;;
ed25519) alg="-algorithm ED25519" ku=digitalSignature ;;
esac
mkdir -p "$3"
umask 077
openssl genpkey $alg -out "$3/tls.key"
openssl req -new -key "$3/tls.key" -subj "/CN=node-1" -out "$3/tls.csr"
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,$ku" "extendedKeyUsage=serverAuth,clientAuth" \
        "subjectAltName=DNS:node-1,DNS:localhost,IP:127.0.0.1" "subjectKeyIdentifier=hash" \
        "authorityKeyIdentifier=keyid" >"$3/ext.cnf"
openssl x509 -req -in "$3/tls.csr" -CA "$2/ca.crt" -CAkey "$2/ca.key" -days 90 -extfile "$3/ext.cnf" -out "$3/tls.crt" 2>/dev/null
SH
chmod +x "$T/openssl-issue.sh"

for kt in $BENCH_KEY_TYPES; do
        CERT_DIR=$T/certs-$kt write_config "$T/$kt.json" "\"key_type\": \"$kt\""
        ours=$("$BENCH_RUN" -n "$BENCH_RUNS" -b "rm -rf '$T/certs-$kt'" "$NODESEAL" -c "$T/$kt.json" provision)
        openssl verify -CAfile "$T/ca/ca.crt" "$T/certs-$kt/tls.crt" >/dev/null || fail "nodeseal's $kt certificate does not verify"
        theirs=$("$BENCH_RUN" -n "$BENCH_RUNS" -b "rm -rf '$T/openssl-$kt'" "$T/openssl-issue.sh" "$kt" "$T/ca" "$T/openssl-$kt")
        openssl verify -CAfile "$T/ca/ca.crt" "$T/openssl-$kt/tls.crt" >/dev/null || fail "openssl's $kt certificate does not verify"
        inproc=$("$BENCH_ISSUE" "$kt" "$BENCH_ISSUE_COUNT" "$T/in-process")

        ow=$(field "$ours" wall_s) tw=$(field "$theirs" wall_s)
        oc=$(field "$ours" cpu_s) tc=$(field "$theirs" cpu_s)
        r=$(calc "$ow / $tw")
        row "Issuance $kt" "$ow s wall, $oc s CPU (nodeseal provision)" \
                "$tw s wall, $tc s CPU (openssl genpkey + req + x509 -req)" "${r}x (CPU $(calc "$oc / $tc")x)" "≤0.5x (wall)" \
                "$(verdict "$r" '<=' 0.5)" \
                "bench-run -n $BENCH_RUNS -b 'rm -rf DIR' nodeseal -c CONFIG provision; bench-run -n $BENCH_RUNS sh openssl-issue.sh $kt CADIR DIR"
        iw=$(field "$inproc" wall_ms)
        r=$(calc "$iw / 1000 / $tw")
        row "Issuance $kt in process" "$iw ms wall, $(field "$inproc" cpu_ms) ms CPU per issuance (key, certificate, files written and synced)" \
                "$tw s (the openssl CLI, as above)" "${r}x" "-" "n/a" "bench-issue $kt $BENCH_ISSUE_COUNT DIR"
done
bench_done
