#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# boot-postgresql-gated-directory: boot-postgresql-gated with the directory secret source (the
# embedded default) instead of the fake API server.
NSVM_SOURCE=directory exec "$(dirname "$(readlink -f "$0")")/boot-postgresql-gated.sh" "$@"
