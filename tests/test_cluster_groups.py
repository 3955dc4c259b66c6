"""Process groups (the pg module, pg.scope entries): on a node alone, and across two nodes."""

from __future__ import annotations

import trio
from cluster_nodes import alpha_and_beta, receive

from actors import Node

MEMBER = """
return { main = function(groups, times, reply_to)
  local pg = require("pg")
  local scope = assert(pg.open("test:pg"))
  for _ = 1, times do assert(scope:join(groups)) end
  process.send(reply_to, "joined", process.pid())
  local tasks, events = process.listen("task", { message = true }), process.events()
  while true do
    local r = channel.select({ tasks:case_receive(), events:case_receive() })
    if r.channel == events then return end
    process.send(reply_to, "got", { pid = process.pid(), from = r.value:from(), payload = r.value:payload():data() })
  end
end }
"""

WATCHER = """
return { main = function(group, reply_to)
  local pg = require("pg")
  local scope = assert(pg.open("test:pg"))
  local sub, members, err = scope:monitor(group)
  process.send(reply_to, "snapshot", members)
  local ch, events = sub:channel(), process.events()
  while true do
    local r = channel.select({ ch:case_receive(), events:case_receive() })
    if r.channel == events then return end
    process.send(reply_to, "event", r.value)
  end
end }
"""

ASK = """
return { main = function(what, ...)
  local pg = require("pg")
  local scope = assert(pg.open("test:pg"))
  return (scope[what](scope, ...))
end }
"""

BAD = """
return { main = function()
  local pg = require("pg")
  local out = {}
  local function kind(v, e) return e and e:kind() or v end
  local sly = setmetatable({}, { __tostring = function() error("ran") end, __len = function() error("ran") end,
    __index = function() error("ran") end })
  out[1] = kind(pg.open("test:nope"))
  out[2] = kind(pg.open(sly))
  local scope = assert(pg.open("test:pg"))
  out[3] = kind(scope:leave("never-joined"))
  out[4] = kind(scope:join(sly))
  out[5] = kind(scope:join({}))
  out[6] = kind(scope:join({ "ok", 7 }))
  out[7] = kind(scope:broadcast("g", "@reserved", 1))
  out[8] = kind(scope:broadcast("g", "t", function() end))
  out[9] = kind(scope.join(sly, "g"))
  local _, _, e = scope:monitor(sly)
  out[10] = e and e:kind()
  scope:release()
  out[11] = kind(scope:join("g"))
  return out
end }
"""

# What BAD's calls give: no such scope, then bad arguments and a released instance.
BAD_KINDS = ["Internal"] + ["Invalid"] * 10


def add_group_entries(app) -> None:
    app.entry(name="pg", kind="pg.scope", lifecycle={"auto_start": True})
    app.lua("member", MEMBER, modules=["pg"])
    app.lua("watcher", WATCHER, modules=["pg"])
    app.lua("ask", ASK, modules=["pg"])
    app.lua("bad", BAD, modules=["pg"])


async def ask(node, host, what, *args):
    return await node.exec("test:ask", host, what, *args)


async def test_a_node_alone_keeps_its_groups(app):
    """Without a cluster a node is a cluster of one: every call works on its own members."""
    add_group_entries(app)
    async with Node.open(app.root) as node, node.mailbox() as events, node.mailbox() as me:
        await node.spawn("test:watcher", app.host, "workers", events.pid)
        assert (await receive(events)).payload == {}
        first = await node.spawn("test:member", app.host, ["workers", "all"], 1, me.pid)
        assert (await receive(me)).payload == first
        second = await node.spawn("test:member", app.host, "workers", 2, me.pid)
        assert (await receive(me)).payload == second
        seen = [(await receive(events)).payload for _ in range(3)]
        assert [e["data"]["PIDs"] for e in seen] == [[first], [second], [second]]
        assert all(e["kind"] == "member.joined" and e["path"] == "workers" for e in seen)
        for what in ("get_members", "get_local_members"):
            assert sorted(await ask(node, app.host, what, "workers")) == sorted([first, second, second])
        assert await ask(node, app.host, "which_groups") == ["all", "workers"]
        assert await ask(node, app.host, "which_local_groups") == ["all", "workers"]

        assert await ask(node, app.host, "broadcast", "workers", "task", {"id": 42}) is True
        got = [(await receive(me)).payload for _ in range(2)]
        assert sorted(g["pid"] for g in got) == sorted([first, second])  # each member once
        assert all(g["payload"] == {"id": 42} for g in got)

        await node.terminate(second)  # its end is its leave, as often as it joined
        left = (await receive(events)).payload
        assert left["kind"] == "member.left" and left["data"]["PIDs"] == [second, second]
        assert await ask(node, app.host, "get_members", "workers") == [first]


async def test_bad_arguments_and_missing_scopes_on_a_node_alone(app):
    add_group_entries(app)
    async with Node.open(app.root) as node:
        assert await node.exec("test:bad", app.host) == BAD_KINDS


async def test_groups_join_broadcast_monitor_across_nodes(cluster_app, nats_server):
    add_group_entries(cluster_app)
    async with alpha_and_beta(cluster_app, nats_server) as (node, beta, _), \
            node.mailbox() as events, node.mailbox() as me:
        await node.spawn("test:watcher", cluster_app.host, "workers", events.pid)
        assert (await receive(events)).payload == {}   # no members yet (an empty list crosses as {})
        await node.spawn("test:member", "beta@test:host", ["workers", "all"], 1, me.pid)
        there = (await receive(me)).payload
        await node.spawn("test:member", cluster_app.host, "workers", 2, me.pid)
        here = (await receive(me)).payload
        seen = [(await receive(events)).payload for _ in range(3)]
        assert sorted(e["data"]["PIDs"][0] for e in seen) == sorted([there, here, here])
        assert all(e["kind"] == "member.joined" and e["path"] == "workers" and e["system"] == "pg" for e in seen)

        async def members_are(host, what, expected):
            with trio.fail_after(10):
                while sorted(await ask(node, host, what, "workers") or []) != sorted(expected):  # noqa: ASYNC110
                    await trio.sleep(0.02)
        await members_are(cluster_app.host, "get_members", [there, here, here])
        await members_are("beta@test:host", "get_members", [there, here, here])
        await members_are(cluster_app.host, "get_local_members", [here, here])
        assert await ask(node, cluster_app.host, "which_groups") == ["all", "workers"]
        assert await ask(node, cluster_app.host, "which_local_groups") == ["workers"]

        # broadcast: every member once, from the caller; broadcast_local: this node's only
        assert await ask(node, cluster_app.host, "broadcast", "workers", "task", {"id": 42}) is True
        got = sorted([(await receive(me)).payload for _ in range(2)], key=lambda g: g["pid"] == here)
        assert [g["pid"] for g in got] == [there, here]
        assert all(g["payload"] == {"id": 42} for g in got)
        assert await ask(node, cluster_app.host, "broadcast_local", "workers", "task", "only here") is True
        assert (await receive(me)).payload["pid"] == here

        # the other node goes down: its members leave
        beta.process.kill()
        left = (await receive(events)).payload
        assert left["kind"] == "member.left" and left["data"]["PIDs"] == [there]
        await members_are(cluster_app.host, "get_members", [here, here])


async def test_bad_arguments_and_missing_scopes(cluster_app, nats_server):
    add_group_entries(cluster_app)
    async with Node.open(cluster_app.root, node="alpha", cluster=nats_server.url) as node:
        assert await node.exec("test:bad", cluster_app.host) == BAD_KINDS


async def test_a_members_end_is_its_leave(cluster_app, nats_server):
    add_group_entries(cluster_app)
    async with Node.open(cluster_app.root, node="alpha", cluster=nats_server.url) as node, node.mailbox() as me:
        member = await node.spawn("test:member", cluster_app.host, "g", 3, me.pid)
        await receive(me)
        assert await ask(node, cluster_app.host, "get_members", "g") == [member] * 3
        await node.terminate(member)
        with trio.fail_after(5):
            while await ask(node, cluster_app.host, "get_members", "g"):  # noqa: ASYNC110
                await trio.sleep(0.02)
