#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Runs each example datastore of deploy/kubernetes/examples with exactly its files and settings: the
# example's nodeseal.json (profile, owner, group, names) has nodeseal write the certificate, the
# example's own configuration (ConfigMap, flags, environment) starts Debian's server on loopback,
# and a client connects over TLS with the CA; plaintext is refused and the served certificate is
# the file's. What differs from a pod, and only that: paths are moved under a scratch directory,
# the secrets come from a directory source, listen addresses are loopback ports, and owner 999 (the
# server's user in the official image) is the server's user here. TiKV, PD, rqlite and BanyanDB have
# no Debian package: their TOML or flags are parsed and must name the profile's files, by role.
#
#   run-examples.py EXAMPLES_DIR       NODESEAL: the binary under test

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib

import yaml

NODESEAL = os.environ["NODESEAL"]
SOURCE_ROOT = os.environ.get("SOURCE_ROOT", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HOST_ROOT = "/var/lib/nodeseal"
IMAGE_USERS = {"postgresql": "postgres", "mysql": "mysql", "redis": "redis"}


class Fail(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, check=True, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    if check and r.returncode != 0:
        raise Fail(f"{' '.join(argv)} exited with {r.returncode}: {r.stdout}{r.stderr}")
    return r


def wait_for(what, func, secs=20):
    end = time.monotonic() + secs
    last = None
    while time.monotonic() < end:
        try:
            if func():
                return
        except Exception as e:  # noqa: BLE001 - reported below if it never works
            last = e
        time.sleep(0.1)
    raise Fail(f"{what}: not within {secs} s ({last})")


class Example:
    def __init__(self, path, scratch):
        self.path = path
        self.name = os.path.basename(path)[:-5]
        self.docs = [d for d in yaml.safe_load_all(open(path)) if d]
        self.t = os.path.join(scratch, self.name)
        os.makedirs(self.t, mode=0o755)
        self.procs = []
        self.stop_signal = signal.SIGTERM

    def get(self, kind, suffix=""):
        for d in self.docs:
            if d["kind"] == kind and d["metadata"]["name"].endswith(suffix):
                return d
        return None

    def here(self, text):
        """A path or text of the pod, moved under the scratch directory."""
        return text.replace(HOST_ROOT, self.t + HOST_ROOT)

    def container(self):
        spec = self.get("StatefulSet")["spec"]["template"]["spec"]
        return [c for c in spec["containers"] if c["name"] != "reload-sidecar"][0]

    # ---- nodeseal, with the example's config ----
    def provision(self, secrets):
        cm = self.get("ConfigMap", "-nodeseal")
        conf = json.loads(cm["data"]["nodeseal.json"])
        self.cert = conf["certificates"][0]
        c = dict(self.cert)
        c["directory"] = self.here(c["directory"])
        if c.get("owner") == "999":
            c["owner"] = IMAGE_USERS[c["profile"]]
        c.pop("reload_command", None)
        # The volumes are LUKS devices: the vm tier's business; here only the certificate.
        local = {"node_name": "node-1", "runtime_directory": os.path.join(self.t, "run"),
                 "secrets": {"directory": secrets}, "certificates": [c]}
        self.config = os.path.join(self.t, "nodeseal.json")
        with open(self.config, "w") as f:
            json.dump(local, f)
        os.makedirs(os.path.dirname(c["directory"]), exist_ok=True)
        run([NODESEAL, "-c", self.config, "provision"])
        # The init container's command, as the pod runs it (a shorter wait).
        init = self.get("StatefulSet")["spec"]["template"]["spec"]["initContainers"][0]["command"]
        assert init[:3] == ["nodeseal", "check", "--wait"], init
        run([NODESEAL, "-c", self.config] + init[1:3] + ["5"])
        self.dir = c["directory"]
        self.files = {role: self.role_file(role) for role in ("cert", "key", "ca")}

    def role_file(self, role):
        """The file of the directory that holds that role, found by its content."""
        for n in sorted(os.listdir(self.dir)):
            p = os.path.join(self.dir, n)
            text = open(p).read()
            if role == "key" and "PRIVATE KEY" in text:
                return p
            if role != "key" and "CERTIFICATE" in text:
                ca = "CA:TRUE" in run(["openssl", "x509", "-in", p, "-noout", "-ext", "basicConstraints"],
                                      check=False).stdout
                if ca == (role == "ca"):
                    return p
        raise Fail(f"{self.name}: no {role} file in {self.dir}")

    def expect_role(self, what, path, role):
        """A file the datastore's configuration names is the profile's file of that role."""
        if self.here(path) != self.files[role]:
            raise Fail(f"{self.name}: {what} is {path}, but the {role} nodeseal writes is "
                       f"{self.files[role].replace(self.t, '')}")

    def expect_settings(self, text, roles, value):
        """Each setting of roles (name: role) in a configuration text names the profile's file of
        that role; value(line) is the path a line of "name ..." holds."""
        for k, role in roles.items():
            lines = [x for x in text.splitlines() if x.startswith(k + " ")]
            if len(lines) != 1:
                raise Fail(f"{self.name}: {k} is set {len(lines)} times")
            self.expect_role(k, value(lines[0]), role)

    def serial(self, path):
        return run(["openssl", "x509", "-in", path, "-noout", "-serial"]).stdout.strip()

    def served_serial(self, port, starttls=None, client=False):
        argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", self.files["ca"],
                "-verify_return_error"]
        if starttls:
            argv += ["-starttls", starttls]
        if client:
            argv += ["-cert", self.files["cert"], "-key", self.files["key"]]
        r = subprocess.run(argv, input="", capture_output=True, text=True, timeout=20)
        cert = r.stdout[r.stdout.find("-----BEGIN CERTIFICATE-----"):]
        r = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=cert, capture_output=True, text=True)
        return r.stdout.strip()

    def expect_served(self, port, **kw):
        want = self.serial(self.files["cert"])
        got = self.served_serial(port, **kw)
        if got != want:
            raise Fail(f"{self.name}: the server serves {got or 'nothing verifiable'}, the file holds {want}")

    def renew_and_reload(self, reload_command, port, **kw):
        """The agent renews (one more name makes it issue anew), then the reload sidecar, once, runs
        reload_command: the same server process serves the new certificate."""
        conf = json.load(open(self.config))
        c = conf["certificates"][0]
        before = self.serial(self.files["cert"])
        c["dns_names"] = c.get("dns_names", []) + ["renewed.example"]
        with open(self.config, "w") as f:
            json.dump(conf, f)
        run([NODESEAL, "-c", self.config, "provision"])
        if self.serial(self.files["cert"]) == before:
            raise Fail(f"{self.name}: provision did not renew")
        c["reload_command"] = reload_command
        # The example's serve_check, on this test's port: --once then waits for the confirmation.
        sc = dict(self.cert["serve_check"])
        sc["address"] = f"127.0.0.1:{port}"
        c["serve_check"] = sc
        sidecar = os.path.join(self.t, "sidecar.json")
        with open(sidecar, "w") as f:
            json.dump(conf, f)
        r = run([NODESEAL, "-c", sidecar, "reload-sidecar", "--once", "--poll-sec", "0.1", "--settle-sec", "0.2"],
                check=False)
        if r.returncode != 0 or "confirmed: the datastore serves the file's certificate" not in r.stderr:
            raise Fail(f"{self.name}: the reload sidecar did not confirm its reload: {r.stdout}{r.stderr}")
        if any(p.poll() is not None for p in self.procs):
            raise Fail(f"{self.name}: the server is gone after the reload")
        self.expect_served(port, **kw)

    def start(self, argv, user=None, env=None):
        if user:
            argv = ["runuser", "-u", user, "--"] + argv
        log = open(os.path.join(self.t, "server.log"), "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append(p)
        return p

    def log(self):
        try:
            return open(os.path.join(self.t, "server.log")).read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, self.stop_signal)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        self.procs = []

    def write_config_files(self, cm_suffix, dest):
        os.makedirs(dest, exist_ok=True)
        out = {}
        for k, v in self.get("ConfigMap", cm_suffix)["data"].items():
            out[k] = os.path.join(dest, k)
            with open(out[k], "w") as f:
                f.write(v)
        return out


def make_ca(d, subject):
    """A CA Secret's files (tls.crt, tls.key) made by openssl, not by the code under test."""
    run(["openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-keyout", f"{d}/tls.key", "-out", f"{d}/tls.crt", "-days", "30", "-subj", subject,
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])


def chown_tree(path, user):
    pw = pwd.getpwnam(user)
    os.makedirs(path, exist_ok=True)
    os.chown(path, pw.pw_uid, pw.pw_gid)


# ---- the datastores Debian has ----

def run_postgresql(ex):
    pgbin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    pgbin = f"/usr/lib/postgresql/{pgbin}/bin"
    port = free_port()
    etc = os.path.join(ex.t, "etc-postgresql")
    files = ex.write_config_files("-config", etc)
    conf = open(files["postgresql.conf"]).read()
    ex.expect_settings(conf, {"ssl_cert_file": "cert", "ssl_key_file": "key", "ssl_ca_file": "ca"},
                       lambda line: line.split("'")[1])
    with open(files["postgresql.conf"], "w") as f:
        f.write(ex.here(conf.replace("/etc/postgresql/", etc + "/")))
    data = os.path.join(ex.t, "data")
    sock = os.path.join(ex.t, "sock")
    chown_tree(data, "postgres")
    chown_tree(sock, "postgres")
    pw = os.path.join(ex.t, "pw")
    with open(pw, "w") as f:
        f.write("example-password\n")
    os.chmod(pw, 0o644)
    run(["runuser", "-u", "postgres", "--", f"{pgbin}/initdb", "-D", data, "-U", "postgres", f"--pwfile={pw}",
         "-A", "scram-sha-256"])
    args = [ex.here(a.replace("/etc/postgresql/", etc + "/")) for a in ex.container()["args"]]
    ex.stop_signal = signal.SIGINT   # fast shutdown; SIGTERM waits for clients
    ex.start([f"{pgbin}/postgres", "-D", data] + args +
             ["-c", f"port={port}", "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sock}"],
             user="postgres")
    wait_for("PostgreSQL up", lambda: run([f"{pgbin}/pg_isready", "-h", sock, "-p", str(port)], check=False)
             .returncode == 0)
    env = dict(os.environ, PGPASSWORD="example-password", PGCONNECT_TIMEOUT="5")
    dsn = f"host=localhost hostaddr=127.0.0.1 port={port} user=postgres dbname=postgres sslrootcert={ex.files['ca']}"
    r = run(["psql", "-X", "-A", "-t", dsn + " sslmode=verify-full", "-c",
             "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"], env=env)
    if r.stdout.strip() != "t":
        raise Fail(f"postgresql: the verify-full connection is not TLS: {r.stdout}")
    r = run(["psql", "-X", dsn + " sslmode=disable", "-c", "SELECT 1"], env=env, check=False)
    if r.returncode == 0 or "no encryption" not in r.stderr:
        raise Fail(f"postgresql: plaintext was not refused: {r.stdout}{r.stderr}")
    ex.expect_served(port, starttls="postgres")
    # The example's reload (SIGHUP to the postmaster named in postmaster.pid), by the sidecar.
    reload = [ex.here(a).replace("/var/lib/postgresql/data/pgdata", data) for a in ex.cert["reload_command"]]
    ex.renew_and_reload(reload, port, starttls="postgres")


def run_mariadb(ex):
    port = free_port()
    files = ex.write_config_files("-config", os.path.join(ex.t, "conf.d"))
    cnf = open(files["nodeseal.cnf"]).read()
    ex.expect_settings(cnf, {"ssl_cert": "cert", "ssl_key": "key", "ssl_ca": "ca"},
                       lambda line: line.split("=", 1)[1].strip())
    rundir = os.path.join(ex.t, "run-mysqld")
    with open(files["nodeseal.cnf"], "w") as f:
        f.write(ex.here(cnf.replace("/run/mysqld/", rundir + "/")))
    data = os.path.join(ex.t, "data")
    chown_tree(data, "mysql")
    chown_tree(rundir, "mysql")
    run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=mysql",
         "--auth-root-authentication-method=socket", "--skip-test-db"])
    sock = os.path.join(rundir, "mysqld.sock")
    ex.start(["mariadbd", f"--defaults-file={files['nodeseal.cnf']}", f"--datadir={data}", "--user=mysql",
              f"--port={port}", "--bind-address=127.0.0.1", f"--pid-file={rundir}/mysqld.pid",
              "--skip-log-bin", "--innodb-buffer-pool-size=16M"])
    wait_for("MariaDB up", lambda: os.path.exists(sock) and
             run(["mariadb", f"--socket={sock}", "-u", "root", "-e", "SELECT 1"], check=False).returncode == 0)
    run(["mariadb", f"--socket={sock}", "-u", "root", "-e",
         "CREATE USER example@'%' IDENTIFIED BY 'example-password'"])
    tcp = ["mariadb", "--protocol=tcp", "-h", "127.0.0.1", f"--port={port}", "-u", "example",
           "-pexample-password", "-N", "-B"]
    r = run(tcp + [f"--ssl-ca={ex.files['ca']}", "--ssl-verify-server-cert", "-e",
                   "SHOW SESSION STATUS LIKE 'Ssl_version'"])
    if "TLSv1." not in r.stdout:
        raise Fail(f"mariadb: the verified connection is not TLS: {r.stdout}")
    # The same user and password without TLS: MariaDB 10.11 answers require_secure_transport with
    # "Access denied" (MySQL says "insecure transport").
    r = run(tcp + ["--skip-ssl", "-e", "SELECT 1"], check=False)
    if r.returncode == 0 or not ("insecure transport" in r.stderr or "Access denied" in r.stderr):
        raise Fail(f"mariadb: plaintext was not refused: {r.stdout}{r.stderr}")
    ex.expect_served(port, starttls="mysql")
    # The profile's hook, as the example's sidecar runs it, with the socket moved here.
    defaults = os.path.join(ex.t, "hook.cnf")
    with open(defaults, "w") as f:
        f.write(f"[client]\nsocket = {sock}\nuser = root\n")
    ex.renew_and_reload(["/usr/bin/env", f"NODESEAL_MYSQL_DEFAULTS_FILE={defaults}",
                         os.path.join(SOURCE_ROOT, "hooks", "mysql")], port, starttls="mysql")


def run_redis(ex):
    port = free_port()
    files = ex.write_config_files("-config", os.path.join(ex.t, "etc-redis"))
    conf = open(files["redis.conf"]).read()
    ex.expect_settings(conf, {"tls-cert-file": "cert", "tls-key-file": "key", "tls-ca-cert-file": "ca"},
                       lambda line: line.split()[1])
    rundir = os.path.join(ex.t, "run-redis")
    data = os.path.join(ex.t, "data")
    chown_tree(rundir, "redis")
    chown_tree(data, "redis")
    with open(files["redis.conf"], "w") as f:
        f.write(ex.here(conf.replace("/run/redis/", rundir + "/").replace("dir /data", f"dir {data}")))
    args = [ex.here(a.replace("/etc/redis/", os.path.dirname(files["redis.conf"]) + "/"))
            for a in ex.container()["args"]]
    assert args[0] == "redis-server", args
    ex.start(args + ["--tls-port", str(port), "--bind", "127.0.0.1", "--save", ""], user="redis")
    cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
    tls = ["--tls", "--cacert", ex.files["ca"]]
    client = ["--cert", ex.files["cert"], "--key", ex.files["key"]]
    wait_for("Redis up", lambda: run(cli + tls + client + ["PING"], check=False).stdout.strip() == "PONG")
    r = run(cli + ["PING"], check=False)
    if "PONG" in r.stdout:
        raise Fail("redis: a plaintext PING was answered")
    r = run(cli + tls + ["PING"], check=False)
    if "PONG" in r.stdout:
        raise Fail("redis: a client without a certificate was answered (tls-auth-clients)")
    # The local admin channel the sidecar uses.
    if run(["redis-cli", "-s", os.path.join(rundir, "redis-server.sock"), "PING"]).stdout.strip() != "PONG":
        raise Fail("redis: the unix socket does not answer")
    ex.expect_served(port, client=True)
    # The profile's hook, as the example's sidecar runs it, with the socket moved here.
    ex.renew_and_reload(["/usr/bin/env", f"NODESEAL_REDIS_SOCKET={rundir}/redis-server.sock",
                         os.path.join(SOURCE_ROOT, "hooks", "redis")], port, client=True)


def run_etcd(ex):
    port, peer = free_port(), free_port()
    env = {k: ex.here(str(v)) for k, v in ex.get("ConfigMap", "-config")["data"].items()}
    for k, role in (("ETCD_CERT_FILE", "cert"), ("ETCD_KEY_FILE", "key"), ("ETCD_TRUSTED_CA_FILE", "ca"),
                    ("ETCD_PEER_CERT_FILE", "cert"), ("ETCD_PEER_KEY_FILE", "key"),
                    ("ETCD_PEER_TRUSTED_CA_FILE", "ca")):
        ex.expect_role(k, ex.get("ConfigMap", "-config")["data"][k], role)
    env["ETCD_DATA_DIR"] = ex.here(env["ETCD_DATA_DIR"])
    os.makedirs(os.path.dirname(env["ETCD_DATA_DIR"]), exist_ok=True)
    env["ETCD_LISTEN_CLIENT_URLS"] = f"https://127.0.0.1:{port}"
    env["ETCD_LISTEN_PEER_URLS"] = f"https://127.0.0.1:{peer}"
    cmd = ex.container()["command"]
    assert cmd[0] == "etcd", cmd
    argv = []
    for a in cmd:   # the pod's names and URLs, on loopback
        a = a.replace("$(POD_NAME)", "example-0")
        a = a.replace("https://example-0.etcd-example.nodeseal.svc:2379", f"https://127.0.0.1:{port}")
        a = a.replace("https://example-0.etcd-example.nodeseal.svc:2380", f"https://127.0.0.1:{peer}")
        argv.append(a)
    ex.start(argv, env=dict(os.environ, **env))
    ctl = ["etcdctl", f"--endpoints=https://127.0.0.1:{port}", f"--cacert={ex.files['ca']}"]
    client = [f"--cert={ex.files['cert']}", f"--key={ex.files['key']}"]
    e3 = dict(os.environ, ETCDCTL_API="3")

    def healthy():
        r = run(ctl + client + ["endpoint", "health"], check=False, env=e3)
        return "is healthy" in r.stdout + r.stderr   # etcdctl 3.4 says it on stderr
    wait_for("etcd healthy", healthy)
    run(ctl + client + ["put", "example", "ok"], env=e3)
    r = run(ctl + ["--dial-timeout=2s", "--command-timeout=2s", "get", "example"], check=False, env=e3)
    if "ok" in r.stdout:
        raise Fail("etcd: a client without a certificate was answered (client-cert-auth)")
    r = run(["curl", "-sS", "--max-time", "3", f"http://127.0.0.1:{port}/health"], check=False)
    if '"health"' in r.stdout:
        raise Fail("etcd: plaintext was answered")
    ex.expect_served(port, client=True)
    sidecar_reports_restart(ex, port)


def sidecar_reports_restart(ex, port):
    """The example's sidecar beside a datastore that reloads its certificate by itself and its CA
    only at start: it confirms the served certificate, and after the agent moved to a new CA it
    reports that a restart is needed (and --probe fails)."""
    status = os.path.join(ex.t, "sidecar.status")
    conf = json.load(open(ex.config))
    c = dict(conf["certificates"][0], serve_check=dict(ex.cert["serve_check"], address=f"127.0.0.1:{port}"))
    sidecar = os.path.join(ex.t, "sidecar.json")
    with open(sidecar, "w") as f:
        json.dump(dict(conf, certificates=[c]), f)
    log = open(os.path.join(ex.t, "sidecar.log"), "w")
    ex.procs.append(subprocess.Popen([NODESEAL, "-c", sidecar, "reload-sidecar", "--status-file", status,
                                      "--poll-sec", "0.1", "--settle-sec", "0.2"], stdout=log, stderr=log,
                                     start_new_session=True))

    def status_has(what):
        return os.path.exists(status) and what in open(status).read()
    wait_for(f"{ex.name}: the sidecar confirms the served certificate", lambda: status_has(" reload=confirmed "))
    # A new CA in the Secret: the agent issues under it.
    secrets = os.path.join(ex.t, "secrets", "nodeseal-ca")
    os.makedirs(secrets)
    make_ca(secrets, "/CN=nodeseal examples CA 2")
    conf["secrets"]["directory"] = os.path.dirname(secrets)
    with open(ex.config, "w") as f:
        json.dump(conf, f)
    run([NODESEAL, "-c", ex.config, "provision"])
    wait_for(f"{ex.name}: the sidecar reports the restart a CA change needs", lambda: status_has(" reload=needs-restart "))
    r = run([NODESEAL, "reload-sidecar", "--probe", "--status-file", status], check=False)
    if r.returncode != 1 or "restart" not in r.stdout:
        raise Fail(f"{ex.name}: --probe does not fail on a needed restart: {r.stdout}{r.stderr}")


# ---- the datastores Debian does not have: their configuration, checked ----

def check_toml(ex, file_key, keys):
    files = ex.get("ConfigMap", "-config")["data"]
    try:
        conf = tomllib.loads(files[file_key])
    except tomllib.TOMLDecodeError as e:
        raise Fail(f"{ex.name}: {file_key} is not valid TOML: {e}")
    sec = conf.get("security", {})
    if set(sec) != set(keys):
        raise Fail(f"{ex.name}: [security] has {sorted(sec)}, expected {sorted(keys)}")
    for k, role in keys.items():
        ex.expect_role(f"[security] {k}", sec[k], role)
    args = ex.container()["args"]
    if f"--config=/etc/{ex.name}/{file_key}" not in args:
        raise Fail(f"{ex.name}: the server is not started with --config=/etc/{ex.name}/{file_key}: {args}")


def check_flags(ex, prefix, known, roles):
    flags = {}
    for a in ex.container()["args"]:
        if not a.startswith("-"):
            continue
        name, _, value = a.lstrip("-").partition("=")
        if not a.startswith(prefix) or name not in known:
            raise Fail(f"{ex.name}: {a} is not a flag the server knows ({prefix}NAME[=VALUE])")
        flags[name] = value
    for name, role in roles.items():
        if name not in flags:
            raise Fail(f"{ex.name}: flag {prefix}{name} is missing")
        ex.expect_role(prefix + name, flags[name], role)


def run_tikv(ex):
    check_toml(ex, "tikv.toml", {"ca-path": "ca", "cert-path": "cert", "key-path": "key"})


def run_pd(ex):
    check_toml(ex, "pd.toml", {"cacert-path": "ca", "cert-path": "cert", "key-path": "key"})


RQLITE_FLAGS = {"node-id", "http-addr", "http-adv-addr", "raft-addr", "raft-adv-addr", "http-cert", "http-key",
                "http-ca-cert", "http-verify-client", "node-cert", "node-key", "node-ca-cert", "node-verify-client",
                "node-verify-server-name", "node-no-verify", "join", "bootstrap-expect", "disco-mode", "auth"}
BANYANDB_FLAGS = {"tls", "cert-file", "key-file", "http-tls", "http-cert-file", "http-key-file",
                  "http-grpc-cert-file", "measure-root-path", "stream-root-path", "property-root-path",
                  "grpc-host", "grpc-port", "http-host", "http-port"}


def run_rqlite(ex):
    check_flags(ex, "-", RQLITE_FLAGS, {"http-cert": "cert", "http-key": "key", "http-ca-cert": "ca",
                                         "node-cert": "cert", "node-key": "key", "node-ca-cert": "ca"})


def run_banyandb(ex):
    check_flags(ex, "--", BANYANDB_FLAGS, {"cert-file": "cert", "key-file": "key", "http-cert-file": "cert",
                                            "http-key-file": "key", "http-grpc-cert-file": "ca"})


RUNNERS = {"postgresql": run_postgresql, "mariadb": run_mariadb, "redis": run_redis, "etcd": run_etcd,
           "tikv": run_tikv, "pd": run_pd, "rqlite": run_rqlite, "banyandb": run_banyandb}
NEEDS = {"postgresql": "/usr/lib/postgresql", "mariadb": "mariadbd", "redis": "redis-server", "etcd": "etcd"}


def main():
    d = sys.argv[1]
    if os.geteuid() != 0:
        print("SKIP: needs root to run the servers as their users")
        return 77
    scratch = tempfile.mkdtemp(prefix="nodeseal-examples.")
    os.chmod(scratch, 0o755)
    failed, missing = [], []
    try:
        secrets = os.path.join(scratch, "secrets", "nodeseal-ca")
        os.makedirs(secrets)
        make_ca(secrets, "/CN=nodeseal examples CA")
        names = sorted(f[:-5] for f in os.listdir(d) if f.endswith(".yaml"))
        if sorted(names) != sorted(RUNNERS):
            failed.append(f"examples are {names}, this test knows {sorted(RUNNERS)}")
        for name in names:
            if name not in RUNNERS or (os.environ.get("ONLY") and name not in os.environ["ONLY"].split(",")):
                continue
            need = NEEDS.get(name)
            if need and not (os.path.exists(need) or shutil.which(need)):
                missing.append(f"{name} ({need})")
                continue
            ex = Example(os.path.join(d, name + ".yaml"), scratch)
            start = time.monotonic()
            try:
                ex.provision(os.path.dirname(secrets))
                RUNNERS[name](ex)
                ex.stop()
                how = "served TLS" if name in NEEDS else "configuration checked (no Debian package)"
                print(f"ok {name}: {how} in {time.monotonic() - start:.1f} s, stopped included")
            except (Fail, AssertionError, subprocess.TimeoutExpired, KeyError, IndexError) as e:
                failed.append(f"{name}: {e}\n{ex.log()}")
            finally:
                ex.stop()
    finally:
        if os.environ.get("KEEP"):
            print("kept", scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    for f in failed:
        print("FAIL:", f)
    if not failed and missing:
        print(f"SKIP: not installed: {', '.join(missing)} (tests/run-all installs them)")
        return 77
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
