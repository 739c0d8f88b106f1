"""Snapshots of the SQLite database: `minik snapshot save|restore` (what `etcdctl snapshot` is to etcd).

Part of the storage layer, used by the CLI. Save uses SQLite's online backup API, so it is consistent while
a server is writing. Restore replaces the database file and refuses while a server holds the data dir.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .sqlite import DatabaseError, acquire_lock


def save_snapshot(db_path: Path, dest: Path) -> int:
    """Copy a consistent image of the database to `dest`; returns the revision it holds."""
    if not db_path.exists():
        raise DatabaseError(f"no database at {db_path}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(tmp)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
            finally:
                target.close()
        finally:
            source.close()
        revision = check_database(tmp)
    except sqlite3.DatabaseError as exc:
        tmp.unlink(missing_ok=True)
        raise DatabaseError(f"cannot snapshot {db_path}: {exc}") from None
    os.replace(tmp, dest)
    return revision


def restore_snapshot(snapshot: Path, db_path: Path) -> int:
    """Replace the database with `snapshot`; refuses while a server uses the data dir."""
    try:
        revision = check_database(snapshot)
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{snapshot} is not a usable minik snapshot: {exc}") from None
    db_path.parent.mkdir(parents=True, exist_ok=True)
    lock = acquire_lock(db_path)  # raises when a server is running on this data dir
    try:
        tmp = db_path.with_name(db_path.name + ".restore")
        tmp.write_bytes(snapshot.read_bytes())
        for suffix in ("-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        os.replace(tmp, db_path)
    finally:
        os.close(lock)
    return revision


def check_database(path: Path) -> int:
    """Open read-only, verify it is an intact minik log, return its revision."""
    if not path.exists():
        raise sqlite3.DatabaseError(f"{path} does not exist")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (check,) = conn.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"log", "meta"} <= tables:
            raise sqlite3.DatabaseError("not a minik database (no log table)")
        (max_id,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM log").fetchone()
        row = conn.execute("SELECT value FROM meta WHERE name = 'compact_revision'").fetchone()
        return max(max_id, row[0] if row else 0)
    finally:
        conn.close()
