"""A ``workflow.lua`` entry running as a Temporal workflow.

Temporal owns the history here: it records what the workflow asked for and
what came back, and after a crash (or when a worker's cache drops the
workflow) it runs the workflow function again from the start, feeding it
the recorded results. So the Lua side needs no journal of its own. Each
Temporal workflow gets a kernel with that single workflow in it, driven by
the workflow's deterministic event loop:

- the kernel's clock is Temporal's (``workflow.time``), so ``time.sleep``,
  ``after`` and ``timer`` become Temporal timers, and ``time.now``, ``uuid``
  and ``math.random`` replay exactly;
- ``funcs.call``/``funcs.async`` become activities, run by the node's
  function runtime (see ``temporal_activities``);
- messages arrive as the signal ``luactor.message``, lifecycle events
  (EXIT, LINK_DOWN) as ``luactor.event``, cancellation is Temporal's;
- a child workflow on the same worker is a Temporal child workflow; sends,
  spawns and relationship signals to anything else are activities, so they
  happen once per history, not once per replay.

Values cross Temporal as msgpack bytes (``binary/plain`` payloads), which
keeps every msgpack-compatible value intact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgpack
from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    FailureError,
    WorkflowAlreadyStartedError,
)
from temporalio.exceptions import (
    TimeoutError as TemporalTimeoutError,
)

from actors import protocol
from actors.codec import from_lua, to_lua
from actors.errors import ActorError
from actors.pid import host_of
from actors.registry import Entry
from actors.worker import Worker

from .start_options import start_options
from .temporal_options import activity_retry_policy, child_arguments, search_attribute_updates

__all__ = ["EVENT_SIGNAL", "MESSAGE_SIGNAL", "LuaWorkflow", "TemporalEnv", "pack", "serve", "unpack", "unserve"]

#: Signals a Lua workflow understands.
MESSAGE_SIGNAL = "luactor.message"
EVENT_SIGNAL = "luactor.event"


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def error_plain(error: BaseException) -> dict:
    """The ``{kind, message}`` a Lua workflow sees for a failed activity or child."""
    cause: BaseException | None = error
    while isinstance(cause, (ActivityError, ChildWorkflowError)) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, ApplicationError):
        details = cause.details[0] if cause.details else None
        if isinstance(details, dict) and "kind" in details:
            return details
        return {"kind": cause.type or "Internal", "message": cause.message}
    if isinstance(cause, TemporalTimeoutError):
        return {"kind": "Timeout", "message": f"timed out ({cause.type.name.lower()})" if cause.type else cause.message}
    if isinstance(cause, FailureError):
        return {"kind": "Internal", "message": cause.message}
    return {"kind": "Internal", "message": f"{type(cause).__name__}: {cause}"}


@dataclass(frozen=True)
class TemporalEnv:
    """What every workflow run of one ``temporal.worker`` host shares."""

    host_id: str
    pid_prefix: str
    task_queue: str
    router: Any
    entries: Sequence[Entry]
    source_root: Any
    activity_timeout: timedelta
    max_instructions: int
    runs: set  # the WorkflowRuns in memory (Temporal's cache)
    activities: dict  # entry id -> ActivityRoute of the entries registered as activities
    workflow_types: dict  # Temporal workflow type -> workflow.lua entry id

    def pid(self, workflow_id: str) -> str:
        return f"{self.pid_prefix}{workflow_id}}}"

    def workflow_id(self, pid: str) -> str | None:
        """The workflow id of a PID of this host, else None."""
        if not pid.startswith(self.pid_prefix):
            return None
        return pid[len(self.pid_prefix):-1]


class WorkflowRun:
    """One run of a workflow.lua entry: its kernel and the commands it issues."""

    def __init__(self, env: TemporalEnv, entry_id: str, start: dict):
        info = workflow.info()
        self.env = env
        self.entry_id = entry_id
        self.workflow_id = info.workflow_id
        self.pid = env.pid(self.workflow_id)
        self.start = start
        self.result: dict | None = None
        self.woken = False
        self.inbox: list[tuple[str, Any]] = []
        self._signal_seq = 0
        self._children = 0
        self._recorded = False
        self._last_effect: asyncio.Task | None = None
        random = workflow.random()
        self.worker = Worker(
            env.router, env.host_id, env.pid_prefix, env.entries, source_root=env.source_root,
            clock=workflow.time, max_instructions=env.max_instructions,
            extra_deps={
                b"durable": True,
                b"single_workflow": True,
                b"wall_ns": workflow.time_ns,
                b"seed": lambda: random.getrandbits(63) or 1,
                b"random_bytes": lambda n: random.randbytes(n),
                b"history_usage": lambda _id: (info.get_current_history_length(), info.get_current_history_size()),
                b"task_queue": info.task_queue.encode(),
                b"namespace": info.namespace.encode(),
            },
            handlers={
                protocol.History: self._on_history, protocol.WorkflowDone: self._on_done,
                protocol.Call: self._on_call, protocol.Spawn: self._on_spawn, protocol.Exec: self._on_exec,
                protocol.Route: self._on_route, protocol.RouteDurable: self._on_route_durable,
                protocol.Signal: self._on_signal, protocol.StoreMessage: self._on_store_message,
                protocol.Event: self._on_event, protocol.Log: self._on_log, protocol.WorkflowAttrs: self._on_attrs,
            },
            after_slice=self._after_slice,
        )
        kernel = self.worker.kernel
        self._start_workflow = kernel.start_workflow
        self._signal_stored = kernel.signal_stored
        self._child_ended = kernel.child_ended
        self._committed = kernel.committed

    # -- the loop -----------------------------------------------------------

    async def run(self) -> dict:
        """Run the workflow to its end; returns ``{value}`` or ``{error}``.

        When Temporal evicts the workflow from its cache, this coroutine is
        closed wherever it waits, and the run leaves ``env.runs``.
        """
        self.env.runs.add(self)
        try:
            return await self._run()
        finally:
            self.env.runs.discard(self)

    async def _run(self) -> dict:
        self._launch()
        while self.result is None:
            self._take_inbox()
            more, deadline = self.worker.step()
            if self.result is not None or more:
                continue
            self.woken = False
            timeout = None if deadline is None else max(deadline - workflow.time(), 0.001)
            try:
                await workflow.wait_condition(lambda: self.woken, timeout=timeout)
            except asyncio.TimeoutError:
                pass
            except asyncio.CancelledError:
                # Temporal's cancellation reaches the workflow as CANCEL:
                # it decides how to end, as a process does
                self.worker.signal("cancel", self.pid, self.pid, "cancelled through Temporal")
        if self._last_effect is not None:
            await self._last_effect
        return self.result

    def _launch(self) -> None:
        lua = self.worker.lua
        args = list(self.start.get("args") or [])
        lua_args = to_lua(lua, args, "input")
        lua_args[b"n"] = len(args)
        signals = {}
        for topic, payload in self.start.get("messages") or []:
            self._signal_seq += 1
            signals[self._signal_seq] = {"from": self.start.get("parent") or self.pid, "topic": topic,
                                         "payload": payload}
        info = workflow.info()
        options = {"ctx": self.start.get("ctx"), "parent": self.start.get("parent"), "run_id": info.run_id,
                   "attempt": info.attempt, "workflow_type": info.workflow_type}
        pid, problem = self._start_workflow(
            self.entry_id.encode(), self.workflow_id.encode(), lua_args, to_lua(lua, options, "options"),
            workflow.time_ns(), workflow.random().getrandbits(63) or 1, None,
            to_lua(lua, signals, "signals") if signals else None)
        if pid is None:
            self.result = {"error": from_lua(problem)}

    def wake(self) -> None:
        self.woken = True

    def deliver(self, kind: str, data: Any) -> None:
        """A signal arrived (message or lifecycle event): queue it for the kernel."""
        self.inbox.append((kind, data))
        self.wake()

    def _take_inbox(self) -> None:
        inbox, self.inbox = self.inbox, []
        lua = self.worker.lua
        for kind, data in inbox:
            if kind == MESSAGE_SIGNAL:
                self._signal_seq += 1
                self._signal_stored(self.workflow_id.encode(), self._signal_seq,
                                    (data.get("from") or "").encode(), str(data.get("topic")).encode(),
                                    to_lua(lua, data.get("payload")))
            else:
                self.worker.signal("event", str(data.get("from") or ""), self.pid, data)

    def _after_slice(self) -> None:
        # No store to wait for: Temporal records each workflow task as a whole.
        if self._recorded:
            self._recorded = False
            self._committed()
            self.worker.wake()

    # -- asynchronous work for the kernel -------------------------------------

    def _background(self, work: Callable[[], Any], request: int | None, *, effect: bool = False) -> None:
        """Run ``await work()``; answer ``request`` (if any) with its outcome.

        Effects (sends and signals nobody waits for) run one after another in
        the order the workflow issued them, so a process sees a workflow's
        messages and signals in order, as from any process; the workflow
        completes only after they are done.
        """
        previous = self._last_effect if effect else None

        async def run() -> None:
            if previous is not None:
                await previous
            try:
                value = await work()
            except ActorError as error:
                outcome = (False, error.to_plain())
            except (ActivityError, ChildWorkflowError, ApplicationError) as error:
                outcome = (False, error_plain(error))
            else:
                outcome = (True, value)
            if request:
                self.worker.answer(request, *outcome)
            self.wake()

        task = asyncio.get_running_loop().create_task(run())
        if effect:
            self._last_effect = task

    async def _activity(self, name: str, data: dict, options: dict | None = None) -> Any:
        """Run an activity; ``options`` are a call's ``activity.*`` options (durations in ns).

        Without a retry policy an activity's own failure is its outcome (not
        retried; a worker lost mid-activity is); with one, Temporal retries it
        by that policy, and the node side raises retryable failures as such.
        """
        arguments: dict[str, Any] = {"start_to_close_timeout": self.env.activity_timeout,
                                     "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=10))}
        for option in ("start_to_close_timeout", "schedule_to_close_timeout", "schedule_to_start_timeout",
                       "heartbeat_timeout"):
            if option in (options or {}):
                arguments[option] = timedelta(microseconds=options[option] / 1000)
        policy = (options or {}).get("retry_policy")
        if policy:
            arguments["retry_policy"] = activity_retry_policy(policy)
            data = {**data, "retry": True}
        if "id" in (options or {}):
            arguments["activity_id"] = options["id"]
        if "task_queue" in (options or {}):
            arguments["task_queue"] = options["task_queue"]
        if (options or {}).get("wait_for_cancellation"):
            arguments["cancellation_type"] = workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
        raw = await workflow.execute_activity(name, pack(data), result_type=bytes, **arguments)
        return unpack(raw)

    # -- commands from the kernel ----------------------------------------------

    def _on_history(self, cmd: protocol.History) -> None:
        # Temporal records everything itself; what matters is that a batch
        # of events may now wait for the "commit" that lets the workflow see it.
        self._recorded = True

    def _on_done(self, cmd: protocol.WorkflowDone) -> None:
        self.result = {"error": cmd.error} if cmd.error else {"value": cmd.value}

    def _on_call(self, cmd: protocol.Call) -> None:
        """A call: an activity of its own name when its entry is registered as one (on its
        worker's task queue), else ``luactor.call``, which any worker of the node runs."""
        fn, options = cmd.fn, cmd.options
        data = {"fn": fn, "args": cmd.args, "ctx": cmd.ctx or {}}
        route = self.env.activities.get(fn)
        if route is not None:
            options = {"task_queue": route.task_queue, **(options or {})}
        name = fn if route is not None else "luactor.call"
        self._background(lambda: self._activity(name, data, options), cmd.request)

    def _on_spawn(self, cmd: protocol.Spawn) -> None:
        self._start_elsewhere(cmd, self._start_child, "luactor.spawn")

    def _on_exec(self, cmd: protocol.Exec) -> None:
        self._start_elsewhere(cmd, self._exec_child, "luactor.exec")

    def _start_elsewhere(self, cmd: protocol.Spawn | protocol.Exec, as_child: Callable[[str, list, dict], Any],
                         activity: str) -> None:
        """A spawn or exec: a child workflow on this host, else an activity."""
        entry_id, host, args, opts = cmd.entry, cmd.host, cmd.args, cmd.options or {}
        opts["parent"] = self.pid
        if host == self.env.host_id:
            self._background(lambda: as_child(entry_id, args, opts), cmd.request)
        else:
            data = {"entry": entry_id, "host": host, "args": args, "opts": opts}
            self._background(lambda: self._activity(activity, data), cmd.request)

    def _child_start(self, args: list, opts: dict) -> tuple[str, bytes, dict]:
        """The id, start payload and start arguments of a child workflow."""
        self._children += 1
        wanted = start_options(opts.get("options"), opts.get("name"), f"{self.workflow_id}/{self._children}")
        start = {"args": args, "ctx": opts.get("ctx"), "parent": self.pid,
                 "messages": [list(m) for m in opts.get("messages") or []]}
        arguments = child_arguments(wanted, workflow.info().namespace, bool(opts.get("link")))
        arguments["task_queue"] = wanted.task_queue or self.env.task_queue
        return wanted, pack(start), arguments

    def _type_of(self, entry_id: str) -> str:
        """The Temporal workflow type of a workflow.lua entry (meta.temporal.workflow.name, else its id)."""
        return next((kind for kind, entry in self.env.workflow_types.items() if entry == entry_id), entry_id)

    async def _start_child(self, entry_id: str, args: list, opts: dict) -> str:
        wanted, start, arguments = self._child_start(args, opts)
        child_pid = self.env.pid(wanted.workflow_id)
        try:
            handle = await workflow.start_child_workflow(self._type_of(entry_id), start, id=wanted.workflow_id,
                                                         result_type=bytes, **arguments)
        except WorkflowAlreadyStartedError:
            if wanted.existing_is_error():
                raise ActorError("AlreadyExists", f"workflow {wanted.workflow_id!r} already exists") from None
            # use_existing: the start's messages go to the workflow that has the id
            target = workflow.get_external_workflow_handle(wanted.workflow_id)
            for topic, payload in opts.get("messages") or []:
                await target.signal(MESSAGE_SIGNAL, pack({"from": self.pid, "topic": topic, "payload": payload}))
            return child_pid
        monitor = bool(opts.get("monitor"))

        async def watch() -> None:
            try:
                result = unpack(await handle)
            except ChildWorkflowError as error:
                result = {"error": error_plain(error)}
            self._child_ended(self.workflow_id.encode(), child_pid.encode(), to_lua(self.worker.lua, result))
            if monitor:
                self.worker.signal("event", child_pid, self.pid, {"kind": "EXIT", "from": child_pid, "result": result})
            if opts.get("link") and result.get("error"):
                self.worker.signal("event", child_pid, self.pid, {
                    "kind": "LINK_DOWN", "from": child_pid, "reason": result["error"].get("message")})
            self.wake()

        self._background(watch, None)
        return child_pid

    async def _exec_child(self, entry_id: str, args: list, opts: dict) -> dict:
        wanted, start, arguments = self._child_start(args, opts)
        try:
            return unpack(await workflow.execute_child_workflow(
                self._type_of(entry_id), start, id=wanted.workflow_id, result_type=bytes, **arguments))
        except ChildWorkflowError as error:
            return {"error": error_plain(error)}

    def _on_route(self, cmd: protocol.Route) -> None:
        data = {"from": cmd.sender, "to": cmd.dest, "topic": cmd.topic, "payload": cmd.payload}
        self._background(lambda: self._activity("luactor.send", data), None, effect=True)

    def _on_route_durable(self, cmd: protocol.RouteDurable) -> None:
        sender, dest, topic, payload = cmd.sender, cmd.dest, cmd.topic, cmd.payload
        target = self.env.workflow_id(dest)
        if target is not None:
            # a workflow of this worker: a Temporal signal, recorded as a command
            data = pack({"from": sender, "topic": topic, "payload": payload})
            self._background(
                lambda: workflow.get_external_workflow_handle(target).signal(MESSAGE_SIGNAL, data), cmd.request)
        else:
            data = {"from": sender, "to": dest, "topic": topic, "payload": payload}
            self._background(lambda: self._activity("luactor.send", data), cmd.request)

    def _on_store_message(self, cmd: protocol.StoreMessage) -> None:
        # a message to itself: it arrives like any signal
        self.deliver(MESSAGE_SIGNAL, {"from": cmd.sender, "topic": cmd.topic, "payload": cmd.payload})
        if cmd.request:
            self.worker.answer(cmd.request, True, None)

    def _on_signal(self, cmd: protocol.Signal) -> None:
        data = {"op": cmd.op, "from": cmd.sender, "to": cmd.dest, "data": cmd.data}
        self._background(lambda: self._activity("luactor.signal", data), None, effect=True)

    def _on_event(self, cmd: protocol.Event) -> None:
        dest = cmd.dest
        if host_of(dest) == self.env.host_id:
            return  # this host tells monitors of its workflows itself
        data = {"op": "event", "from": self.pid, "to": dest, "data": cmd.event}
        self._background(lambda: self._activity("luactor.signal", data), None, effect=True)

    def _on_attrs(self, cmd: protocol.WorkflowAttrs) -> None:
        search, memo = cmd.search, cmd.memo
        if search:
            workflow.upsert_search_attributes(search_attribute_updates(search))
        if memo:
            workflow.upsert_memo(memo)

    def _on_log(self, cmd: protocol.Log) -> None:
        if not workflow.unsafe.is_replaying():
            self.env.router.log(cmd.level, cmd.pid, cmd.message, cmd.fields, cmd.name)


#: The environment of each host, by (namespace, task queue): the workflow
#: class must live at module level, so a run finds its host through this.
_ENVS: dict[tuple[str, str], TemporalEnv] = {}


def serve(env: TemporalEnv, namespace: str) -> None:
    """Let workflows of ``env``'s task queue in ``namespace`` run on it."""
    _ENVS[(namespace, env.task_queue)] = env


def unserve(env: TemporalEnv, namespace: str) -> None:
    if _ENVS.get((namespace, env.task_queue)) is env:
        del _ENVS[(namespace, env.task_queue)]


@workflow.defn(dynamic=True, sandboxed=False)
class LuaWorkflow:
    """Every workflow.lua entry: dynamic, so the Temporal type is the entry id."""

    def __init__(self) -> None:
        self.run_: WorkflowRun | None = None
        self.early: list[tuple[str, Any]] = []

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> bytes:
        info = workflow.info()
        env = _ENVS.get((info.namespace, info.task_queue))
        if env is None:
            raise RuntimeError(f"no temporal.worker serves task queue {info.task_queue!r}")  # retried
        converter = workflow.payload_converter()
        start = unpack(converter.from_payload(args[0].payload, bytes)) if args else {}
        entry_id = env.workflow_types.get(info.workflow_type, info.workflow_type)
        if not any(e.id == entry_id and e.kind == "workflow.lua" for e in env.entries):
            message = f"no workflow.lua entry {entry_id!r} on {env.host_id}"
            raise ApplicationError(message, {"kind": "NotFound", "message": message},
                                   type="NotFound", non_retryable=True)
        self.run_ = WorkflowRun(env, entry_id, start)
        for kind, data in self.early:
            self.run_.deliver(kind, data)
        result = await self.run_.run()
        error = result.get("error")
        if error:
            # a run that fails is retried only by the workflow's retry policy, if it has one
            raise ApplicationError(f"{error.get('kind')}: {error.get('message')}", error,
                                   type=str(error.get("kind") or "Internal"), non_retryable=info.retry_policy is None)
        return pack(result)

    @workflow.signal(name=MESSAGE_SIGNAL)
    def message(self, data: bytes) -> None:
        self._deliver(MESSAGE_SIGNAL, unpack(data))

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, data: bytes) -> None:
        self._deliver(EVENT_SIGNAL, unpack(data))

    def _deliver(self, kind: str, data: Any) -> None:
        if self.run_ is None:
            self.early.append((kind, data))
        else:
            self.run_.deliver(kind, data)
