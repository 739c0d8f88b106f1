"""Crash safety with a real process: every acknowledged write survives `kill -9`."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minik.storage import running_store

WRITER = Path(__file__).with_name("crash_writer.py")


def run_and_kill(db: Path, start: int, after_acks: int) -> dict[str, int]:
    """Start the writer, SIGKILL it once it has acknowledged `after_acks` writes; return the acks it printed."""
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(start)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
    )
    acked: dict[str, int] = {}
    deadline = time.monotonic() + 30
    try:
        for line in proc.stdout:
            key, revision = line.split()
            acked[key] = int(revision)
            if len(acked) >= after_acks or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGKILL)  # mid-stream: writes are in flight right now
    finally:
        proc.kill()
        rest, err = proc.communicate(timeout=10)
    for line in rest.splitlines():  # acks printed before the kill landed count too
        if line.count(" ") == 1:
            key, revision = line.split()
            acked[key] = int(revision)
    assert len(acked) >= min(after_acks, 100), f"writer made little progress: {err[-2000:]}"
    return acked


@pytest.mark.parametrize("round_", range(3))
async def test_acknowledged_writes_survive_kill_9(tmp_path, round_):
    db = tmp_path / "state.db"
    acked: dict[str, int] = {}
    for start in range(2):  # kill, restart on the same file, kill again
        acked |= run_and_kill(db, start, after_acks=2000 + 1500 * round_)
    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM log ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1)), "revision sequence has gaps or repeats"
    async with running_store(db) as store:
        stored = {kv.key: kv.mod_revision for kv in (await store.list("/crash/")).items}
        assert store.current_revision == ids[-1]
    missing = [key for key in acked if key not in stored]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:3]}"
    assert all(stored[key] == revision for key, revision in acked.items())
