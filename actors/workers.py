"""The workers of one process host: ``host.workers`` Lua states, each with its
own kernel, run queue and timers.

A PID names its worker: worker k (from 0) of N holds the processes whose id
is k modulo N, so routing needs no table. Ids are made without asking
anyone: worker j's m-th allocation for worker k is ``k + N*(j + (N+1)*m)``,
and Python's (for spawns from the node) is the same with j = N. With one
worker ids are simply 1, 2, 3...

What one worker's processes send to another's (messages, lifecycle events,
relationship signals, spawns) leaves the slice as one msgpack string per
target worker (see ``actors/lua/bridge.lua``), which the target applies in
order before its next slice: a Lua table never crosses Lua states.

Under trio's real clock each worker runs in its own OS thread (see
``actors/worker.py``): lupa releases the GIL while Lua runs, so the workers'
slices run in parallel, and a batch goes from one worker's thread to the
other's queue without passing through trio. The commands a slice leaves for
Python are carried out in the trio thread. Under any other clock (trio's
MockClock in tests) every slice runs in the trio thread, in turn: a mock
clock jumps when every task waits, and a worker's thread is no task.

A node in a cluster runs every slice in the trio thread too, for now: a
send to another node calls the cluster's routing during the slice, and that
lives in the trio thread.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import trio

from . import protocol
from .errors import ActorError
from .worker import Worker

if sys.version_info < (3, 11):  # pragma: no cover - trio depends on the backport there
    from exceptiongroup import BaseExceptionGroup

__all__ = ["ENV_WORKERS", "ProcessSlots", "WorkerGroup", "default_workers"]

log = logging.getLogger("luactor")

#: The environment variable that sets ``host.workers`` for hosts that do not set it.
ENV_WORKERS = "LUACTOR_WORKERS"

_PROCESS_ID = re.compile(r"[0-9]{1,18}")  # as process.lua's worker_of reads one


def default_workers() -> int:
    """``host.workers`` of a host that does not set it: ``$LUACTOR_WORKERS``,
    else the number of CPUs this process may run on."""
    value = os.environ.get(ENV_WORKERS, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ActorError("Invalid", f"{ENV_WORKERS} must be a whole number of at least 1, got {value!r}")
        return int(value)
    return len(os.sched_getaffinity(0))


class ProcessSlots:
    """``host.max_processes`` counted for all of a host's workers, which
    claim and release slots from their own threads. Workers take slots in
    blocks (``block``, at most an eighth of the limit over all workers), so
    that a spawn seldom calls Python; a spawn may then be refused while up to
    that eighth sits unused with other workers."""

    def __init__(self, limit: int, workers: int):
        self.limit = limit
        self.block = max(1, min(256, limit // (16 * workers)))
        self._taken = 0
        self._lock = threading.Lock()

    def claim(self, wanted: int = 1) -> int:
        """Up to ``wanted`` slots: how many were granted."""
        with self._lock:
            granted = min(wanted, self.limit - self._taken)
            self._taken += granted
            return granted

    def release(self, count: int = 1) -> None:
        with self._lock:
            self._taken -= count


class WorkerGroup:
    """A host's workers, and where each of its PIDs lives.

    ``make_worker(index, loads, extra_deps, handlers)`` builds worker
    ``index``; the group adds what the workers need to share.
    """

    def __init__(self, count: int, pid_prefix: str, kinds: dict[str, str], max_processes: int | None,
                 make_worker: Callable[..., Worker]):
        self.pid_prefix = pid_prefix
        self._kinds = kinds  # entry id -> kind, to check a spawn before its PID is handed out
        self._allocated = 0
        if count == 1:
            self.workers = [make_worker(0, None, {}, {})]
            self._slots = None
            return
        self._slots = ProcessSlots(max_processes, count) if max_processes else None
        # the guard's CPU time is the slice's thread's: workers run at once
        extra_deps: dict[bytes, Any] = {b"workers": count, b"cpu_clock": time.thread_time}
        if self._slots is not None:
            extra_deps.update({b"claim_process": self._slots.claim, b"release_process": self._slots.release,
                               b"slot_block": self._slots.block})
        self.loads = [0] * count
        self.workers = [make_worker(k, self.loads, {**extra_deps, b"worker": k}, {protocol.Cross: self._forward})
                        for k in range(count)]

    def _forward(self, command: protocol.Cross) -> None:
        """A slice's batch for another worker."""
        self.workers[command.worker].apply_batch(command.batch)

    async def start(self, nursery: trio.Nursery) -> None:
        if len(self.workers) == 1:
            await nursery.start(self.workers[0].run)
            return
        # (a node in a cluster: its routing, which slices call, lives in the trio thread)
        threaded = _is_real_clock(trio.lowlevel.current_clock()) and self.workers[0].router.remote is None
        for worker in self.workers:
            worker.threaded = threaded
            await nursery.start(self._run, worker)

    async def _run(self, worker: Worker, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Drive ``worker``; if it fails (an error of the runtime's own), its
        processes end with that error and the failure takes the node down
        with a clear message rather than leaving it half running."""
        try:
            await worker.run(task_status=task_status)
        except Exception as error:
            cause: BaseException = error
            while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
                cause = cause.exceptions[0]  # (the worker's own nursery wraps it)
            what = f"host {worker.host_id}: worker {worker.index + 1} of {len(self.workers)} failed: {cause!r}"
            log.error("%s; its processes end", what)
            try:
                worker.terminate_all(what)
            except Exception:  # the state may be broken: the node is going down anyway
                log.exception("host %s: worker %d could not end its processes", worker.host_id, worker.index + 1)
            raise ActorError("Internal", what) from error

    # -- where a PID lives ----------------------------------------------------

    def worker_of(self, pid: str) -> Worker:
        """The worker that holds (or held) ``pid``; any that is not one of this
        host's process ids goes to the first, which drops what is for it."""
        workers = self.workers
        if len(workers) == 1:
            return workers[0]
        digits = pid[len(self.pid_prefix):-1] if pid.startswith(self.pid_prefix) else ""
        if not _PROCESS_ID.fullmatch(digits):
            return workers[0]
        return workers[int(digits) % len(workers)]

    # -- calls from the node ----------------------------------------------------

    def spawn(self, entry_id: str, args: list, options: dict) -> str:
        """Start a process on the worker the spawn options pin (``worker``,
        from 1), else on the least loaded; the PID is returned at once."""
        workers = self.workers
        spawn_options = options.get("options")
        pinned = spawn_options.get("worker") if isinstance(spawn_options, dict) else None
        if len(workers) == 1:
            if pinned is not None and pinned != 1:
                raise _bad_worker(pinned, 1)
            return workers[0].spawn(entry_id, args, options)
        n = len(workers)
        if pinned is None:  # the least loaded, ties taken in turn
            first = self._allocated % n
            target = min(((first + i) % n for i in range(n)), key=self.loads.__getitem__)
        elif isinstance(pinned, int) and not isinstance(pinned, bool) and 1 <= pinned <= n:
            target = pinned - 1
        else:
            raise _bad_worker(pinned, n)
        Worker.check_start(args, options)
        wanted = "function.lua" if options.get("call") else "process.lua"
        kind = self._kinds.get(entry_id)
        if kind != wanted:
            raise ActorError("NotFound", f"no {wanted} entry {entry_id!r}" + (f" (it is a {kind})" if kind else ""))
        if self._slots is not None and not self._slots.claim():  # (one slot, released by the process's worker)
            raise ActorError("Unavailable",
                             f"host {workers[0].host_id} is at its limit of {self._slots.limit} processes")
        self._allocated += 1
        pid = f"{self.pid_prefix}{target + n * (n + (n + 1) * self._allocated)}}}"
        name = options.get("name")
        if name is not None and not workers[target].router.names.register(name, pid):
            if self._slots is not None:
                self._slots.release()
            raise ActorError("AlreadyExists", f"name {name!r} is already registered")
        self.loads[target] += 1
        workers[target].start_placed(pid, entry_id, args, options)
        return pid

    def send(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        self.worker_of(dest).send(sender, dest, topic, payload)

    def signal(self, op: str, sender: str, dest: str, data: Any) -> None:
        self.worker_of(dest).signal(op, sender, dest, data)

    def count(self) -> int:
        return sum(worker.count() for worker in self.workers)

    def memory(self) -> int:
        return sum(worker.memory() for worker in self.workers)

    async def stop(self, sender: str, reason: str, timeout: float) -> None:
        """CANCEL to every process that listens to its events, ``timeout``
        seconds for them to end (on all workers at once), then the rest end."""
        async with trio.open_nursery() as nursery:
            for worker in self.workers:
                nursery.start_soon(worker.cancel_all, sender, reason, timeout)
        for worker in self.workers:
            worker.terminate_all(reason)


def _is_real_clock(clock: trio.abc.Clock) -> bool:
    """Is ``clock`` trio's own? (Any other, a MockClock say, may jump while a slice's thread runs.)"""
    return type(clock).__name__ == "SystemClock" and type(clock).__module__.startswith("trio.")


def _bad_worker(value: Any, count: int) -> ActorError:
    return ActorError("Invalid", f"spawn option 'worker' must be an integer from 1 to {count} "
                                 f"(the host's workers), got {value!r}")
