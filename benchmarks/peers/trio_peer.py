"""Peer: trio, written the way a trio user writes actors by hand: one task per
actor and an unbounded memory channel as its mailbox."""
from __future__ import annotations

import math
import time

import trio
import trio.testing

from benchmarks.measure import Sample, check_order, main, rss_bytes


def mailbox():
    return trio.open_memory_channel(math.inf)


async def pingpong(n: int) -> Sample:
    to_pong, pong_inbox = mailbox()
    to_ping, ping_inbox = mailbox()

    async def pong():
        async for msg in pong_inbox:
            await to_ping.send(msg)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pong)
        t0 = time.perf_counter()
        for i in range(n):
            await to_pong.send(i)
            await ping_inbox.receive()
        elapsed = time.perf_counter() - t0
        await to_pong.aclose()
    return Sample(2 * n, elapsed, n)


async def pingpong_inbox(n: int) -> Sample:
    """Ping-pong with the sender in each message, as an actor mailbox holds
    it: `(reply_to, {"seq": i})`; the replies are checked in order."""
    to_pong, pong_inbox = mailbox()
    to_ping, ping_inbox = mailbox()

    async def pong():
        async for reply_to, data in pong_inbox:
            await reply_to.send((to_pong, data))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(pong)
        t0 = time.perf_counter()
        for i in range(1, n + 1):
            await to_pong.send((to_ping, {"seq": i}))
            _, data = await ping_inbox.receive()
            check_order(i, data)
        elapsed = time.perf_counter() - t0
        await to_pong.aclose()
    return Sample(2 * n, elapsed, n)


async def ring(n: int, actors: int) -> Sample:
    boxes = [mailbox() for _ in range(actors)]
    done = trio.Event()

    async def node(inbox, next_box):
        async for token in inbox:
            if token == 0:
                done.set()
            else:
                await next_box.send(token - 1)

    async with trio.open_nursery() as nursery:
        for i, (_, inbox) in enumerate(boxes):
            nursery.start_soon(node, inbox, boxes[(i + 1) % actors][0])
        await trio.testing.wait_all_tasks_blocked()
        t0 = time.perf_counter()
        await boxes[0][0].send(n)
        await done.wait()
        elapsed = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    return Sample(n, elapsed, n)


async def fanin(n: int, senders: int) -> Sample:
    per_sender = n // senders
    to_sink, sink = mailbox()

    async def sender(out):
        async with out:
            for i in range(per_sender):
                await out.send(i)

    received = 0
    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        async with to_sink:
            for _ in range(senders):
                nursery.start_soon(sender, to_sink.clone())
        async for _ in sink:
            received += 1
    elapsed = time.perf_counter() - t0
    assert received == per_sender * senders
    return Sample(received, elapsed, received)


async def _skynet(parent, num: int, size: int) -> None:
    if size == 1:
        await parent.send(num)
        return
    size //= 10
    to_me, inbox = trio.open_memory_channel(10)
    async with trio.open_nursery() as nursery:
        for i in range(10):
            nursery.start_soon(_skynet, to_me, num + i * size, size)
        total = 0
        for _ in range(10):
            total += await inbox.receive()
    await parent.send(total)


async def skynet(n: int) -> Sample:
    to_me, inbox = trio.open_memory_channel(1)
    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_skynet, to_me, 0, n)
        total = await inbox.receive()
    elapsed = time.perf_counter() - t0
    assert total == n * (n - 1) // 2, total
    return Sample(n, elapsed, n)


async def spawn(n: int) -> Sample:
    to_me, inbox = mailbox()

    async def child():
        await to_me.send(None)

    t0 = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(child)
        for _ in range(n):
            await inbox.receive()
    return Sample(n, time.perf_counter() - t0, n)


async def idle_memory(n: int) -> Sample:
    async def idle(inbox):
        await inbox.receive()

    async with trio.open_nursery() as nursery:
        base = rss_bytes()
        t0 = time.perf_counter()
        addresses = []  # an actor is only useful if someone can reach it
        for _ in range(n):
            address, inbox = mailbox()
            addresses.append(address)
            nursery.start_soon(idle, inbox)
        await trio.testing.wait_all_tasks_blocked()
        elapsed = time.perf_counter() - t0
        grown = rss_bytes() - base
        nursery.cancel_scope.cancel()
    return Sample(grown, elapsed, n)


RUNNERS = {"pingpong": pingpong, "pingpong_inbox": pingpong_inbox, "ring": ring, "fanin": fanin,
           "skynet": skynet, "spawn": spawn, "idle_memory": idle_memory}

if __name__ == "__main__":
    main("trio", RUNNERS, drive=trio.run)
