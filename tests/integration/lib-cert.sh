# SPDX-License-Identifier: Apache-2.0
# Helpers for the certificate scenarios, on top of lib.sh: a config with one certificate, and an
# openssl-made intermediate CA. Sourced after lib.sh.

# write_config FILE [CERT_FIELDS [TOP_FIELDS]]: node node-1 (or $NODE_NAME), directory source under
# $T/secrets, runtime directory $T/run (or $RUN_DIR), one generic certificate "node" in $T/certs
# (or $CERT_DIR).
write_config() {
        local file=$1 cert=${2:-} top=${3:-}
        cat >"$file" <<JSON
{
  "node_name": "$NODE_NAME",
  "runtime_directory": "${RUN_DIR:-$T/run}",
  "secrets": { "directory": "$T/secrets" },
  ${top:+$top,}
  "certificates": [
    { "name": "node", "directory": "${CERT_DIR:-$T/certs}", "dns_names": ["{node}", "localhost"],
      "ip_addresses": ["127.0.0.1"]${cert:+, $cert} }
  ]
}
JSON
}

# make_intermediate ROOTDIR DIR: DIR/ca.crt and DIR/ca.key, an EC intermediate CA signed by ROOTDIR's CA.
make_intermediate() {
        local root=$1 dir=$2
        mkdir -p "$dir"
        openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout "$dir/ca.key" \
                -out "$dir/ca.csr" -subj "/CN=nodeseal test intermediate" 2>/dev/null
        printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
                "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid:always" >"$dir/ext.cnf"
        openssl x509 -req -in "$dir/ca.csr" -CA "$root/ca.crt" -CAkey "$root/ca.key" -CAcreateserial \
                -days 200 -extfile "$dir/ext.cnf" -out "$dir/ca.crt" 2>/dev/null
}

serial_of() { openssl x509 -noout -serial -in "$1"; }
