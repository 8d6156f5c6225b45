#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The command line: --help for the tool and every command, --version, unknown commands and options.
. "$(dirname "$0")/lib.sh"

ns --help
assert_eq "$rc" 0 "--help exit status"
help=$out
for verb in provision run check status ca close bootstrap reload-sidecar; do
        assert_contains "$help" "  $verb " "--help lists $verb"
        ns "$verb" --help
        assert_eq "$rc" 0 "$verb --help exit status"
        assert_contains "$out" "Usage: nodeseal $verb" "$verb --help"
done

ns --version
assert_eq "$rc" 0 "--version"
assert_contains "$out" "nodeseal "

ns frobnicate
assert_eq "$rc" 1 "unknown command"
assert_contains "$out" 'Unknown command "frobnicate"'

ns --log-format xml check
assert_eq "$rc" 1 "bad --log-format"
assert_contains "$out" '--log-format: "xml" is not journal, text or json'

ns check --bogus
assert_eq "$rc" 1 "unknown option of a command"

ns
assert_eq "$rc" 1 "no command"
assert_contains "$out" "Usage: nodeseal"
pass
