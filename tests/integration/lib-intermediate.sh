# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Setup shared by the intermediate-CA scenarios: a root made by "nodeseal bootstrap" in the directory
# source $T/secrets, the operator's offline X25519 recovery key ($T/recovery.key, .pub), and the
# operator's config $T/operator.json (the same source; the root key is there). Sourced after lib.sh.

# intermediate_setup NODE...: the above, with each NODE named to bootstrap.
intermediate_setup() {
        local args=() n
        for n in "$@"; do args+=(--node "$n"); done
        ns bootstrap --directory "$T/secrets" "${args[@]}"
        assert_eq "$rc" 0 "bootstrap: $out"
        openssl genpkey -algorithm X25519 -out "$T/recovery.key" 2>/dev/null
        openssl pkey -in "$T/recovery.key" -pubout -out "$T/recovery.pub"
        echo "{ \"node_name\": \"operator\", \"secrets\": { \"directory\": \"$T/secrets\" } }" >"$T/operator.json"
}
