"""`minik server` as a real process: config file, readiness, restart on the same data, clean SIGTERM."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "minik.cli", "server", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}, cwd=tmp_path,
    )


def wait_ready(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    """The server's output up to its "is ready" line; fails (and kills it) after `timeout`."""
    deadline = time.monotonic() + timeout
    lines = []
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "is ready at" in line:
                return "".join(lines)
    proc.kill()
    raise AssertionError("server did not become ready:\n" + "".join(lines))


def stop(proc: subprocess.Popen) -> tuple[int, float, str]:
    """SIGTERM: (exit status, seconds it took, what the server printed from then on)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=10)
        took = time.monotonic() - started
        output = proc.stdout.read()
    finally:
        proc.kill()
        proc.stdout.close()
    return code, took, output


@pytest.mark.slow
def test_config_file_restart_and_sigterm(tmp_path):
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"data-dir: {tmp_path / 'data'}\nbind-address: 127.0.0.1\nhttps-listen-port: {port}\n"
                      f"write-kubeconfig: {tmp_path / 'kc.yaml'}\nwrite-kubeconfig-mode: '640'\ndisable-agent: true\n")
    proc = start(tmp_path, "--config", str(config))
    output = wait_ready(proc)
    assert f"https://127.0.0.1:{port}" in output and str(tmp_path / "kc.yaml") in output
    assert oct((tmp_path / "kc.yaml").stat().st_mode & 0o777) == "0o640"
    ca = (tmp_path / "data" / "server" / "tls" / "server-ca.crt").read_bytes()
    code, took, _ = stop(proc)
    assert code == 0 and took < 5, (code, took)
    # Flags win over the file; TLS material is reused on restart.
    other = free_port()
    proc = start(tmp_path, "--config", str(config), "--https-listen-port", str(other))
    output = wait_ready(proc)
    assert f"https://127.0.0.1:{other}" in output
    assert (tmp_path / "data" / "server" / "tls" / "server-ca.crt").read_bytes() == ca
    code, took, output = stop(proc)
    assert code == 0 and took < 5
    # A clean stop is quiet: components stop before the store they use, so nothing retries against it.
    assert "WARNING" not in output and "ERROR" not in output and "minik server stopped" in output, output


@pytest.mark.slow
def test_second_server_on_same_data_dir_is_refused(tmp_path):
    args = ["--data-dir", str(tmp_path / "data"), "--bind-address", "127.0.0.1", "-o", str(tmp_path / "kc"),
            "--disable-agent"]
    first = start(tmp_path, *args, "--https-listen-port", str(free_port()))
    wait_ready(first)
    second = start(tmp_path, *args, "--https-listen-port", str(free_port()))
    out, _ = second.communicate(timeout=20)
    assert second.returncode == 1 and "in use by another minik process" in out and "Traceback" not in out
    assert stop(first)[0] == 0


@pytest.mark.slow
def test_port_in_use_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = start(tmp_path, "--data-dir", str(tmp_path / "d"), "--bind-address", "127.0.0.1",
                     "--https-listen-port", str(port), "-o", str(tmp_path / "kc"), "--disable-agent")
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "cannot start" in out and "Traceback" not in out
