"""The one wiring module: builds storage → registry → API server → clients → components, and runs them.

Nothing else constructs components or starts tasks. Order of start: the store loads (then /readyz can
turn green), the registry serves stored custom resources, the bootstrap objects exist (system
namespaces, the `kubernetes` Service), TLS material and the kubeconfig are written, the HTTPS listener
opens, then the control loops start. Stop reverses it: stop listening, end watches, let in-flight requests
finish, drain the store's queued writes, cancel the rest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .api import errors
from .config import ServerConfig
from .registry.registry import Registry
from .registry.store import Context, User
from .storage import CompactionPolicy, Compactor, StoreConfig, db_path, open_store
from .supervisor import Supervisor

log = logging.getLogger("minik.server")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
APISERVER = User("system:apiserver", ("system:masters",))


@dataclass
class RunningServer:
    """What a started server exposes to its caller (tests use it in-process)."""

    supervisor: Supervisor
    registry: Registry
    operations: object
    url: str
    kubeconfig: Path
    admin_token: str
    ready: asyncio.Event
    started: float


def node_ip(preferred: str = "") -> str:
    """The host's primary IPv4 address (a UDP connect picks the route; no packet is sent)."""
    if preferred:
        return preferred
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


async def start_server(config: ServerConfig) -> RunningServer:
    """Start every component under a supervisor; returns once the API serves and is ready."""
    started = time.monotonic()
    supervisor = Supervisor()
    try:
        return await _start(config, supervisor, started)
    except BaseException:
        await supervisor.stop()  # a half-started server must not keep its store (or the loop) alive
        raise


async def _start(config: ServerConfig, supervisor: Supervisor, started: float) -> RunningServer:
    from .apiserver.app import make_app, serve
    from .apiserver.auth import Authenticator
    from .apiserver.discovery import Discovery
    from .apiserver.handlers import Handlers, WatchSettings
    from .apiserver.openapi import OpenAPI
    from .apiserver.operations import Operations, record_field_ownership
    from .pki import ensure_admin_token, ensure_node_token, ensure_server_pki, write_kubeconfig

    ready = supervisor.ready("apiserver")

    # storage
    sc = config.storage
    path = None if sc.ephemeral else db_path(config.data_dir)
    store = await open_store(path, StoreConfig(history=sc.history, watcher_queue=sc.watcher_queue))
    supervisor.spawn("storage-writer", store.run())
    supervisor.on_stop("storage", store.close)
    policy = CompactionPolicy(sc.keep_revisions, sc.retention_seconds, sc.compact_interval)
    supervisor.spawn("storage-compactor", Compactor(store, policy).run())

    # registry and API
    api = config.api
    registry = Registry(store, field_manager=record_field_ownership, service_cidr=api.service_cidr,
                        node_port_range=api.node_port_range)
    openapi = OpenAPI(registry.resources())
    address = node_ip(api.advertise_address or config.node.ip)
    discovery = Discovery(registry.table, server_address=f"{address}:{api.port}")
    registry.listeners.append(discovery.invalidate)
    registry.listeners.append(lambda info, added: _sync_openapi(openapi, registry, info, added))
    await registry.load_custom_resources()
    operations = Operations(registry, openapi)
    await bootstrap(registry, address, api.port)

    # TLS, credentials, kubeconfig
    tls_dir = config.server_dir / "tls"
    hostnames = [socket.gethostname()]
    ips = sorted({address} | ({api.bind_address} if api.bind_address not in ("0.0.0.0", "::", "") else set()))
    pki = ensure_server_pki(tls_dir, hostnames=hostnames, ips=ips)
    admin_token = ensure_admin_token(config.server_dir / "token")
    ensure_node_token(config.server_dir / "node-token", pki.server_ca_pem)
    host = "127.0.0.1" if api.bind_address in ("0.0.0.0", "", "::") else api.bind_address
    url = f"https://{host}:{api.port}"
    write_kubeconfig(config.write_kubeconfig, server_url=url, ca_pem=pki.server_ca_pem,
                     client_cert_pem=pki.admin_cert_pem, client_key_pem=pki.admin_key_pem,
                     mode=config.write_kubeconfig_mode)
    authenticator = Authenticator({admin_token: User("system:admin", ("system:masters", "system:authenticated"))})

    # HTTPS
    handlers = Handlers(operations, discovery, openapi, ready=ready,
                        watch=WatchSettings(bookmark_interval=api.bookmark_interval))
    if api.access_log:
        logging.getLogger("minik.access").setLevel(logging.INFO)
    runner = await serve(make_app(handlers, authenticator), host=api.bind_address or "0.0.0.0", port=api.port,
                         ssl_context=pki.server_ssl_context())

    async def stop_http() -> None:
        store.end_watches()  # open watch streams end now instead of holding the shutdown
        await runner.cleanup()

    supervisor.on_stop("apiserver", stop_http)
    start_components(config, supervisor, operations)
    ready.set()
    notify_systemd("READY=1")
    log.info("minik server is ready at %s (kubeconfig: %s, %.2fs after start)", url, config.write_kubeconfig,
             time.monotonic() - started)
    return RunningServer(supervisor, registry, operations, url, config.write_kubeconfig, admin_token, ready,
                         started)


def start_components(config: ServerConfig, supervisor: Supervisor, operations) -> None:
    """The clients layer and everything above it: controllers, scheduler, simulated nodes."""
    from .client.clock import Clock
    from .client.events import EventRecorder
    from .client.informer import InformerFactory
    from .client.local import LocalClient
    from .controllers import CONTROLLERS, load
    from .controllers.base import ControllerContext

    tasks: list[asyncio.Task] = []

    def spawn(name: str, coro, **options) -> None:
        tasks.append(supervisor.spawn(name, coro, **options))

    async def stop_components() -> None:
        """Components stop before the API and the store they use (no retries against a closed store)."""
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    disabled = set(config.disable)
    clock = Clock()
    client = LocalClient(operations, field_manager="kube-controller-manager")
    informers = InformerFactory(client, clock=clock)
    recorder = EventRecorder(client, "minik", host=config.node.name or socket.gethostname(), clock=clock)
    spawn("event-recorder", recorder.run())
    settings = {"cluster_cidr": config.api.cluster_cidr, "node_monitor_grace_period": config.node_monitor_grace_period}
    ctx = ControllerContext(client, informers, recorder, clock, settings)
    if "controllers" not in disabled:
        for name in CONTROLLERS:
            if name not in disabled:
                spawn(f"controller:{name}", load(name)(ctx).run())
    if "scheduler" not in disabled:
        from .scheduler.scheduler import Scheduler

        scheduler_ctx = ControllerContext(LocalClient(operations, field_manager="default-scheduler"), informers,
                                          recorder, clock, settings)
        spawn("scheduler", Scheduler(scheduler_ctx).run())
    if config.sim_nodes:
        from .kubelet.simulated import SimulatedNodes, SimulatedNodesConfig

        nodes = SimulatedNodes(LocalClient(operations, field_manager="minik-simulated-kubelet"),
                               SimulatedNodesConfig(count=config.sim_nodes, lease_duration=sim_lease_duration(config)),
                               informers=informers, clock=clock)
        spawn("simulated-nodes", nodes.run())
        supervisor.on_stop("simulated-nodes", nodes.close)
    informers.start(spawn)

    from .memory import trim_periodically

    supervisor.spawn("memory-trim", trim_periodically(), essential=False)
    supervisor.on_stop("components", stop_components)  # registered last: runs first


def sim_lease_duration(config: ServerConfig) -> int:
    """The in-process simulated nodes' lease: the kubelet's 40 s, shortened when the node monitor's grace
    period is shorter, so a short grace period (tests, demos of node loss) never makes healthy nodes flap."""
    return max(1, min(40, int(config.node_monitor_grace_period)))


def notify_systemd(message: str) -> None:
    """sd_notify: tell systemd (Type=notify) that the server is ready; a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError as exc:
            log.warning("cannot notify systemd: %s", exc)


def _sync_openapi(openapi, registry: Registry, info, added: bool) -> None:
    if added:
        strategy = registry.store_for(info).strategy
        openapi.add_custom_resource(info, getattr(strategy, "schema", None))
    else:
        openapi.remove_custom_resource(info)


async def bootstrap(registry: Registry, address: str, port: int) -> None:
    """The objects every cluster has: system namespaces and the `kubernetes` Service in `default`."""
    ctx = Context(user=APISERVER, field_manager="kube-apiserver")
    namespaces = registry.store("", "v1", "namespaces")
    for name in SYSTEM_NAMESPACES:
        await _ensure(namespaces.create("", {"metadata": {"name": name}}, ctx))
    services = registry.store("", "v1", "services")
    existing = await registry.storage.get(services.key("default", "kubernetes"))
    if existing is None:
        await _ensure(services.create("default", {
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": _first_service_ip(registry.service_cidr),
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                     "sessionAffinity": "None"},
        }, ctx))
    endpoints = {
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    }
    store = registry.store("", "v1", "endpoints")

    def refresh(current: dict) -> dict:
        return {**current, "subsets": endpoints["subsets"]}

    await store.guaranteed_update("default", "kubernetes", refresh, ctx, create=lambda: dict(endpoints))


def _first_service_ip(cidr: str) -> str:
    import ipaddress

    return str(ipaddress.ip_network(cidr).network_address + 1)


async def _ensure(creation) -> None:
    try:
        await creation
    except errors.APIError as exc:
        if exc.reason != "AlreadyExists":
            raise


async def run(config: ServerConfig) -> int:
    """`minik server`: start, serve until SIGTERM/SIGINT or a component fails; the exit status."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # before starting: a SIGTERM may come at any moment
        loop.add_signal_handler(signum, stop.set)
    try:
        server = await start_server(config)
        stopping = asyncio.create_task(stop.wait(), name="signal")
        failing = asyncio.create_task(server.supervisor.wait(), name="supervisor")
        await asyncio.wait([stopping, failing], return_when=asyncio.FIRST_COMPLETED)
        for task in (stopping, failing):
            task.cancel()
        await server.supervisor.stop(timeout=10.0)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    if server.supervisor.failure is not None:
        name, error = server.supervisor.failure
        log.error("stopped because %s failed: %s", name, error)
        return 1
    log.info("minik server stopped")
    return 0
