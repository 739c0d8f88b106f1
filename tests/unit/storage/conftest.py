"""Fixtures for the storage conformance suite: every test runs against every backend."""

from __future__ import annotations

import pytest

from minik.storage import StoreConfig, running_store

BACKENDS = ["memory", "sqlite"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def make_store(backend, tmp_path):
    """`async with make_store(**config) as store` — a running store of the current backend."""

    def factory(**config):
        path = tmp_path / "db" / "state.db" if backend == "sqlite" else None
        return running_store(path, StoreConfig(**config))

    return factory


@pytest.fixture
async def store(make_store):
    async with make_store() as s:
        yield s
