"""The `minik` command: version, snapshots and config-file handling, with clear one-line errors."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from minik.cli import main
from minik.storage import db_path, running_store


def test_version():
    result = CliRunner().invoke(main, ["version"])
    assert result.exit_code == 0 and result.output.startswith("minik version v")


def test_snapshot_save_restore_roundtrip(tmp_path):
    data = tmp_path / "data"

    async def write(value: bytes):
        async with running_store(db_path(data)) as store:
            if await store.get("/k") is None:
                await store.create("/k", value)
            else:
                kv = await store.get("/k")
                await store.update("/k", value, expected_revision=kv.mod_revision)

    asyncio.run(write(b"before"))
    runner = CliRunner()
    snap = tmp_path / "snap.db"
    result = runner.invoke(main, ["snapshot", "save", str(snap), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    asyncio.run(write(b"after"))
    result = runner.invoke(main, ["snapshot", "restore", str(snap), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output

    async def read():
        async with running_store(db_path(data)) as store:
            return (await store.get("/k")).value

    assert asyncio.run(read()) == b"before"


def test_snapshot_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["snapshot", "save", str(tmp_path / "x"), "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no database at" in result.output and "Traceback" not in result.output
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"junk" * 100)
    result = CliRunner().invoke(main, ["snapshot", "restore", str(bogus), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 1 and "not a usable minik snapshot" in result.output


def test_server_config_file_errors(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("no-such-flag: 1\n")
    result = CliRunner().invoke(main, ["server", "--config", str(config)])
    assert result.exit_code == 1 and "unknown setting 'no-such-flag'" in result.output
    result = CliRunner().invoke(main, ["server", "--config", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1 and "does not exist" in result.output
    config.write_text("service-node-port-range: nonsense\n")
    result = CliRunner().invoke(main, ["server", "--config", str(config)])
    assert result.exit_code == 1 and "invalid port range" in result.output
