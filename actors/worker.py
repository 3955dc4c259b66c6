"""A worker: one Lua state running one kernel, driven by a trio task or its own thread.

The kernel keeps mailboxes, the run queue and timers inside Lua (see
``actors/lua/kernel.lua``). This class is the Python half: it creates the
sandboxed Lua state, loads the registry's Lua entries into it, runs
scheduler slices, sleeps until the next timer or until something from
outside arrives, and carries out the commands a slice left in the outbox.
Crossings are batched: one ``run`` call per slice, one drain per slice.

A host of several workers (``actors/workers.py``) may give each worker its
own OS thread (``threaded``), which runs its slices back to back and sleeps
on a condition until work or its next timer comes. lupa releases the GIL
while Lua runs, so the workers' slices run in parallel. The thread decodes
what a slice leaves (the state is its own while it does); batches for other
workers go straight to their queues, and every other command goes to the
trio thread, which carries it out. Whatever the node asks of a threaded
worker (a message, a signal, an answer) waits in its queue and is applied,
in order, by its thread before its next slice; readers of the state (counts,
snapshots) take its lock, which a slice holds.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from lupa import lua54
from lupa.lua54 import LuaMemoryError

from . import lua_support, protocol, zones
from .codec import MAX_DEPTH, MAX_VALUES, PayloadError, check_crossing, from_lua, to_lua
from .errors import ActorError
from .guard import SliceGuard
from .kinds import LUA_KINDS  # what a process host loads: every Lua kind, as entries may import any
from .payload_formats import PayloadFormats
from .protocol import Kernel

if TYPE_CHECKING:
    from .registry import Entry

__all__ = ["LUA_KINDS", "Worker"]

log = logging.getLogger("luactor")


_LUA_DIR = resources.files("actors") / "lua"


def _deny_python_attributes(obj: Any, name: Any, is_setting: bool) -> Any:
    """lupa's attribute filter: Lua code may never look into a Python object."""
    raise AttributeError("Python objects are not accessible from Lua")


def _plain_options(options: dict) -> dict:
    """The spawn options the kernel reads: those set, messages as ``[topic, payload]`` pairs."""
    return {key: [[topic, payload] for topic, payload in value] if key == "messages" else value
            for key, value in options.items() if value is not None}


def _chunk_name(path: Path, root: Path | None) -> str:
    """How a source file is named in Lua errors: short, relative to ``root``."""
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)


class Worker:
    """Runs the processes of one host inside a single Lua state.

    ``router`` is the node side the worker talks to (routing to other hosts
    and Python mailboxes, the name registry, Python callables, logging).
    """

    #: Task turns per slice before Python gets control back.
    SLICE_TURNS = 20_000

    def __init__(self, router: Any, host_id: str, pid_prefix: str, entries: list[Entry], *,
                 max_processes: int | None = None, max_memory: int | None = None,
                 max_instructions: int = 10_000_000, reductions: int = 2000,
                 clock: Callable[[], float] | None = None, source_root: Path | None = None,
                 extra_deps: dict[bytes, Any] | None = None,
                 handlers: dict[type, Callable[[Any], None]] | None = None,
                 after_slice: Callable[[], None] | None = None, index: int = 0, loads: list[int] | None = None):
        self.router = router
        #: this worker's place among its host's (from 0), and their run queues' lengths
        #: (shared by the host's workers; None for a host of one worker)
        self.index, self.loads = index, loads
        self.threaded = False  # set by the host before run: the worker runs in its own OS thread
        self._stopping = False  # a threaded worker's thread is to end
        # a threaded worker's thread sleeps on this lock (held: nothing new); a wake releases it
        self._wakeup = threading.Lock()
        self._wakeup.acquire()
        self._failure: BaseException | None = None  # why a threaded worker's thread (or its commands) failed
        #: Wall seconds spent running slices (the worker's busy time, for metrics).
        self.busy_seconds = 0.0
        self._queued: deque[tuple[Callable[..., Any], tuple]] = deque()  # calls waiting for the state
        self._lock = threading.RLock()  # held by a slice thread; taken by readers of the state
        self._callers = 0  # callers from outside waiting for the lock: the thread lets them in first
        self._handoff = threading.Condition(threading.Lock())  # guards _callers; the thread waits on it
        self.host_id = host_id
        self.pid_prefix = pid_prefix
        self.lua = lua54.LuaRuntime(
            encoding=None, register_eval=False, register_builtins=False,
            unpack_returned_tuples=True, attribute_filter=_deny_python_attributes,
            max_memory=max_memory or 0,
        )
        self.lua.execute(b"python = nil; package.loaded.python = nil")
        self._load_chunk = self.lua.eval(
            b"function(src, name) local f = assert(load(src, name, 't')); return f() end")
        self._wake_event = trio.Event()
        self._pending = False
        self._requests: dict[int, trio.CancelScope] = {}  # requests being served, by id
        self._emptied: trio.Event | None = None  # set once no process is left (while shutting down)
        self._nursery: trio.Nursery | None = None
        self._own_clock = clock is None
        self._clock = clock or trio.current_time
        unknown = {key.decode() for key in extra_deps or ()} - protocol.CALLBACKS
        if unknown:
            raise ValueError(f"undeclared kernel callbacks: {sorted(unknown)} (see actors/protocol.py)")
        names = router.names
        formats = PayloadFormats(self.lua)
        deps = self.lua.table_from({
            b"host_id": host_id.encode(),
            b"pid_prefix": pid_prefix.encode(),
            b"max_processes": max_processes,
            b"reductions": reductions,
            b"max_instructions": max_instructions,
            b"max_depth": MAX_DEPTH,
            b"max_values": MAX_VALUES,
            b"load_module": self._load_module,
            b"now": lambda: self._clock(),
            b"wall_ns": router.wall_ns,
            b"random_bytes": os.urandom,
            b"zone": zones.lookup,
            b"digest": lua_support.digest,
            b"validate_json": lua_support.validate_json,
            b"is_durable_pid": lambda pid: router.is_durable_pid(pid.decode()),
            b"remote_send": router.send_remote_from_lua,
            b"payload_encode": formats.encode,
            b"payload_decode": formats.decode,
            **(extra_deps or {}),
            b"names": self.lua.table_from({
                b"register": names.register_from_lua,
                b"lookup": names.lookup_from_lua,
                b"unregister": names.unregister_from_lua,
                b"release": names.release_from_lua,
            }),
        })
        self.kernel = kernel = Kernel(self._load_module(b"kernel")(deps))
        # the runaway guard: armed by a watchdog when a slice runs long, or
        # on every task if the watchdog cannot find the running one
        self._guard = SliceGuard.attach(kernel) if max_instructions else None
        kernel.watchdog(self._guard is not None)
        for entry in entries:
            problem = kernel.define(
                entry.id.encode(), entry.kind.encode(), entry.source_text.encode(),
                b"@" + _chunk_name(entry.source_path, source_root).encode(),
                (entry.fields.get("method") or "").encode(),
                to_lua(self.lua, list(entry.fields.get("modules") or [])),
                to_lua(self.lua, dict(entry.fields.get("imports") or {})),
            )
            if problem is not None:
                raise ActorError("Invalid", f"{entry.id}: {from_lua(problem)}")
        self.handlers: dict[type, Callable[[Any], None]] = {
            protocol.Route: self._on_route, protocol.Event: self._on_event, protocol.Signal: self._on_signal,
            protocol.Spawn: self._on_spawn, protocol.Exec: self._on_exec, protocol.Call: self._on_call,
            protocol.Log: self._on_log, protocol.RouteDurable: self._on_route_durable,
            protocol.CancelRequest: self._on_cancel_request, protocol.Observe: self._on_observe,
            protocol.Cluster: self._on_cluster,
            **(handlers or {}),
        }
        self._after_slice = after_slice

    def _load_module(self, name: bytes) -> Any:
        source = (_LUA_DIR / f"{name.decode()}.lua").read_bytes()
        # "=" names a chunk literally; user sources are "@file", so none can pass for runtime code
        return self._load_chunk(source, b"=luactor/" + name + b".lua")

    # -- the loop ---------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Drive the kernel until cancelled."""
        if self._own_clock:  # trio's clock itself, which a worker's thread may read too
            self._clock = trio.lowlevel.current_clock().current_time
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self.threaded:
                await self._run_thread(task_status)
                return
            task_status.started()
            while True:
                more, deadline = self.step()
                if self._emptied is not None and self.kernel.count() == 0:
                    self._emptied.set()
                if more:
                    await trio.lowlevel.checkpoint()
                    continue
                self._wake_event = trio.Event()
                with trio.move_on_at(deadline if deadline is not None else math.inf):
                    await self._wake_event.wait()

    def step(self) -> tuple[bool, float | None]:
        """Run one slice and carry out its commands.

        Returns whether there is more to do right away, and the deadline of
        the next timer. :meth:`run` loops on this under trio; a host with
        its own event loop (the Temporal host) drives it directly.
        """
        self._pending = False
        if self._queued:
            self._apply_queued()
        more, deadline = self._slice()
        self._drain_outbox()
        if self._after_slice is not None:
            self._after_slice()
        return bool(more or self._pending), deadline

    # -- a worker in its own thread -------------------------------------------

    async def _run_thread(self, task_status: trio.TaskStatus) -> None:
        """Run the worker's thread until cancelled (then stop it and wait for it),
        or until it fails (then raise why)."""
        token, ended = trio.lowlevel.current_trio_token(), trio.Event()
        thread = threading.Thread(target=self._thread_main, args=(token, ended),
                                  name=f"luactor {self.host_id} worker {self.index + 1}", daemon=True)
        thread.start()
        task_status.started()
        try:
            await ended.wait()
        finally:
            self._stopping = True
            self._wake_thread()
            thread.join()  # (within a slice: the guard bounds one)
        if self._failure is not None:
            raise self._failure

    def _thread_main(self, token: trio.lowlevel.TrioToken, ended: trio.Event) -> None:
        try:
            while not self._stopping and self._failure is None:
                self._wakeup.acquire(blocking=False)  # (this slice sees what the wakes so far were for)
                self._let_callers_in()
                with self._lock:
                    self._apply_queued()
                    more, deadline = self._slice()
                    records = self._take_records()
                    emptied = self._emptied is not None and self.kernel.count() == 0
                later = []
                for record in records:  # batches for other workers go to them from here
                    if type(record) is protocol.Cross:
                        self.handlers[protocol.Cross](record)
                    else:
                        later.append(record)
                if later or emptied:
                    token.run_sync_soon(self._carry_out, later, emptied)
                if not more:
                    self._sleep(deadline)
        except BaseException as error:  # noqa: BLE001 (the host reports it: see workers.py)
            self._failure = error
        finally:
            try:
                token.run_sync_soon(ended.set)
            except trio.RunFinishedError:
                pass

    def _let_callers_in(self) -> None:
        """Wait until the callers waiting for the lock have had it. A lock is not
        fair: a busy thread would take it back at once, slice after slice, and a
        caller (the node stopping the host, say) would wait for ever."""
        if not self._callers:  # (read unlocked: a caller counted just after waits one slice)
            return
        with self._handoff:
            while self._callers and not self._stopping:
                self._handoff.wait()

    @contextlib.contextmanager
    def _from_outside(self) -> Iterator[None]:
        """The lock, for a caller outside the worker's thread: taken between two
        slices, ahead of the next one (see :meth:`_let_callers_in`)."""
        with self._handoff:
            self._callers += 1
        try:
            self._lock.acquire()
        finally:
            with self._handoff:
                self._callers -= 1
                self._handoff.notify_all()
        try:
            yield
        finally:
            self._lock.release()

    def _sleep(self, deadline: float | None) -> None:
        """Wait for a wake (something queued for the worker, or it is to stop) or ``deadline``."""
        if deadline is None:
            self._wakeup.acquire()
            return
        timeout = deadline - self._clock()
        if timeout > 0:
            self._wakeup.acquire(timeout=min(timeout, threading.TIMEOUT_MAX))

    def _wake_thread(self) -> None:
        """Let the thread's sleep end (now, or at once when it next sleeps)."""
        try:
            self._wakeup.release()
        except RuntimeError:  # released already: a wake is pending
            pass

    def _carry_out(self, records: list, emptied: bool) -> None:
        """In the trio thread: a threaded slice's commands (and whether its worker is empty now).
        A handler's failure is the worker's: its thread stops and the host reports it."""
        try:
            handlers = self.handlers
            for record in records:
                handlers[type(record)](record)
        except BaseException as error:  # noqa: BLE001
            self._failure = error
            self._wake_thread()
            return
        if emptied and self._emptied is not None:
            self._emptied.set()

    def _slice(self) -> tuple[bool, float | None]:
        """Run up to SLICE_TURNS task turns under the runaway watchdog,
        adding the slice's wall time to :attr:`busy_seconds`."""
        guard = self._guard
        if guard is not None:
            guard.begin()
        started = time.perf_counter()
        try:
            return self._run_turns()
        finally:
            self.busy_seconds += time.perf_counter() - started
            if guard is not None:
                guard.end()

    def _run_turns(self) -> tuple[bool, float | None]:
        loads = self.loads
        if loads is None:
            return self.kernel.run(self.SLICE_TURNS)
        more, deadline = self.kernel.run(self.SLICE_TURNS, *loads)
        loads[self.index] = self.kernel.load()
        return more, deadline

    # -- calls that wait for the Lua state ----------------------------------

    def _held(self) -> bool:
        """Must a call wait for the state: the worker has its own thread, or
        calls already wait (which a later call must not overtake)?"""
        return self.threaded or bool(self._queued)

    def _defer(self, fn: Callable[..., Any], *args: Any) -> None:
        self._queued.append((fn, args))
        self.wake()

    def _apply_queued(self) -> None:
        """Apply the calls that waited; their failures cannot reach a caller
        any more: a refused message is dropped, as from another host."""
        while self._queued:
            fn, args = self._queued.popleft()
            try:
                fn(*args)
            except (ActorError, LuaMemoryError) as error:
                log.debug("host %s: a queued call was dropped: %s", self.host_id, error)

    def apply_batch(self, batch: bytes) -> None:
        """A batch of commands from another worker of the host (see bridge.lua's
        ``cross``); a threaded worker applies it in its own thread."""
        if self._held():
            self._defer(self.kernel.apply, batch)
        else:
            self.kernel.apply(batch)
            self.wake()

    @staticmethod
    def check_start(args: list, options: dict) -> None:
        """Raise the PayloadError starting a process with ``args`` and ``options``
        would, before its PID is handed out and its start queued."""
        check_crossing(list(args), "args", depth=MAX_DEPTH + 1)
        check_crossing(_plain_options(options), "options")

    def start_placed(self, pid: str, entry_id: str, args: list, options: dict) -> None:
        """Start ``entry_id`` as ``pid``, which the host has handed out already (see
        workers.py, which checks its arguments first: see :meth:`check_start`)."""
        if self._held():
            self._defer(self._start_placed, pid, entry_id, args, options)
        else:
            self._start_placed(pid, entry_id, args, options)
            self.wake()

    def _start_placed(self, pid: str, entry_id: str, args: list, options: dict) -> None:
        self.kernel.start_placed(pid.encode(), entry_id.encode(), self._lua_args(args), self._lua_options(options))

    def configure_observe(self, options: dict) -> None:
        """Tell the kernel whether metrics and tracing are collected (see its ``configure_observe``)."""
        with self._from_outside():
            self.kernel.configure_observe(to_lua(self.lua, options))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while reading the state from the node (snapshots, counts): waits
        out a running slice, and applies the calls made before it, which the
        reader is to see (their slice is still to come: see :meth:`_defer`)."""
        with self._from_outside():
            self._apply_queued()
            yield

    def wake(self) -> None:
        """Something arrived from outside: run a slice soon."""
        if self.threaded:
            self._wake_thread()
            return
        self._pending = True
        self._wake_event.set()

    def _take_records(self) -> list:
        """The commands the last slice left, decoded (see actors/protocol.py), for
        a threaded worker's trio thread to carry out (process hosts' handlers
        add no commands)."""
        records, decode = [], protocol.decode
        commands, n = self.kernel.take()
        while commands is not None:
            records.extend(decode(commands[i]) for i in range(1, n + 1))
            commands, n = self.kernel.take()
        return records

    def _drain_outbox(self) -> None:
        """Carry out the outbox's commands in the trio thread, each decoded just
        before its handler runs: a handler may call the kernel (a workflow host
        starting a workflow's next run), and what that adds is carried out in
        the same drain, in order."""
        handlers, decode = self.handlers, protocol.decode
        commands, n = self.kernel.take()
        while commands is not None:
            for i in range(1, n + 1):
                record = decode(commands[i])
                handlers[type(record)](record)
            commands, n = self.kernel.take()

    # -- calls from the node ------------------------------------------------

    def spawn(self, entry_id: str, args: list, options: dict) -> str:
        pid, problem = self.kernel.spawn(entry_id.encode(), self._lua_args(args), self._lua_options(options))
        if pid is None:
            raise ActorError.from_plain(from_lua(problem))
        self.wake()
        return pid.decode()

    def _lua_args(self, args: list) -> Any:
        lua_args = to_lua(self.lua, list(args), "args", depth=MAX_DEPTH + 1)
        lua_args[b"n"] = len(args)  # keeps positions after a None argument
        return lua_args

    def _lua_options(self, options: dict) -> Any:
        return to_lua(self.lua, _plain_options(options), "options")

    def send(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        if self.threaded:
            # the sender is told at once of a full mailbox or an unknown name,
            # so this waits for the worker's running slice (the guard bounds it)
            with self.locked():
                self._send_now(sender, dest, topic, payload)
            return
        if self._held():
            check_crossing(payload, depth=MAX_DEPTH)  # refused to the sender, as when sent at once
            self._defer(self._send_now, sender, dest, topic, payload)
        else:
            self._send_now(sender, dest, topic, payload)

    def _send_now(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        ok, problem = self.kernel.send(sender.encode(), dest.encode(), topic.encode(), to_lua(self.lua, payload, depth=MAX_DEPTH))
        if not ok:
            raise ActorError.from_plain(from_lua(problem))
        self.wake()

    def signal(self, op: str, sender: str, dest: str, data: Any = None) -> None:
        if self._held():
            check_crossing(data, "data")
            self._defer(self._signal_now, op, sender, dest, data)
        else:
            self._signal_now(op, sender, dest, data)

    def _signal_now(self, op: str, sender: str, dest: str, data: Any = None) -> None:
        self.kernel.signal(op.encode(), sender.encode(), dest.encode(), to_lua(self.lua, data, "data"))
        self.wake()

    # Readers wait for a running slice, and see the calls made before them applied.

    def count(self) -> int:
        with self.locked():
            return self.kernel.count()

    def memory(self) -> int:
        """Bytes the Lua state holds after a full garbage collection."""
        with self._from_outside():
            return self.kernel.memory()

    def is_alive(self, pid: str) -> bool:
        with self.locked():
            return bool(self.kernel.alive(pid.encode()))

    async def cancel_all(self, sender: str, reason: str, timeout: float) -> None:
        """Deliver CANCEL to every process that listens to its events, and give
        them ``timeout`` seconds to end before :meth:`terminate_all`."""
        with self._from_outside():
            listening = self.kernel.cancel_all(sender.encode(), reason.encode())
        if not listening:
            return
        self._emptied = trio.Event()
        self.wake()
        with trio.move_on_after(timeout):
            await self._emptied.wait()
        self._emptied = None

    def terminate_all(self, reason: str) -> None:
        with self.locked():
            self.kernel.terminate_all(reason.encode())
            self._slice()
        self._drain_outbox()

    def answer(self, request_id: int, ok: bool, value: Any) -> None:
        """Answer a kernel request (see bridge.lua)."""
        if self._held():
            self._defer(self._answer_now, request_id, ok, value)
        else:
            self._answer_now(request_id, ok, value)

    def _answer_now(self, request_id: int, ok: bool, value: Any) -> None:
        try:
            answer = to_lua(self.lua, value, "result")
        except PayloadError as error:
            ok, answer = False, to_lua(self.lua, {"kind": "Invalid", "message": str(error)})
        self.kernel.reply(request_id, ok, answer)
        self.wake()

    # -- commands from the kernel (see actors/protocol.py) ------------------

    def _on_route(self, cmd: protocol.Route) -> None:
        try:
            self.router.route(cmd.sender, cmd.dest, cmd.topic, cmd.payload)
        except ActorError as refusal:
            if refusal.kind != "RateLimited":
                raise
            # a full mailbox on another host: dropped there, counted and logged once per receiver

    def _on_event(self, cmd: protocol.Event) -> None:
        self.router.deliver_event(cmd.dest, cmd.event)

    def _on_signal(self, cmd: protocol.Signal) -> None:
        self.router.signal(cmd.op, cmd.sender, cmd.dest, cmd.data)

    def _on_observe(self, cmd: protocol.Observe) -> None:
        """A slice's metric updates and ended spans, for the node's observer (if any)."""
        sink = self.router.observations
        if sink is not None:
            sink(self.host_id, cmd.metrics or [], cmd.spans or [])

    def _on_log(self, cmd: protocol.Log) -> None:
        self.router.log(cmd.level, cmd.pid, cmd.message, cmd.fields, cmd.name)

    def _start_request(self, request_id: int, work: Callable[[], Any]) -> None:
        """Run ``await work()`` and answer the request with its outcome,
        unless the kernel cancels the request first."""
        scope = trio.CancelScope()
        self._requests[request_id] = scope

        async def serve() -> None:
            try:
                with scope:
                    try:
                        value = await work()
                    except Exception as error:  # noqa: BLE001 (any failure is the request's answer)
                        self._answer_failure(request_id, error)
                    else:
                        self.answer(request_id, True, value)
            finally:
                self._requests.pop(request_id, None)
        assert self._nursery is not None
        self._nursery.start_soon(serve)

    def _on_cancel_request(self, cmd: protocol.CancelRequest) -> None:
        scope = self._requests.pop(cmd.request, None)
        if scope is not None:
            scope.cancel()

    def _answer_failure(self, request_id: int, error: Exception) -> None:
        if isinstance(error, ActorError):
            self.answer(request_id, False, error.to_plain())
        else:  # a Python callable's own failure
            self.answer(request_id, False, {"kind": "Internal", "message": f"{type(error).__name__}: {error}"})

    def _on_cluster(self, cmd: protocol.Cluster) -> None:
        """A cluster operation a process asked for (names, groups, locks: actors/cluster)."""
        self._start_request(cmd.request, lambda: self.router.cluster_request(cmd.op, cmd.args))

    def _on_call(self, cmd: protocol.Call) -> None:
        self._start_request(cmd.request, lambda: self.router.call_for(cmd.fn, cmd.args, cmd.ctx or {}))

    @staticmethod
    def _spawn_options(opts: dict | None) -> dict:
        """The node's spawn options from those a process gave (``Spawn.options``)."""
        opts = opts or {}
        return {"ctx": opts.get("ctx"), "name": opts.get("name"), "parent": opts.get("parent"),
                "messages": [(m[0], m[1] if len(m) > 1 else None) for m in opts.get("messages") or []],
                "monitor": bool(opts.get("monitor")), "link": bool(opts.get("link")),
                "options": opts.get("options")}

    def _on_spawn(self, cmd: protocol.Spawn) -> None:
        """Answered when the start holds: from the router's callback where the host
        allows it (no task per spawn), else from a task."""
        opts = self._spawn_options(cmd.options)
        try:
            started = self.router.spawn_for_then(cmd.entry, cmd.host, cmd.args, opts,
                                                 functools.partial(self.answer, cmd.request, True))
        except Exception as error:  # noqa: BLE001 (any failure is the spawn's answer)
            self._answer_failure(cmd.request, error)
            return
        if not started:
            self._start_request(cmd.request, lambda: self.router.spawn_for(cmd.entry, cmd.host, cmd.args, opts))

    def _on_route_durable(self, cmd: protocol.RouteDurable) -> None:
        self._start_request(cmd.request,
                            lambda: self.router.send_durable(cmd.sender, cmd.dest, cmd.topic, cmd.payload))

    def _on_exec(self, cmd: protocol.Exec) -> None:
        opts = self._spawn_options(cmd.options)
        self._start_request(cmd.request, lambda: self.router.exec_for(cmd.entry, cmd.host, cmd.args, opts))
