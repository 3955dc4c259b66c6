"""Peer: asyncio, as a Python user writes actors without a library: one task
per actor and an asyncio.Queue as its mailbox."""
from __future__ import annotations

import asyncio
import time

from benchmarks.measure import Sample, check_order, main, rss_bytes


async def _settle() -> None:
    """Let freshly created tasks run up to their first wait."""
    for _ in range(3):
        await asyncio.sleep(0)


async def pingpong(n: int) -> Sample:
    pong_inbox: asyncio.Queue = asyncio.Queue()
    ping_inbox: asyncio.Queue = asyncio.Queue()

    async def pong():
        while True:
            await ping_inbox.put(await pong_inbox.get())

    ponger = asyncio.create_task(pong())
    t0 = time.perf_counter()
    for i in range(n):
        await pong_inbox.put(i)
        await ping_inbox.get()
    elapsed = time.perf_counter() - t0
    ponger.cancel()
    return Sample(2 * n, elapsed, n)


async def pingpong_inbox(n: int) -> Sample:
    """Ping-pong with the sender in each message, as an actor mailbox holds
    it: `(reply_to, {"seq": i})`; the replies are checked in order."""
    pong_inbox: asyncio.Queue = asyncio.Queue()
    ping_inbox: asyncio.Queue = asyncio.Queue()

    async def pong():
        while True:
            reply_to, data = await pong_inbox.get()
            await reply_to.put((pong_inbox, data))

    ponger = asyncio.create_task(pong())
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        await pong_inbox.put((ping_inbox, {"seq": i}))
        _, data = await ping_inbox.get()
        check_order(i, data)
    elapsed = time.perf_counter() - t0
    ponger.cancel()
    return Sample(2 * n, elapsed, n)


async def ring(n: int, actors: int) -> Sample:
    boxes = [asyncio.Queue() for _ in range(actors)]
    done = asyncio.Event()

    async def node(inbox, next_box):
        while True:
            token = await inbox.get()
            if token == 0:
                done.set()
            else:
                await next_box.put(token - 1)

    tasks = [asyncio.create_task(node(box, boxes[(i + 1) % actors]))
             for i, box in enumerate(boxes)]
    await _settle()
    t0 = time.perf_counter()
    await boxes[0].put(n)
    await done.wait()
    elapsed = time.perf_counter() - t0
    for t in tasks:
        t.cancel()
    return Sample(n, elapsed, n)


async def fanin(n: int, senders: int) -> Sample:
    per_sender = n // senders
    sink: asyncio.Queue = asyncio.Queue()

    async def sender():
        for i in range(per_sender):
            await sink.put(i)

    total = per_sender * senders
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(sender()) for _ in range(senders)]
    for _ in range(total):
        await sink.get()
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*tasks)
    return Sample(total, elapsed, total)


async def _skynet(parent: asyncio.Queue, num: int, size: int) -> None:
    if size == 1:
        await parent.put(num)
        return
    size //= 10
    inbox: asyncio.Queue = asyncio.Queue()
    # held in a variable: the event loop keeps only weak references to tasks
    children = [asyncio.create_task(_skynet(inbox, num + i * size, size)) for i in range(10)]  # noqa: F841
    total = 0
    for _ in range(10):
        total += await inbox.get()
    await parent.put(total)


async def skynet(n: int) -> Sample:
    inbox: asyncio.Queue = asyncio.Queue()
    t0 = time.perf_counter()
    root = asyncio.create_task(_skynet(inbox, 0, n))
    total = await inbox.get()
    elapsed = time.perf_counter() - t0
    await root
    assert total == n * (n - 1) // 2, total
    return Sample(n, elapsed, n)


async def spawn(n: int) -> Sample:
    inbox: asyncio.Queue = asyncio.Queue()

    async def child():
        await inbox.put(None)

    t0 = time.perf_counter()
    children = [asyncio.create_task(child()) for _ in range(n)]
    for _ in range(n):
        await inbox.get()
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*children)
    return Sample(n, elapsed, n)


async def idle_memory(n: int) -> Sample:
    async def idle(inbox):
        await inbox.get()

    base = rss_bytes()
    t0 = time.perf_counter()
    boxes = [asyncio.Queue() for _ in range(n)]
    tasks = [asyncio.create_task(idle(box)) for box in boxes]
    await _settle()
    elapsed = time.perf_counter() - t0
    grown = rss_bytes() - base
    for t in tasks:
        t.cancel()
    return Sample(grown, elapsed, n)


RUNNERS = {"pingpong": pingpong, "pingpong_inbox": pingpong_inbox, "ring": ring, "fanin": fanin,
           "skynet": skynet, "spawn": spawn, "idle_memory": idle_memory}

if __name__ == "__main__":
    main("asyncio", RUNNERS, drive=lambda f: asyncio.run(f()))
