#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The reboot path, when everything is already in place: "nodeseal provision" (directory secret
# source, certificates only: it reads the CA, checks the certificate on disk and keeps it) against
# the shell pipeline a user would write instead (openssl verify, an expiry check, a key/certificate
# match). On the host; the volume part (the key checked, the mapping and the mount) needs
# device-mapper and is reboot-path-volume.sh, in a QEMU guest.
. "$(dirname "$0")/lib.sh"
. "$SOURCE_ROOT/tests/integration/lib-cert.sh"

make_ca "$T/ca"
make_secrets "$T/secrets" "$T/ca" data
write_config "$T/nodeseal.json"
ns -c "$T/nodeseal.json" provision
[ "$rc" = 0 ] || fail "the first provision failed: $out"
serial=$(serial_of "$T/certs/tls.crt")

# What a user would run at boot instead, for the same certificate.
cat >"$T/reboot-certificates.sh" <<'SH'
#!/bin/sh
set -e
ca=$1/nodeseal-ca/tls.crt crt=$2/tls.crt key=$2/tls.key
openssl verify -CAfile "$ca" "$crt" >/dev/null
openssl x509 -in "$crt" -noout -checkend 604800 >/dev/null
[ "$(openssl x509 -in "$crt" -noout -pubkey)" = "$(openssl pkey -in "$key" -pubout)" ]
SH
chmod +x "$T/reboot-certificates.sh"
ours=$("$BENCH_RUN" -n "$BENCH_RUNS" "$NODESEAL" -c "$T/nodeseal.json" provision)
theirs=$("$BENCH_RUN" -n "$BENCH_RUNS" "$T/reboot-certificates.sh" "$T/secrets" "$T/certs")
[ "$(serial_of "$T/certs/tls.crt")" = "$serial" ] || fail "provision issued a new certificate instead of keeping it"

ow=$(field "$ours" wall_s) tw=$(field "$theirs" wall_s) oc=$(field "$ours" cpu_s) tc=$(field "$theirs" cpu_s)
r=$(calc "$ow / $tw")
row "Reboot path, certificates (wall)" "$ow s (nodeseal provision, all in place)" \
        "$tw s (openssl verify + x509 -checkend + pubkey match, 4 openssl processes)" "${r}x" "≤0.5x" \
        "$(verdict "$r" '<=' 0.5)" "bench-run -n $BENCH_RUNS nodeseal -c CONFIG provision; bench-run -n $BENCH_RUNS sh reboot-certificates.sh SECRETS CERTS"
r=$(calc "($oc > 0.001 ? $oc : 0.001) / ($tc > 0.001 ? $tc : 0.001)")
row "Reboot path, certificates (CPU)" "$oc s" "$tc s" "${r}x" "≤0.5x" "$(verdict "$r" '<=' 0.5)" "(the same runs)"

bench_done
