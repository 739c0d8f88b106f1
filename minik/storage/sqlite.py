"""SQLite log: the durable backend, one row per revision, like kine.

Part of the storage layer, below `RevisionedStore` (which calls it from a single writer task). Schema:

    log(id = revision, name = key, create_revision, prev_revision, deleted, value)
    meta(name, value)            -- the compaction revision, so revisions are never reused

A create has prev_revision 0; an update points at the row it replaces; a delete is a tombstone row
(deleted = 1, value NULL: the previous row holds the value). WAL mode with synchronous=FULL: each batch is
one transaction whose commit fsyncs the WAL before `append` returns, so an acknowledged write survives
`kill -9` and power loss. Compaction deletes superseded rows and old tombstones in bounded chunks, then
reclaims free pages (auto_vacuum=INCREMENTAL) and truncates the WAL, so the files stay bounded under churn
(kine's most reported failure is a DB or WAL that grows without limit).
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
import sqlite3
from pathlib import Path

import aiosqlite

from .interface import Event, KeyValue, StorageError
from .log import LoadedState, Page, page_of, prefix_end

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    value BLOB
);
CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

# Rows deleted per compaction transaction: keeps each pause of the writer short.
COMPACT_CHUNK = 5000
# Rows per INSERT statement. A batch is written as one multi-row INSERT in autocommit mode: one statement
# is one transaction and one fsync, and costs one round trip to the SQLite thread instead of three
# (BEGIN/executemany/COMMIT). 6 parameters per row stays under SQLite's 32766-variable limit.
ROWS_PER_INSERT = 2048
# Let the WAL file shrink back to this after checkpoints (SQLite otherwise keeps its high-water size).
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024


class DatabaseError(StorageError):
    """The database file cannot be used: names the file and says why."""


class SqliteLog:
    def __init__(self, path: str | os.PathLike, *, synchronous: str = "FULL"):
        self.path = Path(path)
        self._synchronous = synchronous
        self._db: aiosqlite.Connection | None = None
        self._lock_fd: int | None = None
        # One connection, used by the writer, compaction and history reads; the lock keeps their
        # transactions from interleaving on it.
        self._mutex = asyncio.Lock()
        self._compact_revision = 0

    # --- lifecycle ---

    async def open(self, *, recent: int) -> LoadedState:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = acquire_lock(self.path)
        try:
            # Autocommit (isolation_level=None): transactions are explicit where a step has several statements.
            self._db = await aiosqlite.connect(self.path, isolation_level=None, cached_statements=512)
            await self._configure()
            return await self._load(recent)
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise DatabaseError(f"cannot use database {self.path}: {exc}") from None
        except BaseException:
            await self.close()
            raise

    async def _configure(self) -> None:
        db = self._db
        (check,) = await (await db.execute("PRAGMA quick_check")).fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        # auto_vacuum only takes effect before the first table exists; on a new file it does.
        await db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        (mode,) = await (await db.execute("PRAGMA journal_mode = WAL")).fetchone()
        if mode.lower() != "wal":
            raise sqlite3.DatabaseError(f"cannot switch to WAL mode (got {mode})")
        await db.execute(f"PRAGMA synchronous = {self._synchronous}")
        await db.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
        await db.executescript(SCHEMA)

    async def _load(self, recent: int) -> LoadedState:
        db = self._db
        row = await (await db.execute("SELECT value FROM meta WHERE name = 'compact_revision'")).fetchone()
        self._compact_revision = row[0] if row else 0
        (max_id,) = await (await db.execute("SELECT COALESCE(MAX(id), 0) FROM log")).fetchone()
        revision = max(max_id, self._compact_revision)
        items = [
            KeyValue(name, value, create_revision, rev)
            for rev, name, create_revision, value in await db.execute_fetchall(
                "SELECT l.id, l.name, l.create_revision, l.value FROM log l "
                "JOIN (SELECT MAX(id) AS id FROM log GROUP BY name) m ON l.id = m.id "
                "WHERE l.deleted = 0"
            )
        ]
        rows = await db.execute_fetchall(
            "SELECT l.id, l.name, l.create_revision, l.prev_revision, l.deleted, l.value, "
            "p.value, p.create_revision FROM log l LEFT JOIN log p ON p.id = l.prev_revision "
            "WHERE l.id > ? ORDER BY l.id",
            (max(self._compact_revision, revision - recent),),
        )
        return LoadedState(revision, self._compact_revision, items, events_from_rows(rows, revision))

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            try:
                await db.close()
            except sqlite3.Error:
                pass
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- writes ---

    async def append(self, events: list[Event]) -> None:
        params: list = []
        for e in events:
            deleted = e.type == "DELETED"
            params += (
                e.revision,
                e.kv.key,
                e.kv.create_revision,
                e.prev_kv.mod_revision if e.prev_kv is not None else 0,
                1 if deleted else 0,
                None if deleted else e.kv.value,
            )
        async with self._mutex:
            if len(events) <= ROWS_PER_INSERT:
                await self._db.execute(insert_statement(len(events)), params)
                return
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                step = ROWS_PER_INSERT * 6
                for start in range(0, len(params), step):
                    chunk = params[start : start + step]
                    await self._db.execute(insert_statement(len(chunk) // 6), chunk)
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise

    async def compact(self, revision: int) -> None:
        low = self._compact_revision
        while low < revision:
            high = min(revision, low + COMPACT_CHUNK)
            async with self._mutex:
                db = self._db
                await db.execute("BEGIN IMMEDIATE")
                try:
                    await db.execute(
                        "DELETE FROM log WHERE id IN (SELECT prev_revision FROM log "
                        "WHERE id > ? AND id <= ? AND prev_revision > 0)",
                        (low, high),
                    )
                    await db.execute("DELETE FROM log WHERE deleted = 1 AND id > ? AND id <= ?", (low, high))
                    await db.execute("INSERT OR REPLACE INTO meta VALUES ('compact_revision', ?)", (high,))
                    await db.execute("COMMIT")
                except BaseException:
                    await db.execute("ROLLBACK")
                    raise
            self._compact_revision = low = high
        async with self._mutex:
            # incremental_vacuum returns a row per freed page; the statement must be stepped to the end.
            await self._db.execute_fetchall("PRAGMA incremental_vacuum")
            await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --- history reads ---

    async def list_at(self, prefix: str, revision: int, *, start_after: str, limit: int) -> Page:
        end = prefix_end(prefix)
        low = max(prefix, start_after + "\x00") if start_after else prefix
        bound = "AND name < ?" if end else ""
        params = (low, end, revision) if end else (low, revision)
        async with self._mutex:
            rows = await self._db.execute_fetchall(
                "SELECT l.name, l.value, l.create_revision, l.id FROM log l "
                f"JOIN (SELECT MAX(id) AS id FROM log WHERE name >= ? {bound} AND id <= ? GROUP BY name) m "
                "ON l.id = m.id WHERE l.deleted = 0 ORDER BY l.name",
                params,
            )
        return page_of([KeyValue(name, value, create, rev) for name, value, create, rev in rows], limit)


@functools.lru_cache(maxsize=64)
def insert_statement(rows: int) -> str:
    return "INSERT INTO log VALUES " + ",".join(["(?,?,?,?,?,?)"] * rows)


def events_from_rows(rows: list[tuple], revision: int) -> list[Event]:
    """Rebuild events from joined rows; keep only the contiguous run that ends at `revision`."""
    events: list[Event] = []
    for rev, name, create_revision, prev_revision, deleted, value, prev_value, prev_create in rows:
        if events and rev != events[-1].revision + 1:
            events = []  # a gap (should not happen): history before it cannot be replayed
        prev = KeyValue(name, prev_value, prev_create, prev_revision) if prev_revision else None
        if prev_revision and prev_value is None:
            events = []  # the row it replaced is gone; start history after this row
            continue
        if deleted:
            events.append(Event("DELETED", KeyValue(name, prev.value, prev.create_revision, rev), prev))
        else:
            kind = "MODIFIED" if prev is not None else "ADDED"
            events.append(Event(kind, KeyValue(name, value, create_revision, rev), prev))
    if events and events[-1].revision != revision:
        return []
    return events


def acquire_lock(db_path: Path) -> int:
    """Hold an exclusive lock beside the database for the life of the process.

    Two servers on one data dir would interleave revisions; `snapshot restore` must not run under a live
    server. Both are refused with a clear message.
    """
    lock_path = db_path.with_name(db_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseError(f"database {db_path} is in use by another minik process (lock {lock_path})") from None
    return fd
