"""The web observer over HTTP: pages, 404s, its live streams (and their end), actions, and
``luactor observe STORE`` on a damaged store."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import lmdb
import pytest
import trio
from conftest import LuactorProcess, luactor

from actors import Node
from hosts.history import HistoryStore, WorkflowHeader, event_key


async def until(condition, timeout: float = 5) -> None:
    """Wait for ``condition()``, failing after ``timeout`` seconds."""
    with trio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 (the server and the host expose counts, not events)
            await trio.sleep(0.01)


IDLE = "return { main = function() process.listen('never'):receive() end }"


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """``(event, data)`` of a server-sent event stream, as they arrive."""
    kind, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif not line and data:
            yield kind, "\n".join(data)
            kind, data = "message", []


async def test_pages_and_a_404_for_what_is_not_there(app):
    app.lua("idle", IDLE)
    async with Node.open(app.root, observe="127.0.0.1:0") as node, httpx.AsyncClient() as client:
        pid = await node.spawn("test:idle", app.host)
        base = node.observability.urls["observer"]
        overview = await client.get(base)
        assert overview.status_code == 200 and 'data-view="overview"' in overview.text
        assert 'data-actions="false"' in overview.text
        page = await client.get(f"{base}process/{pid}")
        assert page.status_code == 200 and 'data-view="process"' in page.text
        for path, message in (("process/{luactor@test:host|999}", "no process {luactor@test:host|999} is running"),
                              ("workflow/nope", "no workflow &#x27;nope&#x27; in the store"),
                              ("nothing/here", "nothing at /nothing/here")):
            missing = await client.get(base + path)
            assert missing.status_code == 404, path
            assert message in missing.text and "Traceback" not in missing.text


async def test_the_stream_sends_the_overview_and_ends_when_the_node_stops(app):
    app.lua("idle", IDLE)
    app.entry(name="svc", kind="process.service", process="test:idle", host=app.host,
              lifecycle={"auto_start": True, "stop_timeout": "100ms"})
    received: list[tuple[str, dict]] = []
    got_first = trio.Event()

    async def read(client: httpx.AsyncClient, url: str) -> None:
        async with client.stream("GET", url) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for kind, data in events(response):
                received.append((kind, json.loads(data)))
                got_first.set()

    with trio.fail_after(10):
        async with httpx.AsyncClient(timeout=10) as client, trio.open_nursery() as nursery:  # noqa: SIM117
            async with Node.open(app.root, observe="127.0.0.1:0") as node:     # (the reader outlives the node)
                nursery.start_soon(read, client, node.observability.urls["observer"] + "api/stream?view=overview")
                await got_first.wait()
        # the node closed with the stream open: the stream ended, and the reader with it
    first = received[0][1]
    assert [h["id"] for h in first["hosts"]] == [app.host]
    assert [(s["id"], s["state"]) for s in first["services"]] == [("test:svc", "Running")]
    assert first["processes"]["rows"][0]["entry"] == "test:idle"
    assert received[-1][0] == "stopped"


async def test_a_page_that_goes_away_leaves_no_stream_behind(app):
    app.lua("idle", IDLE)
    async with Node.open(app.root, observe="127.0.0.1:0") as node:
        streams = node.observability.streams
        url = node.observability.urls["observer"] + "api/stream"
        async with httpx.AsyncClient(timeout=10) as client, client.stream("GET", url) as response:
            async for _ in events(response):
                break
            assert streams.open == 1
        # the client hung up mid-stream: the server's generator must end
        await until(lambda: streams.open == 0)


async def test_actions_are_off_unless_asked(app):
    app.lua("idle", IDLE)
    async with Node.open(app.root, observe="127.0.0.1:0") as node, httpx.AsyncClient() as client:
        pid = await node.spawn("test:idle", app.host)
        answer = await client.post(node.observability.urls["observer"] + "api/actions/terminate-process",
                                   json={"pid": pid})
        assert answer.status_code == 403
        assert answer.json() == {"error": "actions are off: start the observer with --observe-actions"}
        assert node.process_count(app.host) == 1


async def test_actions_when_on(app):
    app.lua("idle", IDLE)
    async with Node.open(app.root, observe="127.0.0.1:0", observe_actions=True) as node, httpx.AsyncClient() as client:
        pid = await node.spawn("test:idle", app.host)
        base = node.observability.urls["observer"] + "api/actions/"
        assert (await client.post(base + "terminate-process", json={"pid": pid})).json() == {"ok": True}
        await until(lambda: node.process_count(app.host) == 0)
        unknown = await client.post(base + "terminate-workflow", json={"id": "nope"})
        assert unknown.status_code == 404 and unknown.json() == {"error": "no workflow 'nope'"}
        bad = await client.post(base + "send", json={"dest": pid})
        assert bad.status_code == 400 and "topic" in bad.json()["error"]


T0 = 1_760_000_000_000_000_000


def damaged_store(path: Path) -> Path:
    with HistoryStore.open(path) as store:
        batch = store.batch()
        for workflow_id in ("order-1", "order-2"):
            batch.put_header(WorkflowHeader(id=workflow_id, entry="shop:order", status="running", input=[1],
                                            parent=None, created_ns=T0, updated_ns=T0))
            batch.append(workflow_id, {"type": "started", "ts": T0})
            batch.append(workflow_id, {"type": "call", "ts": T0 + 1, "fn": "shop:reserve"})
        store.commit(batch)
    env = lmdb.open(str(path), max_dbs=4)
    with env.begin(write=True) as txn:
        txn.put(event_key("order-1", 1), b"\xc1", db=env.open_db(b"events", txn=txn))
        txn.put(b"order-2", b"\x01", db=env.open_db(b"workflows", txn=txn))
    env.close()
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_observe_a_damaged_store_names_the_records(tmp_path):
    store = damaged_store(tmp_path / "store")
    port = free_port()
    with LuactorProcess("observe", store, "--address", f"127.0.0.1:{port}") as observer:
        await trio.to_thread.run_sync(observer.wait_for, f"on http://127.0.0.1:{port}/")
        assert "read-only" in observer.seen[-1]
        base = f"http://127.0.0.1:{port}/"
        async with httpx.AsyncClient(timeout=10) as client:
            assert (await client.get(base + "workflow/order-1")).status_code == 200
            assert (await client.get(base + "workflow/order-9")).status_code == 404
            overview = await first_event(client, base + "api/stream?view=overview")
            history = (await first_event(client, base + "api/stream?view=workflow&key=order-1"))["workflow"]
    assert [w["id"] for w in overview["workflows"]["matches"]] == ["order-1"]
    assert overview["hosts"] == [] and overview["services"] == []
    [damaged] = overview["workflows"]["damaged"]
    assert "corrupt record" in damaged and "database 'workflows', workflow 'order-2'" in damaged
    assert [event["seq"] for event in history["events"]] == [0]
    assert "database 'events', workflow 'order-1' seq 1" in history["damaged"]


async def first_event(client: httpx.AsyncClient, url: str) -> dict:
    async with client.stream("GET", url) as response:
        async for _, data in events(response):
            return json.loads(data)
    raise AssertionError(f"{url}: the stream ended without an event")


def test_observe_a_missing_store_is_one_line(tmp_path):
    done = luactor("observe", tmp_path / "none")
    assert done.returncode == 2
    assert done.stderr == f"error: no workflow store at {tmp_path / 'none'}: the directory does not exist\n"


@pytest.mark.parametrize("address", ["127.0.0.1:99999", "nowhere"])
def test_observe_a_bad_address(tmp_path, address):
    done = luactor("observe", damaged_store(tmp_path / "store"), "--address", address)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: observer address must be HOST:PORT (a port from 0 to 65535), got {address!r}"
