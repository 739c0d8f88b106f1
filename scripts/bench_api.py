#!/usr/bin/env python3
"""API server benchmark: a real `minik server` subprocess over HTTPS, with etcd 3.4 as the anchor, in one run.

    python scripts/bench_api.py [--seconds 10] [--clients 1] [--connections 64] [--rounds 2] [--no-etcd]

(1) creates/s of 1 KiB ConfigMaps, 64 concurrent keep-alive HTTPS connections (client cert from the
    kubeconfig), ack latency p50/p99, for --seconds; the load comes from --clients worker processes;
(2) the same load against etcd 3.4 (default fsync settings) through its JSON gateway `POST /v3/kv/put`,
    plain HTTP on 127.0.0.1: the anchor; ratio minik/etcd. (1) and (2) take turns in --rounds slices
    (etcd, minik, minik, etcd, ...) so a change of background load biases neither side;
(3) list of 10k pods in `default`, as JSON and as Table: p50/p99 over --list-requests each (time to last byte),
    read by a light blocking TLS client (aiohttp's client, also shown for JSON, adds its own CPU to the latency);
(4) watch fan-out: 100 watch streams on configmaps from the current resourceVersion, one write at a time,
    time from write start to the LAST watcher holding the event, p50/p99 over --writes;
(5) idle RSS (VmRSS ~2 s after ready) and Popen → first `/readyz` 200 (polled every 10 ms): median of
    --starts fresh servers (empty data dir each), one restart on an existing (empty-ish) data dir, and one
    restart on the loaded data dir of (1)-(4).

Server and client CPU (from /proc and process_time) and the CPU the rest of the machine used meanwhile
(/proc/stat) are printed next to the figures, so a client-bound or disturbed run shows itself: the machine is
small and shared, so read timings as ratios within one run; server CPU per request is the steadiest figure.
Every process started here is stopped, and the temp dir removed, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import multiprocessing
import os
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import orjson
import yaml

ROOT = Path(__file__).resolve().parents[1]
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io"
VALUE = "x" * 1024  # the 1 KiB ConfigMap payload
CLK_TCK = os.sysconf("SC_CLK_TCK")

PROCESSES: list[subprocess.Popen] = []  # every server we start, stopped in `cleanup` whatever happens
STOPPING = threading.Event()  # set on Ctrl-C/SIGTERM/error: the blocking loops in threads give up at once


class Interrupted(Exception):
    pass


def pause(seconds: float) -> None:
    """time.sleep that ends early (raising) when the run is being stopped."""
    if STOPPING.wait(seconds):
        raise Interrupted()


# --- small utilities ---

def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def ms(values: list[float]) -> tuple[float, float]:
    return pct(values, 0.5) * 1000, pct(values, 0.99) * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def busy_seconds() -> float:
    """CPU seconds all processes on the machine have used (busy time of /proc/stat, every core)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client_ssl(kubeconfig: Path, scratch: Path) -> ssl.SSLContext:
    """CA and client certificate from the kubeconfig (key files go to our own temp dir, removed at the end)."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    scratch.mkdir(parents=True, exist_ok=True)
    cert, key = scratch / f"client-{os.getpid()}.crt", scratch / f"client-{os.getpid()}.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.touch(mode=0o600)
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    context.load_cert_chain(cert, key)
    return context


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc in PROCESSES:
        PROCESSES.remove(proc)


def cleanup() -> None:
    for proc in list(PROCESSES):
        try:
            stop_process(proc, timeout=5.0)
        except Exception as exc:  # keep stopping the others
            print(f"bench_api: could not stop pid {proc.pid}: {exc}", file=sys.stderr)


# --- the servers ---

class StartFailed(RuntimeError):
    def __init__(self, message: str, log_tail: str):
        super().__init__(f"{message}:\n{log_tail}")
        lines = [line for line in log_tail.splitlines() if line.strip()]
        self.summary = f"{message}: {lines[-1].strip() if lines else '?'}"


class Minik:
    """One `minik server` subprocess on a free 127.0.0.1 port."""

    def __init__(self, data_dir: Path, log_path: Path):
        self.data_dir = data_dir
        self.kubeconfig = data_dir / "kubeconfig"
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "minik.cli", "server", "--data-dir", str(self.data_dir),
                "--bind-address", "127.0.0.1", "--https-listen-port", str(self.port),
                "-o", str(self.kubeconfig), "--disable-agent"]

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait for the first `/readyz` 200 (polled every ~10 ms); returns Popen → ready seconds."""
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE  # /readyz is anonymous; the CA does not exist before the start
        log = open(self.log_path, "ab")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        PROCESSES.append(self.proc)
        log.close()
        deadline = t0 + timeout
        log_size = 0
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise StartFailed(f"minik server exited with {self.proc.returncode}", self.log_tail())
            size = self.log_path.stat().st_size
            if size != log_size:  # a start that failed but did not exit (seen: a thread keeps it alive)
                log_size = size
                if "Traceback (most recent call last)" in self.log_path.read_text(errors="replace"):
                    pause(0.5)  # let it finish writing the traceback
                    self.stop()
                    raise StartFailed("minik server failed to start (traceback in its log)", self.log_tail())
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=insecure, timeout=1.0)
                try:
                    conn.request("GET", "/readyz")
                    if conn.getresponse().status == 200:
                        return time.perf_counter() - t0
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException):
                pass
            pause(0.01)
        raise StartFailed(f"minik server not ready after {timeout:.0f} s", self.log_tail())

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return ""


class Etcd:
    """etcd 3.4 on 127.0.0.1, default settings (fsync on), its own temp data dir."""

    def __init__(self, binary: str, data_dir: Path, log_path: Path):
        self.binary = binary
        self.data_dir = data_dir
        self.port, self.peer_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        peer = f"http://127.0.0.1:{self.peer_port}"
        cmd = [self.binary, "--name", "bench", "--data-dir", str(self.data_dir),
               "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--initial-cluster", f"bench={peer}", "--log-level", "warn", "--logger", "zap"]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env={**os.environ, "ETCD_UNSUPPORTED_ARCH": ""})
        PROCESSES.append(self.proc)
        log.close()
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}: see {self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
                try:
                    conn.request("GET", "/health")
                    resp = conn.getresponse()
                    if resp.status == 200 and b"true" in resp.read():
                        return
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException):
                pass
            pause(0.05)
        raise RuntimeError(f"etcd not healthy after {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)


# --- load generator: runs in worker processes so the client side can be spread over cores ---

def _configmap(name: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": VALUE}})


async def _load(kind: str, url: str, kubeconfig: str, scratch: str, connections: int, seconds: float,
                start_at: float, prefix: str) -> dict:
    ssl_context = client_ssl(Path(kubeconfig), Path(scratch)) if kind == "minik" else False
    connector = aiohttp.TCPConnector(limit=connections, ssl=ssl_context, force_close=False)
    latencies: list[float] = []
    failures = 0
    first_failure = ""
    value64 = base64.b64encode(_configmap("x" * 20)).decode()  # etcd stores what minik would (~1.1 KiB)
    if kind == "minik":
        target = url + "/api/v1/namespaces/default/configmaps"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}

        def body(name: str) -> bytes:
            return _configmap(name)
        expected = 201
    else:
        target = url + "/v3/kv/put"
        headers = {"Content-Type": "application/json"}

        def body(name: str) -> bytes:
            key = base64.b64encode(f"/registry/configmaps/default/{name}".encode()).decode()
            return orjson.dumps({"key": key, "value": value64})
        expected = 200

    async with aiohttp.ClientSession(connector=connector) as session:
        # Open every connection (TLS handshake included) before the clock starts.
        async def warm(c: int) -> None:
            async with session.post(target, data=body(f"{prefix}-warm-{c}"), headers=headers) as resp:
                await resp.read()

        await asyncio.gather(*(warm(c) for c in range(connections)))
        late = time.time() > start_at
        await asyncio.sleep(max(0.0, start_at - time.time()))
        cpu0 = time.process_time()
        stop = time.perf_counter() + seconds

        async def worker(c: int) -> None:
            nonlocal failures, first_failure
            i = 0
            while time.perf_counter() < stop:
                data = body(f"{prefix}-{c}-{i}")
                t0 = time.perf_counter()
                async with session.post(target, data=data, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
                if status == expected:
                    latencies.append(time.perf_counter() - t0)
                else:
                    failures += 1
                    first_failure = first_failure or f"HTTP {status}"
                i += 1

        t_start = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in range(connections)))
        elapsed = time.perf_counter() - t_start
        cpu = time.process_time() - cpu0
    return {"count": len(latencies), "latencies": latencies, "failures": failures, "first_failure": first_failure,
            "elapsed": elapsed, "cpu": cpu, "late": late}


def load_worker(*args) -> dict:
    return asyncio.run(_load(*args))


def noop(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _deliver(loop: asyncio.AbstractEventLoop, future: asyncio.Future, result, error) -> None:
    """From the pool's result thread to the event loop (which may be gone after an interruption)."""
    try:
        loop.call_soon_threadsafe(_settle, future, result, error)
    except RuntimeError:
        pass


def _settle(future: asyncio.Future, result, error) -> None:
    if not future.done():
        future.set_exception(error) if error is not None else future.set_result(result)


async def run_load(pool, kind: str, url: str, kubeconfig: Path | None, scratch: Path, *, clients: int,
                   connections: int, seconds: float, server_pid: int, tag: str) -> dict:
    """`connections` concurrent requests spread over `clients` processes for `seconds`: the raw record."""
    per = [connections // clients + (1 if i < connections % clients else 0) for i in range(clients)]
    start_at = time.time() + 2.0  # room for the warm-up requests and TLS handshakes
    loop = asyncio.get_running_loop()
    futures = []
    for i, n in enumerate(per):  # the pool's callbacks hand the results to the loop: no thread blocks on them
        future = loop.create_future()
        futures.append(future)
        pool.apply_async(load_worker, (kind, url, str(kubeconfig or ""), str(scratch), n, seconds, start_at,
                                       f"{kind}-{tag}-{i}"),
                         callback=lambda res, f=future: _deliver(loop, f, res, None),
                         error_callback=lambda exc, f=future: _deliver(loop, f, None, exc))
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu0, busy0, t0 = cpu_seconds(server_pid), busy_seconds(), time.perf_counter()
    done = [await asyncio.wait_for(f, seconds + 120) for f in futures]
    server_cpu = cpu_seconds(server_pid) - cpu0
    busy = busy_seconds() - busy0
    wall = time.perf_counter() - t0
    if any(d["late"] for d in done):
        print(f"bench_api: {kind}: a client started late (warm-up took > 2 s)", file=sys.stderr)
    return {"done": done, "server_cpu": server_cpu, "busy": busy, "wall": wall,
            "rate": sum(d["count"] / d["elapsed"] for d in done)}


def merge(kind: str, records: list[dict]) -> dict:
    """One figure from the slices of a load (rates weighted by their wall time)."""
    done = [d for r in records for d in r["done"]]
    wall = sum(r["wall"] for r in records)
    server_cpu = sum(r["server_cpu"] for r in records)
    client_cpu = sum(d["cpu"] for d in done)
    busy = sum(r["busy"] for r in records)
    latencies = [x for d in done for x in d["latencies"]]
    failures = sum(d["failures"] for d in done)
    if failures:
        reasons = {d["first_failure"] for d in done if d["first_failure"]}
        print(f"bench_api: {kind}: {failures} failed requests ({', '.join(sorted(reasons))})", file=sys.stderr)
    rate = sum(r["rate"] * r["wall"] for r in records) / wall
    p50, p99 = ms(latencies)
    return {"rate": rate, "p50": p50, "p99": p99, "count": len(latencies), "failures": failures,
            "server_cpu": server_cpu / wall, "client_cpu": client_cpu / wall,
            "other_cpu": max(0.0, busy - server_cpu - client_cpu) / wall,
            "slices": [r["rate"] for r in records]}


# --- the in-process phases (one connection each; the list and watch measurements are latency-bound) ---

class Client:
    def __init__(self, server: Minik, scratch: Path, limit: int = 100):
        self.url = server.url
        self.ssl = client_ssl(server.kubeconfig, scratch)
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, ssl=self.ssl))

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, body=None, *, accept: str = "application/json",
                      expect: tuple[int, ...] = (200, 201)) -> tuple[int, bytes]:
        headers = {"Accept": accept}
        data = None
        if body is not None:
            data = orjson.dumps(body) if not isinstance(body, bytes) else body
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.url + path, data=data, headers=headers) as resp:
            raw = await resp.read()
            if resp.status not in expect:
                raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {raw[:300]!r}")
            return resp.status, raw


def small_pod(name: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench", "shard": str(hash(name) % 16)}},
        # bound to a node name already, so a scheduler (when one runs) leaves them alone
        "spec": {"nodeName": "bench-node", "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]},
    }


async def create_pods(client: Client, count: int, concurrency: int = 32) -> float:
    queue = iter(range(count))
    t0 = time.perf_counter()

    async def worker() -> None:
        for i in queue:
            await client.request("POST", "/api/v1/namespaces/default/pods", small_pod(f"bench-pod-{i:05d}"),
                                 expect=(201,))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - t0)


class RawHTTPS:
    """A deliberately light client for the big lists: one blocking TLS socket, keep-alive, the body read with
    recv_into into one preallocated buffer. aiohttp's client spends ~2× more CPU per 10 MB body than this,
    which would be counted in the server's latency (measured: aiohttp ~70 ms vs this ~31 ms per JSON list)."""

    def __init__(self, context: ssl.SSLContext, port: int):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        self.buf = bytearray(8 << 20)

    def close(self) -> None:
        self.sock.close()

    def get(self, path: str, accept: str) -> tuple[int, bytes, float]:
        """(status, body, seconds to the first response byte)."""
        t0 = time.perf_counter()
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n"
                          "User-Agent: bench_api\r\n\r\n".encode())
        got, first, header_end, length, chunked = 0, None, -1, None, False
        while True:
            if got == len(self.buf):
                self.buf.extend(bytes(len(self.buf)))  # grow ×2
            with memoryview(self.buf) as view:
                n = self.sock.recv_into(view[got:], 1 << 20)
            if n == 0:
                raise RuntimeError(f"GET {path}: connection closed")
            if first is None:
                first = time.perf_counter() - t0
            got += n
            if header_end < 0:
                header_end = self.buf.find(b"\r\n\r\n", 0, got)
                if header_end >= 0:
                    head = bytes(self.buf[:header_end]).decode("latin-1").lower().split("\r\n")
                    status = int(head[0].split()[1])
                    fields = dict(line.split(":", 1) for line in head[1:] if ":" in line)
                    chunked = "chunked" in fields.get("transfer-encoding", "")
                    length = None if chunked else int(fields.get("content-length", "0"))
            if header_end >= 0:
                start = header_end + 4
                if not chunked and got >= start + length:
                    return status, bytes(self.buf[start:start + length]), first
                if chunked and self.buf[max(start, got - 5):got] == b"0\r\n\r\n":
                    return status, dechunk(bytes(self.buf[start:got])), first


def dechunk(data: bytes) -> bytes:
    out, i = [], 0
    while True:
        j = data.index(b"\r\n", i)
        size = int(data[i:j].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[j + 2:j + 2 + size])
        i = j + 2 + size + 2


def list_pods(server: Minik, scratch: Path, requests: int, accept: str, expected: int) -> dict:
    """`requests` sequential lists on one keep-alive connection: time to last byte, to first byte, and the
    CPU each side spent per list."""
    path = "/api/v1/namespaces/default/pods"
    client = RawHTTPS(client_ssl(server.kubeconfig, scratch), server.port)
    try:
        status, body, _ = client.get(path, accept)  # warm-up, untimed
        if status != 200:
            raise RuntimeError(f"list {accept}: HTTP {status}: {body[:300]!r}")
        items = len(orjson.loads(body).get("items" if "Table" not in accept else "rows", []))
        if items != expected:
            print(f"bench_api: list {accept}: {items} items, expected {expected}", file=sys.stderr)
        times, ttfb = [], []
        s0, c0, b0, w0 = cpu_seconds(server.proc.pid), time.process_time(), busy_seconds(), time.perf_counter()
        for _ in range(requests):
            if STOPPING.is_set():
                raise Interrupted()
            t0 = time.perf_counter()
            status, body, first = client.get(path, accept)
            times.append(time.perf_counter() - t0)
            ttfb.append(first)
            if status != 200:
                raise RuntimeError(f"list {accept}: HTTP {status}")
        server_cpu = (cpu_seconds(server.proc.pid) - s0) / requests
        client_cpu = (time.process_time() - c0) / requests
        other = (busy_seconds() - b0 - (server_cpu + client_cpu) * requests) / (time.perf_counter() - w0)
    finally:
        client.close()
    p50, p99 = ms(times)
    return {"p50": p50, "p99": p99, "ttfb": ms(ttfb), "mb": len(body) / 1e6, "items": items,
            "server_cpu_ms": server_cpu * 1000, "client_cpu_ms": client_cpu * 1000, "other_cpu": max(0.0, other)}


async def list_pods_aiohttp(client: Client, requests: int, accept: str, server_pid: int) -> dict:
    """The same through aiohttp's client, for comparison (its client CPU is part of the latency)."""
    path = "/api/v1/namespaces/default/pods"
    await client.request("GET", path, accept=accept)  # warm-up, untimed
    times = []
    s0, c0 = cpu_seconds(server_pid), time.process_time()
    for _ in range(requests):
        t0 = time.perf_counter()
        await client.request("GET", path, accept=accept)
        times.append(time.perf_counter() - t0)
    p50, p99 = ms(times)
    return {"p50": p50, "p99": p99, "server_cpu_ms": (cpu_seconds(server_pid) - s0) / requests * 1000,
            "client_cpu_ms": (time.process_time() - c0) / requests * 1000}


async def watch_fanout(client: Client, server: Minik, scratch: Path, watchers: int, writes: int,
                       warmup: int = 10) -> dict:
    namespace = "bench-watch"
    await client.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}}, expect=(201, 409))
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _, raw = await client.request("GET", path)
    revision = orjson.loads(raw)["metadata"]["resourceVersion"]

    # Watch streams on their own session: one connection per stream.
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=watchers + 1, ssl=client.ssl))
    seen: dict[str, int] = {}
    first: dict[str, float] = {}
    done: dict[str, asyncio.Event] = {}
    responses = []
    try:
        async def open_watch() -> aiohttp.ClientResponse:
            resp = await session.get(server.url + path, params={"watch": "1", "resourceVersion": revision,
                                                                 "timeoutSeconds": "600"},
                                     timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
            if resp.status != 200:
                raise RuntimeError(f"watch: HTTP {resp.status}: {await resp.text()}")
            return resp

        # The server sends the headers after it has registered the watch: once all have answered, all watch.
        responses = await asyncio.gather(*(open_watch() for _ in range(watchers)))

        async def consume(resp: aiohttp.ClientResponse) -> None:
            async for line in resp.content:
                if not line.strip():
                    continue
                event = orjson.loads(line)
                if event.get("type") != "ADDED":
                    continue
                name = event["object"]["metadata"]["name"]
                n = seen[name] = seen.get(name, 0) + 1
                if n == 1:
                    first[name] = time.perf_counter()
                if n == watchers and name in done:
                    done[name].set()

        tasks = [asyncio.create_task(consume(r)) for r in responses]
        last, firsts, acks = [], [], []
        cpu0, scpu0, b0, w0 = time.process_time(), cpu_seconds(server.proc.pid), busy_seconds(), time.perf_counter()
        for i in range(warmup + writes):
            name = f"w-{i:04d}"
            done[name] = asyncio.Event()
            t0 = time.perf_counter()
            await client.request("POST", path, _configmap(name), expect=(201,))
            ack = time.perf_counter()
            await asyncio.wait_for(done[name].wait(), 30.0)
            end = time.perf_counter()
            if i >= warmup:
                last.append(end - t0)
                firsts.append(first[name] - t0)
                acks.append(ack - t0)
        client_cpu = (time.process_time() - cpu0) / (warmup + writes)
        server_cpu = (cpu_seconds(server.proc.pid) - scpu0) / (warmup + writes)
        other = (busy_seconds() - b0 - (client_cpu + server_cpu) * (warmup + writes)) / (time.perf_counter() - w0)
        for r in responses:
            r.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for r in responses:
            r.close()
        await session.close()
    return {"last": ms(last), "first": ms(firsts), "ack": ms(acks), "client_cpu_ms": client_cpu * 1000,
            "server_cpu_ms": server_cpu * 1000, "other_cpu": max(0.0, other)}


# --- start-up ---

def start_times(base: Path, starts: int) -> dict:
    """`starts` fresh servers (empty data dir each): Popen → ready, and VmRSS after ~2 s idle; then one
    restart on the last one's data dir."""
    readies, rss = [], []
    server = None
    for i in range(starts):
        data = base / f"start-{i}"
        server = Minik(data, base / f"start-{i}.log")
        readies.append(server.start())
        pause(2.0)
        rss.append(rss_mib(server.proc.pid))
        server.stop()
    return {"ready": readies, "rss": rss, "restart": restart(server)}


def restart(server: Minik) -> dict:
    """Start `server` again on its existing data dir: Popen → ready and RSS after ~2 s, or why it failed."""
    try:
        ready = server.start()
    except StartFailed as exc:
        print(f"bench_api: restart on an existing data dir failed: {exc.summary} (log: {server.log_path})",
              file=sys.stderr)
        return {"error": exc.summary}
    finally:
        if server.proc is not None and server.proc.poll() is not None:
            server.stop()
    pause(2.0)
    rss = rss_mib(server.proc.pid)
    server.stop()
    return {"ready": ready, "rss": rss, "error": None}


# --- the run ---

async def bench(args, base: Path, pool) -> None:
    try:
        await _bench(args, base, pool)
    except BaseException:  # Ctrl-C cancels this task: threads still polling or listing must stop now
        STOPPING.set()
        raise


async def _bench(args, base: Path, pool) -> None:
    results: dict = {}
    b0 = busy_seconds()
    await asyncio.sleep(2.0)
    results["background"] = (busy_seconds() - b0) / 2.0

    # (5) first, on a quiet machine: start-up time and idle memory.
    print("bench_api: (5) start-up and idle RSS ...", file=sys.stderr)
    results["start"] = await asyncio.to_thread(start_times, base, args.starts)

    # (1) and (2): minik and the etcd anchor take turns (A B B A ...) in --rounds slices, so a change in the
    # machine's background load during the run biases neither side of the ratio.
    etcd = None
    if not args.no_etcd:
        binary = shutil.which("etcd")
        if binary is None:
            raise SystemExit("bench_api: etcd not found (apt-get install -y etcd-server) or pass --no-etcd")
        results["etcd_version"] = subprocess.run([binary, "--version"], capture_output=True,
                                                 text=True).stdout.split("\n")[0].split()[-1]
        etcd = Etcd(binary, base / "etcd", base / "etcd.log")
        await asyncio.to_thread(etcd.start)
    server = Minik(base / "server", base / "server.log")
    await asyncio.to_thread(server.start)
    try:
        await asyncio.sleep(2.0)
        results["rss_before"] = rss_mib(server.proc.pid)

        targets = {"minik": (server.url, server.kubeconfig, server.proc.pid)}
        if etcd is not None:
            targets["etcd"] = (etcd.url, None, etcd.proc.pid)
        records: dict[str, list] = {kind: [] for kind in targets}
        order = list(targets)[::-1]
        slice_seconds = args.seconds / args.rounds
        for round_ in range(args.rounds):
            for kind in (order if round_ % 2 == 0 else order[::-1]):
                print(f"bench_api: ({'2' if kind == 'etcd' else '1'}) {kind} writes, round {round_ + 1}/{args.rounds}, "
                      f"{slice_seconds:.1f} s ...", file=sys.stderr)
                url, kubeconfig, pid = targets[kind]
                records[kind].append(await run_load(pool, kind, url, kubeconfig, base / "scratch",
                                                    clients=args.clients, connections=args.connections,
                                                    seconds=slice_seconds, server_pid=pid, tag=str(round_)))
        for kind, recs in records.items():
            results[kind] = merge(kind, recs)
        if etcd is not None:
            await asyncio.to_thread(etcd.stop)

        client = Client(server, base / "scratch")
        try:
            # (3) list 10k pods
            print(f"bench_api: (3) creating {args.pods:,} pods ...", file=sys.stderr)
            results["pod_rate"] = await create_pods(client, args.pods)
            print("bench_api: (3) listing ...", file=sys.stderr)
            scratch = base / "scratch"
            results["list_json"] = await asyncio.to_thread(list_pods, server, scratch, args.list_requests,
                                                           "application/json", args.pods)
            results["list_table"] = await asyncio.to_thread(list_pods, server, scratch, args.list_requests,
                                                            TABLE_ACCEPT, args.pods)
            results["list_json_aiohttp"] = await list_pods_aiohttp(client, args.list_requests, "application/json",
                                                                   server.proc.pid)
            # (4) watch fan-out
            print(f"bench_api: (4) watch fan-out to {args.watchers} ...", file=sys.stderr)
            results["watch"] = await watch_fanout(client, server, base / "scratch", args.watchers, args.writes)
        finally:
            await client.close()
        results["rss_after"] = rss_mib(server.proc.pid)
        results["db_mb"] = sum(p.stat().st_size for p in server.data_dir.rglob("*.db*") if p.is_file()) / 1e6
    finally:
        await asyncio.to_thread(server.stop)

    # (5) restart on the loaded data dir
    print("bench_api: (5) restart on the loaded data dir ...", file=sys.stderr)
    results["loaded_restart"] = await asyncio.to_thread(restart, server)

    report(args, results)


def mark(ok: bool) -> str:
    return "✅" if ok else "❌"


def source_state() -> str:
    """The commit measured, and whether minik/ had uncommitted changes (read-only git calls)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return f"minik from {ROOT} (not a git checkout)"
        commit = head.stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "minik"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "source: unknown"
    return f"minik {commit or '?'}{' + uncommitted changes in minik/' if dirty else ''}"


def report(args, r: dict) -> None:
    m, s = r["minik"], r["start"]
    e = r.get("etcd")
    print(f"`{' '.join(shlex.quote(a) for a in [Path(sys.executable).name] + sys.argv)}`")
    print()
    print(f"# minik API server benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {source_state()}, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, orjson {orjson.__version__}, load: {args.clients} client "
          f"process(es) × {args.connections} connections total; other processes were using "
          f"{r['background']:.2f} of {os.cpu_count()} cores at the start)")
    print()
    print("| figure | result | target |")
    print("|---|---|---|")
    ratio = m["rate"] / e["rate"] if e else float("nan")
    print(f"| (1) minik creates, 1 KiB ConfigMaps, {args.connections} HTTPS conns, {args.seconds:.0f} s "
          f"| {m['rate']:,.0f}/s ({m['count']:,} ok, {m['failures']} failed); CPU in cores: server {m['server_cpu']:.2f} "
          f"({m['server_cpu'] / m['rate'] * 1e6:.0f} µs/create), client {m['client_cpu']:.2f}, rest of the machine "
          f"{m['other_cpu']:.2f}; slices {' / '.join(f'{x:,.0f}' for x in m['slices'])} /s | ≥ 3,500/s {mark(m['rate'] >= 3500)} |")
    print(f"| (1) create latency | p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms | p99 ≤ 50 ms {mark(m['p99'] <= 50)} |")
    if e:
        print(f"| (2) etcd {r['etcd_version']} `POST /v3/kv/put`, {args.connections} HTTP conns | {e['rate']:,.0f}/s; "
              f"p50 {e['p50']:.1f} ms, p99 {e['p99']:.1f} ms; CPU in cores: server {e['server_cpu']:.2f} "
              f"({e['server_cpu'] / e['rate'] * 1e6:.0f} µs/put), client {e['client_cpu']:.2f}, rest of the machine "
              f"{e['other_cpu']:.2f}; slices {' / '.join(f'{x:,.0f}' for x in e['slices'])} /s | anchor |")
        cpu_ratio = (e["server_cpu"] / e["rate"]) / (m["server_cpu"] / m["rate"])
        print(f"| (1)/(2) minik ÷ etcd | {ratio:.2f}× the rate; server CPU per write: etcd's ÷ minik's = "
              f"{cpu_ratio:.2f} | ≥ 1.7× {mark(ratio >= 1.7)} |")
    lj, lt, la = r["list_json"], r["list_table"], r["list_json_aiohttp"]
    for label, x, target in (("JSON", lj, "p50 ≤ 15 ms " + mark(lj["p50"] <= 15)), ("Table", lt, "")):
        print(f"| (3) list {x['items']:,} pods, {label} ({x['mb']:.1f} MB), light TLS client | p50 {x['p50']:.1f} ms, "
              f"p99 {x['p99']:.1f} ms; first byte p50 {x['ttfb'][0]:.1f} ms; server CPU {x['server_cpu_ms']:.1f} ms, "
              f"client CPU {x['client_cpu_ms']:.1f} ms per list; rest of the machine {x['other_cpu']:.2f} cores | {target} |")
    print(f"| (3) list JSON through aiohttp's client instead | p50 {la['p50']:.1f} ms, p99 {la['p99']:.1f} ms; "
          f"server CPU {la['server_cpu_ms']:.1f} ms, client CPU {la['client_cpu_ms']:.1f} ms per list | |")
    print(f"| (3) pod creation (setup, 32 conns) | {r['pod_rate']:,.0f}/s | |")
    w = r["watch"]
    print(f"| (4) watch fan-out, LAST of {args.watchers} watchers ({args.writes} writes) "
          f"| p50 {w['last'][0]:.1f} ms, p99 {w['last'][1]:.1f} ms | p50 ≤ 10 ms {mark(w['last'][0] <= 10)} |")
    print(f"| (4) … first watcher / create ack | first p50 {w['first'][0]:.1f} ms, p99 {w['first'][1]:.1f} ms; "
          f"ack p50 {w['ack'][0]:.1f} ms; server CPU {w['server_cpu_ms']:.1f} ms, client CPU "
          f"{w['client_cpu_ms']:.1f} ms per write; rest of the machine {w['other_cpu']:.2f} cores | |")
    rss = statistics.median(s["rss"])
    print(f"| (5) idle RSS, ~2 s after ready (median of {len(s['rss'])} fresh) | {rss:.1f} MiB "
          f"(all: {', '.join(f'{x:.1f}' for x in s['rss'])}) | ≤ 60 MiB {mark(rss <= 60)} |")
    ready = statistics.median(s["ready"])
    print(f"| (5) Popen → first `/readyz` 200, fresh data dir (median of {len(s['ready'])}) | {ready * 1000:.0f} ms "
          f"(all: {', '.join(f'{x * 1000:.0f}' for x in s['ready'])}) | ≤ 1 s {mark(ready <= 1)} |")
    for label, rs, target in (("restart on an existing data dir (one fresh start's)", s["restart"], 1.0),
                              (f"restart on the loaded data dir of (1)–(4), {r['db_mb']:.0f} MB DB",
                               r["loaded_restart"], None)):
        if rs["error"]:
            result, ok = f"FAILED: {rs['error']}", False
        else:
            result, ok = f"{rs['ready'] * 1000:.0f} ms; RSS {rs['rss']:.1f} MiB", target is None or rs["ready"] <= target
        print(f"| (5) {label} | {result} | {'≤ 1 s ' + mark(ok) if target else ''} |")
    print(f"| server RSS before / after (1)–(4) | {r['rss_before']:.1f} / {r['rss_after']:.1f} MiB | |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each create load (1) and (2)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--clients", type=int, default=1, help="client processes sharing the connections")
    parser.add_argument("--rounds", type=int, default=2,
                        help="(1) and (2) alternate in this many slices of --seconds / rounds each")
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--list-requests", type=int, default=30)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--no-etcd", action="store_true", help="skip the etcd anchor (2)")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temp dir (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data dirs)")
    args = parser.parse_args()
    if not (1 <= args.clients <= args.connections <= 1024 and 0 < args.seconds <= 600 and 1 <= args.starts <= 20
            and 1 <= args.rounds <= 20
            and 0 < args.pods <= 100_000 and 1 <= args.watchers <= 1000 and 1 <= args.writes <= 10_000):
        parser.error("out-of-range value")

    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="minik-bench-api-", dir=args.dir))
    # SIGTERM behaves like Ctrl-C: unwind, stop every server, remove the temp dir.
    def on_sigterm(*_) -> None:
        STOPPING.set()
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_sigterm)
    pool = multiprocessing.get_context("spawn").Pool(args.clients)
    try:
        # make sure every worker is up (imports done) before anything is timed
        pool.map(noop, [0.2] * args.clients)
        asyncio.run(bench(args, base, pool))
        return 0
    except (KeyboardInterrupt, Interrupted):
        print("bench_api: interrupted", file=sys.stderr)
        return 130
    finally:
        STOPPING.set()
        pool.terminate()
        pool.join()
        cleanup()
        if args.keep:
            print(f"bench_api: kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
