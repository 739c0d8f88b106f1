#!/usr/bin/env python3
"""Storage benchmark: the figures of docs/benchmarks.md, all measured in one run.

    python scripts/bench_storage.py [--seconds 5] [--dir /tmp/minik-bench]

(a) raw sqlite3 group commit (same schema, WAL, synchronous=FULL, 32 rows per transaction) — the ceiling;
(b) the minik store, 32 concurrent writers of 1 KiB values: commits/s and ack latency p50/p99;
(c) list of 10k keys from the store;
(d) watch delivery latency (write start → event received) to 1 and to 100 watchers;
(e) DB + WAL size after 100 keys × 1000 updates each, compaction on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minik.storage import CompactionPolicy, running_store  # noqa: E402
from minik.storage.sqlite import SCHEMA  # noqa: E402

VALUE = os.urandom(1024)
WRITERS = 32


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def fresh(directory: Path, name: str) -> Path:
    path = directory / name / "state.db"
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)
    return path


def raw_sqlite(path: Path, seconds: float) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(SCHEMA)
    conn.commit()
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        rows = [(n + i + 1, f"/bench/{n + i}", n + i + 1, 0, 0, VALUE) for i in range(WRITERS)]
        conn.executemany("INSERT INTO log VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
        n += WRITERS
    elapsed = time.perf_counter() - start
    conn.close()
    return n / elapsed


async def store_writes(path: Path, seconds: float) -> tuple[float, float, float]:
    latencies: list[float] = []
    async with running_store(path) as store:
        stop = time.perf_counter() + seconds

        async def writer(w: int) -> None:
            i = 0
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                await store.create(f"/bench/{w}/{i}", VALUE)
                latencies.append(time.perf_counter() - t0)
                i += 1

        start = time.perf_counter()
        await asyncio.gather(*(writer(w) for w in range(WRITERS)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, pct(latencies, 0.5) * 1000, pct(latencies, 0.99) * 1000


async def list_10k(path: Path) -> tuple[float, float]:
    async with running_store(path) as store:
        await asyncio.gather(*(store.create(f"/list/{i:05d}", VALUE) for i in range(10_000)))
        times = []
        for _ in range(50):
            t0 = time.perf_counter()
            result = await store.list("/list/")
            times.append(time.perf_counter() - t0)
            assert len(result.items) == 10_000
    return pct(times, 0.5) * 1000, pct(times, 0.99) * 1000


async def watch_latency(path: Path, watchers: int, rounds: int = 200) -> tuple[float, float]:
    """Per write: time from the write call until the LAST watcher has the event."""
    async with running_store(path) as store:
        streams = [store.watch("/w/") for _ in range(watchers)]
        got: list[asyncio.Event] = []

        async def consume(stream, counter):
            async for event in stream:
                counter[event.kv.key] = counter.get(event.kv.key, 0) + 1
                if counter[event.kv.key] == watchers:
                    got[-1].set()

        counter: dict[str, int] = {}
        tasks = [asyncio.create_task(consume(s, counter)) for s in streams]
        samples = []
        for i in range(rounds):
            got.append(asyncio.Event())
            t0 = time.perf_counter()
            await store.create(f"/w/{i}", VALUE)
            await got[-1].wait()
            samples.append(time.perf_counter() - t0)
        for s in streams:
            s.close()
        await asyncio.gather(*tasks)
    return pct(samples, 0.5) * 1000, pct(samples, 0.99) * 1000


async def churn_size(path: Path) -> tuple[float, int]:
    async with running_store(path, policy=CompactionPolicy()) as store:
        kvs = await asyncio.gather(*(store.create(f"/churn/{k}", VALUE) for k in range(100)))
        for _ in range(1000):
            kvs = await asyncio.gather(
                *(store.update(kv.key, VALUE, expected_revision=kv.mod_revision) for kv in kvs)
            )
        revision = store.current_revision
        await asyncio.sleep(0.2)  # let the compactor catch up with the last growth
    wal = Path(str(path) + "-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return size / 1e6, revision


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="minik-bench-"))

    raw = raw_sqlite(fresh(directory, "raw"), args.seconds)
    rate, p50, p99 = await store_writes(fresh(directory, "store"), args.seconds)
    l50, l99 = await list_10k(fresh(directory, "list"))
    w1 = await watch_latency(fresh(directory, "w1"), 1)
    w100 = await watch_latency(fresh(directory, "w100"), 100)
    size, revisions = await churn_size(fresh(directory, "churn"))

    print(f"# minik storage benchmark ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, SQLite {sqlite3.sqlite_version})")
    print("| figure | result | target |")
    print("|---|---|---|")
    print(f"| (a) raw sqlite3 group commit, 32 rows/txn, WAL+FULL | {raw:,.0f} rows/s | baseline |")
    print(f"| (b) minik store, 32 writers × 1 KiB | {rate:,.0f} commits/s ({rate / raw:.0%} of a) | ≥ 70 % of (a) and ≥ 8,000/s |")
    print(f"| (b) ack latency | p50 {p50:.2f} ms, p99 {p99:.2f} ms | p99 ≤ 15 ms |")
    print(f"| (c) list 10k keys | p50 {l50:.2f} ms, p99 {l99:.2f} ms | ≤ 15 ms |")
    print(f"| (d) watch, 1 watcher | p50 {w1[0]:.2f} ms, p99 {w1[1]:.2f} ms | |")
    print(f"| (d) watch, last of 100 watchers | p50 {w100[0]:.2f} ms, p99 {w100[1]:.2f} ms | p50 ≤ 10 ms |")
    print(f"| (e) DB + WAL after 100 keys × 1000 updates ({revisions:,} revisions) | {size:.2f} MB | ≤ 10 MB |")


if __name__ == "__main__":
    asyncio.run(main())
