"""Configuration: one small frozen dataclass per component, and the k3s-style config file.

Used by the CLI and the wiring modules; components receive only their own dataclass. The config file
(`/etc/minik/config.yaml` by default) mirrors the command-line flags by name, as k3s' does:

    data-dir: /srv/minik
    https-listen-port: 7443
    disable-agent: true
    node-label: ["zone=a"]

Flags given on the command line win over the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_CONFIG_FILE = Path("/etc/minik/config.yaml")


def is_root() -> bool:
    return os.geteuid() == 0


def default_data_dir() -> Path:
    return Path("/var/lib/minik") if is_root() else Path.home() / ".minik"


def default_kubeconfig() -> Path:
    return Path("/etc/minik/minik.yaml") if is_root() else Path.home() / ".kube" / "minik.yaml"


@dataclass(frozen=True)
class StorageConfig:
    ephemeral: bool = False
    history: int = 8192
    watcher_queue: int = 5000
    keep_revisions: int = 1000
    retention_seconds: float = 0.0
    compact_interval: float = 60.0


@dataclass(frozen=True)
class APIConfig:
    bind_address: str = "0.0.0.0"
    port: int = 6443
    advertise_address: str = ""  # the address the `kubernetes` Endpoints point at (default: the node IP)
    service_cidr: str = "10.43.0.0/16"
    cluster_cidr: str = "10.42.0.0/16"
    cluster_dns: str = "10.43.0.10"
    cluster_domain: str = "cluster.local"
    node_port_range: tuple[int, int] = (30000, 32767)
    bookmark_interval: float = 60.0
    access_log: bool = False


@dataclass(frozen=True)
class NodeConfig:
    name: str = ""
    labels: tuple[str, ...] = ()
    taints: tuple[str, ...] = ()
    ip: str = ""


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path = field(default_factory=default_data_dir)
    write_kubeconfig: Path = field(default_factory=default_kubeconfig)
    write_kubeconfig_mode: int = 0o600
    disable_agent: bool = False
    disable: tuple[str, ...] = ()  # components: e.g. "scheduler", "controllers", "deployment"
    storage: StorageConfig = StorageConfig()
    api: APIConfig = APIConfig()
    node: NodeConfig = NodeConfig()
    sim_nodes: int = 0  # simulated nodes to register (kwok-like; labelled as simulated)
    node_monitor_grace_period: float = 40.0  # a node silent this long is NotReady/Unknown (kube default 40 s)
    log_level: str = "info"

    @property
    def server_dir(self) -> Path:
        return self.data_dir / "server"


class ConfigError(ValueError):
    pass


def load_config_file(path: Path, *, required: bool = False) -> dict:
    """Flag name (with dashes) → value, from a YAML file; {} when the default file is absent."""
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path} does not exist")
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of flag names to values")
    return {str(k): v for k, v in data.items()}


def parse_mode(text: str | int) -> int:
    if isinstance(text, int):
        return text
    try:
        return int(str(text), 8)
    except ValueError:
        raise ConfigError(f"invalid file mode {text!r}: give it in octal, e.g. 644") from None


def parse_port_range(text: str) -> tuple[int, int]:
    low, sep, high = str(text).partition("-")
    try:
        lo, hi = int(low), int(high)
    except ValueError:
        raise ConfigError(f"invalid port range {text!r}: expected LOW-HIGH, e.g. 30000-32767") from None
    if not sep or not 0 < lo <= hi < 65536:
        raise ConfigError(f"invalid port range {text!r}")
    return lo, hi
