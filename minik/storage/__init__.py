"""Storage: the revisioned key-value store under the registry (etcd/kine's role in Kubernetes).

`open_store` builds a `RevisionedStore` over a SQLite log (durable, the default) or a memory log
(tests, `--ephemeral`). The caller runs `store.run()` (the writer) and a `Compactor`; `running_store` does
both for tests and tools.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import AsyncIterator

from .compaction import CompactionPolicy, Compactor
from .interface import (
    CompactedError,
    ConflictError,
    Event,
    KeyExistsError,
    KeyValue,
    ListResult,
    NotFoundError,
    Storage,
    StorageError,
    StorageUnavailableError,
    Value,
    Watch,
)
from .log import MemoryLog
from .sqlite import DatabaseError, SqliteLog
from .store import FutureRevisionError, RevisionedStore, StoreConfig
from .watch import SlowWatcherError

DB_FILE = "state.db"

__all__ = [
    "CompactedError", "CompactionPolicy", "Compactor", "ConflictError", "DatabaseError", "Event",
    "FutureRevisionError", "KeyExistsError", "KeyValue", "ListResult", "NotFoundError", "RevisionedStore",
    "SlowWatcherError", "Storage", "StorageError", "StorageUnavailableError", "StoreConfig", "Value", "Watch",
    "db_path", "open_store", "running_store",
]


def db_path(data_dir: Path) -> Path:
    return Path(data_dir) / "server" / "db" / DB_FILE


async def open_store(path: Path | None, config: StoreConfig = StoreConfig()) -> RevisionedStore:
    """A loaded store: SQLite at `path`, or in memory when `path` is None."""
    store = RevisionedStore(SqliteLog(path) if path is not None else MemoryLog(), config)
    await store.open()
    return store


@contextlib.asynccontextmanager
async def running_store(
    path: Path | None,
    config: StoreConfig = StoreConfig(),
    policy: CompactionPolicy | None = None,
) -> AsyncIterator[RevisionedStore]:
    """Open a store, run its writer (and a compactor if `policy` is given), close it on exit."""
    store = await open_store(path, config)
    tasks = [asyncio.create_task(store.run(), name="storage-writer")]
    if policy is not None:
        tasks.append(asyncio.create_task(Compactor(store, policy).run(), name="storage-compactor"))
    try:
        yield store
    finally:
        for task in tasks[1:]:
            task.cancel()
        await store.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
