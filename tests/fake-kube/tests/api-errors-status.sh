#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# api-errors-status: each error answers the real server's Status body (401 403 404 409 422 400 415).
source "$(dirname "$0")/lib.sh"

# a client CA of our own, to check certificate authentication next to tokens
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$WORK/client-ca.key" -out "$WORK/client-ca.crt" -subj /CN=test-client-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$WORK/client.key" -out "$WORK/client.csr" -subj "/O=system:nodes/CN=system:node:node1" 2>/dev/null
openssl x509 -req -in "$WORK/client.csr" -CA "$WORK/client-ca.crt" -CAkey "$WORK/client-ca.key" \
    -set_serial 7 -days 1 -out "$WORK/client.crt" 2>/dev/null

start_server --namespace nodeseal --client-ca "$WORK/client-ca.crt"
S=/api/v1/namespaces/nodeseal/secrets
secret() { # name [type [data-json]]
    printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"%s"},"type":"%s","data":%s}' \
        "$1" "${2:-Opaque}" "${3:-{\"k\":\"dmFsdWU=\"\}}"
}

# --- 401
code=$(curl -sS --cacert "$CA" -o "$WORK/body" -w '%{http_code}' "$URL$S")
expect_status "no token" 401 "$code" Unauthorized Unauthorized
[ "$(cat "$WORK/body")" = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}' ] &&
    pass "401 body is byte for byte the real one" || fail "401 body: $(cat "$WORK/body")"
code=$(API_TOKEN=wrong-token api GET "$S")
expect_status "wrong token" 401 "$code" Unauthorized Unauthorized
code=$(curl -sS --cacert "$CA" -o "$WORK/body" -w '%{http_code}' --cert "$WORK/client.crt" --key "$WORK/client.key" "$URL$S")
[ "$code" = 200 ] && pass "client certificate authenticates" || fail "client certificate: $code $(cat "$WORK/body")"

# --- token rotation through the control API
admin POST /fake/tokens '{"token":"rotated-token","user":"system:serviceaccount:nodeseal:agent"}' >/dev/null
code=$(API_TOKEN=rotated-token api GET "$S")
[ "$code" = 200 ] && pass "added token works" || fail "added token: $code"
admin DELETE /fake/tokens/rotated-token >/dev/null
code=$(API_TOKEN=rotated-token api GET "$S")
expect_status "revoked token" 401 "$code" Unauthorized Unauthorized

# --- 404
code=$(api GET "$S/missing")
expect_status "get missing" 404 "$code" NotFound 'secrets "missing" not found'
[ "$(jq_py "$WORK/body" 'd["details"]')" = '{"name": "missing", "kind": "secrets"}' ] &&
    pass "404 details" || fail "404 details: $(cat "$WORK/body")"
code=$(api DELETE "$S/missing")
expect_status "delete missing" 404 "$code" NotFound 'secrets "missing" not found'
code=$(api POST /api/v1/namespaces/nowhere/secrets "$(secret s)")
expect_status "create in a missing namespace" 404 "$code" NotFound 'namespaces "nowhere" not found'
code=$(api GET /api/v1/nonsense)
expect_status "unknown path" 404 "$code" NotFound 'the server could not find the requested resource'

# --- create, then 409 AlreadyExists
code=$(api POST "$S" "$(secret node-keys)")
[ "$code" = 201 ] && pass "create" || fail "create: $code $(cat "$WORK/body")"
rv1=$(jq_py "$WORK/body" 'd["metadata"]["resourceVersion"]')
code=$(api POST "$S" "$(secret node-keys)")
expect_status "create twice" 409 "$code" AlreadyExists 'secrets "node-keys" already exists'

# --- 409 Conflict on a stale resourceVersion (PUT and merge patch)
code=$(api PUT "$S/node-keys" "$(printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"node-keys","resourceVersion":"%s"},"data":{"k":"djI="}}' "$rv1")")
[ "$code" = 200 ] && pass "update with the current resourceVersion" || fail "update: $code $(cat "$WORK/body")"
rv2=$(jq_py "$WORK/body" 'd["metadata"]["resourceVersion"]')
[ "$rv2" -gt "$rv1" ] && pass "update bumps resourceVersion ($rv1 -> $rv2)" || fail "resourceVersion $rv1 -> $rv2"
conflict='Operation cannot be fulfilled on secrets "node-keys": the object has been modified; please apply your changes to the latest version and try again'
code=$(api PUT "$S/node-keys" "$(printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"node-keys","resourceVersion":"%s"},"data":{"k":"djM="}}' "$rv1")")
expect_status "update with a stale resourceVersion" 409 "$code" Conflict "$conflict"
code=$(api PATCH "$S/node-keys" "{\"metadata\":{\"resourceVersion\":\"$rv1\"},\"data\":{\"x\":\"eA==\"}}" application/merge-patch+json)
expect_status "merge patch with a stale resourceVersion" 409 "$code" Conflict "$conflict"
code=$(api PUT "$S/node-keys" "$(secret node-keys)")
[ "$code" = 200 ] && pass "unconditional update (no resourceVersion)" || fail "unconditional update: $code"

# --- patches
code=$(api PATCH "$S/node-keys" '{"data":{"k2":"djI="},"stringData":{"k3":"three"}}' application/merge-patch+json)
[ "$code" = 200 ] && [ "$(jq_py "$WORK/body" 'sorted(d["data"])')" = '["k", "k2", "k3"]' ] &&
    pass "merge patch" || fail "merge patch: $code $(cat "$WORK/body")"
code=$(api PATCH "$S/node-keys" '[{"op":"remove","path":"/data/k2"},{"op":"replace","path":"/data/k","value":"bmV3"}]' application/json-patch+json)
[ "$code" = 200 ] && [ "$(jq_py "$WORK/body" 'd["data"]')" = '{"k": "bmV3", "k3": "dGhyZWU="}' ] &&
    pass "json patch" || fail "json patch: $code $(cat "$WORK/body")"
code=$(api PATCH "$S/node-keys" '{"metadata":{"labels":{"a":"b"}}}' application/strategic-merge-patch+json)
[ "$code" = 200 ] && pass "strategic merge patch" || fail "strategic merge patch: $code"
code=$(api PATCH "$S/node-keys" '{}' application/apply-patch+yaml)
expect_status "server-side apply is not implemented" 415 "$code" UnsupportedMediaType
code=$(api PATCH "$S/missing" '{}' application/merge-patch+json)
expect_status "patch missing" 404 "$code" NotFound 'secrets "missing" not found'

# --- 422 Invalid and 400 BadRequest
code=$(api POST "$S" "$(secret Bad_Name)")
expect_status "invalid name" 422 "$code" Invalid
jq_py "$WORK/body" 'd["message"]' | grep '^Secret "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain' >/dev/null &&
    pass "invalid name message" || fail "invalid name message: $(cat "$WORK/body")"
code=$(api POST "$S" '{"apiVersion":"v1","kind":"Secret","metadata":{},"data":{}}')
expect_status "no name" 422 "$code" Invalid 'Secret "" is invalid: metadata.name: Required value: name or generateName is required'
code=$(api POST "$S" "$(secret tls1 kubernetes.io/tls)")
expect_status "tls without keys" 422 "$code" Invalid 'Secret "tls1" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]'
[ "$(jq_py "$WORK/body" 'd["details"]')" = '{"name": "tls1", "kind": "Secret", "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "data[tls.crt]"}, {"reason": "FieldValueRequired", "message": "Required value", "field": "data[tls.key]"}]}' ] &&
    pass "422 details.causes" || fail "422 details: $(cat "$WORK/body")"
code=$(api POST "$S" "$(secret tls1 kubernetes.io/tls '{"tls.crt":"Yw==","tls.key":"aw=="}')")
[ "$code" = 201 ] && pass "tls with both keys" || fail "tls: $code $(cat "$WORK/body")"
code=$(api PUT "$S/tls1" "$(secret tls1 Opaque '{"tls.crt":"Yw==","tls.key":"aw=="}')")
expect_status "type is immutable" 422 "$code" Invalid 'Secret "tls1" is invalid: type: Invalid value: "Opaque": field is immutable'
code=$(api POST "$S" "$(secret bad-b64 Opaque '{"k":"not base64!"}')")
expect_status "bad base64" 400 "$code" BadRequest 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'
code=$(api POST "$S" "$(secret bad-key Opaque '{"a/b":"eA=="}')")
expect_status "bad data key" 422 "$code" Invalid
code=$(api POST "$S?fieldValidation=Strict" '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"},"spec":{}}')
expect_status "unknown field, Strict" 400 "$code" BadRequest 'Secret in version "v1" cannot be handled as a Secret: strict decoding error: unknown field "spec"'
code=$(api POST "$S" '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"warned"},"spec":{}}')
[ "$code" = 201 ] && grep -qi '^Warning: 299 - "unknown field \\"spec\\""' "$WORK/headers" &&
    pass "unknown field, default Warn" || fail "Warn: $code $(cat "$WORK/headers")"
code=$(api POST "$S" '{"apiVersion":"v1",' )
expect_status "broken JSON" 400 "$code" BadRequest
code=$(api POST "$S" 'k8s\0protobuf' application/vnd.kubernetes.protobuf)
expect_status "protobuf body" 415 "$code" UnsupportedMediaType 'the body of the request was in an unknown format - accepted media types include: application/json'

# --- stringData, generateName, selectors
code=$(api POST "$S" '{"apiVersion":"v1","kind":"Secret","metadata":{"generateName":"gen-","labels":{"tier":"db"}},"stringData":{"p":"x"}}')
[ "$code" = 201 ] && jq_py "$WORK/body" 'd["metadata"]["name"]' | grep -Eq '^gen-[a-z0-9]{5}$' &&
    [ "$(jq_py "$WORK/body" '[d["data"], d["type"], "stringData" in d]')" = '[{"p": "eA=="}, "Opaque", false]' ] &&
    pass "generateName, stringData, default type" || fail "generateName: $code $(cat "$WORK/body")"
code=$(api GET "$S?fieldSelector=metadata.name%3Dtls1")
[ "$(jq_py "$WORK/body" '[d["kind"], [i["metadata"]["name"] for i in d["items"]], d["metadata"]["resourceVersion"].isdigit()]')" = '["SecretList", ["tls1"], true]' ] &&
    pass "list with fieldSelector" || fail "fieldSelector: $(cat "$WORK/body")"
code=$(api GET "$S?labelSelector=tier%3Ddb")
[ "$(jq_py "$WORK/body" 'len(d["items"])')" = 1 ] && pass "list with labelSelector" || fail "labelSelector: $(cat "$WORK/body")"
code=$(api GET "$S?labelSelector=tier%20notin%20(db)")
[ "$(jq_py "$WORK/body" 'len(d["items"])')" = 3 ] && pass "set-based labelSelector" || fail "notin: $(cat "$WORK/body")"
code=$(api GET "$S?fieldSelector=spec.x%3Dy")
expect_status "unsupported field selector" 400 "$code" BadRequest 'field label not supported: spec.x'
code=$(api GET "$S?limit=2")
[ "$(jq_py "$WORK/body" '[len(d["items"]), d["metadata"]["remainingItemCount"]]')" = '[2, 2]' ] &&
    pass "limit and continue" || fail "limit: $(cat "$WORK/body")"

# --- 403 through RBAC-lite: an agent allowed get/watch on one Secret only
admin POST /fake/tokens '{"token":"agent-token","user":"system:serviceaccount:nodeseal:agent"}' >/dev/null
admin POST /fake/permissions '{"token":"agent-token","rules":[{"verbs":["get","watch"],"resources":["secrets"],"namespaces":["nodeseal"],"names":["node-keys"]}]}' >/dev/null
code=$(API_TOKEN=agent-token api GET "$S/node-keys")
[ "$code" = 200 ] && pass "permitted get" || fail "permitted get: $code $(cat "$WORK/body")"
code=$(API_TOKEN=agent-token api GET "$S/tls1")
expect_status "get another secret" 403 "$code" Forbidden 'secrets "tls1" is forbidden: User "system:serviceaccount:nodeseal:agent" cannot get resource "secrets" in API group "" in the namespace "nodeseal"'
[ "$(jq_py "$WORK/body" 'd["details"]')" = '{"name": "tls1", "kind": "secrets"}' ] &&
    pass "403 details" || fail "403 details: $(cat "$WORK/body")"
code=$(API_TOKEN=agent-token api GET "$S")
expect_status "list" 403 "$code" Forbidden 'secrets is forbidden: User "system:serviceaccount:nodeseal:agent" cannot list resource "secrets" in API group "" in the namespace "nodeseal"'
code=$(API_TOKEN=agent-token api PUT "$S/node-keys" "$(secret node-keys)")
expect_status "update" 403 "$code" Forbidden 'secrets "node-keys" is forbidden: User "system:serviceaccount:nodeseal:agent" cannot update resource "secrets" in API group "" in the namespace "nodeseal"'
code=$(API_TOKEN=agent-token api GET "$S?watch=1&fieldSelector=metadata.name%3Dnode-keys&timeoutSeconds=1")
[ "$code" = 200 ] && pass "permitted watch of the named secret (fieldSelector)" || fail "watch: $code $(cat "$WORK/body")"
code=$(API_TOKEN=agent-token api GET "/api/v1/secrets")
expect_status "cluster-wide list" 403 "$code" Forbidden 'secrets is forbidden: User "system:serviceaccount:nodeseal:agent" cannot list resource "secrets" in API group "" at the cluster scope'

# --- delete answers a success Status
code=$(api DELETE "$S/node-keys")
[ "$code" = 200 ] && [ "$(jq_py "$WORK/body" '[d["kind"], d["status"], d["details"]["name"], d["details"]["kind"]]')" = '["Status", "Success", "node-keys", "secrets"]' ] &&
    pass "delete" || fail "delete: $code $(cat "$WORK/body")"

# --- discovery
api GET /api >/dev/null && [ "$(jq_py "$WORK/body" '[d["kind"], d["versions"]]')" = '["APIVersions", ["v1"]]' ] &&
    pass "GET /api" || fail "/api: $(cat "$WORK/body")"
api GET /api/v1 >/dev/null && [ "$(jq_py "$WORK/body" '[(r["kind"], r["namespaced"], r["verbs"]) for r in d["resources"] if r["name"] == "secrets"]')" = '[["Secret", true, ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]]]' ] &&
    pass "GET /api/v1" || fail "/api/v1: $(cat "$WORK/body")"
api GET /version >/dev/null && [ "$(jq_py "$WORK/body" 'd["major"]')" = 1 ] && pass "GET /version" || fail "/version"

# the request log never holds a token, and neither does the server's stderr
admin GET "/fake/requests?all=1" >"$WORK/requests.json"
for t in "$TOKEN" "$ADMIN" agent-token rotated-token wrong-token dmFsdWU; do
    grep -q -- "$t" "$WORK/requests.json" "$SERVER_DIR/server.log" && fail "'$t' appears in the logs"
done
pass "no token or secret data in the logs"
finish
