"""host.max_mailbox: a process's inbox and topic channels hold a bounded
number of messages, so no flood can run the node out of memory.

A send past the bound fails for its sender with RateLimited (``nil, err``
from process.send, ActorError from Python) when the sender is on the
receiver's worker; a message from another worker or another host, whose
sender cannot be told at once, is dropped. Either way the host counts it
(luactor_messages_refused) and logs it once per receiver.
"""

import logging

import pytest
import trio
from hostile import attack, build_hostile_app

from actors import ActorError, Node

# Waits on its events (which do not count), never reading its mailboxes.
SLEEPER = 'process.listen("t") process.events():receive()'

# Sends `count` messages to `target`, alternating between `topics`; says how
# many went, the first refusal, and how many more were refused after it.
# (`target` comes last: the harness adds it, from setup, after the others.)
FLOOD = """
  local topics, count, target = ...
  local sent, first, refused = 0, nil, 0
  for i = 1, count do
    local ok, e = process.send(target, topics[i % #topics + 1], i)
    if ok then
      sent = sent + 1
    elseif first then
      refused = refused + 1
    else
      first = { kind = e:kind(), message = e:message() }
    end
  end
  return { sent = sent, first = first, refused = refused }
"""

# Reads what it is told to, when told on its events (process.cancel with a
# table): `{read = n, topic = t, listen = t, reply = pid}`; any other cancel
# (the node's, at shutdown) ends it.
READER = """
  local channels = {}
  local inbox, events = process.inbox(), process.events()
  while true do
    local command = events:receive().reason
    if type(command) ~= "table" then return end
    if command.listen then channels[command.listen] = process.listen(command.listen) end
    local from = command.topic and channels[command.topic] or inbox
    local got = {}
    for i = 1, command.read or 0 do
      local v = from:receive()
      got[i] = command.topic and v or v:payload():data()
    end
    process.send(command.reply, "done", got)
  end
"""


def build(app, **host):
    build_hostile_app(app)
    app.entries[0]["host"].update(host)
    app.body("sleeper", SLEEPER)
    app.body("reader", READER)
    app.body("flood", FLOOD)
    return app


# The flood on the host's first worker, where the sleeper is too (the spawn
# option `worker`): a sender on the receiver's worker is told at once.
FLOOD_ON_WORKER_1 = 'return assert(process.with_options({ worker = 1 }):exec("test:flood", "test:host", ...))'


async def sleeper_on_worker_1(node):
    return (await node.spawn("test:sleeper", "test:host", options={"worker": 1}),)


async def test_a_flood_stops_at_the_bound_and_its_sender_is_told(app, caplog):
    caplog.set_level(logging.WARNING, logger="luactor")
    outcome = await attack(build(app), FLOOD_ON_WORKER_1, ["x"], 101_000, setup=sleeper_on_worker_1)
    assert outcome.value["sent"] == 100_000
    assert outcome.value["first"]["kind"] == "RateLimited"
    assert outcome.value["first"]["message"].endswith("is full (100000 messages waiting, host.max_mailbox)")
    assert outcome.value["refused"] == 999
    assert sum("mailbox full" in r.getMessage() for r in caplog.records) == 1


async def test_the_inbox_and_the_topic_channels_count_together(app):
    outcome = await attack(build(app), FLOOD_ON_WORKER_1, ["x", "t"], 100_001, setup=sleeper_on_worker_1)
    assert outcome.value["sent"] == 100_000
    assert outcome.value["first"]["kind"] == "RateLimited"


async def reader_does(node, pid, **command):
    async with node.mailbox() as me:
        await node.cancel(pid, {**command, "reply": me.pid})
        with trio.fail_after(10):
            return (await me.receive()).payload


async def test_python_is_refused_and_reading_makes_room(app):
    build(app, max_mailbox=3)
    async with Node.open(app.root) as node:
        reader = await node.spawn("test:reader", app.host)
        for i in range(3):
            await node.send(reader, "x", i)
        with pytest.raises(ActorError) as refusal:
            await node.send(reader, "x", 3)
        assert refusal.value.kind == "RateLimited"
        assert node.router.host(app.host).stats()["refused"] == 1
        assert await reader_does(node, reader, read=2) == [0, 1]
        await node.send(reader, "x", 3)
        await node.send(reader, "x", 4)
        assert await reader_does(node, reader, read=3) == [2, 3, 4]


async def test_messages_moved_by_a_late_listen_still_count(app):
    build(app, max_mailbox=3)
    async with Node.open(app.root) as node:
        reader = await node.spawn("test:reader", app.host)
        for i in range(3):
            await node.send(reader, "late", i)
        assert await reader_does(node, reader, listen="late") == {}  # (nothing read: an empty table)
        with pytest.raises(ActorError):
            await node.send(reader, "x", "one too many")
        assert await reader_does(node, reader, topic="late", read=1) == [0]
        await node.send(reader, "x", "room for one")


async def test_a_flood_from_another_host_is_dropped_and_counted(app):
    build(app, max_mailbox=10)
    async with Node.open(app.root) as node:
        reader = await node.spawn("test:reader", app.host)
        result = await node.exec("test:flood", "test:other", ["x"], 25, reader)
        assert result == {"sent": 25, "refused": 0}  # (sent from another host: it cannot be told)
        # its messages were routed before its end was: all counted by now
        assert node.router.host(app.host).stats()["refused"] == 15
        assert await reader_does(node, reader, read=10) == list(range(1, 11))


async def test_a_flood_from_another_worker_is_dropped_counted_and_logged_once(app, caplog):
    caplog.set_level(logging.WARNING, logger="luactor")
    build(app, max_mailbox=10, workers=2)
    app.body("flood_from_worker_2",
             'return assert(process.with_options({ worker = 2 }):exec("test:flood", "test:host", ...))')
    async with Node.open(app.root) as node:
        reader = await node.spawn("test:reader", app.host, options={"worker": 1})
        result = await node.exec("test:flood_from_worker_2", app.host, ["x"], 25, reader)
        assert result == {"sent": 25, "refused": 0}  # (sent from another worker: it cannot be told)
        assert await reader_does(node, reader, read=10) == list(range(1, 11))
        # (the batch reached the reader's worker before the command to read did)
        assert node.router.host(app.host).stats()["refused"] == 15
        assert sum("mailbox full" in r.getMessage() for r in caplog.records) == 1


async def test_max_mailbox_zero_turns_the_bound_off(app):
    outcome = await attack(build(app, max_mailbox=0), FLOOD_ON_WORKER_1, ["x"], 100_001, setup=sleeper_on_worker_1)
    assert outcome.value == {"sent": 100_001, "refused": 0}
