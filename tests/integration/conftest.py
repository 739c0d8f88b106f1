"""An in-process minik server over real HTTPS, per test (fresh data dir, free port)."""

from __future__ import annotations

import pytest

from minik.config import APIConfig, ServerConfig, StorageConfig
from minik.server import start_server
from tests.helpers import Api, free_port


def server_config(tmp_path, **storage) -> ServerConfig:
    return ServerConfig(
        data_dir=tmp_path / "data",
        write_kubeconfig=tmp_path / "kubeconfig.yaml",
        disable_agent=True,
        disable=("controllers", "scheduler"),  # API tests see only what they write
        storage=StorageConfig(**storage),
        api=APIConfig(bind_address="127.0.0.1", port=free_port(), advertise_address="127.0.0.1",
                      bookmark_interval=0.5),
    )


@pytest.fixture
async def server(tmp_path):
    running = await start_server(server_config(tmp_path))
    yield running
    await running.supervisor.stop()


@pytest.fixture
async def api(server):
    client = Api(server.url, server.kubeconfig)
    yield client
    await client.close()
