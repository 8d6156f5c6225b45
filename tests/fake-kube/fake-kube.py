#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# fake-kube: a small fake of the Kubernetes API server (Secrets only) with fault injection, for tests.
"""A fake Kubernetes API server for Secrets, faithful enough for libcurl clients and kubectl.

Standard library only, so that it runs on any Debian python3 without extra packages; the
certificates are made with the openssl command line tool, which is always installed.
See README.md beside this file for the control API and the known differences.
"""

import argparse
import base64
import binascii
import copy
import datetime
import http.server
import json
import os
import re
import secrets as pysecrets
import select
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import deque

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-fake",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T00:00:00Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}

SECRET_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
NAMESPACE_VERBS = ["create", "get", "list"]
EVENT_VERBS = ["create", "get", "list", "patch"]
POD_VERBS = ["get", "list"]
MAX_BODY = 3 * 1024 * 1024          # the real server's request body limit
MAX_SECRET_SIZE = 1024 * 1024       # validation.MaxSecretSize
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
B64_ALPHABET = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
GENERATE_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"

DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
    "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")

REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
    413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}

SECRET_TOP_FIELDS = {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"}
META_FIELDS = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
               "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
               "annotations", "ownerReferences", "finalizers", "managedFields"}
META_ORDER = ["name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp",
              "labels", "annotations", "ownerReferences", "finalizers"]


def log(msg):
    stamp = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
    try:
        sys.stderr.write(f"fake-kube {stamp} {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s):
    try:
        return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def human_duration(seconds):
    """The age column exactly as k8s.io/apimachinery/pkg/util/duration.HumanDuration prints it."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m" if s % 60 == 0 else f"{m}m{s % 60}s"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h" if m % 60 == 0 else f"{h}h{m % 60}m"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d" if h % 24 == 0 else f"{h // 24}d{h % 24}h"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return f"{h // 24 // 365}y" if dy == 0 else f"{h // 24 // 365}y{dy}d"
    return f"{h // 24 // 365}y"


def status_obj(code, message, reason=None, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
         "reason": reason if reason is not None else REASONS.get(code, "")}
    if details is not None:
        s["details"] = details
    s["code"] = code
    return s


class ApiError(Exception):
    """An error answered with a Status body, in the shape the real server uses for it."""

    def __init__(self, code, message, reason=None, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.status = status_obj(code, message, reason, details)
        self.headers = headers or []


def not_found(resource, name):
    return ApiError(404, f'{resource} "{name}" not found', "NotFound", {"name": name, "kind": resource})


def generic_not_found():
    return ApiError(404, "the server could not find the requested resource", "NotFound", {})


def already_exists(resource, name):
    return ApiError(409, f'{resource} "{name}" already exists', "AlreadyExists", {"name": name, "kind": resource})


def conflict(resource, name, why="the object has been modified; please apply your changes to the latest version and try again"):
    return ApiError(409, f'Operation cannot be fulfilled on {resource} "{name}": {why}', "Conflict",
                    {"name": name, "kind": resource})


def bad_request(message):
    return ApiError(400, message, "BadRequest")


def invalid(kind, name, causes):
    """causes: list of (field, reason, detail); the message joins them the way field.ErrorList does."""
    parts = [f"{f}: {d}" for f, _, d in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = {}
    if name:
        details["name"] = name
    details["kind"] = kind
    details["causes"] = [{"reason": r, "message": d, "field": f} for f, r, d in causes]
    return ApiError(422, f'{kind} "{name}" is invalid: {joined}', "Invalid", details)


def unsupported_media(accepted):
    return ApiError(415, "the body of the request was in an unknown format - accepted media types include: "
                    + ", ".join(accepted), "UnsupportedMediaType")


def forbidden(user, verb, resource, ns, name):
    subject = f'{resource} "{name}"' if name else resource
    where = f'in the namespace "{ns}"' if ns else "at the cluster scope"
    details = {"name": name, "kind": resource} if name else {"kind": resource}
    return ApiError(403, f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
                    f'in API group "" {where}', "Forbidden", details)


GO_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def go_parse_query(query):
    """The query as Go's url.ParseQuery reads it (what the API server's request info and handlers use):
    a pair with a bad %-escape or a ';' is dropped, not kept literally as urllib would."""
    out = {}
    for part in query.split("&"):
        if not part or ";" in part:
            continue
        key, _, value = part.partition("=")
        if GO_BAD_ESCAPE.search(key) or GO_BAD_ESCAPE.search(value):
            continue
        key = urllib.parse.unquote_plus(key, errors="surrogateescape")
        out.setdefault(key, []).append(urllib.parse.unquote_plus(value, errors="surrogateescape"))
    return out


def b64_error(value):
    """Where Go's base64.StdEncoding would fail on value, or None if it decodes."""
    raw = value.encode("utf-8", "surrogatepass")
    for i, c in enumerate(raw):
        if c not in B64_ALPHABET:
            return i
    try:
        base64.b64decode(raw, validate=True)
        return None
    except (binascii.Error, ValueError):
        return len(raw) - (len(raw) % 4 or 4)


# ---------------------------------------------------------------- selectors

def parse_label_selector(text):
    """Returns a list of (key, op, values); the syntax of k8s.io/apimachinery/pkg/labels."""
    reqs = []
    if not text:
        return reqs
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        p = p.strip()
        if not p:
            raise bad_request(f"unable to parse requirement: found '', expected: identifier")
        m = re.match(r"^([^\s!=()]+)\s+(in|notin)\s*\((.*)\)$", p)
        if m:
            vals = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.match(r"^([^\s!=()]+)\s*(==|=|!=)\s*([^\s!=()]*)$", p)
        if m:
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append((m.group(1), op, [m.group(3)]))
            continue
        m = re.match(r"^!\s*([^\s!=()]+)$", p)
        if m:
            reqs.append((m.group(1), "!", []))
            continue
        m = re.match(r"^([^\s!=()]+)$", p)
        if m:
            reqs.append((m.group(1), "exists", []))
            continue
        raise bad_request(f"unable to parse requirement: {p}")
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        have = key in labels
        v = labels.get(key)
        if op == "=" and not (have and v == vals[0]):
            return False
        if op == "!=" and have and v == vals[0]:
            return False
        if op == "in" and not (have and v in vals):
            return False
        if op == "notin" and have and v in vals:
            return False
        if op == "exists" and not have:
            return False
        if op == "!" and have:
            return False
    return True


SECRET_FIELDS = {"metadata.name": lambda o: o["metadata"].get("name", ""),
                 "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
                 "type": lambda o: o.get("type", "")}


def _dotted(path):
    def get(o):
        for part in path.split("."):
            o = o.get(part) if isinstance(o, dict) else None
        return "" if o is None else str(o)
    return get


# what fields.Set the real registries offer for selectors (registry/core/event/strategy.go ToSelectableFields)
EVENT_FIELDS = {f: _dotted(f) for f in (
    "metadata.name", "metadata.namespace", "involvedObject.kind", "involvedObject.namespace",
    "involvedObject.name", "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
    "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")}
EVENT_FIELDS["source"] = lambda o: (o.get("source") or {}).get("component", "")
POD_FIELDS = {f: _dotted(f) for f in ("metadata.name", "metadata.namespace", "spec.nodeName", "status.phase")}


def parse_field_selector(text, supported=None):
    supported = SECRET_FIELDS if supported is None else supported
    reqs = []
    if not text:
        return reqs
    for p in text.split(","):
        p = p.strip()
        if not p:
            continue
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", p)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{p}'")
        field = m.group(1).strip()
        if field not in supported:
            raise bad_request(f'field label not supported: {field}')
        reqs.append((field, "!=" if m.group(2) == "!=" else "=", m.group(3).strip()))
    return reqs


def fields_match(reqs, obj, supported=None):
    supported = SECRET_FIELDS if supported is None else supported
    for field, op, val in reqs:
        v = supported[field](obj)
        if (op == "=") != (v == val):
            return False
    return True


def selector_name(field_reqs):
    """The name an RBAC check sees for list/watch, as the real RequestInfoFactory derives it."""
    for field, op, val in field_reqs:
        if field == "metadata.name" and op == "=":
            return val
    return ""


# ---------------------------------------------------------------- patches

def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def strip_directives(patch):
    """Strategic merge patch directives are meaningless for a Secret's fields; drop them."""
    if isinstance(patch, dict):
        return {k: strip_directives(v) for k, v in patch.items() if not k.startswith("$")}
    if isinstance(patch, list):
        return [strip_directives(v) for v in patch]
    return patch


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {path}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise ValueError(f"doc is missing path: /{'/'.join(parts)}")
            cur = cur[p]
        elif isinstance(cur, list):
            cur = cur[int(p)]
        else:
            raise ValueError(f"doc is missing path: /{'/'.join(parts)}")
    return cur


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise ValueError("json patch must be a list of operations")
    for op in ops:
        kind = op.get("op")
        parts = _pointer(op.get("path", ""))

        def put(value, parts=parts, replace=False):
            parent = _walk(doc, parts[:-1])
            last = parts[-1]
            if isinstance(parent, dict):
                if replace and last not in parent:
                    raise ValueError(f"replace operation does not apply: doc is missing key: {op.get('path')}")
                parent[last] = value
            elif isinstance(parent, list):
                if last == "-":
                    parent.append(value)
                elif replace:
                    parent[int(last)] = value
                else:
                    parent.insert(int(last), value)

        def take(parts):
            parent = _walk(doc, parts[:-1])
            if isinstance(parent, dict):
                if parts[-1] not in parent:
                    raise ValueError(f"remove operation does not apply: doc is missing path: /{'/'.join(parts)}")
                return parent.pop(parts[-1])
            return parent.pop(int(parts[-1]))

        if kind == "add":
            put(copy.deepcopy(op.get("value")))
        elif kind == "remove":
            take(parts)
        elif kind == "replace":
            put(copy.deepcopy(op.get("value")), replace=True)
        elif kind == "move":
            put(take(_pointer(op.get("from", ""))))
        elif kind == "copy":
            put(copy.deepcopy(_walk(doc, _pointer(op.get("from", "")))))
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise ValueError(f"testing value {op.get('path')} failed: test failed")
        else:
            raise ValueError(f"Unexpected kind: {kind}")
    return doc


# ---------------------------------------------------------------- secrets

def decode_json(body, what="Secret"):
    dups = []

    def hook(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                dups.append(k)
            seen[k] = v
        return seen
    try:
        obj = json.loads(body.decode("utf-8"), object_pairs_hook=hook)
    except (UnicodeDecodeError, ValueError) as e:
        raise bad_request(f"couldn't get version/kind; json parse error: {e}")
    if not isinstance(obj, dict):
        raise bad_request(f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                          f"{type(obj).__name__} into Go value of type struct")
    return obj, dups


def unknown_fields(obj):
    bad = [f for f in obj if f not in SECRET_TOP_FIELDS]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        bad += [f"metadata.{f}" for f in meta if f not in META_FIELDS]
    return bad


def field_problems(obj, dups):
    return [f'unknown field "{f}"' for f in unknown_fields(obj)] + [f'duplicate field "{d}"' for d in dups]


def normalise_secret(obj):
    """Decode the way the real conversion does: type defaults, stringData folds into data."""
    kind = obj.get("kind")
    if kind not in (None, "", "Secret"):
        raise bad_request(f'{kind} in version "{obj.get("apiVersion", "v1")}" cannot be handled as a Secret: '
                          f'the object provided is unrecognized (must be of type Secret)')
    if obj.get("apiVersion") not in (None, "", "v1"):
        raise bad_request(f'the API version in the data ({obj.get("apiVersion")}) does not match the '
                          f'expected API version (v1)')
    meta = obj.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise bad_request('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal '
                          'into Go struct field Secret.metadata of type v1.ObjectMeta')
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        raise bad_request('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal '
                          'into Go struct field Secret.data of type map[string][]uint8')
    out_data = {}
    for k, v in data.items():
        if v is None:
            v = ""
        if not isinstance(v, str):
            raise bad_request('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal '
                              'into Go struct field Secret.data of type []uint8')
        pos = b64_error(v)
        if pos is not None:
            raise bad_request(f'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at '
                              f'input byte {pos}')
        out_data[k] = v
    string_data = obj.get("stringData") or {}
    if not isinstance(string_data, dict):
        raise bad_request('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal '
                          'into Go struct field Secret.stringData of type map[string]string')
    for k, v in string_data.items():
        if not isinstance(v, str):
            raise bad_request('Secret in version "v1" cannot be handled as a Secret: json: cannot unmarshal '
                              'into Go struct field Secret.stringData of type string')
        out_data[k] = base64.b64encode(v.encode("utf-8")).decode("ascii")
    out = {"kind": "Secret", "apiVersion": "v1", "metadata": dict(meta)}
    if obj.get("immutable") is not None:
        out["immutable"] = bool(obj["immutable"])
    if out_data:
        out["data"] = out_data
    out["type"] = obj.get("type") or "Opaque"
    return out


def canonical_meta(meta):
    out = {k: meta[k] for k in META_ORDER if meta.get(k) not in (None, "", {}, [])}
    return out


def validate_secret(obj, old=None):
    meta = obj["metadata"]
    name = meta.get("name", "")
    causes = []
    if not name:
        causes.append(("metadata.name", "FieldValueRequired", "Required value: name or generateName is required"))
    elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        causes.append(("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {DNS1123_SUBDOMAIN_MSG}'))
    for k, v in (meta.get("labels") or {}).items():
        if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
            causes.append((f"metadata.labels", "FieldValueInvalid",
                           f'Invalid value: "{v}": a valid label must be an empty string or consist of '
                           f"alphanumeric characters, '-', '_' or '.', and must start and end with an "
                           f"alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
                           f"for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"))
    data = obj.get("data", {})
    total = 0
    for k, v in data.items():
        if len(k) > 253 or not CONFIG_KEY.match(k):
            causes.append((f"data[{k}]", "FieldValueInvalid", f'Invalid value: "{k}": {CONFIG_KEY_MSG}'))
        total += len(base64.b64decode(v))
    if total > MAX_SECRET_SIZE:
        causes.append(("data", "FieldValueTooLong", f"Too long: must have at most {MAX_SECRET_SIZE} bytes"))
    typ = obj["type"]
    if typ == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                causes.append((f"data[{key}]", "FieldValueRequired", "Required value"))
    elif typ == "kubernetes.io/ssh-auth":
        if "ssh-privatekey" not in data:
            causes.append(("data[ssh-privatekey]", "FieldValueRequired", "Required value"))
    elif typ == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            causes.append(("data[username]", "FieldValueRequired", "Required value"))
            causes.append(("data[password]", "FieldValueRequired", "Required value"))
    elif typ == "kubernetes.io/dockerconfigjson":
        if ".dockerconfigjson" not in data:
            causes.append(("data[.dockerconfigjson]", "FieldValueRequired", "Required value"))
    elif typ == "kubernetes.io/service-account-token":
        if not (meta.get("annotations") or {}).get("kubernetes.io/service-account.name"):
            causes.append(("metadata.annotations[kubernetes.io/service-account.name]", "FieldValueRequired",
                           "Required value"))
    if old is not None:
        if typ != old["type"]:
            causes.append(("type", "FieldValueInvalid", f'Invalid value: "{typ}": field is immutable'))
        if old.get("immutable"):
            if obj.get("immutable") is not True:
                causes.append(("immutable", "FieldValueForbidden",
                               "Forbidden: field is immutable when `immutable` is set"))
            if obj.get("data", {}) != old.get("data", {}):
                causes.append(("data", "FieldValueForbidden",
                               "Forbidden: field is immutable when `immutable` is set"))
    if causes:
        raise invalid("Secret", name, causes)


OBJECT_KINDS = {"events": "Event", "pods": "Pod"}
OBJECT_FIELDS = {"events": EVENT_FIELDS, "pods": POD_FIELDS}


def validate_event(obj, ns):
    """What ValidateEventCreate/Update check of a core/v1 Event written by a client like nodeseal."""
    name = obj["metadata"].get("name", "")
    causes = []
    inv = obj.get("involvedObject") or {}
    if inv.get("namespace") not in (None, "", ns):
        causes.append(("involvedObject.namespace", "FieldValueInvalid",
                       f'Invalid value: "{inv.get("namespace")}": does not match event.namespace'))
    if obj.get("type") not in (None, "", "Normal", "Warning"):
        causes.append(("type", "FieldValueNotSupported",
                       f'Unsupported value: "{obj.get("type")}": supported values: "Normal", "Warning"'))
    if len(obj.get("message") or "") > 4096:
        causes.append(("message", "FieldValueTooLong", "Too long: must have at most 4096 bytes"))
    if causes:
        raise invalid("Event", name, causes)


def list_item(obj):
    """Items of a real list carry no kind/apiVersion; clients must not rely on them."""
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


# ---------------------------------------------------------------- state

class Fault:
    MODES = {"down", "slow", "silent", "status", "truncated", "garbage", "wrong-cert", "unterminated", "shutdown"}

    def __init__(self, spec, fid):
        if not isinstance(spec, dict):
            raise bad_request("fault must be a JSON object")
        self.id = fid
        self.mode = spec.get("mode")
        if self.mode not in self.MODES:
            raise bad_request(f"unknown fault mode {self.mode!r}; one of {sorted(self.MODES)}")
        self.count = spec.get("count")
        if self.count is not None and (not isinstance(self.count, int) or self.count < 1):
            raise bad_request("count must be a positive integer or null")
        self.match = spec.get("match") or ""
        self.method = (spec.get("method") or "").upper()
        self.stage = spec.get("stage", "request")
        if self.stage not in ("request", "connect"):
            raise bad_request("stage must be 'request' or 'connect'")
        if self.stage == "connect" and (self.mode != "down" or self.count is None or self.match):
            # a connect-stage fault cannot see paths, so it would also refuse the request that clears it
            raise bad_request("stage 'connect' is only for mode 'down', needs a count and takes no match")
        self.code = int(spec.get("code", 500)) if self.mode == "status" else None
        if self.mode == "status" and self.code not in REASONS and not 400 <= self.code <= 599:
            raise bad_request("code must be an HTTP error code")
        self.message = spec.get("message")
        self.retry_after = spec.get("retry_after", 1 if self.code == 429 else None)
        self.delay_ms = int(spec.get("delay_ms", 0 if spec.get("trickle_ms") else 2000))
        self.trickle_ms = int(spec.get("trickle_ms", 0))
        self.trickle_bytes = max(1, int(spec.get("trickle_bytes", 16)))
        self.spec = {k: v for k, v in spec.items()}

    def describe(self):
        d = dict(self.spec)
        d["id"] = self.id
        d["count"] = self.count
        return d


class State:
    def __init__(self, args):
        self.args = args
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.shutting_down = threading.Event()   # SIGTERM with --shutdown-delay: 429 to new requests
        self.rv = 100
        self.secrets = {}            # (ns, name) -> stored Secret
        self.namespaces = {}         # name -> Namespace
        self.history = deque()       # (rv, type, obj, prev) for secrets
        self.history_at = deque()    # when each of them happened (monotonic)
        self.floor = self.rv         # every event after floor is still in history
        self.last_event_rv = 0       # the RV of the last Secret event since start; 0: none yet
        self.watch_epoch = 0
        self.tokens = {}             # token -> user
        self.perms = {}              # "token:T" or "user:U" -> rules
        self.objects = {}            # (resource, ns, name) -> stored Event or Pod
        self.faults = []
        self.fault_seq = 0
        self.fault_cleared = threading.Event()
        self.requests = deque(maxlen=args.request_log)
        self.request_seq = 0
        for ns in ["default", "kube-system", "kube-public"] + (args.namespace or []):
            if ns not in self.namespaces:
                self._add_namespace(ns)

    # -- revisions and events; callers hold cond

    def _bump(self):
        self.rv += 1
        return self.rv

    def _record(self, typ, obj, prev):
        self.history.append((self.rv, typ, copy.deepcopy(obj), copy.deepcopy(prev)))
        self.history_at.append(time.monotonic())
        self.last_event_rv = self.rv
        self.expire_history()
        self.cond.notify_all()

    def expire_history(self):
        """The watch cache keeps events for eventFreshDuration (75 s), and at most its capacity."""
        old = time.monotonic() - self.args.history_seconds
        while self.history and (len(self.history) > self.args.history or self.history_at[0] < old):
            self.floor = self.history.popleft()[0]
            self.history_at.popleft()

    def _add_namespace(self, name):
        self.namespaces[name] = {
            "kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "uid": str(uuid.uuid4()), "resourceVersion": str(self._bump()),
                         "creationTimestamp": now_rfc3339(),
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        return self.namespaces[name]

    def compact(self):
        with self.cond:
            self.history.clear()
            self.history_at.clear()
            self.floor = self.rv

    def close_watches(self):
        with self.cond:
            self.watch_epoch += 1
            self.cond.notify_all()

    # -- events and pods: stored as given, with the metadata the server sets

    def create_object(self, resource, ns, obj):
        kind = OBJECT_KINDS[resource]
        with self.cond:
            if ns not in self.namespaces:
                raise not_found("namespaces", ns)
            meta = obj.setdefault("metadata", {})
            if meta.get("namespace") not in (None, "", ns):
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            name = meta.get("name") or ""
            if not name:
                raise invalid(kind, "", [("metadata.name", "FieldValueRequired",
                                          "Required value: name or generateName is required")])
            if resource == "events":
                validate_event(obj, ns)
            if (resource, ns, name) in self.objects:
                raise already_exists(resource, name)
            obj["kind"], obj["apiVersion"] = kind, "v1"
            meta.update(namespace=ns, uid=meta.get("uid") or str(uuid.uuid4()), resourceVersion=str(self._bump()),
                        creationTimestamp=meta.get("creationTimestamp") or now_rfc3339())
            self.objects[(resource, ns, name)] = copy.deepcopy(obj)
            return copy.deepcopy(obj)

    def get_object(self, resource, ns, name):
        with self.cond:
            obj = self.objects.get((resource, ns, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def patch_object(self, resource, ns, name, patch):
        with self.cond:
            cur = self.get_object(resource, ns, name)
            meta = cur["metadata"]
            patched = merge_patch(cur, patch)
            # identity stays: a patch cannot move or rename the object
            patched.setdefault("metadata", {}).update(name=name, namespace=ns, uid=meta["uid"],
                                                      creationTimestamp=meta["creationTimestamp"])
            if resource == "events":
                validate_event(patched, ns)
            patched["metadata"]["resourceVersion"] = str(self._bump())
            self.objects[(resource, ns, name)] = copy.deepcopy(patched)
            return patched

    def list_objects(self, resource, ns, field_reqs):
        with self.cond:
            items = [copy.deepcopy(o) for (r, n, _), o in sorted(self.objects.items())
                     if r == resource and (ns is None or n == ns)
                     and fields_match(field_reqs, o, OBJECT_FIELDS[resource])]
            return items, self.rv

    # -- secrets

    def create_secret(self, ns, obj, dry_run=False):
        with self.cond:
            if ns not in self.namespaces:
                raise not_found("namespaces", ns)
            meta = obj["metadata"]
            if meta.get("namespace") not in (None, "", ns):
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(
                    pysecrets.choice(GENERATE_NAME_CHARS) for _ in range(5))
            if meta.get("resourceVersion"):
                raise bad_request("resourceVersion should not be set on objects to be created")
            validate_secret(obj)
            name = meta["name"]
            if (ns, name) in self.secrets:
                raise already_exists("secrets", name)
            meta["namespace"] = ns
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta.pop("generation", None)
            meta.pop("selfLink", None)
            meta.pop("managedFields", None)
            meta.pop("deletionTimestamp", None)
            if dry_run:
                meta["resourceVersion"] = ""
                obj["metadata"] = canonical_meta(meta)
                return obj
            meta["resourceVersion"] = str(self._bump())
            obj["metadata"] = canonical_meta(meta)
            self.secrets[(ns, name)] = obj
            self._record("ADDED", obj, None)
            return copy.deepcopy(obj)

    def get_secret(self, ns, name):
        with self.cond:
            obj = self.secrets.get((ns, name))
            if obj is None:
                raise not_found("secrets", name)
            return copy.deepcopy(obj)

    def update_secret(self, ns, name, obj, dry_run=False):
        with self.cond:
            old = self.secrets.get((ns, name))
            if old is None:
                raise not_found("secrets", name)
            meta = obj["metadata"]
            if meta.get("name") and meta["name"] != name:
                raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                  f"({name})")
            if meta.get("namespace") not in (None, "", ns):
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict("secrets", name)
            if meta.get("uid") and meta["uid"] != old["metadata"]["uid"]:
                raise conflict("secrets", name, f"Precondition failed: UID in precondition: {meta['uid']}, "
                               f"UID in object meta: {old['metadata']['uid']}")
            meta["name"] = name
            meta["namespace"] = ns
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            obj["metadata"] = canonical_meta(meta)
            validate_secret(obj, old)
            if obj == old or dry_run:
                # the real server writes nothing for a no-op update: same resourceVersion, no event
                return copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self._bump())
            self.secrets[(ns, name)] = obj
            self._record("MODIFIED", obj, old)
            return copy.deepcopy(obj)

    def delete_secret(self, ns, name, preconditions=None, dry_run=False):
        with self.cond:
            old = self.secrets.get((ns, name))
            if old is None:
                raise not_found("secrets", name)
            pre = preconditions or {}
            if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
                raise conflict("secrets", name, f"Precondition failed: UID in precondition: {pre['uid']}, "
                               f"UID in object meta: {old['metadata']['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict("secrets", name, f"Precondition failed: ResourceVersion in precondition: "
                               f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                               f"{old['metadata']['resourceVersion']}")
            if dry_run:
                return old
            del self.secrets[(ns, name)]
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self._bump())
            self._record("DELETED", gone, old)
            return old

    def list_secrets(self, ns, label_reqs, field_reqs):
        with self.cond:
            items = [copy.deepcopy(o) for (n, _), o in sorted(self.secrets.items())
                     if (ns is None or n == ns) and labels_match(label_reqs, o["metadata"].get("labels"))
                     and fields_match(field_reqs, o)]
            return items, self.rv


# ---------------------------------------------------------------- certificates

def openssl(*argv):
    r = subprocess.run(["openssl", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {argv[0]} failed: {r.stderr.strip()}")


def make_ca(d, prefix, cn):
    crt, key = os.path.join(d, prefix + ".crt"), os.path.join(d, prefix + ".key")
    if os.path.exists(crt) and os.path.exists(key):
        return crt, key
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", crt, "-days", "3650", "-subj", f"/CN={cn}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash")
    os.chmod(key, 0o600)
    return crt, key


def make_server_cert(d, prefix, ca_crt, ca_key):
    crt, key = os.path.join(d, prefix + ".crt"), os.path.join(d, prefix + ".key")
    if os.path.exists(crt) and os.path.exists(key):
        return crt, key
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        csr, ext = os.path.join(tmp, "req.csr"), os.path.join(tmp, "ext.cnf")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
                    "DNS:kubernetes.default.svc,IP:127.0.0.1,IP:::1\n"
                    "authorityKeyIdentifier=keyid\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver")
        openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                "-set_serial", "0x" + pysecrets.token_hex(16), "-days", "365", "-out", crt, "-extfile", ext)
    os.chmod(key, 0o600)
    return crt, key


# ---------------------------------------------------------------- HTTP

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube"

    def version_string(self):
        return self.server_version

    # BaseHTTPRequestHandler logs through log_message; route its own errors to our format
    def log_message(self, fmt, *args):
        log(f"{self.client_address[0]} {fmt % args}")

    def log_request(self, code="-", size="-"):
        pass

    @property
    def st(self):
        return self.server.state

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- plumbing

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline(100)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1000) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(10)
                if len(out) > MAX_BODY:
                    raise ApiError(413, f"Request entity too large: limit is {MAX_BODY}")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, f"Request entity too large: limit is {MAX_BODY}")
        return self.rfile.read(n) if n > 0 else b""

    def send_bytes(self, code, body, ctype="application/json", headers=(), fault=None):
        self.entry["status"] = code
        if self.command == "HEAD":
            body_out = b""
        else:
            body_out = body
        length = len(body)
        if fault is not None and fault.mode == "truncated":
            body_out = body[:max(0, len(body) // 2)]
            self.close_connection = True
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        trickle = fault is not None and fault.mode == "slow" and fault.trickle_ms
        if not trickle:
            # headers and body in one write: two small TLS records would meet Nagle and delayed ACK
            self._headers_buffer.append(b"\r\n")
            self._headers_buffer.append(body_out)
            self.flush_headers()
            self.wfile.flush()
            self.entry["bytes"] = len(body_out)
            return
        self.end_headers()
        for i in range(0, len(body_out), fault.trickle_bytes):
            self.wfile.write(body_out[i:i + fault.trickle_bytes])
            self.wfile.flush()
            self.entry["bytes"] = i + len(body_out[i:i + fault.trickle_bytes])
            if self.st.stopping.wait(fault.trickle_ms / 1000.0):
                break

    def send_json(self, code, obj, headers=(), fault=None):
        self.send_bytes(code, dumps(obj).encode(), "application/json", headers, fault)

    def send_error_status(self, err, fault=None):
        self.send_json(err.code, err.status, err.headers, fault)

    def peer_closed(self):
        """Whether the client went away, without consuming a request it may have pipelined."""
        sock = self.connection
        try:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
            if isinstance(sock, ssl.SSLSocket) and sock.pending() == 0:
                sock.settimeout(0.0)
                try:
                    data = sock.recv(1)
                except (ssl.SSLWantReadError, BlockingIOError):
                    return False
                finally:
                    sock.settimeout(self.server.idle_timeout)
                return data == b""
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # -- the request

    def dispatch(self):
        started = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        self.url_path = url.path.rstrip("/") or "/"
        self.query = go_parse_query(url.query)
        shown = url.path
        if shown.startswith("/fake/tokens/"):
            shown = "/fake/tokens/(redacted)"     # the path of a revocation is a token
        self.entry = {"method": self.command, "path": shown, "query": url.query,
                      "content_type": self.headers.get("Content-Type"), "accept": self.headers.get("Accept"),
                      "user_agent": self.headers.get("User-Agent"), "auth": "none", "user": None,
                      "status": None, "fault": None, "bytes": 0}
        control = self.url_path.startswith("/fake/") or self.url_path == "/fake"
        with self.st.cond:
            self.st.request_seq += 1
            self.entry["seq"] = self.st.request_seq
            self.entry["time"] = round(time.time(), 3)
            self.entry["control"] = control
            self.st.requests.append(self.entry)
        try:
            self.body = self.read_body()
            if control:
                self.handle_control()
            else:
                self.handle_api()
        except ApiError as e:
            self.send_error_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, socket.timeout, TimeoutError):
            self.close_connection = True
        except Exception as e:  # a bug here must not kill the server, but must be visible
            log(f"internal error on {self.command} {shown}: {e!r}")
            import traceback
            traceback.print_exc()
            try:
                self.send_json(500, status_obj(500, f"Internal error occurred: {e}", "InternalError"))
            except OSError:
                pass
            self.close_connection = True
        finally:
            ms = int((time.monotonic() - started) * 1000)
            fault = f" fault={self.entry['fault']}" if self.entry["fault"] else ""
            user = f" user={self.entry['user']}" if self.entry["user"] else ""
            q = f"?{url.query}" if url.query else ""
            log(f"{self.client_address[0]} {self.command} {shown}{q} {self.entry['status'] or '-'} "
                f"{self.entry['bytes']}B {ms}ms auth={self.entry['auth']}{user}{fault}")

    def bearer(self):
        h = self.headers.get("Authorization", "")
        if h[:7].lower() == "bearer ":
            return h[7:].strip()
        return None

    def identify(self):
        """Who the request is from, or None; recorded before faults so the log shows it either way."""
        token = self.bearer()
        if token is not None:
            with self.st.cond:
                user = self.st.tokens.get(token)
            if user is None:
                self.entry["auth"] = "invalid-bearer"
                return None
            self.entry["auth"] = "bearer"
            self.entry["user"] = user
            return user, "token:" + token
        cert = self.connection.getpeercert() if self.server.client_ca else None
        if cert:
            cn = next((v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"), None)
            if cn:
                self.entry["auth"] = "client-cert"
                self.entry["user"] = cn
                return cn, None
        return None

    def authenticate(self):
        if self.who is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return self.who

    def authorize(self, user, token_key, verb, resource, ns, name):
        with self.st.cond:
            rules = self.st.perms.get(token_key) if token_key else None
            if rules is None:
                rules = self.st.perms.get("user:" + user)
        if rules is None:
            return
        for r in rules:
            if not ({"*", verb} & set(r.get("verbs", []))):
                continue
            if not ({"*", resource} & set(r.get("resources", ["*"]))):
                continue
            if "namespaces" in r and ns not in r["namespaces"] and "*" not in r["namespaces"]:
                continue
            if r.get("names") and name not in r["names"]:
                continue
            return
        raise forbidden(user, verb, resource, ns, name)

    # -- faults

    def take_fault(self):
        target = self.path
        with self.st.cond:
            for f in self.st.faults:
                if f.mode == "wrong-cert" or f.stage != "request":
                    continue
                if f.match and f.match not in target:
                    continue
                if f.method and f.method != self.command:
                    continue
                if f.count is not None:
                    f.count -= 1
                    if f.count <= 0:
                        self.st.faults.remove(f)
                return f
        return None

    def apply_fault(self, f):
        """Returns the fault still to apply to the response, or None when it already answered."""
        self.entry["fault"] = f.mode
        if f.mode == "down":
            self.close_connection = True
            self.entry["status"] = "closed"
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        if f.mode == "silent":
            # hold the connection without answering until the client gives up, the fault is
            # cleared or the server stops; waking once a second to notice the client leaving
            self.entry["status"] = "silent"
            gen = self.server.fault_generation
            deadline = time.monotonic() + self.server.args.silent_max
            while not self.st.stopping.is_set() and time.monotonic() < deadline:
                if self.server.fault_generation != gen or self.peer_closed():
                    break
                self.st.stopping.wait(1.0)
            self.close_connection = True
            return None
        if f.mode == "slow" and f.delay_ms:
            self.st.stopping.wait(f.delay_ms / 1000.0)
            return f
        if f.mode == "status" and f.code == 429 and f.spec.get("body") != "status":
            self.send_too_many(f"{int(f.retry_after or 1)}", "Too many requests, please try again later.")
            return None
        if f.mode == "shutdown":
            self.send_shutting_down()
            return None
        if f.mode == "status":
            self.send_error_status(self.fault_status(f))
            return None
        if f.mode == "garbage":
            self.send_bytes(200, b"<html><body>502 Bad Gateway \x00\xff not JSON {{{", "application/json")
            return None
        return f

    def send_too_many(self, retry_after, message, close=False):
        """429 the way max-in-flight, API Priority and Fairness and the shutdown filter answer it: Go's
        http.Error (text/plain, the message and a newline), Retry-After; no Status object."""
        if close:
            self.close_connection = True
        self.send_bytes(429, (message + "\n").encode(), "text/plain; charset=utf-8",
                        [("Retry-After", retry_after), ("X-Content-Type-Options", "nosniff")])

    def send_shutting_down(self):
        # WithRetryAfter: Retry-After 5 and Connection: close, so the client comes back elsewhere
        self.send_too_many("5", "The apiserver is shutting down, please try again later.", close=True)

    def fault_status(self, f):
        code = f.code
        parts = self.url_path.strip("/").split("/")
        name = parts[5] if len(parts) >= 6 and parts[:2] == ["api", "v1"] and parts[2] == "namespaces" else ""
        ns = parts[3] if len(parts) >= 4 and parts[2] == "namespaces" else ""
        headers = []
        if f.retry_after is not None:
            headers.append(("Retry-After", str(int(f.retry_after))))
        if code == 401:
            err = ApiError(401, "Unauthorized", "Unauthorized")
        elif code == 403:
            verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete"}.get(self.command, "get")
            err = forbidden(self.entry.get("user") or "system:anonymous", verb, "secrets", ns, name)
        elif code == 404:
            err = not_found("secrets", name) if name else generic_not_found()
        elif code == 409:
            err = conflict("secrets", name or "unknown")
        elif code == 429:
            err = ApiError(429, "Too many requests, please try again later.", "TooManyRequests",
                           {"retryAfterSeconds": int(f.retry_after or 1)})
        elif code == 500:
            err = ApiError(500, "Internal error occurred: fake-kube injected fault", "InternalError",
                           {"causes": [{"message": "fake-kube injected fault"}]})
        elif code == 503:
            err = ApiError(503, "the server is currently unable to handle the request", "ServiceUnavailable")
        elif code == 504:
            err = ApiError(504, "Timeout: request did not complete within the allotted timeout", "Timeout")
        else:
            err = ApiError(code, f"fake-kube injected status {code}")
        if f.message:
            err.status["message"] = f.message
        err.headers = headers
        return err

    # -- the Kubernetes API

    def handle_api(self):
        self.who = self.identify()
        if self.st.shutting_down.is_set() and not self.url_path.startswith(("/readyz", "/livez", "/healthz",
                                                                                "/metrics")):
            self.entry["fault"] = "shutting-down"
            return self.send_shutting_down()
        fault = self.take_fault()
        if fault is not None:
            fault = self.apply_fault(fault)
            if fault is None:
                return
        try:
            self.route(fault)
        except ApiError as e:
            self.send_error_status(e, fault)

    def wants_table(self):
        return "as=Table" in (self.headers.get("Accept") or "")

    def check_accept(self):
        accept = self.headers.get("Accept")
        if not accept:
            return
        for part in accept.split(","):
            mt = part.split(";")[0].strip().lower()
            if mt in ("application/json", "application/*", "*/*", "*"):
                return
        raise ApiError(406, "only the following media types are accepted: application/json", "NotAcceptable")

    def param(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def flag(self, name):
        return (self.param(name) or "").lower() in ("1", "true")

    def route(self, fault):
        p = self.url_path
        parts = p.strip("/").split("/") if p != "/" else []
        m = self.command if self.command != "HEAD" else "GET"
        user, token_key = self.authenticate()
        if p == "/openapi/v2":
            # kubectl asks for it as protobuf only; a 404 is what it copes with best
            raise generic_not_found()
        self.check_accept()

        if p in ("/healthz", "/livez", "/readyz"):
            return self.send_bytes(200, b"ok", "text/plain; charset=utf-8", fault=fault)
        if m == "GET" and p == "/version":
            return self.send_json(200, SERVER_VERSION, fault=fault)
        if m == "GET" and p == "/api":
            host = f"{self.server.args.bind}:{self.server.port}"
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs":
                                        [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}, fault=fault)
        if m == "GET" and p == "/apis":
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}, fault=fault)
        if m == "GET" and p == "/api/v1":
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
                 "verbs": NAMESPACE_VERBS, "shortNames": ["ns"], "storageVersionHash": "Q3oi5N2YM8M="},
                {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
                 "verbs": SECRET_VERBS, "storageVersionHash": "S6u1pOWzb84="},
                {"name": "events", "singularName": "event", "namespaced": True, "kind": "Event",
                 "verbs": EVENT_VERBS, "shortNames": ["ev"], "storageVersionHash": "r2yiGXH7wu8="},
                {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                 "verbs": POD_VERBS, "shortNames": ["po"], "categories": ["all"],
                 "storageVersionHash": "xPOwRZ+Yhw8="}]}, fault=fault)
        if m == "GET" and p == "/openapi/v3":
            return self.send_json(200, {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash="
                                                  + OPENAPI_V3_HASH}}}, fault=fault)
        if m == "GET" and p == "/openapi/v3/api/v1":
            return self.send_bytes(200, OPENAPI_V3_DOC, "application/json", fault=fault)

        if len(parts) >= 2 and parts[:2] == ["api", "v1"]:
            rest = parts[2:]
            if rest[:1] == ["watch"]:
                # the deprecated /api/v1/watch/... paths still exist on real servers
                rest = rest[1:]
                self.query["watch"] = ["true"]
                if len(rest) == 4 and rest[0] == "namespaces" and rest[2] == "secrets":
                    self.query["fieldSelector"] = [f"metadata.name={rest[3]}"]
                    rest = rest[:3]
            if rest == ["namespaces"]:
                return self.namespaces_collection(m, user, token_key, fault)
            if len(rest) == 2 and rest[0] == "namespaces":
                return self.namespace_item(m, rest[1], user, token_key, fault)
            if rest == ["secrets"]:
                return self.secrets_collection(m, None, user, token_key, fault)
            if len(rest) == 3 and rest[0] == "namespaces" and rest[2] == "secrets":
                return self.secrets_collection(m, rest[1], user, token_key, fault)
            if len(rest) == 4 and rest[0] == "namespaces" and rest[2] == "secrets":
                return self.secret_item(m, rest[1], rest[3], user, token_key, fault)
            if len(rest) == 1 and rest[0] in OBJECT_KINDS:
                return self.objects_collection(m, rest[0], None, user, token_key, fault)
            if len(rest) == 3 and rest[0] == "namespaces" and rest[2] in OBJECT_KINDS:
                return self.objects_collection(m, rest[2], rest[1], user, token_key, fault)
            if len(rest) == 4 and rest[0] == "namespaces" and rest[2] in OBJECT_KINDS:
                return self.object_item(m, rest[2], rest[1], rest[3], user, token_key, fault)
        raise generic_not_found()

    def method_not_allowed(self):
        return ApiError(405, "the server does not allow this method on the requested resource",
                        "MethodNotAllowed", {})

    def namespaces_collection(self, m, user, token_key, fault):
        if m == "GET":
            self.authorize(user, token_key, "list", "namespaces", "", "")
            with self.st.cond:
                items = [list_item(copy.deepcopy(v)) for _, v in sorted(self.st.namespaces.items())]
                rv = self.st.rv
            return self.send_json(200, {"kind": "NamespaceList", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": str(rv)}, "items": items}, fault=fault)
        if m == "POST":
            self.authorize(user, token_key, "create", "namespaces", "", "")
            self.require_json()
            obj, _ = decode_json(self.body, "Namespace")
            name = (obj.get("metadata") or {}).get("name", "")
            if not name or not DNS1123_LABEL.match(name) or len(name) > 63:
                raise invalid("Namespace", name, [("metadata.name", "FieldValueInvalid" if name else
                                                   "FieldValueRequired", f'Invalid value: "{name}"' if name
                                                   else "Required value: name or generateName is required")])
            with self.st.cond:
                if name in self.st.namespaces:
                    raise already_exists("namespaces", name)
                ns = copy.deepcopy(self.st._add_namespace(name))
            return self.send_json(201, ns, fault=fault)
        raise self.method_not_allowed()

    def namespace_item(self, m, name, user, token_key, fault):
        if m != "GET":
            raise self.method_not_allowed()
        self.authorize(user, token_key, "get", "namespaces", "", name)
        with self.st.cond:
            ns = copy.deepcopy(self.st.namespaces.get(name))
        if ns is None:
            raise not_found("namespaces", name)
        return self.send_json(200, ns, fault=fault)

    def require_json(self, accepted=("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            # a JSON-only server: protobuf (what kubectl sends for generated objects) is refused
            raise unsupported_media(["application/json"])

    def field_validation(self, obj, dups):
        mode = self.param("fieldValidation", "Warn")
        problems = field_problems(obj, dups)
        if not problems:
            return []
        if mode == "Strict":
            raise bad_request('Secret in version "v1" cannot be handled as a Secret: strict decoding error: '
                              + ", ".join(problems))
        if mode == "Warn":
            return [("Warning", '299 - "' + p.replace('"', '\\"') + '"') for p in problems]
        return []

    def dry_run(self):
        v = self.query.get("dryRun") or []
        for d in v:
            if d != "All":
                raise bad_request(f"Invalid dry run value: {d}")
        return bool(v)

    def secrets_collection(self, m, ns, user, token_key, fault):
        if m == "GET":
            label_reqs = parse_label_selector(self.param("labelSelector"))
            field_reqs = parse_field_selector(self.param("fieldSelector"))
            watching = self.flag("watch")
            self.authorize(user, token_key, "watch" if watching else "list", "secrets", ns,
                           selector_name(field_reqs))
            if watching:
                return self.watch(ns, label_reqs, field_reqs, fault)
            return self.list(ns, label_reqs, field_reqs, fault)
        if m == "POST" and ns is not None:
            self.authorize(user, token_key, "create", "secrets", ns, "")
            self.require_json()
            raw, dups = decode_json(self.body)
            warnings = self.field_validation(raw, dups)
            obj = normalise_secret(raw)
            created = self.st.create_secret(ns, obj, self.dry_run())
            return self.send_json(201, created, warnings, fault)
        if m == "DELETE" and ns is not None:
            self.authorize(user, token_key, "deletecollection", "secrets", ns, "")
            label_reqs = parse_label_selector(self.param("labelSelector"))
            field_reqs = parse_field_selector(self.param("fieldSelector"))
            items, _ = self.st.list_secrets(ns, label_reqs, field_reqs)
            dry = self.dry_run()
            for o in items:
                try:
                    self.st.delete_secret(ns, o["metadata"]["name"], dry_run=dry)
                except ApiError:
                    pass
            with self.st.cond:
                rv = self.st.rv
            return self.send_json(200, {"kind": "SecretList", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": str(rv)},
                                        "items": [list_item(o) for o in items]}, fault=fault)
        raise self.method_not_allowed()

    def table(self, objs, rv):
        now = time.time()
        rows = []
        for o in objs:
            created = parse_rfc3339(o["metadata"].get("creationTimestamp"))
            age = human_duration(now - created.timestamp()) if created else "<unknown>"
            row = {"cells": [o["metadata"]["name"], o.get("type", ""), len(o.get("data", {})), age]}
            include = self.param("includeObject", "Metadata")
            if include == "Object":
                row["object"] = o
            elif include != "None":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": o["metadata"]}
            rows.append(row)
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(rv)},
                "columnDefinitions": [
                    {"name": "Name", "type": "string", "format": "name", "description":
                     "Name must be unique within a namespace.", "priority": 0},
                    {"name": "Type", "type": "string", "format": "", "description":
                     "Used to facilitate programmatic handling of secret data.", "priority": 0},
                    {"name": "Data", "type": "string", "format": "", "description":
                     "Data contains the secret data.", "priority": 0},
                    {"name": "Age", "type": "string", "format": "", "description":
                     "CreationTimestamp is a timestamp representing the server time when this object was "
                     "created.", "priority": 0}],
                "rows": rows}

    def list(self, ns, label_reqs, field_reqs, fault):
        items, rv = self.st.list_secrets(ns, label_reqs, field_reqs)
        meta = {"resourceVersion": str(rv)}
        cont = self.param("continue")
        if cont:
            try:
                tok = json.loads(base64.urlsafe_b64decode(cont.encode() + b"=="))
                start = tuple(tok["start"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid: illegal base64 data")
            items = [o for o in items if (o["metadata"]["namespace"], o["metadata"]["name"]) > start]
        limit = int(self.param("limit", "0") or 0)
        if limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            tok = dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": [last["namespace"], last["name"]]})
            meta["continue"] = base64.urlsafe_b64encode(tok.encode()).decode().rstrip("=")
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if self.wants_table():
            t = self.table(items, rv)
            t["metadata"] = meta
            return self.send_json(200, t, fault=fault)
        return self.send_json(200, {"kind": "SecretList", "apiVersion": "v1", "metadata": meta,
                                    "items": [list_item(o) for o in items]}, fault=fault)

    def read_patch(self, kinds):
        """The patch's media type (one of kinds, else 415) and its JSON document (else 400)."""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in kinds:
            raise unsupported_media(kinds)
        try:
            return ctype, json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise bad_request(f"error decoding patch: {e}")

    def secret_item(self, m, ns, name, user, token_key, fault):
        if m == "GET":
            self.authorize(user, token_key, "get", "secrets", ns, name)
            obj = self.st.get_secret(ns, name)
            if self.wants_table():
                return self.send_json(200, self.table([obj], obj["metadata"]["resourceVersion"]), fault=fault)
            return self.send_json(200, obj, fault=fault)
        if m == "PUT":
            self.authorize(user, token_key, "update", "secrets", ns, name)
            self.require_json()
            raw, dups = decode_json(self.body)
            warnings = self.field_validation(raw, dups)
            obj = normalise_secret(raw)
            return self.send_json(200, self.st.update_secret(ns, name, obj, self.dry_run()), warnings, fault)
        if m == "PATCH":
            self.authorize(user, token_key, "patch", "secrets", ns, name)
            ctype, patch = self.read_patch(["application/json-patch+json", "application/merge-patch+json",
                                            "application/strategic-merge-patch+json"])
            # the real server retries a patch on a conflicting concurrent write; our lock makes
            # read-patch-update atomic instead
            with self.st.cond:
                cur = self.st.get_secret(ns, name)
                if ctype == "application/json-patch+json":
                    try:
                        patched = json_patch(cur, patch)
                    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as e:
                        raise ApiError(422, str(e), "Invalid")
                else:
                    if not isinstance(patch, dict):
                        raise bad_request("error decoding patch: a merge patch must be a JSON object")
                    if ctype == "application/strategic-merge-patch+json":
                        patch = strip_directives(patch)
                    patched = merge_patch(cur, patch)
                if not isinstance(patched, dict):
                    raise bad_request("patched object is not a JSON object")
                obj = normalise_secret(patched)
                updated = self.st.update_secret(ns, name, obj, self.dry_run())
            return self.send_json(200, updated, fault=fault)
        if m == "DELETE":
            self.authorize(user, token_key, "delete", "secrets", ns, name)
            pre = None
            if self.body.strip():
                try:
                    opts = json.loads(self.body.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as e:
                    raise bad_request(f"couldn't get version/kind; json parse error: {e}")
                pre = (opts or {}).get("preconditions") if isinstance(opts, dict) else None
            old = self.st.delete_secret(ns, name, pre, self.dry_run())
            return self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                        "details": {"name": name, "kind": "secrets",
                                                    "uid": old["metadata"]["uid"]}}, fault=fault)
        raise self.method_not_allowed()

    # -- events and pods

    def objects_collection(self, m, resource, ns, user, token_key, fault):
        if m == "GET":
            if self.flag("watch"):
                raise ApiError(405, f"watch of {resource} is not implemented by fake-kube", "MethodNotAllowed", {})
            field_reqs = parse_field_selector(self.param("fieldSelector"), OBJECT_FIELDS[resource])
            self.authorize(user, token_key, "list", resource, ns, "")
            items, rv = self.st.list_objects(resource, ns, field_reqs)
            if self.wants_table():
                return self.send_json(200, self.object_table(resource, items, rv), fault=fault)
            return self.send_json(200, {"kind": OBJECT_KINDS[resource] + "List", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": str(rv)},
                                        "items": [list_item(o) for o in items]}, fault=fault)
        if m == "POST" and ns is not None and resource == "events":
            self.authorize(user, token_key, "create", resource, ns, "")
            self.require_json()
            obj, _ = decode_json(self.body, "Event")
            return self.send_json(201, self.st.create_object(resource, ns, obj), fault=fault)
        raise self.method_not_allowed()

    def object_item(self, m, resource, ns, name, user, token_key, fault):
        if m == "GET":
            self.authorize(user, token_key, "get", resource, ns, name)
            obj = self.st.get_object(resource, ns, name)
            if self.wants_table():
                return self.send_json(200, self.object_table(resource, [obj], obj["metadata"]["resourceVersion"]),
                                      fault=fault)
            return self.send_json(200, obj, fault=fault)
        if m == "PATCH" and resource == "events":
            self.authorize(user, token_key, "patch", resource, ns, name)
            _, patch = self.read_patch(["application/merge-patch+json", "application/strategic-merge-patch+json"])
            if not isinstance(patch, dict):
                raise bad_request("error decoding patch: a merge patch must be a JSON object")
            return self.send_json(200, self.st.patch_object(resource, ns, name, strip_directives(patch)), fault=fault)
        raise self.method_not_allowed()

    def object_table(self, resource, objs, rv):
        now = time.time()

        def since(ts):
            t = parse_rfc3339(ts) if ts else None
            return human_duration(now - t.timestamp()) if t else "<unknown>"

        def col(name, priority=0, description=""):
            return {"name": name, "type": "string", "format": "name" if name == "Name" else "",
                    "description": description, "priority": priority}
        rows = []
        for o in objs:
            if resource == "events":
                # printers.go printEvent: "LAST (xCOUNT over FIRST)" once an event repeats
                first = since(o.get("firstTimestamp") or o.get("eventTime"))
                last = since(o["lastTimestamp"]) if o.get("lastTimestamp") else first
                count = o.get("count") or 1
                if count > 1:
                    last = f"{last} (x{count} over {first})"
                inv = o.get("involvedObject") or {}
                target = f"{inv.get('kind', '').lower()}/{inv['name']}" if inv.get("name") else inv.get("kind", "").lower()
                src = o.get("source") or {}
                source = ", ".join(x for x in (src.get("component") or o.get("reportingComponent", ""),
                                               src.get("host") or o.get("reportingInstance", "")) if x)
                cells = [last, o.get("type", ""), o.get("reason", ""), target, inv.get("fieldPath", ""), source,
                         (o.get("message") or "").strip(), first, count, o["metadata"]["name"]]
            else:
                cells = [o["metadata"]["name"], "1/1", (o.get("status") or {}).get("phase", ""), 0,
                         since(o["metadata"].get("creationTimestamp"))]
            rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                    "metadata": o["metadata"]}})
        if resource == "events":
            cols = [col("Last Seen"), col("Type"), col("Reason"), col("Object"), col("Subobject", 1),
                    col("Source", 1), col("Message"), col("First Seen", 1), col("Count", 1), col("Name", 1)]
        else:
            cols = [col("Name"), col("Ready"), col("Status"), col("Restarts"), col("Age")]
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(rv)},
                "columnDefinitions": cols, "rows": rows}

    # -- watch

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, ns, label_reqs, field_reqs, fault):
        st = self.st
        rv_param = self.param("resourceVersion", "")
        timeout = self.param("timeoutSeconds")
        try:
            timeout = float(timeout) if timeout not in (None, "") else float(self.server.args.watch_timeout)
        except ValueError:
            raise bad_request(f"invalid timeoutSeconds: {timeout}")
        bookmarks = self.flag("allowWatchBookmarks")
        initial = self.flag("sendInitialEvents")
        if initial and (self.param("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
            raise invalid("ListOptions", "", [("sendInitialEvents", "FieldValueForbidden",
                                               "Forbidden: sendInitialEvents is forbidden for watch unless "
                                               "the WatchList feature gate is enabled and resourceVersionMatch "
                                               "is set to NotOlderThan and allowWatchBookmarks is set to true")])
        as_table = self.wants_table()

        def matches(o):
            return (o is not None and (ns is None or o["metadata"].get("namespace") == ns)
                    and labels_match(label_reqs, o["metadata"].get("labels")) and fields_match(field_reqs, o))

        pending = []
        expired = None
        with st.cond:
            epoch = st.watch_epoch
            if rv_param in ("", "0") or initial:
                # no resourceVersion: the current state as synthetic ADDED events, then changes
                cursor = st.rv
                pending = [("ADDED", copy.deepcopy(o)) for _, o in sorted(st.secrets.items()) if matches(o)]
                if initial:
                    pending.append(("BOOKMARK", {"kind": "Secret", "apiVersion": "v1", "metadata": {
                        "resourceVersion": str(cursor), "creationTimestamp": None,
                        "annotations": {"k8s.io/initial-events-end": "true"}}}))
            else:
                try:
                    cursor = int(rv_param)
                except ValueError:
                    raise bad_request(f'invalid resource version: strconv.ParseUint: parsing "{rv_param}": '
                                      f'invalid syntax')
                st.expire_history()
                if cursor < st.floor:
                    expired = status_obj(410, f"too old resource version: {cursor} ({st.floor})", "Expired")

        self.entry["status"] = 200
        self.entry["watch"] = True
        self.close_connection = True   # a watch owns its connection until it ends
        self.send_response(200)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

        def emit(typ, obj):
            if as_table and typ not in ("ERROR", "BOOKMARK"):
                obj = self.table([obj], obj["metadata"].get("resourceVersion", ""))
            line = dumps({"type": typ, "object": obj}).encode() + b"\n"
            if fault is not None and fault.mode == "unterminated" and typ == "ERROR":
                line = line[:-1]   # a final event with no newline after it, as some servers send
            if fault is not None and fault.mode == "truncated":
                self.write_chunk(line[:len(line) // 2])
                raise BrokenPipeError("truncated by fault")
            self.write_chunk(line)
            self.entry["bytes"] += len(line)

        try:
            if expired is not None:
                emit("ERROR", expired)
                self.write_chunk(b"")
                return
            for typ, obj in pending:
                emit(typ, obj)
            deadline = time.monotonic() + timeout
            interval = self.server.args.bookmark_seconds

            def next_bookmark_time(now):
                # cacheWatcher.nextBookmarkTime: now + frequency, or 2 s before the deadline if sooner;
                # none once that is past
                t = min(now + interval, deadline - 2.0)
                return t if t >= now else float("inf")

            next_bookmark = next_bookmark_time(time.monotonic())
            while True:
                events = []
                with st.cond:
                    while True:
                        now = time.monotonic()
                        if st.stopping.is_set() or st.watch_epoch != epoch or now >= deadline:
                            break
                        if st.history and st.history[-1][0] > cursor:
                            break
                        if bookmarks and now >= next_bookmark:
                            break
                        # wake at least once a second to notice a client that went away
                        st.cond.wait(max(0.0, min(deadline - now, 1.0, next_bookmark - now if bookmarks else 1.0)))
                        if self.peer_closed():
                            return
                    if st.stopping.is_set() or st.watch_epoch != epoch or time.monotonic() >= deadline:
                        break
                    st.expire_history()
                    if cursor < st.floor:
                        # fell out of the window while watching: the real server ends such a watch too
                        events = [("ERROR", status_obj(410, f"too old resource version: {cursor} ({st.floor})",
                                                       "Expired"))]
                    else:
                        for rv, typ, obj, prev in st.history:
                            if rv <= cursor:
                                continue
                            now_in, was_in = matches(obj), matches(prev) if prev is not None else False
                            if typ == "ADDED" and now_in:
                                events.append(("ADDED", obj))
                            elif typ == "MODIFIED":
                                if now_in and was_in:
                                    events.append(("MODIFIED", obj))
                                elif now_in:
                                    events.append(("ADDED", obj))
                                elif was_in:
                                    gone = copy.deepcopy(prev)
                                    gone["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]
                                    events.append(("DELETED", gone))
                            elif typ == "DELETED" and matches(obj):
                                events.append(("DELETED", obj))
                        cursor = st.rv
                    bookmark_rv = cursor
                    progressed = st.last_event_rv != 0
                for typ, obj in events:
                    emit(typ, copy.deepcopy(obj))
                if events and events[0][0] == "ERROR":
                    break
                if bookmarks and time.monotonic() >= next_bookmark:
                    # the cacher sends no bookmark before it has seen an event (dispatchEvents)
                    if progressed:
                        emit("BOOKMARK", {"kind": "Secret", "apiVersion": "v1", "metadata": {
                            "resourceVersion": str(bookmark_rv), "creationTimestamp": None}})
                    next_bookmark = next_bookmark_time(time.monotonic())
            self.write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass

    # -- the control API

    def handle_control(self):
        self.entry["auth"] = "admin"
        token = self.bearer()
        if token is None or not pysecrets.compare_digest(token, self.server.admin_token):
            self.entry["auth"] = "invalid-admin"
            raise ApiError(401, "Unauthorized", "Unauthorized")
        st = self.st
        p, m = self.url_path, self.command

        def body():
            if not self.body.strip():
                return {}
            try:
                return json.loads(self.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise bad_request(f"invalid JSON: {e}")

        if p == "/fake/faults":
            if m == "GET":
                with st.cond:
                    return self.send_json(200, {"items": [f.describe() for f in st.faults]})
            if m == "POST":
                spec = body()
                with st.cond:
                    st.fault_seq += 1
                    f = Fault(spec, st.fault_seq)
                    st.faults.append(f)
                    self.server.update_wrong_cert()
                log(f"fault added: {dumps(f.describe())}")
                return self.send_json(201, f.describe())
            if m == "DELETE":
                with st.cond:
                    n = len(st.faults)
                    st.faults.clear()
                    self.server.fault_generation += 1
                    self.server.update_wrong_cert()
                log(f"faults cleared ({n})")
                return self.send_json(200, {"cleared": n})
        if p.startswith("/fake/faults/") and m == "DELETE":
            fid = p.rsplit("/", 1)[1]
            with st.cond:
                keep = [f for f in st.faults if str(f.id) != fid]
                if len(keep) == len(st.faults):
                    raise ApiError(404, f"no fault {fid}", "NotFound")
                st.faults[:] = keep
                self.server.fault_generation += 1
                self.server.update_wrong_cert()
            return self.send_json(200, {"cleared": 1})
        if p == "/fake/requests":
            if m == "GET":
                since = int(self.param("since", "0") or 0)
                include_control = self.flag("all")
                with st.cond:
                    items = [dict(e) for e in st.requests
                             if e["seq"] > since and (include_control or not e["control"])]
                    last = st.request_seq
                return self.send_json(200, {"items": items, "last": last})
            if m == "DELETE":
                with st.cond:
                    st.requests.clear()
                return self.send_json(200, {"cleared": True})
        if p == "/fake/tokens" and m == "POST":
            spec = body()
            tok = spec.get("token") or pysecrets.token_urlsafe(32)
            user = spec.get("user") or self.server.args.user
            with st.cond:
                st.tokens[tok] = user
            log(f"token added for user {user}")
            return self.send_json(201, {"token": tok, "user": user})
        if p.startswith("/fake/tokens/") and m == "DELETE":
            tok = urllib.parse.unquote(p[len("/fake/tokens/"):])
            with st.cond:
                user = st.tokens.pop(tok, None)
                st.perms.pop("token:" + tok, None)
            if user is None:
                raise ApiError(404, "no such token", "NotFound")
            log(f"token revoked for user {user}")
            return self.send_json(200, {"revoked": True, "user": user})
        if p == "/fake/permissions" and m == "POST":
            spec = body()
            rules = spec.get("rules")
            if rules is not None and (not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules)):
                raise bad_request("rules must be a list of objects or null")
            if spec.get("token"):
                key = "token:" + spec["token"]
            elif spec.get("user"):
                key = "user:" + spec["user"]
            else:
                raise bad_request("permissions need 'token' or 'user'")
            with st.cond:
                if rules is None:
                    st.perms.pop(key, None)
                else:
                    st.perms[key] = rules
            return self.send_json(200, {"rules": rules})
        if p == "/fake/secrets" and m == "POST":
            raw = body()
            ns = (raw.get("metadata") or {}).get("namespace") or "default"
            with st.cond:
                if ns not in st.namespaces:
                    st._add_namespace(ns)
            return self.send_json(201, st.create_secret(ns, normalise_secret(raw)))
        if p == "/fake/secrets" and m == "PUT":
            # create or replace, as an API client's apply would (ADDED or MODIFIED for watchers)
            raw = normalise_secret(body())
            meta = raw.setdefault("metadata", {})
            ns, name = meta.get("namespace") or "default", meta.get("name", "")
            with st.cond:
                if ns not in st.namespaces:
                    st._add_namespace(ns)
                exists = (ns, name) in st.secrets
            if exists:
                return self.send_json(200, st.update_secret(ns, name, raw))
            return self.send_json(201, st.create_secret(ns, raw))
        if p.startswith("/fake/secrets/") and m == "DELETE":
            parts = p[len("/fake/secrets/"):].split("/")
            if len(parts) != 2:
                raise bad_request("DELETE /fake/secrets/NAMESPACE/NAME")
            st.delete_secret(parts[0], parts[1])
            return self.send_json(200, {"deleted": parts[1]})
        if p == "/fake/pods" and m == "POST":
            raw = body()
            ns = (raw.get("metadata") or {}).get("namespace") or "default"
            raw.setdefault("spec", {"containers": [{"name": "main", "image": "localhost/fake:0"}]})
            raw.setdefault("status", {"phase": "Running"})
            with st.cond:
                if ns not in st.namespaces:
                    st._add_namespace(ns)
            return self.send_json(201, st.create_object("pods", ns, raw))
        if p == "/fake/namespaces" and m == "POST":
            name = body().get("name", "")
            with st.cond:
                if name not in st.namespaces:
                    st._add_namespace(name)
                return self.send_json(201, st.namespaces[name])
        if p == "/fake/compact" and m == "POST":
            st.compact()
            with st.cond:
                return self.send_json(200, {"resourceVersion": str(st.rv), "floor": st.floor})
        if p == "/fake/watches/close" and m == "POST":
            st.close_watches()
            return self.send_json(200, {"closed": True})
        if p == "/fake/tls" and m == "POST":
            # the API server's own CA rotates: serve a new certificate chain from the next handshake
            # on; open watches end, as when kube-apiserver restarts with its new certificate
            b = body()
            try:
                self.server.serve_with(b["cert"], b["key"], b.get("ca"))
            except (KeyError, OSError, ssl.SSLError) as e:
                raise bad_request(f"cannot serve that certificate: {e!r}")
            st.close_watches()
            return self.send_json(200, {"serving": b["cert"]})
        if p == "/fake/state" and m == "GET":
            with st.cond:
                return self.send_json(200, {"resourceVersion": str(st.rv), "floor": st.floor,
                                            "history": len(st.history), "secrets": len(st.secrets),
                                            "namespaces": sorted(st.namespaces), "tokens": len(st.tokens),
                                            "faults": [f.describe() for f in st.faults]})
        raise generic_not_found()


# A minimal OpenAPI v3 document: just enough for kubectl to learn that the server does
# field validation itself (so `kubectl create -f` needs no --validate=false).
def _openapi_v3():
    gvk = [{"group": "", "version": "v1", "kind": "Secret"}]
    params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
              for n in ("dryRun", "fieldManager", "fieldValidation")]
    ns_param = {"name": "namespace", "in": "path", "required": True, "schema": {"type": "string"}}
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    secret_schema = {"type": "object", "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "immutable": {"type": "boolean"},
        "data": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
        "stringData": {"type": "object", "additionalProperties": {"type": "string"}},
        "type": {"type": "string"}, "metadata": {"type": "object"}},
        "x-kubernetes-group-version-kind": gvk}

    def op(action, op_id):
        return {"operationId": op_id, "parameters": params, "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "Secret"},
                "responses": {"200": {"description": "OK"}}}
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
           "paths": {
               "/api/v1/namespaces/{namespace}/secrets": {
                   "parameters": [ns_param],
                   "post": op("post", "createCoreV1NamespacedSecret")},
               "/api/v1/namespaces/{namespace}/secrets/{name}": {
                   "parameters": [ns_param, name_param],
                   "put": op("put", "replaceCoreV1NamespacedSecret"),
                   "patch": op("patch", "patchCoreV1NamespacedSecret")}},
           "components": {"schemas": {"io.k8s.api.core.v1.Secret": secret_schema}}}
    return dumps(doc).encode()


OPENAPI_V3_DOC = _openapi_v3()
OPENAPI_V3_HASH = __import__("hashlib").sha512(OPENAPI_V3_DOC).hexdigest()[:128].upper()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False      # a kept-alive idle connection must not delay SIGTERM
    allow_reuse_address = True
    request_queue_size = 128
    idle_timeout = 90.0

    def __init__(self, addr, state, args, ctx, wrong_ctx, admin_token, client_ca):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.args = args
        self.ctx = ctx
        self.wrong_ctx = wrong_ctx
        self.admin_token = admin_token
        self.client_ca = client_ca
        self.wrong_cert = False
        self.fault_generation = 0
        super().__init__(addr, Handler)
        self.port = self.server_address[1]
        ctx.sni_callback = self._sni

    def serve_with(self, crt, key, ca):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(crt, key)
        if self.client_ca:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(self.client_ca)
        ctx.sni_callback = self._sni
        if ca:
            # the control API's clients trust the new CA too
            path = os.path.join(self.args.state_dir, "control-ca.crt")
            with open(path) as a, open(ca) as b:
                write_file(path, a.read() + b.read())
        self.ctx = ctx

    def update_wrong_cert(self):
        # caller holds state.cond
        self.wrong_cert = any(f.mode == "wrong-cert" for f in self.state.faults)

    def _sni(self, sslobj, server_name, ctx):
        # called on every handshake, SNI or not: lets a wrong-cert fault swap the whole certificate chain
        if not self.wrong_cert:
            return None
        st = self.state
        with st.cond:
            for f in st.faults:
                if f.mode != "wrong-cert":
                    continue
                if f.count is not None:
                    f.count -= 1
                    if f.count <= 0:
                        st.faults.remove(f)
                self.update_wrong_cert()
                sslobj.context = self.wrong_ctx
                log("handshake answered with the wrong certificate (fault wrong-cert)")
                break
        return None

    def take_connect_fault(self):
        st = self.state
        with st.cond:
            for f in st.faults:
                if f.stage == "connect":
                    f.count -= 1
                    if f.count <= 0:
                        st.faults.remove(f)
                    return f
        return None

    def finish_request(self, request, client_address):
        # the TLS handshake runs here, in the connection's own thread, so that a client that
        # never finishes it holds up nobody else
        if self.take_connect_fault():
            log(f"{client_address[0]} connection closed before the handshake (fault down, stage connect)")
            return
        request.settimeout(10.0)
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log(f"{client_address[0]} TLS handshake failed: {e}")
            return
        tls.settimeout(self.idle_timeout)
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        log(f"{client_address[0]} connection error: {sys.exc_info()[1]!r}")


def write_file(path, text, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description="fake Kubernetes API server (Secrets) for tests")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--token", action="append", help="a valid bearer token (repeatable); default: random")
    ap.add_argument("--user", default="system:serviceaccount:default:nodeseal",
                    help="user name of the --token tokens")
    ap.add_argument("--admin-token", help="bearer token of the /fake/ control API; default: random")
    ap.add_argument("--namespace", action="append", help="an extra namespace that exists (repeatable)")
    ap.add_argument("--client-ca", help="accept client certificates signed by this CA (CN = user)")
    ap.add_argument("--history", type=int, default=100 * 1024,
                    help="most watch events kept for resuming (the watch cache's upper bound)")
    ap.add_argument("--history-seconds", type=float, default=75.0,
                    help="watch events older than this are dropped (eventFreshDuration)")
    ap.add_argument("--shutdown-delay", type=float, default=0.0,
                    help="after SIGTERM, answer API requests 429 + Connection: close this long, then stop")
    ap.add_argument("--watch-timeout", type=float, default=1800, help="watch length without timeoutSeconds")
    ap.add_argument("--bookmark-seconds", type=float, default=60.0, help="interval of BOOKMARK events")
    ap.add_argument("--silent-max", type=float, default=600, help="longest a silent fault holds a request")
    ap.add_argument("--request-log", type=int, default=2000, help="entries kept for GET /fake/requests")
    args = ap.parse_args()

    d = os.path.abspath(args.state_dir)
    os.makedirs(d, exist_ok=True)
    for stale in ("port", "url"):
        try:
            os.unlink(os.path.join(d, stale))
        except FileNotFoundError:
            pass

    ca_crt, ca_key = make_ca(d, "ca", "fake-kube-ca")
    srv_crt, srv_key = make_server_cert(d, "server", ca_crt, ca_key)
    wca_crt, wca_key = make_ca(d, "wrong-ca", "fake-kube-wrong-ca")
    wsrv_crt, wsrv_key = make_server_cert(d, "wrong-server", wca_crt, wca_key)

    def context(crt, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(crt, key)
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(args.client_ca)
        return ctx

    state = State(args)
    tokens = args.token or [pysecrets.token_urlsafe(32)]
    for t in tokens:
        state.tokens[t] = args.user
    admin = args.admin_token or pysecrets.token_urlsafe(32)

    server = Server((args.bind, args.port), state, args, context(srv_crt, srv_key), context(wsrv_crt, wsrv_key),
                    admin, args.client_ca)
    host = f"[{args.bind}]" if ":" in args.bind else args.bind
    url = f"https://{host}:{server.port}"

    # the control API must stay reachable while a wrong-cert fault holds: its clients trust both CAs
    with open(ca_crt) as a, open(wca_crt) as b:
        write_file(os.path.join(d, "control-ca.crt"), a.read() + b.read())
    write_file(os.path.join(d, "token"), tokens[0] + "\n", 0o600)
    write_file(os.path.join(d, "admin-token"), admin + "\n", 0o600)
    write_file(os.path.join(d, "url"), url + "\n")
    write_file(os.path.join(d, "pid"), f"{os.getpid()}\n")
    write_file(os.path.join(d, "kubeconfig"),
               "apiVersion: v1\nkind: Config\n"
               f"clusters:\n- name: fake-kube\n  cluster:\n    server: {url}\n"
               f"    certificate-authority: {ca_crt}\n"
               f"users:\n- name: fake-kube-user\n  user:\n    token: {json.dumps(tokens[0])}\n"
               "contexts:\n- name: fake-kube\n  context:\n    cluster: fake-kube\n    user: fake-kube-user\n"
               "    namespace: default\n"
               "current-context: fake-kube\n", 0o600)

    def finish():
        state.stopping.set()
        with state.cond:
            state.cond.notify_all()
        server.shutdown()

    def stop(signum, _frame):
        if state.shutting_down.is_set():
            return
        log(f"signal {signum}: shutting down" + (f" in {args.shutdown_delay:g} s" if args.shutdown_delay else ""))
        state.shutting_down.set()

        def delayed():
            # open requests (watches) go on meanwhile, as during the real shutdown-delay-duration
            time.sleep(args.shutdown_delay)
            finish()
        threading.Thread(target=delayed, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    # written last: tests wait for this file to know the server accepts connections
    write_file(os.path.join(d, "port"), f"{server.port}\n")
    log(f"listening on {url} (state dir {d})")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for f in ("port", "url", "pid"):
            try:
                os.unlink(os.path.join(d, f))
            except FileNotFoundError:
                pass
        log("stopped")


if __name__ == "__main__":
    main()
