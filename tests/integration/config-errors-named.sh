#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A bad config is refused by every command with the file, the JSON path of the field and the reason.
. "$(dirname "$0")/lib.sh"

cfg=$T/nodeseal.json

ns --config "$T/missing.json" check
assert_eq "$rc" 1 "missing config"
assert_contains "$out" "$T/missing.json: No such file or directory"

printf '{"volumes": [{"name": "data", "device": "/dev/vdb", "mountpoint": "/srv/data", "luks": {"key_size": 384}}]}' >"$cfg"
for verb in provision check close; do
        ns --config "$cfg" "$verb"
        assert_eq "$rc" 1 "$verb with a bad config"
        assert_contains "$out" "$cfg: volumes[0].luks.key_size: 384 bits: XTS needs 256 or 512"
done

printf '{"certificates": [{"name": "pg", "directory": "/x", "colour": "blue"}]}' >"$cfg"
ns --config "$cfg" provision
assert_contains "$out" "$cfg: certificates[0].colour: unknown field"

printf '{\n  "node_name": "a",\n  "retry": {\n    "initial_sec": 1,\n  }\n}\n' >"$cfg"
ns --config "$cfg" provision
assert_contains "$out" "$cfg: line 5, column "
assert_contains "$out" ": not valid JSON"

printf '{"secrets": {"source": "kubernetes", "kubernetes": {"api_url": "http://127.0.0.1:8080"}}}' >"$cfg"
ns --config "$cfg" provision
assert_contains "$out" "secrets.kubernetes.api_url"
assert_contains "$out" "plain http:// is refused"

# An empty reload_command is refused by name, by every command (it was a NULL dereference).
printf '{"certificates": [{"name": "pg", "directory": "%s/tls", "reload_command": []}]}' "$T" >"$cfg"
for verb in provision check close; do
        ns --config "$cfg" "$verb"
        assert_eq "$rc" 1 "$verb with an empty reload_command ($out)"
        assert_contains "$out" "$cfg: certificates[0].reload_command: must not be empty"
done

# JSON logs for containers: one object per line, with the message.
printf '{"node_name": 7}' >"$cfg"
ns --log-format json --config "$cfg" provision
assert_eq "$rc" 1
python3 -c 'import json,sys; o=json.loads(sys.argv[1].splitlines()[-1]); assert o["level"]=="error", o; assert "node_name: must be a string" in o["message"], o' "$out" \
        || fail "not a JSON log line: $out"

# journald priority prefix when not on a terminal.
ns --log-format journal --config "$cfg" provision
assert_contains "$out" "<3>Invalid configuration:"
pass
