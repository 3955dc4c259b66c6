"""system.lock and the system.node / system.cluster views, across two nodes."""

from __future__ import annotations

import trio
from cluster_nodes import alpha_and_beta, receive, wait_until

from actors import Node

LOCKER = """
return { main = function(name, reply_to)
  local system = require("system")
  local ok, err = system.lock.acquire(name)
  process.send(reply_to, "acquired", { ok = ok, kind = err and err:kind(), message = err and err:message() })
  local release = process.listen("release", { message = true })
  local m = release:receive()
  process.send(reply_to, "released", system.lock.release(name))
  process.listen("never"):receive()
end }
"""

VIEWS = """
return { main = function()
  local system = require("system")
  local _, raft_err = system.raft.term()
  local _, bad = system.lock.acquire(setmetatable({}, { __tostring = function() error("ran") end }))
  return { id = system.node.id(), role = system.node.role(), addr = system.node.addr() or false,
    members = system.cluster.members(), size = system.cluster.size(), leader = system.cluster.leader(),
    raft = raft_err:message(), bad = bad:kind() }
end }
"""

ALONE = """
return { main = function()
  local system = require("system")
  local ok, err = system.lock.acquire("x")
  return { members = system.cluster.members(), lock = err:kind(), ok = ok == nil }
end }
"""


def add_entries(app) -> None:
    app.lua("locker", LOCKER, modules=["system"])
    app.lua("views", VIEWS, modules=["system"])
    app.lua("alone", ALONE, modules=["system"])


async def acquire(node, me, host, name) -> tuple[str, dict]:
    pid = await node.spawn("test:locker", host, name, me.pid)
    message = await receive(me)
    assert message.topic == "acquired"
    return pid, message.payload


async def acquired_eventually(node, me, host, name) -> str:
    with trio.fail_after(10):
        while True:
            pid, outcome = await acquire(node, me, host, name)
            if outcome["ok"]:
                return pid
            await node.terminate(pid)
            await trio.sleep(0.05)


async def test_locks_have_one_holder_and_are_released_with_it(cluster_app, nats_server):
    add_entries(cluster_app)
    async with alpha_and_beta(cluster_app, nats_server) as (node, beta, _), node.mailbox() as me:
        holder, outcome = await acquire(node, me, "test:host", "m")
        assert outcome == {"ok": True}
        other, outcome = await acquire(node, me, "beta@test:host", "m")
        assert outcome["ok"] is False and outcome["kind"] == "AlreadyExists"
        assert outcome["message"] == f"lock 'm' is held by {holder}"
        await me.send(other, "release", True)          # not its lock: a no-op
        assert (await receive(me)).payload is False
        await me.send(holder, "release", True)
        assert (await receive(me)).payload is True
        third, outcome = await acquire(node, me, "beta@test:host", "m")
        assert outcome == {"ok": True}
        # its holder's end releases it
        await node.terminate(third)
        await acquired_eventually(node, me, "test:host", "m")
        # and its holder's node going down
        await acquire(node, me, "beta@test:host", "n")
        beta.process.kill()
        killed = trio.current_time()
        await acquired_eventually(node, me, "test:host", "n")
        assert trio.current_time() - killed <= 5.0


async def test_system_views(cluster_app, nats_server):
    add_entries(cluster_app)
    async with alpha_and_beta(cluster_app, nats_server) as (node, _beta, _):
        await wait_until(lambda: node.cluster.membership.is_up("beta"))
        views = await node.exec("test:views", cluster_app.host)
        assert views == {
            "id": "alpha", "role": "non-member", "addr": nats_server.url,
            "members": [{"id": "alpha", "is_local": True}, {"id": "beta", "is_local": False}],
            "size": 2, "leader": "", "raft": "raft not available", "bad": "Invalid",
        }


async def test_a_node_alone_is_a_cluster_of_one_without_locks(cluster_app):
    add_entries(cluster_app)
    async with Node.open(cluster_app.root) as node:
        assert await node.exec("test:alone", cluster_app.host) == {
            "members": [{"id": "luactor", "is_local": True}], "lock": "Unavailable", "ok": True}
