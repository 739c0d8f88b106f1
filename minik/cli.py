"""The `minik` command: the entry point users type. It parses flags and hands over to the wiring modules.

Top of the flow: nothing imports this module. Each subcommand turns flags into a config and calls one
function (`server.run`, `storage.snapshot`, ...). Errors the user can fix are printed as one line naming
what is wrong, never as a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click
from click.core import ParameterSource

from . import __version__
from .config import (
    DEFAULT_CONFIG_FILE,
    APIConfig,
    ConfigError,
    NodeConfig,
    ServerConfig,
    StorageConfig,
    default_data_dir,
    default_kubeconfig,
    load_config_file,
    parse_mode,
    parse_port_range,
)


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


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.getLogger("minik.access").setLevel(logging.WARNING)  # per-request lines only with --access-log


def apply_config_file(ctx: click.Context, path: Path | None) -> None:
    """Values from the config file for every flag not given on the command line (k3s' precedence)."""
    try:
        values = load_config_file(path or DEFAULT_CONFIG_FILE, required=path is not None)
    except ConfigError as exc:
        fail(str(exc))
    params = {p.name: p for p in ctx.command.params}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in params or name == "config":
            fail(f"unknown setting {key!r} in config file {path or DEFAULT_CONFIG_FILE}")
        if ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, None):
            param = params[name]
            if param.multiple and not isinstance(value, list):
                value = [value]
            ctx.params[name] = param.type_cast_value(ctx, value)


@main.command()
@click.option("--config", "-c", type=click.Path(path_type=Path), default=None,
              help=f"Config file (default {DEFAULT_CONFIG_FILE} when it exists).")
@click.option("--data-dir", "-d", type=click.Path(path_type=Path), default=None,
              help="Data directory (default /var/lib/minik as root, ~/.minik otherwise).")
@click.option("--bind-address", default="0.0.0.0", show_default=True, help="Address the API server listens on.")
@click.option("--https-listen-port", type=int, default=6443, show_default=True, help="HTTPS port of the API server.")
@click.option("--advertise-address", default="", help="Address the `kubernetes` Service points at (default: node IP).")
@click.option("--write-kubeconfig", "-o", type=click.Path(path_type=Path), default=None,
              help="Write the admin kubeconfig here (default /etc/minik/minik.yaml as root, ~/.kube/minik.yaml otherwise).")
@click.option("--write-kubeconfig-mode", default="600", show_default=True, help="File mode of the kubeconfig (octal).")
@click.option("--disable-agent", is_flag=True, help="Do not run the node agent (kubelet) in this process.")
@click.option("--disable", multiple=True, help="Do not run this component (repeatable).")
@click.option("--ephemeral", is_flag=True, help="Keep the datastore in memory (lost at exit).")
@click.option("--node-name", default="", help="Name of this node (default: the host name).")
@click.option("--node-ip", default="", help="IP address of this node.")
@click.option("--node-label", multiple=True, help="Label of this node, key=value (repeatable).")
@click.option("--node-taint", multiple=True, help="Taint of this node, key=value:Effect (repeatable).")
@click.option("--cluster-cidr", default="10.42.0.0/16", show_default=True, help="Pod network.")
@click.option("--service-cidr", default="10.43.0.0/16", show_default=True, help="Service network.")
@click.option("--service-node-port-range", default="30000-32767", show_default=True, help="NodePort range.")
@click.option("--sim-nodes", type=int, default=0, help="Register this many simulated nodes (no containers run).")
@click.option("--node-monitor-grace-period", type=float, default=40.0, show_default=True,
              help="Seconds without a heartbeat before a node is marked NotReady (Unknown).")
@click.option("--compact-keep-revisions", "keep_revisions", type=int, default=1000, show_default=True,
              help="Revisions the datastore keeps before compacting older ones.")
@click.option("--access-log", is_flag=True, help="Log one line per API request.")
@click.option("--debug", is_flag=True, help="Debug logging.")
@click.pass_context
def server(ctx: click.Context, config: Path | None, **flags) -> None:
    """Run the control plane (and, unless --disable-agent, this host as a node)."""
    apply_config_file(ctx, config)
    flags = {k: ctx.params[k] for k in flags}
    setup_logging("debug" if flags["debug"] else "info")
    try:
        settings = ServerConfig(
            data_dir=flags["data_dir"] or default_data_dir(),
            write_kubeconfig=flags["write_kubeconfig"] or default_kubeconfig(),
            write_kubeconfig_mode=parse_mode(flags["write_kubeconfig_mode"]),
            disable_agent=flags["disable_agent"],
            disable=tuple(flags["disable"]),
            storage=StorageConfig(ephemeral=flags["ephemeral"], keep_revisions=flags["keep_revisions"]),
            api=APIConfig(
                bind_address=flags["bind_address"], port=flags["https_listen_port"],
                advertise_address=flags["advertise_address"], service_cidr=flags["service_cidr"],
                cluster_cidr=flags["cluster_cidr"],
                node_port_range=parse_port_range(flags["service_node_port_range"]),
                access_log=flags["access_log"],
            ),
            node=NodeConfig(name=flags["node_name"], labels=tuple(flags["node_label"]),
                            taints=tuple(flags["node_taint"]), ip=flags["node_ip"]),
            sim_nodes=flags["sim_nodes"],
            node_monitor_grace_period=flags["node_monitor_grace_period"],
        )
    except ConfigError as exc:
        fail(str(exc))
    from .api.errors import APIError
    from .server import run
    from .storage import StorageError

    try:
        sys.exit(asyncio.run(run(settings)))
    except StorageError as exc:
        fail(str(exc))
    except APIError as exc:
        fail(f"cannot start: {exc.message}")
    except OSError as exc:
        fail(f"cannot start: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)


@main.command("sim-nodes")
@click.option("--kubeconfig", type=click.Path(path_type=Path, exists=True), default=None,
              help="Kubeconfig of the server (default: the one `minik server` writes).")
@click.option("--count", type=int, default=3, show_default=True, help="Number of simulated nodes.")
@click.option("--name-prefix", default="sim-node-", show_default=True)
@click.option("--cpu", default="8", show_default=True, help="CPU capacity of each node.")
@click.option("--memory", default="32Gi", show_default=True, help="Memory capacity of each node.")
@click.option("--pods", type=int, default=110, show_default=True, help="Pod capacity of each node.")
@click.option("--ready-delay", type=float, default=0.5, show_default=True,
              help="Seconds before a bound pod is reported Running and Ready.")
@click.option("--node-lease-duration", type=click.IntRange(min=1), default=40, show_default=True,
              help="Lease duration in seconds; each node renews its lease every quarter of it (as the kubelet).")
def sim_nodes(kubeconfig: Path | None, count: int, name_prefix: str, cpu: str, memory: str, pods: int,
              ready_delay: float, node_lease_duration: int) -> None:
    """Register simulated nodes (no containers run) with a running server, until interrupted."""
    from .client.http import HttpClient, KubeconfigError
    from .kubelet.simulated import SimulatedNodes, SimulatedNodesConfig

    setup_logging("info")
    config = SimulatedNodesConfig(count=count, name_prefix=name_prefix, cpu=cpu, memory=memory, pods=pods,
                                  ready_delay=ready_delay, lease_duration=node_lease_duration)

    async def run() -> None:
        try:
            client = HttpClient.from_kubeconfig(kubeconfig or default_kubeconfig(), field_manager="minik-sim-nodes")
        except KubeconfigError as exc:
            fail(str(exc))
        nodes = SimulatedNodes(client, config)
        tasks = [asyncio.create_task(nodes.run(), name="simulated-nodes"),
                 asyncio.create_task(nodes.pods.run(), name="informer:pods")]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await nodes.close()
            await client.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


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
