"""host.snapshot(): every process as plain data, read raw, sorted as the observer asks."""

from __future__ import annotations

import pytest

from actors import ActorError, Node
from actors.registry import RegistryError

PROCESSES = """
local function sink(n)                  -- gets messages it never reads
  process.listen("jobs")
  process.registry.register("the_sink")
  process.listen("never"):receive()
end

local function busy(n, python)          -- sends and receives: reductions, over many turns
  local inbox = process.inbox()
  for i = 1, n do
    process.send(process.pid(), "self", i)
    inbox:receive()
  end
  process.send(python, "done", n)
  process.listen("never"):receive()
end

local function watcher(target)
  process.monitor(target)
  process.link(target)
  process.set_options({ trap_links = true })
  process.listen("never"):receive()
end

return { sink = sink, busy = busy, watcher = watcher }
"""


async def test_rows_have_depths_reductions_relationships_names_and_where_they_wait(app):
    app.lua("sink", PROCESSES, method="sink")
    for method in ("busy", "watcher"):
        app.entry(name=method, kind="process.lua", source="file://sink.lua", method=method)
    async with Node.open(app.root) as node, node.mailbox() as me:
        sink = await node.spawn("test:sink", app.host)
        busy = await node.spawn("test:busy", app.host, 100_000, me.pid)
        watcher = await node.spawn("test:watcher", app.host, sink)
        for i in range(5):
            await node.send(sink, "jobs", {"payload": "x" * 1000, "i": i})
        await node.send(sink, "other", "hello")
        assert (await me.receive()).topic == "done"   # (on another worker's thread, busy runs at its own pace)
        host = node.router.hosts[app.host]
        by_mailbox = host.snapshot(sort="mailbox")
        by_reductions = host.snapshot(sort="reductions", limit=1)
        only = host.snapshot(pid=sink)
        missing = host.snapshot(pid=sink[:-2] + "99}")
        watcher_row = host.snapshot(pid=watcher)["processes"][0]
    assert by_mailbox["total"] == 3 and by_mailbox["processes"][0]["pid"] == sink
    row = only["processes"][0]
    assert row["mailbox"] == 6 and row["topics"] == {"jobs": 5, "never": 0} and row["inbox"] == 1
    assert row["names"] == ["the_sink"]
    assert row["monitors"] == [watcher] and row["links"] == [watcher]
    assert row["status"] == "waiting" and row["function"] == "function <app/sink.lua:2> (app/sink.lua:5)"
    assert row["memory"] > 5 * 1000      # the queued payloads count
    assert by_reductions["total"] == 3 and [p["pid"] for p in by_reductions["processes"]] == [busy]
    assert by_reductions["processes"][0]["reductions"] % 64 == 0       # sampled: a turn counts 64 times
    assert watcher_row["trap_links"] is True and watcher_row["links"] == [sink]
    assert missing == {"total": 0, "processes": []}


HOSTILE = """
local function main(peer)
  local trap = setmetatable({}, {
    __index = function() error("index ran") end,
    __pairs = function() error("pairs ran") end,
    __len = function() error("len ran") end,
  })
  process.send(peer, "box", { trap = trap, deep = { { { { { {} } } } } } })
  process.listen("never"):receive()
end
return { main = main }
"""


async def test_a_snapshot_runs_no_process_code(app):
    app.lua("hostile", HOSTILE)
    app.lua("sink", PROCESSES, method="sink")
    async with Node.open(app.root) as node:
        sink = await node.spawn("test:sink", app.host)
        await node.spawn("test:hostile", app.host, sink)
        async with node.mailbox() as me:
            await node.send(sink, "box", {"n": 1})
            await me.send(sink, "box", {"n": 2})
        rows = node.router.hosts[app.host].snapshot(sort="memory")["processes"]
    assert rows[0]["pid"] == sink


async def test_a_bad_sort_is_named(app):
    app.lua("sink", PROCESSES, method="sink")
    async with Node.open(app.root) as node:
        with pytest.raises(ValueError, match="sort must be one of mailbox, reductions, memory, pid, got 'size'"):
            node.router.hosts[app.host].snapshot(sort="size")


async def test_a_node_observe_entry_with_a_bad_address_is_a_registry_problem(app):
    app.entry(name="observe", kind="node.observe", metrics="all of them")
    with pytest.raises(RegistryError, match="field 'metrics': the address must be HOST:PORT .* got 'all of them'"):
        async with Node.open(app.root):
            pass


async def test_two_node_observe_entries_are_refused(app):
    app.entry(name="one", kind="node.observe", metrics="127.0.0.1:0")
    app.entry(name="two", kind="node.observe", observer="127.0.0.1:0")
    with pytest.raises(ActorError, match="at most one node.observe entry, found test:one, test:two"):
        async with Node.open(app.root):
            pass
