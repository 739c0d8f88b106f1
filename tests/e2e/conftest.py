"""End-to-end fixtures: a REAL `minik server` process per test module, and real clients pointed at it.

The server is started the way a user starts it (`python -m minik.cli server ...`) with a fresh data dir, a
free port on 127.0.0.1, its own kubeconfig and no agent. It is ready when `/readyz` answers 200 (polled,
bounded by a deadline); at teardown it gets SIGTERM and must exit 0 within 10 s. kubectl runs as a
subprocess with `--kubeconfig` and a per-server `--cache-dir` (discovery caches never leak between servers).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0  # seconds until /readyz must answer 200
STOP_TIMEOUT = 10.0  # seconds the server has to exit 0 after SIGTERM
KUBECTL_TIMEOUT = 30.0  # seconds any single kubectl invocation may take


# --- kubectl binaries ---


def kubectl_binary(name: str = "kubectl") -> str | None:
    """Path of `kubectl` (the PATH dispatcher) or of `kubectl.1.NN` (beside the dispatcher's real file)."""
    found = shutil.which(name)
    if found:
        return found
    dispatcher = shutil.which("kubectl")
    if dispatcher and name != "kubectl":
        candidate = Path(dispatcher).resolve().parent / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def kubectl_param(name: str):
    """A pytest param for a kubectl binary that skips (with the reason) when the binary is absent."""
    return pytest.param(name, id=name, marks=pytest.mark.skipif(
        kubectl_binary(name) is None, reason=f"{name} is not installed (looked on PATH and beside kubectl)"))


# The default kubectl (1.32 dispatcher) plus the oldest and newest supported versions.
KUBECTLS = [kubectl_param(name) for name in ("kubectl", "kubectl.1.27", "kubectl.1.33")]

needs_kubectl = pytest.mark.skipif(kubectl_binary() is None, reason="kubectl is not installed on PATH")

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


# --- the server process ---


@dataclass
class MinikServer:
    """A running `minik server` subprocess and ways to talk to it."""

    process: subprocess.Popen
    url: str
    port: int
    kubeconfig: Path
    workdir: Path
    log_path: Path
    _ssl: ssl.SSLContext | None = field(default=None, repr=False)

    # --- raw HTTPS access (for what kubectl cannot do, e.g. write Events or /status) ---

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_context_for(self.kubeconfig, self.workdir / "client-tls")
        return self._ssl

    def api(self, method: str, path: str, body=None, *, content_type: str = "application/json",
            timeout: float = 10.0):
        """(status, decoded JSON or text) of one request as the admin user."""
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, context=self.ssl_context(), timeout=timeout) as resp:
                status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
            exc.close()
        if raw and ctype.startswith("application/json"):
            return status, json.loads(raw)
        return status, raw.decode(errors="replace")

    # --- kubectl ---

    def kubectl(self, *args: str, binary: str = "kubectl", stdin: str | None = None, env: dict | None = None,
                timeout: float = KUBECTL_TIMEOUT) -> tuple[int, str, str]:
        """Run a kubectl binary against this server: (returncode, stdout, stderr)."""
        command = self.kubectl_command(*args, binary=binary)
        try:
            done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout,
                                  env=self.kubectl_env(env), cwd=self.workdir)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{' '.join(command)} did not finish within {timeout}s; "
                        f"stdout={exc.stdout!r} stderr={exc.stderr!r}")
        return done.returncode, done.stdout, done.stderr

    def kubectl_ok(self, *args: str, **kw) -> str:
        """Run kubectl, require exit 0, return stdout."""
        rc, out, err = self.kubectl(*args, **kw)
        assert rc == 0, f"kubectl {' '.join(args)} failed (rc={rc}):\nstdout: {out}\nstderr: {err}"
        return out

    def kubectl_popen(self, *args: str, binary: str = "kubectl", env: dict | None = None) -> subprocess.Popen:
        """Start kubectl in the background (stdout and stderr piped); the caller ends and reaps it."""
        return subprocess.Popen(self.kubectl_command(*args, binary=binary), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.kubectl_env(env), cwd=self.workdir)

    def kubectl_command(self, *args: str, binary: str = "kubectl") -> list[str]:
        path = kubectl_binary(binary)
        if path is None:
            pytest.skip(f"{binary} is not installed")
        return [path, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={self.workdir / 'kube-cache'}", *args]

    def kubectl_env(self, extra: dict | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBECTL_EXTERNAL_DIFF")}
        env["HOME"] = str(self.workdir / "home")  # no ~/.kube of the person running the tests
        env.update(extra or {})
        return env

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"


def ssl_context_for(kubeconfig: Path, tls_dir: Path, *, client_cert: bool = True) -> ssl.SSLContext:
    config = yaml.safe_load(Path(kubeconfig).read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    if client_cert:
        tls_dir.mkdir(parents=True, exist_ok=True)
        (tls_dir / "client.crt").write_bytes(base64.b64decode(user["client-certificate-data"]))
        key = tls_dir / "client.key"
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        key.chmod(0o600)
        context.load_cert_chain(tls_dir / "client.crt", key)
    return context


def start_minik(workdir: Path, *extra_args: str) -> MinikServer:
    """Start `python -m minik.cli server` and return once `/readyz` answers 200 (or fail with its log)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "home").mkdir(exist_ok=True)
    port = free_port()
    kubeconfig = workdir / "kubeconfig"
    log_path = workdir / "server.log"
    command = [sys.executable, "-m", "minik.cli", "server",
               "--data-dir", str(workdir / "data"), "--bind-address", "127.0.0.1",
               "--https-listen-port", str(port), "-o", str(kubeconfig), "--disable-agent", *extra_args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    server = MinikServer(process, f"https://127.0.0.1:{port}", port, kubeconfig, workdir, log_path)
    try:
        wait_ready(server)
    except BaseException:
        stop_minik(server, check=False)
        raise
    return server


def wait_ready(server: MinikServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"minik server exited with {server.process.returncode} before it was ready:\n"
                        f"{server.log_tail()}")
        if server.kubeconfig.exists():
            try:
                context = ssl_context_for(server.kubeconfig, server.workdir / "client-tls", client_cert=False)
                with urllib.request.urlopen(server.url + "/readyz", context=context, timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                exc.close()
            except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError, ssl.SSLError) as exc:
                last = repr(exc)  # not listening yet, or the kubeconfig is being written
        time.sleep(0.05)
    pytest.fail(f"minik server not ready within {START_TIMEOUT}s ({last}):\n{server.log_tail()}")


def stop_minik(server: MinikServer, *, check: bool = True) -> None:
    """SIGTERM; with `check`, require exit status 0 within STOP_TIMEOUT."""
    process = server.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)
        if check:
            pytest.fail(f"minik server did not exit within {STOP_TIMEOUT}s of SIGTERM:\n{server.log_tail()}")
        return
    if check:
        assert code == 0, f"minik server exited with {code} after SIGTERM:\n{server.log_tail()}"


class WatchingKubectl:
    """kubectl run in the background with `-v=6`, so its log says when its watch request got answered.

    `kubectl wait` first GETs the object, then watches it; a change made before the watch is open would be
    seen by the GET instead, and the watch path would go untested. `wait_until_watching()` blocks until
    the log shows the `watch=true` request answered 200 (bounded), which is the moment to make the change.
    """

    def __init__(self, server: "MinikServer", *args: str, binary: str = "kubectl"):
        self.process = server.kubectl_popen("-v=6", *args, binary=binary)
        self._out: list[str] = []
        self._log: list[str] = []
        self._watching = threading.Event()
        self._result: tuple[int, str, str] | None = None
        self._readers = [threading.Thread(target=self._read_stdout, name="kubectl-stdout", daemon=True),
                         threading.Thread(target=self._read_stderr, name="kubectl-stderr", daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self._out.append(line)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self._log.append(line)
            if "watch=true" in line and "200 OK" in line:
                self._watching.set()

    def wait_until_watching(self, timeout: float = 15.0) -> None:
        if not self._watching.wait(timeout):
            self.finish(1)
            pytest.fail(f"kubectl never opened its watch within {timeout}s:\n{''.join(self._log[-20:])}")

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """(rc, stdout, stderr without the -v=6 log lines); kills kubectl if it takes longer than `timeout`."""
        if self._result is None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)
            for reader in self._readers:
                reader.join(timeout=STOP_TIMEOUT)
            self.process.stdout.close()
            self.process.stderr.close()
            errors = "".join(line for line in self._log if not re.match(r"[IWE]\d{4} ", line))
            self._result = (self.process.returncode, "".join(self._out), errors)
        return self._result

    def __enter__(self) -> "WatchingKubectl":
        return self

    def __exit__(self, *exc_info) -> None:
        self.finish(timeout=0)  # a test that failed half-way leaves no kubectl behind


@pytest.fixture(scope="module")
def minik_server(tmp_path_factory) -> MinikServer:
    """One real server per test module."""
    server = start_minik(tmp_path_factory.mktemp("minik"))
    yield server
    stop_minik(server)


@pytest.fixture
def namespace(minik_server, request) -> str:
    """A fresh namespace per test (created through the API: `kubectl create namespace` needs protobuf
    support in kubectl ≥ 1.32, which is tested on its own)."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]
    name = f"t-{base[:40].strip('-')}-{digest}"
    status, body = minik_server.api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                                    "metadata": {"name": name}})
    assert status == 201, body
    return name
