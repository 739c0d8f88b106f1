"""The Client protocol, informers and the work queue: the same tests for LocalClient and HttpClient."""

from __future__ import annotations

import asyncio

import pytest

from minik.api.errors import APIError
from minik.client.clock import FakeClock
from minik.client.events import EventRecorder
from minik.client.http import HttpClient
from minik.client.informer import InformerFactory, node_name_index
from minik.client.interface import is_conflict, resource
from minik.client.local import LocalClient
from minik.client.workqueue import WorkQueue

CONFIGMAPS = resource("configmaps")
PODS = resource("pods")
DEPLOYMENTS = resource("deployments", "apps")
EVENTS = resource("events")


@pytest.fixture(params=["local", "http"])
async def client(request, server):
    if request.param == "local":
        yield LocalClient(server.operations)
    else:
        http = HttpClient.from_kubeconfig(server.kubeconfig)
        yield http
        await http.close()


async def eventually(check, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_verbs(client):
    created = await client.create(CONFIGMAPS, {"metadata": {"name": "c"}, "data": {"a": "1"}}, "default")
    assert created["metadata"]["namespace"] == "default"
    got = await client.get(CONFIGMAPS, "c", "default")
    assert got["data"] == {"a": "1"}
    got["data"]["a"] = "2"
    updated = await client.update(CONFIGMAPS, got)
    assert updated["data"]["a"] == "2"
    with pytest.raises(APIError) as info:
        await client.update(CONFIGMAPS, got)  # stale resourceVersion
    assert is_conflict(info.value)
    patched = await client.patch(CONFIGMAPS, "c", {"data": {"b": "3"}}, "default")
    assert patched["data"] == {"a": "2", "b": "3"}
    listed = await client.list(CONFIGMAPS, "default")
    assert "c" in [i["metadata"]["name"] for i in listed["items"]] and listed["metadata"]["resourceVersion"]
    await client.delete(CONFIGMAPS, "c", "default")
    with pytest.raises(APIError) as info:
        await client.get(CONFIGMAPS, "c", "default")
    assert info.value.code == 404


async def test_subresources(client):
    await client.create(PODS, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
                        "default")
    await client.create(PODS, {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                               "target": {"kind": "Node", "name": "n1"}}, "default", subresource="binding", name="p")
    pod = await client.get(PODS, "p", "default")
    assert pod["spec"]["nodeName"] == "n1"
    status = await client.patch(PODS, "p", {"status": {"phase": "Running"}}, "default", subresource="status")
    assert status["status"]["phase"] == "Running"
    with pytest.raises(APIError) as info:  # bound once: a second binding is a conflict
        await client.create(PODS, {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
                                   "target": {"kind": "Node", "name": "n2"}}, "default", subresource="binding",
                            name="p")
    assert info.value.code == 409


async def test_watch_and_resume(client):
    listed = await client.list(CONFIGMAPS, "default")
    rv = listed["metadata"]["resourceVersion"]
    await client.create(CONFIGMAPS, {"metadata": {"name": "w"}}, "default")
    events = []
    async for event in client.watch(CONFIGMAPS, "default", resource_version=rv, timeout_seconds=1):
        if event.type != "BOOKMARK":
            events.append(event)
        if events:
            break
    assert events[0].type == "ADDED" and events[0].object["metadata"]["name"] == "w"


async def test_watch_too_old_is_gone(client, server):
    for i in range(3):
        await client.create(CONFIGMAPS, {"metadata": {"name": f"g{i}"}}, "default")
    await server.registry.storage.compact(server.registry.storage.current_revision)
    with pytest.raises(APIError) as info:
        async for _ in client.watch(CONFIGMAPS, "default", resource_version="1", timeout_seconds=1):
            pass
    assert info.value.code == 410


async def test_informer_follows_changes_and_indexes(client):
    factory = InformerFactory(client)
    pods = factory.informer(PODS, indexers={"node": node_name_index})
    seen: list[tuple[str, str]] = []
    pods.add_handler(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                     on_update=lambda old, new: seen.append(("update", new["metadata"]["name"])),
                     on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
    await client.create(PODS, {"metadata": {"name": "before"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]}}, "default")
    tasks = []
    factory.start(lambda name, coro: tasks.append(asyncio.create_task(coro, name=name)))
    try:
        await asyncio.wait_for(factory.wait_for_sync(), 5)
        assert pods.get("default/before") is not None
        assert [p["metadata"]["name"] for p in pods.indexer.by_index("node", "n1")] == ["before"]
        await client.create(PODS, {"metadata": {"name": "after"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}, "default")
        await client.patch(PODS, "after", {"metadata": {"labels": {"x": "y"}}}, "default")
        await client.delete(PODS, "before", "default", grace_period_seconds=0)  # bound: graceful otherwise
        await eventually(lambda: ("delete", "before") in seen)
        assert seen == [("add", "before"), ("add", "after"), ("update", "after"), ("delete", "before")]
        assert pods.indexer.by_index("node", "n1") == []
        assert factory.informer(PODS) is pods  # shared: one list/watch per resource
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_informer_relists_after_gone(server):
    client = LocalClient(server.operations)
    factory = InformerFactory(client)
    informer = factory.informer(CONFIGMAPS)
    tasks = []
    factory.start(lambda name, coro: tasks.append(asyncio.create_task(coro, name=name)))
    try:
        await factory.wait_for_sync()
        # Make the informer's watch overflow: the store ends it with Gone and the informer relists.
        store = server.registry.storage
        store._config = type(store._config)(history=store._config.history, watcher_queue=5)
        informer_task_watchers = store.watcher_count
        await asyncio.gather(*(client.create(CONFIGMAPS, {"metadata": {"name": f"r{i}"}}, "default") for i in range(50)))
        await eventually(lambda: len([k for k in informer.indexer.keys() if k.startswith("default/r")]) == 50)
        assert store.watcher_count == informer_task_watchers
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_event_recorder_aggregates(server):
    client = LocalClient(server.operations)
    recorder = EventRecorder(client, "test")
    obj = await client.create(CONFIGMAPS, {"metadata": {"name": "subject"}}, "default")
    for _ in range(5):
        recorder.event(obj, "Normal", "Poked", "poked once")
    await recorder.flush()
    events = (await client.list(EVENTS, "default", field_selector="involvedObject.name=subject"))["items"]
    assert len(events) == 1 and events[0]["count"] == 5 and events[0]["reason"] == "Poked"
    for i in range(15):
        recorder.event(obj, "Warning", "Failing", f"attempt {i}")
    await recorder.flush()
    events = (await client.list(EVENTS, "default", field_selector="reason=Failing"))["items"]
    assert len(events) == 11  # ten distinct messages, then one combined event
    assert any(e["message"].startswith("(combined from similar events)") and e["count"] == 5 for e in events)
    for i in range(30):
        recorder.event(obj, "Normal", f"Flood{i}", "x")
    assert recorder.dropped > 0  # the per-object bucket (burst 25) is exhausted


async def test_workqueue_semantics():
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2  # deduplicated
    key = await queue.get()
    assert key == "a"
    queue.add("a")  # added while processing: not handed to another worker now
    assert len(queue) == 1 and await queue.get() == "b"
    queue.done("a")
    assert len(queue) == 1  # re-queued when done
    assert await queue.get() == "a"
    queue.done("a")
    queue.done("b")
    queue.add_rate_limited("c")
    queue.add_rate_limited("c")
    assert queue.num_requeues("c") == 2 and len(queue) == 0
    await clock.advance(0.005)
    assert len(queue) == 1
    queue.forget("c")
    assert queue.num_requeues("c") == 0
    queue.add_after("d", 10)
    queue.add_after("d", 5)  # the earlier one wins
    await clock.advance(5)
    assert "d" in [await queue.get(), await queue.get()]
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    assert await getter is None


async def test_metadata_only_lists_and_watches(client):
    await client.create(CONFIGMAPS, {"metadata": {"name": "meta", "labels": {"a": "b"}}, "data": {"big": "x" * 100}},
                        "default")
    listed = await client.list(CONFIGMAPS, "default", metadata_only=True)
    item = next(i for i in listed["items"] if i["metadata"]["name"] == "meta")
    assert set(item) == {"apiVersion", "kind", "metadata"} and item["kind"] == "ConfigMap"
    assert item["metadata"]["labels"] == {"a": "b"}
    await client.patch(CONFIGMAPS, "meta", {"data": {"x": "y"}}, "default")
    events = []
    async for event in client.watch(CONFIGMAPS, "default", resource_version=listed["metadata"]["resourceVersion"],
                                    timeout_seconds=2, metadata_only=True):
        if event.type != "BOOKMARK":
            events.append(event)
            break
    assert events and events[0].type == "MODIFIED"
    assert set(events[0].object) == {"apiVersion", "kind", "metadata"} and events[0].object["kind"] == "ConfigMap"
