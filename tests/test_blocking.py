"""BlockingNode: the Node API from plain synchronous code."""

from __future__ import annotations

import threading

import pytest

from actors import ActorError, Node, RegistryError
from actors.blocking import BlockingMailbox, BlockingNode, Timeout

ECHO = """
return { main = function(tag)
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    local data = msg:payload():data()
    if data.stop then return "stopped " .. tag end
    process.send(data.reply_to, "echo", { tag = tag, value = data.value, from = msg:from() })
  end
end }
"""


@pytest.fixture
def echo_app(app):
    app.lua("echo", ECHO)
    app.lua("add", "return { run = function(a, b) return a + b end }", kind="function.lua", method="run")
    app.lua("strict", """
        return { run = function(x)
          if x == nil then error(errors.new({ kind = errors.INVALID, message = "x is required" })) end
          return x
        end }
    """, kind="function.lua", method="run")
    app.lua("via_python", """
        local funcs = require("funcs")
        return { run = function(x) return funcs.call("py:double", x) end }
    """, kind="function.lua", method="run", modules=["funcs"])
    app.lua("waiter", """
        return { main = function(reply_to)
          local event = process.events():receive()
          process.send(reply_to, "event", { kind = event.kind, reason = event.reason })
          return "canceled cleanly"
        end }
    """)
    app.lua("returns", "return { main = function(a) return { got = a } end }")
    return app


@pytest.fixture
def node(echo_app):
    with Node.start_blocking(echo_app.root) as node:
        yield node


def test_call(node):
    assert node.call("test:add", 2, 3) == 5
    assert node.call("test:strict", {"a": [1, 2]}) == {"a": [1, 2]}


def test_call_errors_raise_in_the_caller(node):
    with pytest.raises(ActorError) as raised:
        node.call("test:strict")
    assert (raised.value.kind, raised.value.message) == ("Invalid", "x is required")
    with pytest.raises(ActorError, match="NotFound"):
        node.call("test:nope")


def test_spawn_send_receive(node, echo_app):
    pid = node.spawn("test:echo", echo_app.host, "a")
    with node.mailbox() as me:
        assert isinstance(me, BlockingMailbox)
        me.send(pid, "job", {"reply_to": me.pid, "value": 1})
        node.send(pid, "job", {"reply_to": me.pid, "value": 2})
        first, second = me.receive(timeout=5), me.receive(timeout=5)
    assert (first.topic, first.payload, first.sender) == ("echo", {"tag": "a", "value": 1, "from": me.pid}, pid)
    assert second.payload["value"] == 2 and second.payload["from"] != me.pid


def test_receive_timeout(node):
    with node.mailbox() as me:
        with pytest.raises(Timeout) as raised:
            me.receive(timeout=0.05)
        assert isinstance(raised.value, TimeoutError) and raised.value.kind == "Timeout"
        node.send(me.pid, "late", "now here")
        assert me.receive(timeout=0).payload == "now here"


def test_monitor_and_terminate(node, echo_app):
    pid = node.spawn("test:echo", echo_app.host, "m")
    assert node.process_count(echo_app.host) == 1
    with node.mailbox() as me:
        me.monitor(pid)
        node.terminate(pid)
        exit = me.receive(timeout=5)
    assert (exit.topic, exit.sender) == ("@exit", pid)
    assert exit.payload["result"]["error"]["kind"] == "Canceled"
    assert node.process_count(echo_app.host) == 0


def test_link(node, echo_app):
    pid = node.spawn("test:echo", echo_app.host, "l")
    with node.mailbox() as me:
        me.link(pid)
        node.terminate(pid)
        down = me.receive(timeout=5)
    assert (down.topic, down.sender) == ("@link_down", pid)


def test_cancel_reaches_the_process(node, echo_app):
    with node.mailbox() as me:
        pid = node.spawn("test:waiter", echo_app.host, me.pid)
        me.monitor(pid)
        node.cancel(pid, "enough")
        event = me.receive(timeout=5)
        exit = me.receive(timeout=5)
    assert (event.topic, event.payload) == ("event", {"kind": "CANCEL", "reason": "enough"})
    assert exit.payload["result"] == {"value": "canceled cleanly"}


def test_exec_returns_the_process_result(node, echo_app):
    assert node.exec("test:returns", echo_app.host, 7) == {"got": 7}


def test_names(node, echo_app):
    pid = node.spawn("test:echo", echo_app.host, "named")
    node.register_name("echoer", pid)
    assert node.lookup("echoer") == pid
    other = node.spawn("test:echo", echo_app.host, "other")
    with pytest.raises(ActorError, match="AlreadyExists"):
        node.register_name("echoer", other)
    with node.mailbox(name="me") as me:
        node.send("echoer", "job", {"reply_to": "me", "value": "by name"})
        assert me.receive(timeout=5).payload["value"] == "by name"
    assert node.unregister_name("echoer") is True
    assert node.unregister_name("echoer") is False


def test_register_function_runs_on_the_node(node):
    threads = []

    def double(x):
        threads.append(threading.current_thread())
        return x * 2

    node.register_function("py:double", double)
    assert node.call("py:double", 4) == 8
    assert node.call("test:via_python", 21) == 42
    assert threads and all(thread is not threading.current_thread() for thread in threads)


def test_many_caller_threads(node):
    results = {}

    def work(n):
        results[n] = [node.call("test:add", n, i) for i in range(20)]

    workers = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert results == {n: [n + i for i in range(20)] for n in range(4)}


def test_call_timeout(echo_app):
    echo_app.lua("slow", """
        local time = require("time")
        return { run = function() time.sleep("10s") end }
    """, kind="function.lua", method="run", modules=["time"])
    with BlockingNode(echo_app.root) as fresh, pytest.raises(Timeout, match="test:slow"):
        fresh.call("test:slow", timeout=0.05)


def test_registry_error_raises_in_constructor(tmp_path):
    (tmp_path / "app.yaml").write_text("namespace: bad\nentries:\n  - {name: x, kind: process.magic}\n")
    with pytest.raises(RegistryError, match="unknown kind"):
        BlockingNode(tmp_path)


def test_close_is_idempotent_and_final(echo_app):
    node = BlockingNode(echo_app.root)
    me = node.mailbox()
    node.close()
    node.close()
    me.close()  # after the node: nothing left to do, no error
    assert node.closed
    with pytest.raises(ActorError, match="Unavailable"):
        node.call("test:add", 1, 2)
    with pytest.raises(ActorError, match="Unavailable"):
        me.receive(timeout=0)
