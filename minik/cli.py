"""The `minik` command: the entry point users type. It parses flags and hands over to the wiring modules.

Top of the flow: nothing imports this module. Each subcommand turns flags into a config and calls one
function (`server.run`, `storage.snapshot`, ...). Errors the user can fix are printed as one line naming
what is wrong, never as a traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__


def default_data_dir() -> Path:
    """k3s' convention: /var/lib/minik as root, ~/.minik otherwise."""
    return Path("/var/lib/minik") if os.geteuid() == 0 else Path.home() / ".minik"


def fail(message: str) -> "NoReturn":  # noqa: F821
    click.echo(f"minik: {message}", err=True)
    sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """minik: a small Kubernetes in one Python process."""


@main.command()
def version() -> None:
    """Print the minik version and the Kubernetes API version it serves."""
    from .api.version import KUBERNETES_VERSION

    click.echo(f"minik version v{__version__} (Kubernetes API {KUBERNETES_VERSION})")


@main.group()
def snapshot() -> None:
    """Save or restore the datastore (like `etcdctl snapshot`)."""


data_dir_option = click.option(
    "--data-dir", "-d", type=click.Path(path_type=Path), default=None,
    help="Data directory (default /var/lib/minik as root, ~/.minik otherwise).",
)


@snapshot.command("save")
@click.argument("file", type=click.Path(path_type=Path))
@data_dir_option
def snapshot_save(file: Path, data_dir: Path | None) -> None:
    """Write a consistent copy of the datastore to FILE (safe while the server runs)."""
    from .storage import DatabaseError, db_path
    from .storage.snapshot import save_snapshot

    try:
        revision = save_snapshot(db_path(data_dir or default_data_dir()), file)
    except DatabaseError as exc:
        fail(str(exc))
    click.echo(f"Snapshot saved to {file} at revision {revision}")


@snapshot.command("restore")
@click.argument("file", type=click.Path(path_type=Path))
@data_dir_option
def snapshot_restore(file: Path, data_dir: Path | None) -> None:
    """Replace the datastore with FILE. Refuses while a server uses the data dir."""
    from .storage import DatabaseError, db_path
    from .storage.snapshot import restore_snapshot

    try:
        revision = restore_snapshot(file, db_path(data_dir or default_data_dir()))
    except DatabaseError as exc:
        fail(str(exc))
    click.echo(f"Restored {file} (revision {revision}); start the server to use it")


if __name__ == "__main__":
    main()
