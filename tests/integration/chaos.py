#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The chaos soak's driver: switches faults of the fake API server at random while "nodeseal run"
keeps a certificate, and checks the invariants all along.

Started by soak-chaos-certificates.sh once the daemon is ready; everything it needs comes in the
environment (see main()). Prints its figures, one "name: value" per line, and exits 1 when an
invariant broke (each violation is printed with what was seen).

Invariants:
- the certificate on disk chains to a CA that was in the CA Secret within the window before it was
  written (never to a CA that was never there, nor to a Secret whose certificate and key disagree);
- whenever D-Bus says Ready, "nodeseal check" passes, or starts to pass again within the daemon's
  re-check interval plus one attempt (a change it does not watch, such as a re-pointed device
  path, is seen at its next re-check); the status file says what D-Bus says;
- the daemon is the same process throughout and its watchdog pings never stop for the watchdog
  interval; open fds and resident memory are flat;
- after the last fault, it is ready on the last CA within the backoff cap plus one attempt.
"""
import base64
import json
import os
import random
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

E = os.environ
URL = E["FAKE_KUBE_URL"]
ADMIN = E["FAKE_KUBE_ADMIN_TOKEN"]
TOKEN = E["FAKE_KUBE_TOKEN"]
# The control channel does not verify the server: the "wrong-cert" fault changes the certificate the
# fake serves on every connection, its own control API included (loopback only, a test's token).
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE
SECRET_PATH = "/api/v1/namespaces/nodeseal/secrets/nodeseal-ca"

violations = []
# How long D-Bus may still say Ready after the files stopped passing check: the daemon's re-check
# interval plus one attempt, for a change the daemon does not watch; one attempt plus a check's
# time (CHAOS_WATCHED=1) where it watches what the soak changes (the VM soak's device path).
AGREE_LAG = float(E.get("CHAOS_ATTEMPT_SEC", "10")) + \
    (2.0 if E.get("CHAOS_WATCHED") == "1" else float(E.get("CHAOS_RECHECK_SEC", "5")))
figures = {}
lock = threading.Lock()


def violation(msg):
    with lock:
        violations.append(f"{time.monotonic() - T0:8.2f}s {msg}")
        print("VIOLATION:", violations[-1], flush=True)


def http(method, path, body=None, token=ADMIN, ctype="application/json"):
    req = urllib.request.Request(URL + path, method=method, data=body)
    req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, context=CTX, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def admin(method, path, obj=None):
    """The fake's control API: never faulted, but a connect-stage fault closes connections before
    any path is seen, so it takes a few tries then (each try uses up one of the fault's count)."""
    for attempt in range(20):
        try:
            code, body = http(method, path, None if obj is None else json.dumps(obj).encode())
            break
        except urllib.error.URLError:
            if attempt == 19:
                raise
            time.sleep(0.05)
    if code >= 300:
        raise RuntimeError(f"control API {method} {path}: {code} {body[:200]!r}")
    return body


# ---------------------------------------------------------------- CAs and the Secret's timeline

class Ca:
    def __init__(self, name, directory):
        self.name = name
        self.crt = open(os.path.join(directory, "ca.crt"), "rb").read()
        self.key = open(os.path.join(directory, "ca.key"), "rb").read()
        self.cert = x509.load_pem_x509_certificate(self.crt)

    def signed(self, cert):
        if cert.issuer != self.cert.subject:
            return False
        try:
            self.cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                          ec.ECDSA(cert.signature_hash_algorithm))
            return True
        except InvalidSignature:
            return False


CAS = [Ca(f"ca{i}", d) for i, d in enumerate(E["CHAOS_CA_DIRS"].split(":"))]
timeline = []   # (monotonic time, what the Secret holds: a Ca, "mismatched", or None when deleted)


def secret_set(value):
    """Puts the CA Secret in a state, through the control API (never faulted), and records it."""
    if value is None:
        try:
            admin("DELETE", "/fake/secrets/nodeseal/nodeseal-ca")
        except RuntimeError:
            pass      # already deleted
    else:
        if value == "mismatched":
            # the certificate of one CA with the key of another: nodeseal must refuse it
            a, b = random.sample(CAS, 2)
            crt, key = a.crt, b.key
        else:
            crt, key = value.crt, value.key
        obj = {"metadata": {"name": "nodeseal-ca", "namespace": "nodeseal"},
               "data": {"tls.crt": base64.b64encode(crt).decode(), "tls.key": base64.b64encode(key).decode()}}
        admin("PUT", "/fake/secrets", obj)
    with lock:
        timeline.append((time.monotonic(), value))


def timeline_changes():
    with lock:
        return len(timeline) - 1


def cas_current_between(t0, t1):
    """The CAs the Secret held at some moment of [t0, t1]."""
    with lock:
        tl = list(timeline)
    held = set()
    for i, (t, v) in enumerate(tl):
        end = tl[i + 1][0] if i + 1 < len(tl) else float("inf")
        if t <= t1 and end >= t0 and isinstance(v, Ca):
            held.add(v.name)
    return held


# ---------------------------------------------------------------- faults

FAULTS = [
    ("down", lambda: {"mode": "down"}),
    ("down-connect", lambda: {"mode": "down", "stage": "connect", "count": random.randint(1, 6)}),
    ("slow", lambda: {"mode": "slow", "delay_ms": random.choice([1500, 3000, 6000])}),
    ("silent", lambda: {"mode": "silent"}),
    ("throttled", lambda: {"mode": "status", "code": 429, "retry_after": random.randint(1, 3)}),
    ("server-error", lambda: {"mode": "status", "code": random.choice([500, 502, 503, 504])}),
    ("garbage", lambda: {"mode": "garbage"}),
    ("truncated", lambda: {"mode": "truncated"}),
    ("unterminated", lambda: {"mode": "unterminated"}),
    ("wrong-cert", lambda: {"mode": "wrong-cert"}),
]
EVENTS = ["fault"] * 10 + ["watches-closed", "compacted", "ca-replaced", "ca-replaced", "ca-mismatched",
                           "ca-deleted"]


def inject(counts, kind):
    """Starts one event; returns how long to hold it and what undoes it (None: nothing to undo)."""
    if kind in VOLUME_EVENTS:
        counts[kind] = counts.get(kind, 0) + 1
        return random.uniform(0.3, 3.0), volume_event(kind)
    if kind == "fault":
        name, spec = random.choice(FAULTS)
        spec = spec()
        if random.random() < 0.5 and spec.get("stage") != "connect":
            spec["match"] = random.choice(["watch=", "/secrets/"])
        admin("POST", "/fake/faults", spec)
        counts[name] = counts.get(name, 0) + 1
        return random.uniform(0.5, 5.0), lambda: admin("DELETE", "/fake/faults")
    counts[kind] = counts.get(kind, 0) + 1
    if kind == "watches-closed":
        admin("POST", "/fake/watches/close")
    elif kind == "compacted":
        admin("POST", "/fake/compact")
    elif kind == "ca-replaced":
        secret_set(random.choice(CAS))
    elif kind == "ca-mismatched":
        secret_set("mismatched")
    elif kind == "ca-deleted":
        secret_set(None)
    return random.uniform(0.3, 3.0), None


# ---------------------------------------------------------------- a volume (the VM soak)

VOLUME = "CHAOS_DEVICE" in E
VOLUME_EVENTS = ["device-swapped", "keys-wrong", "keys-deleted"]


def keys_secret(value):
    """The keys Secret with the volume's key (the right one, another one) or deleted (None)."""
    name = E["CHAOS_KEYS_SECRET"]
    if value is None:
        try:
            admin("DELETE", "/fake/secrets/nodeseal/" + name)
        except RuntimeError:
            pass
        return
    obj = {"metadata": {"name": name, "namespace": "nodeseal"},
           "data": {E["CHAOS_KEY_NAME"]: base64.b64encode(value).decode()}}
    admin("PUT", "/fake/secrets", obj)


def point_device(target):
    """Re-points the configured device path (a symlink) at target, atomically."""
    link = E["CHAOS_DEVICE_LINK"]
    tmp = link + ".new"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.rename(tmp, link)


def volume_event(kind):
    if kind == "device-swapped":
        # the path the config names now leads to a disk that holds a filesystem, mid-attempt
        point_device(E["CHAOS_DECOY"])
        return lambda: point_device(E["CHAOS_DEVICE"])
    right = open(E["CHAOS_KEY_FILE"], "rb").read()
    if kind == "keys-wrong":
        keys_secret(os.urandom(64))
    else:
        keys_secret(None)
    return lambda: keys_secret(right)


def luks_uuid(device):
    """The UUID in a LUKS2 header's binary part, None when the device does not start with one."""
    with open(device, "rb") as f:
        head = f.read(512)
    if head[:6] != b"LUKS\xba\xbe":
        return None
    return head[0xa8:0xa8 + 40].split(b"\0")[0].decode(errors="replace")


def sha256_of(device):
    import hashlib
    h = hashlib.sha256()
    with open(device, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def mounted(mountpoint):
    for line in open("/proc/self/mountinfo"):
        if line.split()[4] == mountpoint:
            return True
    return False


# ---------------------------------------------------------------- invariants

def busctl(*args):
    p = subprocess.run(["busctl", "--address=" + E["BUS_ADDRESS"], *args], capture_output=True, text=True,
                       timeout=10)
    return p.returncode, p.stdout.strip()


def ready_on_bus():
    if "BUS_ADDRESS" not in E:
        # no bus (the VM soak): the status file is what says it
        try:
            return json.load(open(E["CHAOS_STATUS_FILE"])).get("ready") is True
        except (OSError, ValueError):
            return False
    rc, out = busctl("get-property", "org.nodeseal.Agent1", "/org/nodeseal/Agent1", "org.nodeseal.Agent1", "Ready")
    if rc != 0:
        violation(f"D-Bus did not answer Get(Ready): {out}")
        return None
    return out == "b true"


def check_passes():
    p = subprocess.run([E["NODESEAL"], "-c", E["CHAOS_CONFIG"], "check"], capture_output=True, text=True,
                       timeout=30)
    return p.returncode == 0, p.stdout + p.stderr


def proc_figures(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return fds, rss


def watchdog_pings():
    return sum(1 for line in open(E["NOTIFY_LOG"]) if line.strip() == "WATCHDOG=1")


class Watcher:
    """Samples the invariants until stopped."""

    def __init__(self, pid, window):
        self.pid = pid
        self.window = window
        self.stop = threading.Event()
        self.cert_path = E["CHAOS_CERT"]
        self.last_stat = None
        self.checks = self.disagreements = self.certs_seen = 0
        self.samples = []   # (t, fds, rss)
        self.longest_gap = 0.0

    def cert_changed(self):
        try:
            st = os.stat(self.cert_path)
        except FileNotFoundError:
            return
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self.last_stat:
            return
        self.last_stat = key
        now = time.monotonic()
        cert = x509.load_pem_x509_certificate(open(self.cert_path, "rb").read())
        self.certs_seen += 1
        signers = [ca.name for ca in CAS if ca.signed(cert)]
        if not signers:
            violation(f"certificate serial {cert.serial_number:x} is signed by no CA ever in the Secret")
            return
        held = cas_current_between(now - self.window, now)
        if signers[0] not in held and self.certs_seen > 1:
            violation(f"certificate serial {cert.serial_number:x} is signed by {signers[0]}, which the Secret "
                      f"did not hold in the last {self.window:.0f} s (it held {sorted(held) or 'no good CA'})")

    luks = None
    marker_written = False

    def volume(self):
        uuid = luks_uuid(E["CHAOS_DEVICE"])
        if self.luks is None and uuid is not None:
            self.luks = uuid
        elif self.luks is not None and uuid != self.luks:
            violation(f"{E['CHAOS_DEVICE']}: LUKS UUID {self.luks} became {uuid}: written outside its one format")
        marker = os.path.join(E["CHAOS_MOUNTPOINT"], "chaos-marker")
        if not self.marker_written and mounted(E["CHAOS_MOUNTPOINT"]):
            with open(marker, "w") as f:
                f.write("written under chaos\n")
                f.flush()
                os.fsync(f.fileno())
            self.marker_written = True

    disagree_since = None
    longest_disagreement = 0.0

    def agreement(self):
        """Ready on D-Bus implies that check passes, within a bounded lag (AGREE_LAG): the daemon
        looks at once when a watched thing changes (a Secret, a device path), but an attempt under
        way finishes first; one that lasts longer is a violation."""
        r1 = ready_on_bus()
        ok, out = (True, "") if not r1 else check_passes()
        if r1:
            self.checks += 1
        if ok or not ready_on_bus():
            if self.disagree_since is not None:
                self.longest_disagreement = max(self.longest_disagreement, time.monotonic() - self.disagree_since)
            self.disagree_since = None
            return
        now = time.monotonic()
        if self.disagree_since is None:
            self.disagree_since = now
            self.disagreements += 1
            self.first_disagreement = out.strip()[-300:]
        elif now - self.disagree_since > AGREE_LAG:
            violation(f"D-Bus says Ready but nodeseal check has failed for {now - self.disagree_since:.1f} s "
                      f"(more than {AGREE_LAG:.0f} s): {out.strip()[-300:]}")
            self.disagree_since = now

    def status_file(self):
        try:
            st = json.load(open(E["CHAOS_STATUS_FILE"]))
        except (OSError, ValueError) as e:
            violation(f"status file unreadable: {e}")
            return
        r1 = ready_on_bus()
        if r1 is not None and st.get("ready") != r1:
            # the file follows the bus at once; a second look tells a change in flight from a lie
            time.sleep(0.3)
            st = json.load(open(E["CHAOS_STATUS_FILE"]))
            r2 = ready_on_bus()
            if r2 == r1 and st.get("ready") != r2:
                violation(f"status file says ready={st.get('ready')}, D-Bus says {r2}")

    def run(self):
        pings = watchdog_pings()
        last_ping = time.monotonic()
        wd_usec = int(E["WATCHDOG_USEC"])
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                violation("the daemon is gone")
                return
            p = watchdog_pings()
            if p > pings:
                pings, last_ping = p, t
            self.longest_gap = max(self.longest_gap, t - last_ping)
            if t - last_ping > wd_usec / 1e6:
                violation(f"no WATCHDOG=1 for {t - last_ping:.1f} s: systemd would have killed the daemon")
                last_ping = t
            self.cert_changed()
            if VOLUME:
                self.volume()
            self.agreement()
            self.status_file()
            # memory and fds are compared from the first time it is ready on (start-up opens things)
            if self.samples or ready_on_bus():
                self.samples.append((t,) + proc_figures(self.pid))
            self.stop.wait(0.2)


def flat(samples, index, what, limit):
    if not samples:
        violation(f"{what}: no samples (the daemon was never ready)")
        return
    n = max(1, len(samples) // 10)
    first = sorted(s[index] for s in samples[:n])[n // 2]
    last = sorted(s[index] for s in samples[-n:])[n // 2]
    peak = max(s[index] for s in samples)
    figures[f"{what}_first"] = first
    figures[f"{what}_last"] = last
    figures[f"{what}_peak"] = peak
    if last - first > limit:
        violation(f"{what} grew from {first} to {last} (more than {limit})")


def main():
    seed = int(E.get("CHAOS_SEED", "0")) or int.from_bytes(os.urandom(4), "little") or 1
    random.seed(seed)
    figures["seed"] = seed
    print(f"seed: {seed} (CHAOS_SEED / NODESEAL_SOAK_SEED replays this schedule)", flush=True)
    duration = float(E.get("CHAOS_SECONDS", "60"))
    pid = int(E["DAEMON_PID"])
    backoff_cap = float(E["CHAOS_BACKOFF_CAP"])
    window = float(E.get("CHAOS_WINDOW", "20"))

    with lock:
        timeline.append((time.monotonic(), CAS[0]))
    if VOLUME:
        decoy_before = sha256_of(E["CHAOS_DECOY"])
    w = Watcher(pid, window)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()

    counts = {}
    end = time.monotonic() + duration
    kinds = sorted(set(EVENTS + (VOLUME_EVENTS if VOLUME else [])))
    random.shuffle(kinds)      # every kind once first, then at random
    while time.monotonic() < end:
        hold, undo = inject(counts, kinds.pop() if kinds else random.choice(EVENTS + (VOLUME_EVENTS if VOLUME else [])))
        time.sleep(min(hold, max(0, end - time.monotonic())))
        if undo:
            undo()

    # The last fault: everything healthy again, on a CA the daemon may not have seen yet.
    admin("DELETE", "/fake/faults")
    final = CAS[-1] if timeline[-1][1] is not CAS[-1] else CAS[0]
    secret_set(final)
    t_last = time.monotonic()
    recovered = None
    while time.monotonic() - t_last < backoff_cap + 60:
        try:
            cert = x509.load_pem_x509_certificate(open(E["CHAOS_CERT"], "rb").read())
            if final.signed(cert) and ready_on_bus() and check_passes()[0]:
                recovered = time.monotonic() - t_last
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    w.stop.set()
    thread.join()

    figures["seconds"] = duration
    figures["events"] = sum(counts.values())
    figures["events_by_kind"] = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    figures["certificates_written"] = w.certs_seen - 1
    figures["ready_checks"] = w.checks
    figures["disagreements_within_lag"] = w.disagreements
    figures["longest_disagreement_s"] = round(w.longest_disagreement, 2)
    figures["longest_watchdog_gap_s"] = round(w.longest_gap, 2)
    flat(w.samples, 1, "open_fds", 3)
    # Under AddressSanitizer freed memory waits in its quarantine (256 MiB by default) before it is
    # reused, so resident memory climbs whatever the program does: judged against that, not 8 MiB.
    flat(w.samples, 2, "rss_kib", int(E.get("CHAOS_RSS_LIMIT_KIB", "8192")))
    if recovered is None:
        violation(f"not ready on the last CA within {backoff_cap + 60:.0f} s after the last fault")
    else:
        figures["recovery_s"] = round(recovered, 2)
        limit = backoff_cap + float(E.get("CHAOS_ATTEMPT_SEC", "10"))
        if recovered > limit:
            violation(f"ready again {recovered:.1f} s after the last fault: more than the backoff cap "
                      f"({backoff_cap:.0f} s) plus one attempt")
    if VOLUME:
        if sha256_of(E["CHAOS_DECOY"]) != decoy_before:
            violation(f"{E['CHAOS_DECOY']} (a filesystem with data) was written")
        if w.luks is None:
            violation(f"{E['CHAOS_DEVICE']} was never formatted")
        marker = os.path.join(E["CHAOS_MOUNTPOINT"], "chaos-marker")
        if not w.marker_written or open(marker).read() != "written under chaos\n":
            violation("the file written on the volume under chaos is not there")
        figures["luks_uuid_changes"] = 0 if w.luks else None
    # A soak that did nothing proves nothing.
    if figures["events"] < duration / 5 or w.checks < 1 or timeline_changes() < 2:
        violation(f"the soak exercised too little: {figures['events']} events, {w.checks} checks while ready, "
                  f"{timeline_changes()} CA changes")
    figures["violations"] = len(violations)
    for k, v in figures.items():
        print(f"{k}: {v}")
    return 1 if violations else 0


T0 = time.monotonic()
if __name__ == "__main__":
    sys.exit(main())
