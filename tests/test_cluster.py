"""A cluster of nodes on NATS: joining, messages, spawns, monitors and links,
node down. Nodes run as subprocesses (``luactor run``) beside one in the test
process, against a real NATS server (tests/nats_server.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import trio
from cluster_nodes import alpha_and_beta, receive, wait_until
from conftest import LuactorProcess, luactor
from nats_server import free_port

from actors import ActorError, Node

# -- joining -------------------------------------------------------------------


def test_a_standalone_node_never_imports_nats(app):
    app.lua("hello", "return { main = function() return 1 end }", kind="function.lua")
    code = textwrap.dedent(f"""
        import sys, trio
        from actors import Node
        async def main():
            async with Node.open({str(app.root)!r}) as node:
                assert await node.call("test:hello") == 1
        trio.run(main)
        print(sorted(m for m in sys.modules if m == "nats" or m.startswith("nats.")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


async def test_a_node_joins_and_its_name_is_its_own(cluster_app, nats_server):
    async with Node.open(cluster_app.root, node="alpha", cluster=nats_server.url) as node:
        assert node.pid.startswith("{alpha@python|")
        assert node.cluster.membership.members() == ["alpha"]
        with pytest.raises(ActorError) as refused:
            async with Node.open(cluster_app.root, node="alpha", cluster=nats_server.url):
                pass
        assert refused.value.kind == "AlreadyExists"
        assert "node name 'alpha' is taken" in refused.value.message
        # and from the command line: one line, exit 2
        out = await trio.to_thread.run_sync(lambda: luactor(
            "run", cluster_app.root, "--node", "alpha", "--cluster", nats_server.url))
        assert out.returncode == 2
        assert out.stderr.strip().splitlines()[-1] == (
            f"error: node name 'alpha' is taken: another node of the cluster at {nats_server.url} runs under it")


def test_unreachable_nats_is_one_line_naming_the_url(cluster_app):
    url = f"nats://127.0.0.1:{free_port()}"
    out = luactor("call", cluster_app.root, "test:nothing", "--node", "a", "--cluster", url)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach NATS at {url}: "), out.stderr


def test_environment_names_the_node_and_cluster(cluster_app, nats_server, monkeypatch):
    monkeypatch.setenv("LUACTOR_NODE", "from-env")
    monkeypatch.setenv("LUACTOR_CLUSTER", nats_server.url)
    with LuactorProcess("run", cluster_app.root) as node:
        node.wait_for("echo at {from-env@test:host|")
        node.process.terminate()
        assert node.finish() == 0


def test_bad_node_names_are_refused(cluster_app, nats_server):
    out = luactor("run", cluster_app.root, "--node", "a.b", "--cluster", nats_server.url)
    assert out.returncode == 2
    assert "node name must be 1 to 64 letters, digits, '-' or '_', got 'a.b'" in out.stderr


# -- messages ------------------------------------------------------------------

PINGER = """
return { main = function(dest, n, size)
  local pongs = process.listen("pong")
  local filler = size and string.rep("x", size) or nil
  for i = 1, n do
    local ok, err = process.send(dest, "ping", filler and { i = i, filler = filler } or i)
    if not ok then return { error = tostring(err), kind = err:kind() } end
  end
  local got = {}
  for i = 1, n do got[i] = pongs:receive() end
  return got
end }
"""


async def test_messages_cross_nodes_in_order_and_batched(cluster_app, nats_server):
    cluster_app.lua("pinger", PINGER)
    async with alpha_and_beta(cluster_app, nats_server) as (node, _beta, remote):
        assert remote.startswith("{beta@test:host|")
        # from Python: node.send and a mailbox
        async with node.mailbox() as me:
            for i in range(200):
                await me.send(remote, "ping", {"n": i, "bytes": b"\xff\x00"})
            got = [(await receive(me)).payload for _ in range(200)]
        assert got == [{"n": i, "bytes": b"\xff\x00"} for i in range(200)]
        # from Lua: 1,000 sends in one go leave in a few batches, not one publish each
        before = node.cluster.routing.batches_sent
        assert await node.exec("test:pinger", cluster_app.host, remote, 1000) == list(range(1, 1001))
        assert node.cluster.routing.batches_sent - before < 20


async def test_a_message_too_large_for_nats_is_the_senders_error(cluster_app, nats_server):
    cluster_app.lua("pinger", PINGER)
    async with alpha_and_beta(cluster_app, nats_server) as (node, _beta, remote):
        limit = node.cluster.link.max_payload
        outcome = await node.exec("test:pinger", cluster_app.host, remote, 1, limit + 10)
        assert outcome["kind"] == "Invalid"
        assert f"message to {remote} is " in outcome["error"] and "NATS max_payload" in outcome["error"]
        # just under the limit crosses
        fits = limit - 2048
        assert await node.exec("test:pinger", cluster_app.host, remote, 1, fits) == [{"i": 1, "filler": "x" * fits}]
        # from Python too
        with pytest.raises(ActorError, match="NATS max_payload"):
            await node.send(remote, "ping", "x" * (limit + 10))


HOSTILE_SENDS = """
return { main = function(dest)
  local out = {}
  for _, pid in ipairs({ "{a.b>@h|1}", "{*@h|1}", "{ @h|1}", "{@h|1}", "{" .. string.rep("n", 65) .. "@h|1}" }) do
    local ok, err = process.send(pid, "ping", 1)
    out[#out + 1] = ok and "sent" or err:kind()
    process.monitor(pid)       -- signals to such PIDs go nowhere, and nothing breaks
    process.link(pid)
    process.cancel(pid, "x")
  end
  process.set_options({ trap_links = true })
  local pongs = process.listen("pong")
  process.send(dest, "ping", "still here")
  out[#out + 1] = pongs:receive()
  return out
end }
"""


async def test_pids_of_impossible_nodes_are_refused_and_nothing_breaks(cluster_app, nats_server):
    cluster_app.lua("hostile", HOSTILE_SENDS)
    async with alpha_and_beta(cluster_app, nats_server) as (node, _beta, remote):
        got = await node.exec("test:hostile", cluster_app.host, remote)
        assert got == ["Invalid"] * 5 + ["still here"]
        async with node.mailbox() as me:
            with pytest.raises(ActorError, match="names no node that can exist"):
                await me.send("{a.b>@h|1}", "ping", 1)
            me.monitor("{a.b>@h|1}")
            await me.send(remote, "ping", "after")
            assert (await receive(me)).payload == "after"


# -- spawning on another node, monitors, links, terminate, cancel, exec ---------

REMOTE_WORK = """
local function sleeper() process.listen("never"):receive() end
local function failer(why) process.listen("go"):receive(); error(why) end
local function adder(a, b) return a + b end
local function polite()
  local e = process.events():receive()
  return "canceled: " .. tostring(e.reason) .. " by " .. e.from
end
return { sleeper = sleeper, failer = failer, adder = adder, polite = polite }
"""

BOSS = """
return { main = function(there)
  process.set_options({ trap_links = true })
  local events = process.events()
  local out = {}
  -- spawn_monitored + terminate
  local pid = process.spawn_monitored("test:sleeper", there)
  out.node = pid:match("^{([^@]+)@")
  process.terminate(pid)
  local e = events:receive()
  out.terminated = { kind = e.kind, from_it = e.from == pid, error = e.result.error:kind() }
  -- spawn_linked: its failure is LINK_DOWN here
  pid = process.spawn_linked("test:failer", there, "boom")
  process.send(pid, "go", true)
  e = events:receive()
  out.linked = { kind = e.kind, from_it = e.from == pid, has_boom = tostring(e.reason):find("boom") ~= nil }
  -- monitor after the spawn; cancel reaches the process's events
  pid = process.spawn("test:polite", there)
  process.monitor(pid)
  process.cancel(pid, "enough")
  e = events:receive()
  out.canceled = e.result.value == "canceled: enough by " .. process.pid()
  -- exec
  out.sum = process.exec("test:adder", there, 2, 3)
  local _, err = process.exec("test:adder", there, 2, nil)
  out.exec_error = err and err:kind()
  local _, bad = process.spawn("test:nothing", there)
  out.missing = bad and bad:kind()
  local _, nohost = process.spawn("test:sleeper", "nobody@test:host")
  out.nobody = nohost and nohost:kind()
  return out
end }
"""


async def test_spawn_monitor_link_cancel_terminate_exec_across_nodes(cluster_app, nats_server):
    for name in ("sleeper", "failer", "adder", "polite"):
        cluster_app.lua(name, REMOTE_WORK, method=name)
    cluster_app.lua("boss", BOSS)
    async with alpha_and_beta(cluster_app, nats_server) as (node, _beta, _):
        out = await node.exec("test:boss", cluster_app.host, "beta@test:host")
        assert out == {
            "node": "beta",
            "terminated": {"kind": "EXIT", "from_it": True, "error": "Canceled"},
            "linked": {"kind": "LINK_DOWN", "from_it": True, "has_boom": True},
            "canceled": True, "sum": 5, "exec_error": "Internal", "missing": "NotFound", "nobody": "Unavailable",
        }
        # from Python
        pid = await node.spawn("test:sleeper", "beta@test:host")
        assert pid.startswith("{beta@test:host|")
        async with node.mailbox() as me:
            me.monitor(pid)
            await node.terminate(pid)
            event = (await receive(me)).payload
            assert event["kind"] == "EXIT" and event["from"] == pid
        assert await node.exec("test:adder", "beta@test:host", 20, 22) == 42


# -- node down -------------------------------------------------------------------

LINKER = """
return { main = function(other, reply_to)
  process.link(other)
  process.send(reply_to, "linked", process.pid())  -- in the same batch as the link, after it
  process.listen("never"):receive()
end }
"""

WATCHER = """
return { main = function(there, reply_to)
  process.set_options({ trap_links = true })
  local events = process.events()
  local monitored = process.spawn_monitored("test:sleeper", there)
  local linked = process.spawn_linked("test:sleeper", there)
  local linker = process.spawn("test:linker", there, process.pid(), reply_to)
  process.send(reply_to, "ready", { monitored, linked, linker })
  local seen = {}
  for i = 1, 3 do
    local e = events:receive()
    seen[i] = { kind = e.kind, from = e.from, error = e.result.error:kind(), message = e.result.error:message() }
  end
  return seen
end }
"""


async def test_a_killed_node_fires_every_monitor_and_link_within_the_bound(cluster_app, nats_server):
    cluster_app.lua("sleeper", REMOTE_WORK, method="sleeper")
    cluster_app.lua("linker", LINKER)
    cluster_app.lua("watcher", WATCHER)
    async with alpha_and_beta(cluster_app, nats_server) as (node, beta, _), node.mailbox() as me:
        await wait_until(lambda: node.cluster.membership.is_up("beta"))
        outcome = {}

        async def watch() -> None:
            outcome["seen"] = await node.exec("test:watcher", cluster_app.host, "beta@test:host", me.pid)
            outcome["at"] = trio.current_time()
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                # the watcher's PIDs, and the linker's word that its link is set on this node
                told = {m.topic: m.payload for m in [await receive(me), await receive(me)]}
                monitored, linked, linker = told["ready"]
                assert told["linked"] == linker
                me.monitor(monitored)
                beta.process.kill()   # SIGKILL
                killed = trio.current_time()
        event = (await receive(me)).payload
        assert event["kind"] == "EXIT" and event["from"] == monitored
        assert event["result"]["error"]["kind"] == "Unavailable"
        took = outcome["at"] - killed
        assert took <= 5.0, took
        seen = outcome["seen"]
        assert {(e["kind"], e["from"]) for e in seen} == {
            ("EXIT", monitored), ("LINK_DOWN", linked), ("LINK_DOWN", linker)}
        for e in seen:
            assert e["error"] == "Unavailable"
            assert e["message"].startswith("node beta is down (no heartbeat for 3s)")
        assert not node.cluster.membership.is_up("beta")


SEND_ONCE = """
return { main = function(dest)
  local pongs = process.listen("pong")
  local ok, err = process.send(dest, "ping", "hello")
  if not ok then return { kind = err:kind(), message = err:message() } end
  return pongs:receive()
end }
"""


async def test_a_node_cut_off_from_nats_runs_on_and_its_sends_fail_until_it_reconnects(cluster_app, nats_server):
    cluster_app.lua("send_once", SEND_ONCE)
    cluster_app.lua("adder", REMOTE_WORK, method="adder")
    async with alpha_and_beta(cluster_app, nats_server) as (node, _beta, remote):
        assert await node.exec("test:send_once", cluster_app.host, remote) == "hello"
        nats_server.kill()
        await wait_until(lambda: not node.cluster.link.connected)
        refused = await node.exec("test:send_once", cluster_app.host, remote)
        assert refused == {"kind": "Unavailable",
                           "message": "node alpha is cut off from the cluster (no NATS connection)"}
        assert await node.exec("test:adder", cluster_app.host, 1, 2) == 3  # the node's own work goes on
        with pytest.raises(ActorError, match="cut off"):
            await node.send(remote, "ping", 1)
        nats_server.start()
        await wait_until(lambda: node.cluster.link.connected)
        await wait_until(lambda: node.cluster.membership.is_up("beta"))
        assert await node.exec("test:send_once", cluster_app.host, remote) == "hello"
