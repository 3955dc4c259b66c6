"""Peer: Pykka, the Python actor library a user would otherwise pick.

Pykka's ThreadingActor is one OS thread per actor, so workloads sized for
green processes (10,000-actor rings, 100,000 idle actors) are capped here and
the cap is printed in the result's note.  Skynet (a million actors) is not
run at all.  Actors talk with `tell`; the Python caller waits on a plain
queue or event, as Pykka users do.
"""
from __future__ import annotations

import queue
import threading
import time

import pykka

from benchmarks.measure import OutOfOrder, Sample, check_order, clamp, main, notes, rss_bytes

THREADS = "one OS thread per Pykka actor"


class Echo(pykka.ThreadingActor):
    def on_receive(self, message):
        sender, payload = message
        sender.tell((self.actor_ref, payload))


class Bouncer(pykka.ThreadingActor):
    """Sends each reply straight back until `n` round trips are done, then
    puts None on `finished`.  With `seq`, each message is `{"seq": i}` and a
    reply out of order stops it with the error on `finished` instead."""

    def __init__(self, n: int, finished: queue.SimpleQueue, seq: bool = False):
        super().__init__()
        self.n, self.finished, self.seq, self.replies = n, finished, seq, 0

    def on_receive(self, message):
        peer, payload = message
        self.replies += 1
        if self.seq:
            try:
                check_order(self.replies, payload)
            except OutOfOrder as exc:
                self.finished.put(exc)
                return
            payload = {"seq": self.replies + 1}
        if self.replies >= self.n:
            self.finished.put(None)
        else:
            peer.tell((self.actor_ref, payload))


def _bounce(n: int, seq: bool) -> Sample:
    n, note = clamp(n, 20_000, THREADS)
    finished: queue.SimpleQueue = queue.SimpleQueue()
    ping, pong = Bouncer.start(n, finished, seq), Echo.start()
    try:
        t0 = time.perf_counter()
        pong.tell((ping, {"seq": 1} if seq else 0))
        failure = finished.get()
        elapsed = time.perf_counter() - t0
        if failure:
            raise failure
        return Sample(2 * n, elapsed, n, note)
    finally:
        pykka.ActorRegistry.stop_all()


def pingpong(n: int) -> Sample:
    return _bounce(n, seq=False)


def pingpong_inbox(n: int) -> Sample:
    """Dict payloads `{"seq": i}` with the sender's ref, replies checked in order."""
    return _bounce(n, seq=True)


class RingNode(pykka.ThreadingActor):
    def __init__(self, ring: list, index: int, done: threading.Event):
        super().__init__()
        self.ring, self.index, self.done = ring, index, done

    def on_receive(self, token):
        if token == 0:
            self.done.set()
        else:
            self.ring[(self.index + 1) % len(self.ring)].tell(token - 1)


def ring(n: int, actors: int) -> Sample:
    actors, note_actors = clamp(actors, 1_000, THREADS, "ring size")
    n, note_n = clamp(n, 50_000, THREADS)
    done = threading.Event()
    nodes: list = []
    nodes.extend(RingNode.start(nodes, i, done) for i in range(actors))
    try:
        t0 = time.perf_counter()
        nodes[0].tell(n)
        done.wait()
        return Sample(n, time.perf_counter() - t0, n,
                      notes(note_actors, note_n))
    finally:
        pykka.ActorRegistry.stop_all()


class Counter(pykka.ThreadingActor):
    def __init__(self, expected: int, done: threading.Event):
        super().__init__()
        self.left, self.done = expected, done

    def on_receive(self, message):
        self.left -= 1
        if self.left == 0:
            self.done.set()


class Sender(pykka.ThreadingActor):
    def on_receive(self, message):
        sink, count = message
        for i in range(count):
            sink.tell(i)


def fanin(n: int, senders: int) -> Sample:
    n, note = clamp(n, 100_000, THREADS)
    per_sender = n // senders
    total = per_sender * senders
    done = threading.Event()
    sink = Counter.start(total, done)
    sources = [Sender.start() for _ in range(senders)]
    try:
        t0 = time.perf_counter()
        for source in sources:
            source.tell((sink, per_sender))
        done.wait()
        return Sample(total, time.perf_counter() - t0, total, note)
    finally:
        pykka.ActorRegistry.stop_all()


class Child(pykka.ThreadingActor):
    """Reports to its parent as soon as it runs; `exit_at_once` then stops it."""

    def __init__(self, parent: queue.SimpleQueue, exit_at_once: bool):
        super().__init__()
        self.parent, self.exit_at_once = parent, exit_at_once

    def on_start(self):
        self.parent.put(None)
        if self.exit_at_once:
            self.stop()


def spawn(n: int) -> Sample:
    n, note = clamp(n, 5_000, THREADS)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    t0 = time.perf_counter()
    for _ in range(n):
        Child.start(inbox, True)
    for _ in range(n):
        inbox.get()
    return Sample(n, time.perf_counter() - t0, n, note)


def idle_memory(n: int) -> Sample:
    n, note = clamp(n, 2_000, THREADS)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    base = rss_bytes()
    t0 = time.perf_counter()
    for _ in range(n):
        Child.start(inbox, False)
    for _ in range(n):
        inbox.get()
    elapsed = time.perf_counter() - t0
    grown = rss_bytes() - base
    pykka.ActorRegistry.stop_all()
    return Sample(grown, elapsed, n, note)


RUNNERS = {"pingpong": pingpong, "pingpong_inbox": pingpong_inbox, "ring": ring, "fanin": fanin,
           "spawn": spawn, "idle_memory": idle_memory}

if __name__ == "__main__":
    main("pykka", RUNNERS)
