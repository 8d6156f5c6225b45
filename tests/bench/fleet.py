#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A simulated fleet: N "nodeseal run" daemons, certificates only (no device-mapper needed), each
its own node name, runtime and certificate directories, no D-Bus (the status file is the status),
against one fake API server. Measures, and prints as KEY=VALUE lines:

- memory of the fleet once all are ready (RSS, private dirty: smaps_rollup);
- steady state over a window: API requests per node, the fake server's CPU and the daemons' CPU
  (their workers included); the daemons run with secrets.kubernetes.watch_timeout_sec = --watch-timeout
  so that a short window sees the watch restarts the shipped 300 s would space out;
- for each renew_jitter_sec given (applied with a SIGHUP): the CA Secret replaced (a merge PATCH), and
  the time from that change until each node's certificate is signed by the new CA (its file's mtime),
  as p50/p99/max, and the API requests per node that the change caused.
"""
import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

from cryptography import x509


def log(msg):
    print(f"fleet: {msg}", file=sys.stderr, flush=True)


class Fake:
    """The fake API server's control API and, as the nodeseal user, its Secrets API."""

    def __init__(self, state_dir):
        self.dir = state_dir
        self.url = open(os.path.join(state_dir, "url")).read().strip()
        self.admin = open(os.path.join(state_dir, "admin-token")).read().strip()
        self.token = open(os.path.join(state_dir, "token")).read().strip()
        self.pid = int(open(os.path.join(state_dir, "pid")).read().strip())
        self.ctx = ssl.create_default_context(cafile=os.path.join(state_dir, "control-ca.crt"))

    def call(self, method, path, body=None, token=None, ctype="application/json"):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Authorization", "Bearer " + (token or self.admin))
        if body is not None:
            req.add_header("Content-Type", ctype)
        with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
            return json.loads(r.read() or b"null")

    def last_seq(self):
        return self.call("GET", "/fake/requests?all=1&since=999999999999")["last"]

    def requests_since(self, seq):
        return self.call("GET", f"/fake/requests?since={seq}")["items"]

    def cpu_s(self):
        return proc_cpu_s(self.pid)


def proc_cpu_s(pid, children=False):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def smaps(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Rss", "Private_Dirty"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


class Node:
    def __init__(self, root, i, args, fake_dir):
        self.name = f"node-{i}"
        self.dir = os.path.join(root, self.name)
        self.config = os.path.join(self.dir, "nodeseal.json")
        self.cert = os.path.join(self.dir, "certs", "tls.crt")
        self.status = os.path.join(self.dir, "run", "status.json")
        self.args = args
        self.fake_dir = fake_dir
        self.proc = None
        os.makedirs(self.dir, mode=0o700, exist_ok=True)

    def write_config(self, jitter):
        c = {
            "node_name": self.name,
            "runtime_directory": os.path.join(self.dir, "run"),
            "secrets": {"source": "kubernetes", "kubernetes": {
                "api_url": open(os.path.join(self.fake_dir, "url")).read().strip(),
                "ca_file": os.path.join(self.fake_dir, "ca.crt"),
                "token_file": self.args.token_file,
                "namespace": "nodeseal",
                "watch_timeout_sec": self.args.watch_timeout}},
            "daemon": {"renew_jitter_sec": jitter},
            "certificates": [{"name": "node", "directory": os.path.join(self.dir, "certs"),
                              "dns_names": ["{node}"]}],
        }
        tmp = self.config + ".tmp"
        with open(tmp, "w") as f:
            json.dump(c, f)
        os.replace(tmp, self.config)

    def start(self, nodeseal, env):
        out = open(os.path.join(self.dir, "daemon.log"), "ab")
        self.proc = subprocess.Popen([nodeseal, "-c", self.config, "--log-format", "text", "run"],
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
        out.close()

    def ready(self):
        try:
            with open(self.status) as f:
                return json.load(f).get("state") == "ready"
        except (OSError, ValueError):
            return False

    def issuer(self):
        try:
            with open(self.cert, "rb") as f:
                return x509.load_pem_x509_certificate(f.read()).issuer
        except (OSError, ValueError):
            return None


def wait_all(nodes, pred, timeout, what):
    deadline = time.monotonic() + timeout
    pending = list(nodes)
    while pending and time.monotonic() < deadline:
        pending = [n for n in pending if not pred(n)]
        if pending:
            time.sleep(0.2)
    if pending:
        log(f"{len(pending)} of {len(nodes)} nodes not {what} after {timeout:.0f} s (e.g. {pending[0].name}: "
            f"see {pending[0].dir}/daemon.log)")
    return len(nodes) - len(pending)


def ca_change(fake, nodes, ca_dir, timeout, emit, prefix):
    new_ca = x509.load_pem_x509_certificate(open(os.path.join(ca_dir, "ca.crt"), "rb").read())
    import base64
    body = {"data": {k: base64.b64encode(open(os.path.join(ca_dir, f), "rb").read()).decode()
                     for k, f in (("tls.crt", "ca.crt"), ("tls.key", "ca.key"))}}
    seq0 = fake.last_seq()
    cpu0 = fake.cpu_s()
    t0 = time.time()
    fake.call("PATCH", "/api/v1/namespaces/nodeseal/secrets/nodeseal-ca", body, token=fake.token,
              ctype="application/merge-patch+json")
    done = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(nodes) and time.monotonic() < deadline:
        for n in nodes:
            if n.name in done:
                continue
            if n.issuer() == new_ca.subject:
                done[n.name] = os.stat(n.cert).st_mtime - t0
        time.sleep(0.1)
    lat = list(done.values())
    reqs = fake.requests_since(seq0)
    emit(f"{prefix}_reached", len(done))
    emit(f"{prefix}_p50_s", f"{pct(lat, 50):.2f}")
    emit(f"{prefix}_p99_s", f"{pct(lat, 99):.2f}")
    emit(f"{prefix}_max_s", f"{max(lat) if lat else float('nan'):.2f}")
    emit(f"{prefix}_requests_per_node", f"{len(reqs) / len(nodes):.2f}")
    emit(f"{prefix}_fake_cpu_s", f"{fake.cpu_s() - cpu0:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodeseal", required=True)
    ap.add_argument("--fake-dir", required=True)
    ap.add_argument("--token-file", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--start-rate", type=float, default=25, help="daemons started per second")
    ap.add_argument("--watch-timeout", type=int, default=30)
    ap.add_argument("--window", type=float, default=60, help="steady-state window, seconds")
    ap.add_argument("--ready-timeout", type=float, default=120)
    ap.add_argument("--jitter", type=float, action="append", help="renew_jitter_sec of a CA-change round")
    ap.add_argument("--ca", action="append", help="CA directory (ca.crt, ca.key) of each round")
    args = ap.parse_args()

    def emit(k, v):
        print(f"{k}={v}", flush=True)

    fake = Fake(args.fake_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "NOTIFY_SOCKET", "WATCHDOG_"))}
    # No bus: a socket that does not exist, so each daemon runs on with its status file only.
    env["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + os.path.join(args.root, "no-bus")
    jitters = args.jitter or [0]
    nodes = [Node(args.root, i, args, args.fake_dir) for i in range(1, args.nodes + 1)]
    for n in nodes:
        n.write_config(jitters[0])
    try:
        t = time.monotonic()
        for i, n in enumerate(nodes):
            n.start(args.nodeseal, env)
            delay = t + (i + 1) / args.start_rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        ready = wait_all(nodes, Node.ready, max(args.ready_timeout, args.nodes / 2), "ready")
        emit("nodes", args.nodes)
        emit("ready", ready)
        emit("start_s", f"{time.monotonic() - t:.1f}")
        if ready == 0:
            return 1

        # Settle (the first watch of each node started; workers of the start-up done), then the window.
        time.sleep(min(10, args.watch_timeout))
        mem = [smaps(n.proc.pid) for n in nodes if n.proc.poll() is None]
        emit("rss_mib_per_node", f"{sum(m.get('Rss', 0) for m in mem) / len(mem) / 1024:.2f}")
        emit("private_dirty_mib_per_node", f"{sum(m.get('Private_Dirty', 0) for m in mem) / len(mem) / 1024:.2f}")
        emit("private_dirty_gib_total", f"{sum(m.get('Private_Dirty', 0) for m in mem) / 1048576:.2f}")
        seq0 = fake.last_seq()
        fake0 = fake.cpu_s()
        d0 = sum(proc_cpu_s(n.proc.pid, children=True) for n in nodes)
        time.sleep(args.window)
        reqs = fake.requests_since(seq0)
        emit("window_s", args.window)
        emit("window_requests", len(reqs))
        emit("window_watches", sum(1 for r in reqs if "watch=" in (r.get("query") or "")))
        emit("window_fake_cpu_s", f"{fake.cpu_s() - fake0:.2f}")
        emit("window_daemons_cpu_s", f"{sum(proc_cpu_s(n.proc.pid, children=True) for n in nodes) - d0:.2f}")

        for k, (jitter, ca) in enumerate(zip(jitters, args.ca or [])):
            if k > 0:
                for n in nodes:
                    n.write_config(jitter)
                    n.proc.send_signal(signal.SIGHUP)
                time.sleep(5)
                wait_all(nodes, Node.ready, 60, "ready after the reload")
            log(f"CA change with renew_jitter_sec={jitter}")
            ca_change(fake, nodes, ca, max(120, args.nodes / 2), emit, f"ca{k}")
            emit(f"ca{k}_jitter_s", jitter)
    finally:
        for n in nodes:
            if n.proc and n.proc.poll() is None:
                n.proc.terminate()
        for n in nodes:
            if n.proc:
                try:
                    n.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    n.proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
