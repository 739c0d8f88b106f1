#!/usr/bin/env python3
"""Scheduler and control-loop benchmark, against a real `minik server --sim-nodes N` process.

    python scripts/bench_scheduler.py [--nodes 1000] [--pods 5000] [--replicas 100]

(1) scheduler throughput: N simulated nodes (8 cpu / 32Gi / 110 pods each); create P pods with requests
    (100m cpu, 128Mi) through HTTPS as fast as 32 connections allow; a watch records when each pod gets
    its node. Reports pods/s (first create → last binding) and create→bound p50/p99. Anchor:
    kube-scheduler's CI floor is 270 pods/s at 5,000 nodes (kubernetes/perf-tests scheduler thresholds);
    the target here is ≥ 500 pods/s at 1,000 nodes.
(2) a Deployment of R replicas applied → all Ready (seconds), with the same simulated nodes.
(3) server RSS with 10,000 pods in the cluster (created, bound and Running), at steady state a minute later.
Everything runs in one process tree on this machine; both sides share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_api import Client, Minik, cleanup, cpu_seconds, pct, rss_mib  # noqa: E402

PODS = "/api/v1/namespaces/default/pods"


class SimMinik(Minik):
    def __init__(self, data_dir: Path, log_path: Path, nodes: int):
        super().__init__(data_dir, log_path)
        self.nodes = nodes

    def command(self) -> list[str]:
        command = super().command() + ["--sim-nodes", str(self.nodes)]
        wrapper = os.environ.get("MINIK_BENCH_WRAPPER")  # diagnosis: run the server under e.g. scripts/memdiag.py
        return [sys.executable, wrapper] + command[3:] if wrapper else command


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "sched-bench"}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}


async def wait_nodes(client: Client, count: int, timeout: float = 120) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        _, raw = await client.request("GET", "/api/v1/nodes")
        nodes = orjson.loads(raw)["items"]
        ready = [n for n in nodes if any(c["type"] == "Ready" and c["status"] == "True"
                                         for c in n["status"].get("conditions", []))]
        if len(ready) >= count:
            return time.perf_counter() - started
        await asyncio.sleep(0.2)
    raise RuntimeError(f"only {len(ready)} of {count} nodes became Ready")


async def watch_bindings(client: Client, rv: str, expected: set[str], bound: dict[str, float]) -> None:
    async with client.session.get(f"{client.url}{PODS}?watch=true&resourceVersion={rv}&labelSelector=app%3Dsched-bench",
                                  timeout=None) as resp:
        async for line in resp.content:
            if not line.strip():
                continue
            event = orjson.loads(line)
            obj = event["object"]
            name = obj["metadata"]["name"]
            if name in expected and name not in bound and (obj.get("spec") or {}).get("nodeName"):
                bound[name] = time.perf_counter()
                if len(bound) == len(expected):
                    return


async def scheduler_throughput(client: Client, count: int, prefix: str) -> dict:
    _, raw = await client.request("GET", f"{PODS}?limit=1")
    rv = orjson.loads(raw)["metadata"]["resourceVersion"]
    names = [f"{prefix}-{i:05d}" for i in range(count)]
    bound: dict[str, float] = {}
    created: dict[str, float] = {}
    watcher = asyncio.create_task(watch_bindings(client, rv, set(names), bound))
    await asyncio.sleep(0.2)
    queue = iter(names)
    first = time.perf_counter()

    async def worker() -> None:
        for name in queue:
            started = time.perf_counter()
            await client.request("POST", PODS, pod(name), expect=(201,))
            created[name] = started

    await asyncio.gather(*(worker() for _ in range(32)))
    created_all = time.perf_counter()
    await asyncio.wait_for(watcher, timeout=600)
    last = max(bound.values())
    latencies = [bound[n] - created[n] for n in names]
    return {"pods_per_second": count / (last - first), "create_rate": count / (created_all - first),
            "p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "seconds": last - first}


async def deployment_ready(client: Client, replicas: int) -> float:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench-web"},
                  "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "bench-web"}},
                           "template": {"metadata": {"labels": {"app": "bench-web"}},
                                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                                 "resources": {"requests": {"cpu": "50m"}}}]}}}}
    started = time.perf_counter()
    await client.request("POST", "/apis/apps/v1/namespaces/default/deployments", deployment, expect=(201,))
    while time.perf_counter() - started < 300:
        _, raw = await client.request("GET", "/apis/apps/v1/namespaces/default/deployments/bench-web")
        status = orjson.loads(raw).get("status") or {}
        if status.get("readyReplicas") == replicas and status.get("availableReplicas") == replicas:
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    raise RuntimeError("the deployment did not become ready in 300 s")


async def running_count(client: Client) -> int:
    _, raw = await client.request("GET", f"{PODS}?fieldSelector=status.phase%3DRunning")
    return len(orjson.loads(raw)["items"])


async def run(args, base: Path) -> dict:
    server = SimMinik(base / "data", base / "server.log", args.nodes)
    results: dict = {"start": server.start(timeout=120)}
    client = Client(server, base, limit=64)
    try:
        results["nodes_ready"] = await wait_nodes(client, args.nodes)
        results["idle_rss"] = rss_mib(server.proc.pid)
        cpu0 = cpu_seconds(server.proc.pid)
        results["sched"] = await scheduler_throughput(client, args.pods, "sched")
        results["sched"]["server_cpu"] = cpu_seconds(server.proc.pid) - cpu0
        results["deploy"] = await deployment_ready(client, args.replicas)
        total = args.pods + args.replicas
        if total < 10_000:
            await scheduler_throughput(client, 10_000 - total, "fill")
        deadline = time.perf_counter() + 120
        while await running_count(client) < 10_000 and time.perf_counter() < deadline:
            await asyncio.sleep(1)
        results["running"] = await running_count(client)
        await asyncio.sleep(float(os.environ.get("MINIK_BENCH_SETTLE", "65")))  # steady state: the load is over and a minute of housekeeping has run
        results["rss_10k"] = rss_mib(server.proc.pid)
        if os.environ.get("MINIK_BENCH_WRAPPER"):
            os.kill(server.proc.pid, 12)  # SIGUSR2: the diagnostic wrapper dumps its allocations
            await asyncio.sleep(15)
    finally:
        await client.close()
        server.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--replicas", type=int, default=100)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="minik-bench-sched-"))
    try:
        r = asyncio.run(run(args, base))
    finally:
        cleanup()
    s = r["sched"]
    print(f"`python scripts/bench_scheduler.py --nodes {args.nodes} --pods {args.pods} --replicas {args.replicas}`\n")
    print("| figure | result | target |")
    print("|---|---|---|")
    print(f"| server start → ready with {args.nodes} simulated nodes | {r['start']:.2f} s; nodes Ready after "
          f"{r['nodes_ready']:.1f} s more; RSS {r['idle_rss']:.0f} MiB | |")
    print(f"| (1) scheduling {args.pods:,} pods on {args.nodes:,} nodes | {s['pods_per_second']:,.0f} pods/s "
          f"(all bound {s['seconds']:.1f} s after the first create; creates went at {s['create_rate']:,.0f}/s; "
          f"server CPU {s['server_cpu']:.1f} s) | ≥ 500 pods/s (kube-scheduler CI floor: 270 pods/s at 5,000 nodes) |")
    print(f"| (1) create → bound | p50 {s['p50'] * 1000:.0f} ms, p99 {s['p99'] * 1000:.0f} ms | |")
    print(f"| (2) Deployment of {args.replicas} replicas → all Ready | {r['deploy']:.2f} s | |")
    print(f"| (3) server RSS with 10,000 pods ({r['running']:,} Running) | {r['rss_10k']:.0f} MiB | ≤ 150 MiB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
