#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Checks deploy/kubernetes/*.yaml without a cluster: every field is one the API accepts for its
# kind (a schema of the kinds we use, from the Kubernetes 1.32 API reference), the values the API
# server would refuse are refused here, and the manifests fit together (names, RBAC, mounts, the
# embedded nodeseal.json, which nodeseal's own parser must accept).
#
#   check-manifests.py DIR [KUBE_GET]    KUBE_GET: the kube-get test program, to parse nodeseal.json

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

errors = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


# ---- a schema of the API types the manifests use ----
# A type is: "str", "int", "bool", "intstr", "quantity", "any", ("list", T), ("map", T), or a dict
# of field -> type (an object; fields outside it are unknown to the API).

STR, INT, BOOL, ANY = "str", "int", "bool", "any"
INTSTR, QTY = "intstr", "quantity"


def L(t):
    return ("list", t)


def M(t):
    return ("map", t)


OBJECT_META = {
    "name": STR, "generateName": STR, "namespace": STR, "labels": M(STR), "annotations": M(STR),
    "ownerReferences": L(ANY), "finalizers": L(STR), "uid": STR, "resourceVersion": STR,
    "generation": INT, "creationTimestamp": STR, "deletionTimestamp": STR,
    "deletionGracePeriodSeconds": INT, "managedFields": L(ANY), "selfLink": STR,
}
LABEL_SELECTOR = {"matchLabels": M(STR), "matchExpressions": L({"key": STR, "operator": STR, "values": L(STR)})}
KEY_TO_PATH = {"key": STR, "path": STR, "mode": INT}
OBJECT_FIELD_SELECTOR = {"apiVersion": STR, "fieldPath": STR}
ENV_VAR = {
    "name": STR, "value": STR,
    "valueFrom": {
        "fieldRef": OBJECT_FIELD_SELECTOR,
        "resourceFieldRef": {"containerName": STR, "divisor": QTY, "resource": STR},
        "configMapKeyRef": {"key": STR, "name": STR, "optional": BOOL},
        "secretKeyRef": {"key": STR, "name": STR, "optional": BOOL},
    },
}
ENV_FROM = {"prefix": STR, "configMapRef": {"name": STR, "optional": BOOL},
            "secretRef": {"name": STR, "optional": BOOL}}
PROBE = {
    "exec": {"command": L(STR)},
    "httpGet": {"host": STR, "httpHeaders": L({"name": STR, "value": STR}), "path": STR, "port": INTSTR,
                "scheme": STR},
    "tcpSocket": {"host": STR, "port": INTSTR},
    "grpc": {"port": INT, "service": STR},
    "initialDelaySeconds": INT, "periodSeconds": INT, "timeoutSeconds": INT, "successThreshold": INT,
    "failureThreshold": INT, "terminationGracePeriodSeconds": INT,
}
SECCOMP = {"type": STR, "localhostProfile": STR}
SELINUX = {"level": STR, "role": STR, "type": STR, "user": STR}
SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": BOOL, "appArmorProfile": {"type": STR, "localhostProfile": STR},
    "capabilities": {"add": L(STR), "drop": L(STR)}, "privileged": BOOL, "procMount": STR,
    "readOnlyRootFilesystem": BOOL, "runAsGroup": INT, "runAsNonRoot": BOOL, "runAsUser": INT,
    "seLinuxOptions": SELINUX, "seccompProfile": SECCOMP, "windowsOptions": ANY,
}
POD_SECURITY_CONTEXT = {
    "appArmorProfile": {"type": STR, "localhostProfile": STR}, "fsGroup": INT, "fsGroupChangePolicy": STR,
    "runAsGroup": INT, "runAsNonRoot": BOOL, "runAsUser": INT, "seLinuxChangePolicy": STR,
    "seLinuxOptions": SELINUX, "seccompProfile": SECCOMP, "supplementalGroups": L(INT),
    "supplementalGroupsPolicy": STR, "sysctls": L({"name": STR, "value": STR}), "windowsOptions": ANY,
}
VOLUME_MOUNT = {"name": STR, "mountPath": STR, "mountPropagation": STR, "readOnly": BOOL,
                "recursiveReadOnly": STR, "subPath": STR, "subPathExpr": STR}
RESOURCES = {"limits": M(QTY), "requests": M(QTY), "claims": L({"name": STR, "request": STR})}
CONTAINER = {
    "name": STR, "image": STR, "imagePullPolicy": STR, "command": L(STR), "args": L(STR), "workingDir": STR,
    "env": L(ENV_VAR), "envFrom": L(ENV_FROM),
    "ports": L({"containerPort": INT, "hostIP": STR, "hostPort": INT, "name": STR, "protocol": STR}),
    "resources": RESOURCES, "resizePolicy": L({"resourceName": STR, "restartPolicy": STR}),
    "restartPolicy": STR, "volumeMounts": L(VOLUME_MOUNT), "volumeDevices": L({"name": STR, "devicePath": STR}),
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE, "lifecycle": ANY,
    "securityContext": SECURITY_CONTEXT, "stdin": BOOL, "stdinOnce": BOOL, "tty": BOOL,
    "terminationMessagePath": STR, "terminationMessagePolicy": STR,
}
VOLUME = {
    "name": STR,
    "hostPath": {"path": STR, "type": STR},
    "configMap": {"name": STR, "items": L(KEY_TO_PATH), "defaultMode": INT, "optional": BOOL},
    "secret": {"secretName": STR, "items": L(KEY_TO_PATH), "defaultMode": INT, "optional": BOOL},
    "emptyDir": {"medium": STR, "sizeLimit": QTY},
    "persistentVolumeClaim": {"claimName": STR, "readOnly": BOOL},
    "projected": ANY, "downwardAPI": ANY,
}
TOLERATION = {"key": STR, "operator": STR, "value": STR, "effect": STR, "tolerationSeconds": INT}
POD_SPEC = {
    "activeDeadlineSeconds": INT, "affinity": ANY, "automountServiceAccountToken": BOOL,
    "containers": L(CONTAINER), "initContainers": L(CONTAINER), "ephemeralContainers": L(ANY),
    "dnsConfig": ANY, "dnsPolicy": STR, "enableServiceLinks": BOOL, "hostAliases": L(ANY), "hostIPC": BOOL,
    "hostNetwork": BOOL, "hostPID": BOOL, "hostUsers": BOOL, "hostname": STR, "imagePullSecrets": L({"name": STR}),
    "nodeName": STR, "nodeSelector": M(STR), "os": {"name": STR}, "overhead": M(QTY), "preemptionPolicy": STR,
    "priority": INT, "priorityClassName": STR, "readinessGates": L({"conditionType": STR}),
    "resourceClaims": L(ANY), "resources": RESOURCES, "restartPolicy": STR, "runtimeClassName": STR,
    "schedulerName": STR, "schedulingGates": L({"name": STR}), "securityContext": POD_SECURITY_CONTEXT,
    "serviceAccount": STR, "serviceAccountName": STR, "setHostnameAsFQDN": BOOL, "shareProcessNamespace": BOOL,
    "subdomain": STR, "terminationGracePeriodSeconds": INT, "tolerations": L(TOLERATION),
    "topologySpreadConstraints": L(ANY), "volumes": L(VOLUME),
}
POLICY_RULE = {"apiGroups": L(STR), "resources": L(STR), "resourceNames": L(STR), "verbs": L(STR),
               "nonResourceURLs": L(STR)}

KINDS = {
    ("v1", "Namespace"): {"metadata": OBJECT_META, "spec": {"finalizers": L(STR)}},
    ("v1", "ServiceAccount"): {"metadata": OBJECT_META, "automountServiceAccountToken": BOOL,
                               "imagePullSecrets": L({"name": STR}), "secrets": L(ANY)},
    ("v1", "ConfigMap"): {"metadata": OBJECT_META, "data": M(STR), "binaryData": M(STR), "immutable": BOOL},
    ("v1", "Secret"): {"metadata": OBJECT_META, "data": M(STR), "stringData": M(STR), "type": STR,
                       "immutable": BOOL},
    ("v1", "Pod"): {"metadata": OBJECT_META, "spec": POD_SPEC},
    ("rbac.authorization.k8s.io/v1", "Role"): {"metadata": OBJECT_META, "rules": L(POLICY_RULE)},
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): {
        "metadata": OBJECT_META, "roleRef": {"apiGroup": STR, "kind": STR, "name": STR},
        "subjects": L({"apiGroup": STR, "kind": STR, "name": STR, "namespace": STR})},
    ("apps/v1", "DaemonSet"): {
        "metadata": OBJECT_META,
        "spec": {"selector": LABEL_SELECTOR, "template": {"metadata": OBJECT_META, "spec": POD_SPEC},
                 "updateStrategy": {"type": STR, "rollingUpdate": {"maxUnavailable": INTSTR, "maxSurge": INTSTR}},
                 "minReadySeconds": INT, "revisionHistoryLimit": INT}},
    ("apps/v1", "StatefulSet"): {
        "metadata": OBJECT_META,
        "spec": {"selector": LABEL_SELECTOR, "template": {"metadata": OBJECT_META, "spec": POD_SPEC},
                 "serviceName": STR, "replicas": INT, "podManagementPolicy": STR,
                 "updateStrategy": {"type": STR, "rollingUpdate": {"maxUnavailable": INTSTR, "partition": INT}},
                 "volumeClaimTemplates": L(ANY), "minReadySeconds": INT, "revisionHistoryLimit": INT,
                 "persistentVolumeClaimRetentionPolicy": {"whenDeleted": STR, "whenScaled": STR}}},
    ("v1", "Service"): {
        "metadata": OBJECT_META,
        "spec": {"clusterIP": STR, "type": STR, "selector": M(STR), "publishNotReadyAddresses": BOOL,
                 "ports": L({"name": STR, "port": INT, "targetPort": INTSTR, "protocol": STR, "appProtocol": STR,
                             "nodePort": INT})}},
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): {"resources": L(STR)},
}

QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[mkMGTPE])?$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_type(where, value, t):
    if t == ANY:
        return
    if t == STR:
        if not isinstance(value, str):
            err(where, f"must be a string, not {type(value).__name__} ({value!r})")
    elif t == INT:
        if not isinstance(value, int) or isinstance(value, bool):
            err(where, f"must be an integer, not {value!r}")
    elif t == BOOL:
        if not isinstance(value, bool):
            err(where, f"must be a boolean, not {value!r}")
    elif t == INTSTR:
        if not (isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))):
            err(where, f"must be an integer or a string, not {value!r}")
    elif t == QTY:
        if isinstance(value, bool) or not (isinstance(value, (int, float)) or
                                           (isinstance(value, str) and QUANTITY.match(value))):
            err(where, f"{value!r} is not a quantity")
    elif isinstance(t, tuple) and t[0] == "list":
        if not isinstance(value, list):
            err(where, f"must be a list, not {value!r}")
            return
        for i, v in enumerate(value):
            check_type(f"{where}[{i}]", v, t[1])
    elif isinstance(t, tuple) and t[0] == "map":
        if not isinstance(value, dict):
            err(where, f"must be a map, not {value!r}")
            return
        for k, v in value.items():
            if not isinstance(k, str):
                err(where, f"key {k!r} is not a string")
            check_type(f"{where}.{k}", v, t[1])
    elif isinstance(t, dict):
        if not isinstance(value, dict):
            err(where, f"must be an object, not {value!r}")
            return
        for k, v in value.items():
            if k not in t:
                err(where, f"unknown field \"{k}\"")
            else:
                check_type(f"{where}.{k}", v, t[k])
    else:
        raise AssertionError(t)


# ---- what the API server validates beyond the shape, for the kinds we use ----

HOSTPATH_TYPES = {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                  "BlockDevice"}
RBAC_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"}


def check_names(where, meta, namespaced):
    name = meta.get("name", "")
    if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
        err(where, f"metadata.name {name!r} is not a DNS-1123 subdomain")
    if namespaced and meta.get("namespace") != "nodeseal":
        err(where, f"namespace is {meta.get('namespace')!r}, expected nodeseal")
    for k, v in (meta.get("labels") or {}).items():
        if len(v) > 63 or not re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", v):
            err(where, f"label {k}={v!r} is not a valid label value")


def check_pod_spec(where, spec, templated_labels=None):
    volumes = {}
    for v in spec.get("volumes", []):
        if v["name"] in volumes:
            err(where, f"volume {v['name']} defined twice")
        volumes[v["name"]] = v
        sources = [k for k in v if k != "name"]
        if len(sources) != 1:
            err(where, f"volume {v['name']} must have exactly one source, has {sources}")
        if "hostPath" in v:
            if v["hostPath"].get("type", "") not in HOSTPATH_TYPES:
                err(where, f"volume {v['name']}: hostPath type {v['hostPath'].get('type')!r} is not valid")
            if not v["hostPath"].get("path", "").startswith("/"):
                err(where, f"volume {v['name']}: hostPath path must be absolute")
    names = set()
    for kind in ("initContainers", "containers"):
        for c in spec.get(kind, []):
            w = f"{where}.{kind}[{c.get('name')}]"
            if not DNS1123_LABEL.match(c.get("name", "")):
                err(w, "container name must be a DNS-1123 label")
            if c.get("name") in names:
                err(w, "container name used twice")
            names.add(c.get("name"))
            if not c.get("image"):
                err(w, "image is required")
            if c.get("imagePullPolicy", "IfNotPresent") not in ("Always", "IfNotPresent", "Never"):
                err(w, f"imagePullPolicy {c['imagePullPolicy']!r} is not valid")
            privileged = (c.get("securityContext") or {}).get("privileged", False)
            paths = set()
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    err(w, f"volumeMount of undefined volume {m['name']}")
                if not m.get("mountPath", "").startswith("/"):
                    err(w, f"mountPath {m.get('mountPath')!r} must be absolute")
                if m["mountPath"] in paths:
                    err(w, f"mountPath {m['mountPath']} used twice")
                paths.add(m["mountPath"])
                prop = m.get("mountPropagation", "None")
                if prop not in ("None", "HostToContainer", "Bidirectional"):
                    err(w, f"mountPropagation {prop!r} is not valid")
                if prop == "Bidirectional" and not privileged:
                    err(w, "Bidirectional mount propagation is only allowed in privileged containers")
            envs = [e["name"] for e in c.get("env", [])]
            if len(envs) != len(set(envs)):
                err(w, "an environment variable is defined twice")
            for e in c.get("env", []):
                if "value" in e and "valueFrom" in e:
                    err(w, f"env {e['name']}: value and valueFrom are exclusive")
            for p in ("livenessProbe", "readinessProbe", "startupProbe"):
                if p in c:
                    if kind == "initContainers":
                        err(w, f"{p} is not allowed in an init container")
                    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if h in c[p]]
                    if len(handlers) != 1:
                        err(w, f"{p} needs exactly one handler, has {handlers}")
    if spec.get("restartPolicy", "Always") not in ("Always", "OnFailure", "Never"):
        err(where, f"restartPolicy {spec['restartPolicy']!r} is not valid")
    return volumes


def parse_nodeseal_json(where, text, kube_get):
    """nodeseal.json of a ConfigMap, refused here when nodeseal's own parser refuses it. Returns the
    JSON and what nodeseal printed of it ("" without kube_get), or (None, None)."""
    try:
        j = json.loads(text or "")
    except ValueError as e:
        err(where, f"nodeseal.json is not valid JSON: {e}")
        return None, None
    if not kube_get:
        return j, ""
    with tempfile.TemporaryDirectory() as t:
        p = os.path.join(t, "nodeseal.json")
        open(p, "w").write(text)
        r = subprocess.run([kube_get, "--config", p, "config"], capture_output=True, text=True,
                           env=dict(os.environ, NODE_NAME="node-1"))
    if r.returncode != 0:
        err(where, f"nodeseal refuses nodeseal.json: {r.stdout}{r.stderr}")
        return None, None
    return j, r.stdout


# The fields of a certificate that decide what the agent writes: the example's entry must agree.
CERT_FIELDS = ("profile", "directory", "key_type", "dns_names", "ip_addresses", "include_node_ips", "owner", "group",
               "validity_days")


def check_example(f, o, get, agent_certs, kube_get):
    w = f"{f} StatefulSet/{o['metadata']['name']}"
    spec = o["spec"]["template"]["spec"]
    sel = o["spec"]["selector"].get("matchLabels", {})
    labels = o["spec"]["template"]["metadata"].get("labels", {})
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        err(w, "selector does not match the template's labels")
    if not get("Service", o["spec"].get("serviceName")):
        err(w, f"serviceName {o['spec'].get('serviceName')!r} is not a Service defined here")
    volumes = check_pod_spec(w, spec)
    for v in volumes.values():
        if "configMap" in v and not get("ConfigMap", v["configMap"]["name"]):
            err(w, f"ConfigMap {v['configMap']['name']} is not defined")

    def mount_source(c, path):
        for m in c.get("volumeMounts", []):
            if m["mountPath"] == path:
                return volumes.get(m["name"], {}), m
        return {}, None

    inits = spec.get("initContainers", [])
    waits = [c for c in inits if c.get("command", [])[:3] == ["nodeseal", "check", "--wait"]]
    if not waits:
        err(w, "no init container running `nodeseal check --wait`")
        return
    v, _ = mount_source(waits[0], "/run/nodeseal")
    if v.get("hostPath", {}).get("path") != "/run/nodeseal":
        err(w, "the waiting init container does not share the host's /run/nodeseal")
    v, _ = mount_source(waits[0], "/etc/nodeseal")
    cm = get("ConfigMap", v.get("configMap", {}).get("name"))
    if not cm:
        err(w, "the waiting init container has no nodeseal ConfigMap at /etc/nodeseal")
        return
    j, _ = parse_nodeseal_json(f"{f} ConfigMap/{cm['metadata']['name']}", cm["data"].get("nodeseal.json"), kube_get)
    if not j:
        return
    certs = j.get("certificates", [])
    if len(certs) != 1:
        err(w, f"the example's nodeseal.json must hold its one certificate, holds {len(certs)}")
        return
    cert = certs[0]
    agent = agent_certs.get(cert["name"])
    if not agent:
        err(w, f"the agent's config (configmap.yaml) has no certificate {cert['name']!r}: nothing would issue it")
    else:
        for k in CERT_FIELDS:
            if agent.get(k) != cert.get(k):
                err(w, f"certificate {cert['name']}: {k} is {cert.get(k)!r} here, {agent.get(k)!r} in the agent's config")
        if "serve_check" in agent:
            err("configmap.yaml", f"certificate {cert['name']}: a serve_check in the agent's pod would connect "
                                  "to that pod's loopback, not the datastore's: it belongs to the example's sidecar")
        if agent.get("reload", True):
            err("configmap.yaml", f"certificate {cert['name']}: the agent cannot reach the datastore's pod; "
                                  "set \"reload\": false (the example's sidecar reloads)")
    # Every container that reads the certificate sees it at the configured directory.
    d = cert["directory"]
    sidecars = [c for c in spec["containers"] if c.get("command", [])[:2] == ["nodeseal", "reload-sidecar"]]
    for c in spec["containers"]:
        src, m = mount_source(c, d)
        if not m:
            err(w, f"container {c['name']} does not mount the certificate directory at {d}")
        elif not (src.get("hostPath", {}).get("path", "").rstrip("/") + "/" + m.get("subPath", "")).rstrip("/") == d:
            err(w, f"container {c['name']}: {d} is not the host's {d}")
    if len(sidecars) != 1:
        err(w, f"one container must run `nodeseal reload-sidecar`, {len(sidecars)} do")
    for c in sidecars:
        v, _ = mount_source(c, "/etc/nodeseal")
        if v.get("configMap", {}).get("name") != cm["metadata"]["name"]:
            err(w, "the reload sidecar must read the same nodeseal ConfigMap as the check")
        if not ({"reload_command", "restart_command", "serve_check"} & set(cert)) and \
                cert.get("profile") not in ("postgresql", "mysql", "redis"):
            err(w, f"the reload sidecar has nothing to run for profile {cert.get('profile')}")


def main():
    d = sys.argv[1]
    kube_get = sys.argv[2] if len(sys.argv) > 2 else None
    objects = {}
    files = sorted(f for f in os.listdir(d) if f.endswith(".yaml"))
    files += sorted(os.path.join("examples", f) for f in os.listdir(os.path.join(d, "examples")) if f.endswith(".yaml"))
    if not files:
        err(d, "no manifests")
    for f in files:
        path = os.path.join(d, f)
        text = open(path).read()
        if not text.startswith("# SPDX-License-Identifier: Apache-2.0\n"):
            err(f, "no SPDX line")
        try:
            docs = [x for x in yaml.safe_load_all(text) if x is not None]
        except yaml.YAMLError as e:
            err(f, f"not valid YAML: {e}")
            continue
        for i, o in enumerate(docs):
            where = f"{f}[{i}] {o.get('kind')}/{(o.get('metadata') or {}).get('name')}"
            key = (o.get("apiVersion"), o.get("kind"))
            schema = KINDS.get(key)
            if schema is None:
                err(where, f"apiVersion/kind {key} is not one this checker knows")
                continue
            check_type(where, {k: v for k, v in o.items() if k not in ("apiVersion", "kind")}, schema)
            if o["kind"] == "Kustomization":
                for r in o.get("resources", []):
                    if not os.path.exists(os.path.join(d, r)):
                        err(where, f"resource {r} does not exist")
                continue
            check_names(where, o.get("metadata", {}), o["kind"] != "Namespace")
            objects[(o["kind"], o["metadata"]["name"])] = (f, o)

    def get(kind, name):
        return objects.get((kind, name), (None, None))[1]

    ns = get("Namespace", "nodeseal")
    if not ns:
        err("namespace", "no Namespace nodeseal")
    elif ns["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") != "privileged":
        err("namespace.yaml", "the namespace must allow privileged pods (pod-security enforce=privileged)")

    # RBAC: least privilege.
    role = get("Role", "nodeseal")
    if not role:
        err("rbac", "no Role nodeseal")
    else:
        for r in role["rules"]:
            if set(r.get("verbs", [])) - RBAC_VERBS:
                err("rbac.yaml", f"unknown verbs {set(r['verbs']) - RBAC_VERBS}")
            if r.get("apiGroups") != [""] or r.get("resources") != ["secrets"]:
                err("rbac.yaml", f"the agent's Role must grant only core secrets: {r}")
            if set(r.get("verbs", [])) - {"get", "list", "watch", "patch"}:
                err("rbac.yaml", f"the agent's Role must only read, and patch key Secrets: {r['verbs']}")
            if "patch" in r.get("verbs", []) and (set(r["verbs"]) != {"patch"} or
                                                 any(not n.startswith("nodeseal-keys-") for n in r.get("resourceNames", []))):
                err("rbac.yaml", f"patch (for format records) only on key Secrets, in a rule of its own: {r}")
            if not r.get("resourceNames"):
                err("rbac.yaml", "the agent's Role must name its Secrets (resourceNames)")
            elif "nodeseal-ca" not in r["resourceNames"] and "patch" not in r.get("verbs", []):
                err("rbac.yaml", "the CA Secret nodeseal-ca is not in resourceNames")
            for n in r.get("resourceNames", []):
                if not DNS1123_SUBDOMAIN.match(n):
                    err("rbac.yaml", f"resourceName {n!r} is not a Secret name")
            if "*" in r.get("verbs", []) + r.get("resources", []):
                err("rbac.yaml", "no wildcards")
    gen = get("Role", "nodeseal-generate-keys")
    if gen:
        if objects[("Role", "nodeseal-generate-keys")][0] == objects.get(("Role", "nodeseal"), ("",))[0]:
            err("rbac", "the key-generation Role must be in its own file (it is optional)")
        for r in gen["rules"]:
            if set(r.get("verbs", [])) - {"create", "patch"}:
                err("rbac-generate-keys.yaml", f"more than create/patch: {r['verbs']}")
            if "patch" in r.get("verbs", []) and not r.get("resourceNames"):
                err("rbac-generate-keys.yaml", "patch must be limited by resourceNames")
    for (kind, name), (f, o) in objects.items():
        if kind != "RoleBinding":
            continue
        rr = o["roleRef"]
        if rr.get("apiGroup") != "rbac.authorization.k8s.io" or rr.get("kind") != "Role" or not get("Role", rr["name"]):
            err(f, f"RoleBinding {name} refers to a Role that is not defined: {rr}")
        for s in o.get("subjects", []):
            if s.get("kind") != "ServiceAccount" or not get("ServiceAccount", s.get("name")) or s.get("namespace") != "nodeseal":
                err(f, f"RoleBinding {name}: subject {s} is not the nodeseal ServiceAccount")

    # The DaemonSet.
    ds = get("DaemonSet", "nodeseal")
    if not ds:
        err("daemonset", "no DaemonSet nodeseal")
    else:
        w = "daemonset.yaml"
        spec = ds["spec"]["template"]["spec"]
        sel = ds["spec"]["selector"].get("matchLabels", {})
        labels = ds["spec"]["template"]["metadata"].get("labels", {})
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            err(w, "selector does not match the template's labels")
        if not get("ServiceAccount", spec.get("serviceAccountName")):
            err(w, f"serviceAccountName {spec.get('serviceAccountName')!r} is not defined")
        volumes = check_pod_spec(w, spec)
        c = spec["containers"][0]
        if not (c.get("securityContext") or {}).get("privileged"):
            err(w, "the agent must be privileged (dm-crypt, mount)")
        env = {e["name"]: e for e in c.get("env", [])}
        if env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "spec.nodeName":
            err(w, "NODE_NAME must come from the downward API (spec.nodeName)")
        probe = (c.get("readinessProbe") or {}).get("exec", {}).get("command", [])
        if probe[:2] != ["nodeseal", "check"]:
            err(w, f"the readiness probe must be `nodeseal check`, is {probe}")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        for path, want in (("/dev", "/dev"), ("/run/nodeseal", "/run/nodeseal")):
            m = mounts.get(path)
            if not m or volumes.get(m["name"], {}).get("hostPath", {}).get("path") != want:
                err(w, f"{path} must be the host's {want} (hostPath)")
        if not any(m.get("mountPropagation") == "Bidirectional" and "hostPath" in volumes.get(m["name"], {})
                   for m in c.get("volumeMounts", [])):
            err(w, "the data root must be a hostPath with mountPropagation Bidirectional")
        cm = [v["configMap"]["name"] for v in volumes.values() if "configMap" in v]
        if not cm or not get("ConfigMap", cm[0]):
            err(w, "the config must come from a ConfigMap defined here")
        elif "/etc/nodeseal" not in mounts:
            err(w, "the ConfigMap must be mounted at /etc/nodeseal")

    # The config in the ConfigMap: JSON that nodeseal itself accepts.
    conf = get("ConfigMap", "nodeseal-config")
    if conf:
        j, parsed = parse_nodeseal_json("configmap.yaml", conf.get("data", {}).get("nodeseal.json"), kube_get)
        if j is not None and j.get("secrets", {}).get("source") != "kubernetes":
            err("configmap.yaml", "nodeseal.json must use the kubernetes source")
        if parsed and "keys_secret=nodeseal-keys-node-1" not in parsed:
            err("configmap.yaml", f"unexpected parse: {parsed}")
        elif parsed and role and "nodeseal-keys-node-1" not in role["rules"][0].get("resourceNames", []):
            err("rbac.yaml", "the Role does not name the keys Secret the config uses for node-1")

    # The example datastores: each waits for nodeseal, and its certificate is the agent's.
    agent_certs = {}
    if conf and j:
        agent_certs = {c["name"]: c for c in j.get("certificates", [])}
    sets = [(f, o) for (k, _), (f, o) in objects.items() if k == "StatefulSet"]
    if not sets:
        err("examples", "no example datastore StatefulSet")
    seen = set()
    for f, o in sets:
        check_example(f, o, get, agent_certs, kube_get)
        seen.add(f)
    for f in files:
        if f.startswith("examples/") and f not in seen:
            err(f, "an example without a StatefulSet")

    # Example Secrets: the right shape, and placeholders nodeseal refuses, never usable keys.
    for (kind, name), (f, o) in objects.items():
        if kind != "Secret":
            continue
        import base64
        for k, v in (o.get("data") or {}).items():
            try:
                raw = base64.b64decode(v, validate=True)
            except ValueError:
                err(f, f"Secret {name}: data.{k} is not base64")
                continue
            if name.startswith("nodeseal-keys-") and len(raw) >= 32:
                err(f, f"Secret {name}: data.{k} looks like a usable key; examples must hold placeholders")
            if name == "nodeseal-ca" and b"PRIVATE KEY" in raw:
                err(f, "the example CA Secret must not hold a real key")
        if name == "nodeseal-ca" and (o.get("type") != "kubernetes.io/tls" or
                                      set(o.get("data", {})) - {"tls.crt", "tls.key", "ca.crt"}):
            err(f, "the CA Secret is a kubernetes.io/tls Secret with tls.crt, tls.key (and ca.crt)")

    # kubectl builds the kustomization offline: another parser over the same files.
    if shutil.which("kubectl") and os.path.exists(os.path.join(d, "kustomization.yaml")):
        r = subprocess.run(["kubectl", "kustomize", d], capture_output=True, text=True)
        if r.returncode != 0:
            err("kustomization.yaml", f"kubectl kustomize failed: {r.stderr}")
        else:
            kinds = sorted(x["kind"] for x in yaml.safe_load_all(r.stdout) if x)
            if kinds != sorted(["Namespace", "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "DaemonSet"]):
                err("kustomization.yaml", f"unexpected objects: {kinds}")
    elif not shutil.which("kubectl"):
        print("note: kubectl not installed, kustomization not built")

    for e in errors:
        print("FAIL:", e)
    print(f"{len(files)} manifest file(s), {len(objects)} object(s), {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
