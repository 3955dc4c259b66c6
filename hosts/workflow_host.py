"""The ``workflow.host`` kind: durable workflows on an embedded LMDB store.

The host runs ``workflow.lua`` entries on a worker whose kernel loads the
durable runtime (``actors/lua/durable.lua``, which explains the model). This
class is the storage side of it:

- every record a slice emits (commands, event batches, stored messages,
  starts and ends of workflows) goes into one :class:`Batch`, committed in one
  LMDB write transaction after the slice: one fsync for many steps;
- only after that commit does the kernel apply the batches, so a workflow
  never sees a result that is not stored;
- a message sent to a workflow is stored before the send returns;
- on start, every unfinished workflow is replayed from its history;
- each workflow's history is kept within the host's limits (see
  ``hosts/history_limits.py``).

What goes wrong for one workflow stays with it: a record that cannot be read
or converted, an entry the app no longer has, a value the runtime cannot
store, an exception in the per-workflow code here. That workflow fails alone,
stored as failed with its error (so a later start does not try it again), and
the node, the store and the other workflows go on.

A store that fails under a running host (a full disk, a damaged page) stops
the host as *Failed*: one log line says why, its workflows stop where their
last commit left them (they resume at the next start), and spawns and sends
to it are refused with UNAVAILABLE. The node's other hosts run on.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import msgpack
import trio

from actors import protocol
from actors.codec import from_lua, to_lua
from actors.errors import ActorError
from actors.pid import pid_prefix
from actors.registry import Entry
from actors.worker import Worker

from .history import Batch, CorruptRecordError, HistoryError, HistoryStore, WorkflowHeader
from .history_limits import HistoryLimits, Usage
from .start_options import StartOptions, start_options
from .temporal_routing import workflow_type
from .worker_host import WorkerHost
from .workflow_config import map_sizes, store_path
from .workflow_runs import first_run_meta, next_run, next_run_meta, run_deadline

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["WorkflowHost"]

log = logging.getLogger("luactor")

#: Kinds a workflow host's worker loads: workflows, what they call and import.
WORKFLOW_KINDS = ("workflow.lua", "function.lua", "library.lua", "process.lua")

#: History record types that replay walks in order (signals are looked up).
SIGNAL = "signal"


class _Entropy:
    """Random bytes for workflow ids and seeds, read from the OS 4 KiB at a time:
    a read per id and per seed (two system calls per start) cost more than
    making the id itself."""

    SIZE = 4096

    def __init__(self) -> None:
        self._pool, self._at = b"", 0
        os.register_at_fork(after_in_child=self._forget)   # a child must not repeat its parent's bytes

    def _forget(self) -> None:
        self._pool, self._at = b"", 0

    def take(self, n: int) -> bytes:
        at = self._at
        if at + n > len(self._pool):
            self._pool, at = os.urandom(self.SIZE), 0
        self._at = at + n
        return self._pool[at:at + n]


_entropy = _Entropy()


def _new_seed() -> int:
    return int.from_bytes(_entropy.take(8), "little") >> 1 or 1


def _new_workflow_id() -> str:
    """A UUIDv7: ids made one after another sort one after another, so the events of
    workflows started together sit together in the store (fewer pages per commit)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(_entropy.take(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76                   # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62                   # RFC 4122 variant
    digits = f"{value:032x}"                                   # as str(uuid.UUID(int=value)), without its checks
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class _CommitWait:
    """A Python caller waiting for the next commit (an ``after_commit`` callback), told
    whether the commit came or the host failed first."""

    def __init__(self) -> None:
        self.done = trio.Event()
        self.failed = False

    def __call__(self) -> None:
        self.done.set()

    def fail(self) -> None:
        self.failed = True
        self.done.set()


def _may_continue(meta: dict) -> bool:
    """Whether a run may be followed by another (a retry policy or a cron schedule): the kernel
    asks the host as such a run ends, and only then."""
    options = meta.get("options") or {}
    return "retry" in options or "cron" in options


def _store_failed(error: Exception) -> bool:
    """Whether ``error`` is the store's own failure (which stops the host), not one workflow's."""
    return isinstance(error, HistoryError) and not isinstance(error, CorruptRecordError)


def _failure_of(workflow_id: str, error: Exception, doing: str) -> dict:
    """The error a workflow fails with when ``error`` was raised while ``doing`` something for it."""
    if isinstance(error, ActorError):
        kind, detail = error.kind, error.message
    elif isinstance(error, RecursionError):
        kind, detail = "Invalid", "a value is nested too deep to convert"
    else:
        kind, detail = "Internal", f"{type(error).__name__}: {error}"
    return {"kind": kind, "message": f"workflow {workflow_id!r} failed while {doing}: {detail}"}


def _store_failure(group: BaseExceptionGroup) -> HistoryError | None:
    """The HistoryError that is all ``group`` holds (however nested), else None."""
    matched, rest = group.split(HistoryError)
    if matched is None or rest is not None:
        return None
    while isinstance(matched, BaseExceptionGroup):
        matched = matched.exceptions[0]
    return matched


class WorkflowHost(WorkerHost):
    kind = "workflow.host"
    durable = True

    def __init__(self, entry: Entry, node: Any):
        self.id = entry.id
        self.node = node
        self.path = store_path(entry, node.data_dir)
        self.map_size, self.max_map_size = map_sizes(entry)
        self.sync = bool(entry.get("sync"))
        self.limits = HistoryLimits.of(entry)
        self._usage: dict[str, Usage] = {}   # the history of each workflow running here, so far
        self.store: HistoryStore | None = None
        self.failure: HistoryError | None = None   # why the store stopped the host, once it has
        self._batch: Batch | None = None
        self._claimed_runs: dict[str, int] = {}             # id -> last run claimed, until the commit
        self._new_ids: set[str] = set()                     # ids made here whose start is not drained yet
        self._starting: dict[str, dict] = {}               # id -> what its header keeps of its start, until drained
        self._continuing: dict[str, tuple[int, int]] = {}   # id -> (start_at, attempt) of the run that follows
        self._timing_out: dict[str, str] = {}               # id -> the timeout ("run", "execution") ending it
        self._deadlines: dict[str, trio.CancelScope] = {}   # id -> the wait for its run's deadline
        self._nursery: trio.Nursery | None = None
        # entry id -> its workflow type, where meta.temporal.workflow.name gives one
        self._workflow_types = {e.id: workflow_type(e) for e in node.registry.of_kind("workflow.lua")
                                if workflow_type(e) != e.id}
        self._stored_signals: list[tuple[str, int, str, str, Any]] = []
        self._signal_replies: list[int] = []
        self._after_commit: list[Callable[[], None]] = []
        self.commit_listeners: list[Callable[[int, float], None]] = []   # (events, seconds) of each commit
        self._worker_scope = trio.CancelScope()
        self.worker = Worker(
            node.router, entry.id, pid_prefix(node.name, entry.id), node.registry.of_kind(*WORKFLOW_KINDS),
            source_root=node.registry.app_dir.parent,
            extra_deps={
                b"durable": True,
                b"encode_records": True,   # history commands arrive as msgpack, ready to store
                b"seed": _new_seed,
                b"claim_workflow": self._claim_from_lua,
                b"workflow_result": self._final_result,
                b"history_usage": self._history_usage,
                b"continue_workflow": self._continue_workflow,
            },
            handlers={
                protocol.History: self._unless_failed(self._on_history),
                protocol.StoreMessage: self._unless_failed(self._on_store_message),
                protocol.WorkflowStart: self._for_one_workflow(self._on_start, "storing its start"),
                protocol.WorkflowDone: self._for_one_workflow(self._on_done, "storing its end"),
                protocol.WorkflowWatch: self._for_one_workflow(
                    self._on_watch, "storing a monitor or link of another workflow"),
                protocol.WorkflowAttrs: self._for_one_workflow(
                    self._on_attrs, "storing its search attributes and memo"),
            },
            after_slice=self._commit,
        )
        kernel = self.worker.kernel
        self._new_workflow = kernel.new_workflow
        self._start_workflow = kernel.start_workflow
        self._signal_stored = kernel.signal_stored
        self._committed = kernel.committed
        self._fail_in_kernel = kernel.fail_workflow

    # -- lifecycle --------------------------------------------------------

    async def start(self, nursery: trio.Nursery) -> None:
        """Open the store and replay what it holds; a store that cannot be opened or
        read raises its :class:`HistoryError` (an ActorError) and is left closed."""
        self._nursery = nursery
        self.store = HistoryStore.open(self.path, sync=self.sync, map_size=self.map_size,
                                       max_map_size=self.max_map_size)
        try:
            self._batch = self.store.batch()
            self._recover()
        except BaseException:
            self.store.close()
            self.store = None
            raise
        await nursery.start(self._run_worker)

    async def _run_worker(self, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as self._worker_scope:
            try:
                await self.worker.run(task_status=task_status)
            except BaseExceptionGroup as group:
                failure = _store_failure(group)
                if failure is None:
                    raise
                self._fail(failure)

    def _fail(self, error: HistoryError) -> None:
        """The store failed under the running host: say so once, stop the host, keep the store as it is.

        What was not committed is dropped: no one was told it was stored.
        The workflows' monitors and links get EXIT and LINK_DOWN (CANCELED,
        naming the failure), as when a node goes down, though the workflows
        resume at the next start. Python callers waiting for a commit get
        UNAVAILABLE; spawns that Lua processes asked for meanwhile get no answer.
        """
        self.failure = error
        log.error("%s: Running -> Failed: %s; its workflows stop here and resume from the store "
                  "when the node starts again", self.id, error.message)
        pending, self._after_commit = self._after_commit, []
        for callback in pending:
            if isinstance(callback, _CommitWait):
                callback.fail()
        self._batch = None
        if self.store is not None:
            self.store.close()
            self.store = None
        self.worker.terminate_all(f"workflow host {self.id} failed: {error.message}")

    def _unless_failed(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        """A kernel command that records history: ignored once the store has failed."""
        def run(cmd: Any) -> None:
            if self.failure is None:
                handler(cmd)
        return run

    def _for_one_workflow(self, handler: Callable[[Any], None], doing: str) -> Callable[[Any], None]:
        """A kernel command about the workflow ``cmd.workflow``: ignored once the
        store has failed; when it fails here, that workflow fails alone."""
        def run(cmd: Any) -> None:
            if self.failure is not None:
                return
            try:
                handler(cmd)
            except Exception as error:
                if _store_failed(error):
                    raise
                self._fail_workflow(cmd.workflow, _failure_of(cmd.workflow, error, doing))
        return run

    def _fail_workflow(self, workflow_id: str, failure: dict) -> None:
        """Something done for one workflow failed (or its history is full): it alone fails.

        Its process ends with ``failure`` (its monitors and links hear of it)
        and its header is stored as failed with it, so a later start does not
        try it again; records of it still to come are not stored.
        """
        log.error("%s: %s; the other workflows go on", self.id, failure["message"])
        self._usage.pop(workflow_id, None)
        if self._fail_in_kernel(workflow_id.encode(), to_lua(self.worker.lua, failure)):
            self.worker.wake()
        assert self._batch is not None
        try:
            header = self._batch.current(workflow_id)
        except CorruptRecordError:
            return   # its header is damaged: the next start stores it as failed
        if header is not None and header.status == "running":
            self._batch.put_header(header.replace(status="failed", error=failure,
                                                  updated_ns=self.node.router.wall_ns()), copy=False)

    def _refuse_if_failed(self) -> None:
        if self.failure is not None:
            raise ActorError("Unavailable", f"workflow host {self.id} has failed: {self.failure.message}")

    async def stop(self) -> None:
        """Stop running workflows (they stay unfinished and resume on the
        next start), commit what was recorded, close the store."""
        self._worker_scope.cancel()
        self._commit()
        if self.store is not None:
            self.store.close()
            self.store = None

    def _recover(self) -> None:
        """Replay every unfinished workflow from its history.

        One that cannot be recovered (a corrupt record, a value that does not
        convert, an entry the app no longer has) fails alone, its error naming
        why; the others go on. (Stored with the first commit.)
        """
        assert self.store is not None
        unfinished = self.store.unfinished(on_corrupt=self._unreadable_header)
        for header in unfinished:
            try:
                self._launch(header, *self._read_history(header))
            except Exception as error:
                if _store_failed(error):
                    raise
                self._fail_workflow(header.id, _failure_of(header.id, error, "being recovered"))
        # children whose parent closed while the node was down are closed as their policy says
        closed_parents = {header.parent for header in unfinished
                          if (header.meta.get("options") or {}).get("parent_close_policy")
                          and header.parent and self._ended(header.parent) is not None}
        for parent in closed_parents:
            self._close_children(self.store.header(self._workflow_id(parent)))

    def _read_history(self, header: WorkflowHeader) -> tuple[list, dict, Usage]:
        """The ordered records of the run to replay, its stored messages by sequence, and
        how much history it has."""
        assert self.store is not None
        history, signals, usage = [], {}, Usage(self.limits)
        for seq, record, size in self.store.sized_run_events(header):
            usage.events, usage.bytes = usage.events + 1, usage.bytes + size
            if record.get("type") == SIGNAL:
                signals[seq] = {"from": record.get("from"), "topic": record.get("topic"),
                                "payload": record.get("payload")}
            else:
                history.append(record)
        return history, signals, usage

    def _unreadable_header(self, error: CorruptRecordError) -> None:
        """A header that does not decode is stored as failed, its bytes kept in its meta."""
        assert self.store is not None and self._batch is not None
        raw = self.store.raw_header(error.workflow_id) if error.workflow_id is not None else None
        if raw is None:   # (its key is not an id)
            log.error("%s: a workflow header cannot be read; that workflow is not recovered: %s", self.id, error)
            return
        failure = _failure_of(error.workflow_id, error, "being recovered")
        log.error("%s: %s; the other workflows go on", self.id, failure["message"])
        self._batch.overwrite_header(WorkflowHeader.salvaged(error.workflow_id, raw, failure,
                                                             self.node.router.wall_ns()))

    def _launch(self, header: WorkflowHeader, history: list, signals: dict, usage: Usage) -> None:
        """Recover a stored run: replay ``history``, with its stored watchers."""
        self._warn_if_long(header.id, usage)
        lua = self.worker.lua
        args = to_lua(lua, list(header.input), "input")
        args[b"n"] = len(header.input)
        meta = header.meta
        options = {"ctx": meta.get("ctx"), "parent": header.parent, "run": header.run,
                   "monitors": meta.get("monitors"), "links": meta.get("links"),
                   "attempt": meta.get("attempt"), "start_at": meta.get("start_at"),
                   "workflow_type": self._workflow_types.get(header.entry), "continues": _may_continue(meta)}
        pid, problem = self._start_workflow(
            header.entry.encode(), header.id.encode(), args, to_lua(lua, options, "options"),
            header.created_ns, header.meta.get("seed", 1),
            to_lua(lua, history, "history") if history else None,
            to_lua(lua, signals, "signals") if signals else None,
        )
        if pid is None:
            raise ActorError.from_plain(from_lua(problem))
        self._usage[header.id] = usage
        self._watch_deadline(header)
        self.worker.wake()

    # -- the node's side ----------------------------------------------------

    def spawn(self, entry_id: str, args: list, options: dict) -> str:
        """Start a workflow now; the kernel records the start, stored with the slice's commit.

        Use :meth:`spawn_then` or :meth:`spawn_stored` to learn of that commit.
        """
        self._refuse_if_failed()
        entry = self.node.registry.entries.get(entry_id)
        if entry is None or entry.kind != "workflow.lua":
            raise ActorError("NotFound", f"no workflow.lua entry {entry_id!r}")
        action, value, run = self._claim(options.get("name"), None, options.get("options") or {})
        return self._new_run(entry_id, args, options, value, run) if action == "start" else self._existing(value, options)

    def _existing(self, pid: str, options: dict) -> str:
        """A start that found its workflow: its watchers watch it and its messages go to it."""
        for op, watcher in (("monitor", options.get("monitor_by")), ("link", options.get("link_with"))):
            if watcher:
                self.signal(op, watcher, pid, None)
        for topic, payload in options.get("messages") or []:
            self.send(options.get("parent") or pid, pid, topic, payload)
        return pid

    def _new_run(self, entry_id: str, args: list, options: dict, workflow_id: str, run: int) -> str:
        """Start run ``run`` of workflow ``workflow_id`` (claimed) in the kernel."""
        lua = self.worker.lua
        lua_args = to_lua(lua, list(args), "args")
        lua_args[b"n"] = len(args)
        opts = {key: options.get(key) for key in ("ctx", "parent", "monitor_by", "link_with")}
        meta = self._starting.get(workflow_id, {})
        opts.update(run=run, attempt=meta.get("attempt"), start_at=meta.get("start_at"),
                    workflow_type=self._workflow_types.get(entry_id), continues=_may_continue(meta))
        opts["messages"] = [[topic, payload] for topic, payload in options.get("messages") or []]
        pid, problem = self._new_workflow(entry_id.encode(), workflow_id.encode(), lua_args,
                                          to_lua(lua, opts, "options"))
        if pid is None:
            raise ActorError.from_plain(from_lua(problem))
        self.worker.wake()
        return pid.decode()

    def spawn_then(self, entry_id: str, args: list, options: dict, stored: Callable[[str], None]) -> None:
        """Start a workflow now; ``stored(pid)`` is called once its start is committed.

        The spawns Lua asks for use this: answered from the commit, they
        need no task and no event each (see :meth:`after_commit`).
        """
        self.after_commit(functools.partial(stored, self.spawn(entry_id, args, options)))

    async def spawn_stored(self, entry_id: str, args: list, options: dict) -> str:
        """Start a workflow; return its PID once its start is committed."""
        pid = self.spawn(entry_id, args, options)
        await self._next_commit()
        return pid

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once all that was recorded until now is committed
        (by the commit that ends the worker's next slice)."""
        self._after_commit.append(callback)
        self.worker.wake()

    async def _next_commit(self) -> None:
        """Return once what was recorded until now is committed; UNAVAILABLE if the host fails first."""
        wait = _CommitWait()
        self.after_commit(wait)
        await wait.done.wait()
        if wait.failed:
            self._refuse_if_failed()

    def send(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        """A send that need not wait: stored with the next commit.

        It goes through the kernel, so it is stored in order with the
        starts and ends of workflows the kernel recorded before it. On a
        failed host it is dropped, like a send to a process that has exited.
        """
        if self.failure is None:
            self.worker.send(sender, dest, topic, payload)

    async def send_stored(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        """Store a message for a workflow; return once it is committed.

        One that would take the workflow's history past a limit is refused
        here (RATE_LIMITED), before it goes anywhere.
        """
        self._refuse_if_failed()
        if dest.startswith(self.worker.pid_prefix):
            workflow_id = self._workflow_id(dest)
            usage = self._usage.get(workflow_id)
            if usage is not None:
                record = {"type": SIGNAL, "from": sender, "topic": topic, "payload": payload}
                refusal = self._admit_message(workflow_id, usage, len(msgpack.packb(record, use_bin_type=True)))
                if refusal is not None:
                    raise refusal
                usage.prepay(sender)
            else:
                self._refuse_if_limited(dest)
        self.send(sender, dest, topic, payload)
        await self._next_commit()

    def _refuse_if_limited(self, pid: str) -> None:
        """A workflow that failed at a history limit refuses messages, as it did while its history was full."""
        error = (self._ended(pid) or {}).get("error")
        details = error.get("details") if isinstance(error, dict) else None
        if isinstance(details, dict) and str(details.get("limit")).startswith("history."):
            raise ActorError("RateLimited", f"message to {pid} refused: {error.get('message')}", retryable=False,
                             details=details)

    def signal(self, op: str, sender: str, dest: str, data: Any) -> None:
        """To the kernel; but a monitor of a workflow that has ended (before this node
        started, say) gets EXIT with the result its store holds, not NOT_FOUND."""
        if op == "monitor" and not self.worker.is_alive(dest):
            ended = self._ended(dest)
            if ended is not None:
                self.node.router.deliver_event(sender, {"kind": "EXIT", "from": dest, "result": ended})
                return
        self.worker.signal(op, sender, dest, data)

    def _ended(self, pid: str) -> dict | None:
        """``{value, error}`` of a workflow of this host that has ended, else None
        (also when its header cannot be read: the commits that need it will say so)."""
        if self.store is None or not pid.startswith(self.worker.pid_prefix):
            return None
        try:
            header = self.store.header(self._workflow_id(pid))
        except HistoryError:
            return None
        if header is None or header.status == "running":
            return None
        return {"value": header.result, "error": header.error}

    def _final_result(self, pid: bytes) -> Any:
        """``{value, error}`` of a workflow of this host that has ended, else None."""
        ended = self._ended(pid.decode())
        return None if ended is None else to_lua(self.worker.lua, ended, "result")

    def _pid(self, workflow_id: str) -> str:
        return f"{self.worker.pid_prefix}{workflow_id}}}"

    def _exists(self, workflow_id: str) -> bool:
        """Is there a workflow with this id: stored, or started and not stored yet?"""
        assert self._batch is not None
        return self.worker.is_alive(self._pid(workflow_id)) or self._batch.current(workflow_id) is not None

    def _claim(self, explicit: str | None, default: str | None, options: dict,
               by: str | None = None) -> tuple[str, str, int | None]:
        """Decide the id of a workflow about to start, by the spawn's options.

        ``workflow.id`` (or ``temporal.workflow.id``), else ``explicit``
        (with_name), else ``default``, else a fresh UUID. If a workflow of
        that id runs, ``workflow.id_conflict_policy`` says what happens:
        ``use_existing`` (the default) gives its PID, ``fail`` (or
        ``execution_error_when_already_started``) raises ALREADY_EXISTS,
        ``terminate_existing`` terminates it (its monitors get EXIT) and
        starts a new run under the same id. If it has ended,
        ``workflow.id_reuse_policy`` decides whether a new run may start;
        by default (``reject_duplicate``) the id stays taken, but for
        ``terminate_existing``. Earlier runs stay in the store. Returns
        ("start", id, run number) or ("existing", pid, None). ``by`` is
        the PID of a starting process.
        """
        wanted = start_options(options, explicit, default)
        self._refuse_options(wanted, by)
        workflow_id = wanted.workflow_id
        if workflow_id is None:
            workflow_id = _new_workflow_id()         # a fresh UUID names no workflow yet
            self._new_ids.add(workflow_id)
            self._starting[workflow_id] = first_run_meta(wanted, self.node.router.wall_ns())
            return "start", workflow_id, 1
        pid = self._pid(workflow_id)
        running = self.worker.is_alive(pid)
        if running or self._exists(workflow_id):
            if running and wanted.policy == "terminate_existing":
                if by == pid:
                    raise ActorError("Invalid", f"workflow {workflow_id!r} cannot replace itself "
                                                "(workflow.id_conflict_policy terminate_existing)")
                # its end is recorded before the new run's start (both go through the kernel)
                self.worker.signal("terminate", f"workflow.id_conflict_policy terminate_existing "
                                                f"(a new run of {workflow_id!r})", pid)
            elif running or not self._reusable(workflow_id, wanted):
                if wanted.existing_is_error():
                    raise ActorError("AlreadyExists", f"workflow {workflow_id!r} already exists")
                return "existing", pid, None
        self._starting[workflow_id] = first_run_meta(wanted, self.node.router.wall_ns())
        return "start", workflow_id, self._next_run(workflow_id)

    def _reusable(self, workflow_id: str, wanted: StartOptions) -> bool:
        """May the id of a workflow that has ended start a new run (``workflow.id_reuse_policy``)?"""
        assert self._batch is not None
        reuse = wanted.reuse_policy
        if reuse == "allow_duplicate" or (reuse is None and wanted.policy == "terminate_existing"):
            return True
        if reuse == "allow_duplicate_failed_only":
            header = self._batch.current(workflow_id)
            return header is not None and header.status in ("failed", "terminated", "canceled", "timed_out")
        return False

    def _refuse_options(self, wanted: StartOptions, by: str | None) -> None:
        """Invalid for a start option this host cannot honour, naming it."""
        wanted.refuse(("task_timeout",), "the embedded host has no workflow tasks to time out "
                                         "(host.max_instructions bounds a turn)")
        wanted.refuse(("namespace",), "the embedded host has no namespaces")
        if wanted.task_queue not in (None, self.id):
            wanted.refuse(("task_queue",), f"the embedded host {self.id} serves no other task queue")
        wanted.refuse(("wait_for_cancellation",), "a workflow of the embedded host ends as soon as it is canceled")
        if by is None or not self.worker.is_alive(by) or not by.startswith(self.worker.pid_prefix):
            wanted.refuse(("parent_close_policy",), "applies to child workflows only")

    def _next_run(self, workflow_id: str) -> int:
        """The number of the run a start claimed now gets (its header is made when the
        kernel's record of the start is drained; more claims may come before that)."""
        run = self._claimed_runs.get(workflow_id)
        if run is None:
            assert self._batch is not None
            header = self._batch.current(workflow_id)
            run = header.run if header else 0
        self._claimed_runs[workflow_id] = run + 1
        return run + 1

    def _claim_from_lua(self, explicit: bytes | None, default: bytes | None, options: Any,
                        by: bytes | None = None) -> tuple:
        try:
            action, value, run = self._claim(explicit.decode() if explicit else None,
                                             default.decode() if default else None, from_lua(options) or {},
                                             by.decode() if by else None)
        except ActorError as error:
            return (b"error", error.kind.encode(), error.message.encode())
        start_at = self._starting.get(value, {}).get("start_at") if action == "start" else None
        return (action.encode(), value.encode(), run, start_at)

    def _workflow_id(self, pid: str) -> str:
        return pid[pid.rindex("|") + 1:-1]

    # -- commands from the kernel -------------------------------------------

    def _queue_signal(self, request: int, workflow_id: str, sender: str | None, topic: str, payload: Any) -> None:
        """Store a message for a workflow that runs here, within its history's limits."""
        assert self.store is not None and self._batch is not None
        usage = self._usage.get(workflow_id)
        if usage is None:   # like a send to an exited process: dropped
            if request:
                self.worker.answer(request, True, None)
            return
        record = {"type": SIGNAL, "from": sender, "topic": topic, "payload": payload}
        if not usage.paid(sender):
            refusal = self._admit_message(workflow_id, usage, len(msgpack.packb(record, use_bin_type=True)))
            if refusal is not None:
                self._refuse_message(request, refusal)
                return
        seq = self._batch.append(workflow_id, record)
        self._stored_signals.append((workflow_id, seq, sender, topic, payload))
        if request:
            self._signal_replies.append(request)

    def _refuse_message(self, request: int, refusal: ActorError) -> None:
        """A message not stored: its sender is told, or (a send that does not wait) the log."""
        if request:
            self.worker.answer(request, False, refusal.to_plain())
        else:
            log.warning("%s: %s", self.id, refusal.message)

    def _on_store_message(self, cmd: protocol.StoreMessage) -> None:
        """A message for a workflow: stored, or refused to its sender (its history is full).
        If storing it fails here, the workflow fails and the sender is told."""
        request, workflow_id = cmd.request, cmd.workflow
        try:
            self._queue_signal(request, workflow_id, cmd.sender, cmd.topic, cmd.payload)
        except Exception as error:
            if _store_failed(error):
                raise
            failure = _failure_of(workflow_id, error, "storing a message to it")
            self._fail_workflow(workflow_id, failure)
            self._refuse_message(request, ActorError.from_plain(failure))

    def _on_history(self, cmd: protocol.History) -> None:
        """A run of history records, encoded by the kernel: ``id, ts, record`` each.

        Each is counted against its workflow's history limits. A workflow
        whose record would pass one, or cannot be stored, or fails to be
        appended, fails; its records after that are dropped.
        """
        assert self._batch is not None
        for workflow_id, why in (cmd.unstorable or {}).items():
            self._fail_workflow(workflow_id, {"kind": "Invalid", "message": f"workflow {workflow_id!r}: {why}"})
        items = msgpack.unpackb(cmd.records)
        append, usages = self._batch.append_packed, self._usage
        for i in range(0, len(items), 3):
            workflow_id, record = items[i], items[i + 2]
            usage = usages.get(workflow_id)
            if usage is None:
                continue   # it failed: nothing more of it is stored
            events, size = usage.events + 1, usage.bytes + len(record)
            if events <= usage.next_events and size <= usage.next_bytes:
                usage.events, usage.bytes = events, size
            elif (limit := self._admit(workflow_id, usage, len(record))) is not None:
                self._fail_workflow(workflow_id, self.limits.failure(workflow_id, usage, limit))
                continue
            try:
                append(workflow_id, record, items[i + 1])
            except Exception as error:
                if _store_failed(error):
                    raise
                self._fail_workflow(workflow_id, _failure_of(workflow_id, error, "storing its history"))

    def _admit(self, workflow_id: str, usage: Usage, size: int) -> str | None:
        """Count one more record of ``size`` bytes in a workflow's history, with one warning
        once past a warning level; or, when it would pass a limit, name that limit (the
        record is not counted, nor to be stored)."""
        limit = self.limits.passed(usage, size)
        if limit is None:
            usage.events, usage.bytes = usage.events + 1, usage.bytes + size
            self._warn_if_long(workflow_id, usage)
        return limit

    def _admit_message(self, workflow_id: str, usage: Usage, size: int) -> ActorError | None:
        """Count a message of ``size`` bytes for a workflow; or, when it would take its
        history past a limit, fail the workflow and return the message's refusal."""
        limit = self._admit(workflow_id, usage, size)
        if limit is None:
            return None
        refusal = self.limits.refusal(workflow_id, usage, limit)
        self._fail_workflow(workflow_id, self.limits.failure(workflow_id, usage, limit))
        return refusal

    def _warn_if_long(self, workflow_id: str, usage: Usage) -> None:
        if usage.events > usage.next_events or usage.bytes > usage.next_bytes:
            warning = self.limits.warning(workflow_id, usage)
            if warning:
                log.warning("%s: %s", self.id, warning)

    def _on_start(self, cmd: protocol.WorkflowStart) -> None:
        """A new workflow (or a new run of an id) started: store its header.

        Workflow watchers (a parent's monitor or link) are stored with it,
        so they outlive the node; those of Python and of processes do not.
        """
        assert self._batch is not None
        workflow_id, now = cmd.workflow, cmd.now
        meta = {"seed": cmd.seed, "ctx": cmd.ctx}
        for kind, watchers in (cmd.watchers or {}).items():
            meta[kind] = watchers
        meta.update(self._starting.pop(workflow_id, {}))
        header = WorkflowHeader(
            id=workflow_id, entry=cmd.entry, status="running", input=cmd.args,
            parent=cmd.parent, created_ns=now, updated_ns=now, meta=meta)
        header = self._batch.start_run(header, new_id=workflow_id in self._new_ids, copy=False)
        self._new_ids.discard(workflow_id)
        self._usage[workflow_id] = Usage(self.limits)
        if header.run != cmd.run:
            raise ActorError("Internal", f"workflow {workflow_id!r} started as run {cmd.run} "
                                         f"but the store makes it run {header.run}")
        if header.run > 1:
            # messages stored for the run just replaced are not the new run's
            self._stored_signals = [s for s in self._stored_signals if s[0] != workflow_id]
        self._watch_deadline(header)
        policy = (meta.get("options") or {}).get("parent_close_policy")
        if policy and header.parent:
            self._close_with_parent(workflow_id, header.parent)

    def _on_done(self, cmd: protocol.WorkflowDone) -> None:
        """A workflow ended: its header says how (unless the host failed it first)."""
        assert self._batch is not None
        workflow_id = cmd.workflow
        self._usage.pop(workflow_id, None)
        current = self._batch.current(workflow_id)
        if current is None or current.status != "running":
            return
        error = cmd.error
        timed_out = self._timing_out.pop(workflow_id, None)
        scope = self._deadlines.pop(workflow_id, None)
        if scope is not None:
            scope.cancel()
        ended = current.replace(
            status="timed_out" if timed_out else cmd.outcome or ("failed" if error else "completed"),
            result=None if error else cmd.value, error=error, updated_ns=self.node.router.wall_ns())
        self._batch.put_header(ended, copy=False)
        following = self._continuing.pop(workflow_id, None)
        if following is not None:
            self._start_following_run(ended, *following)
        else:
            self._close_children(ended)

    # -- runs: retries, cron schedules, timeouts, children (see workflow_runs) ----

    def _continue_workflow(self, workflow_id: bytes, failure: Any, outcome: bytes | None) -> bool:
        """(From the kernel, as a run ends.) Whether another run follows it; noted for ``_on_done``."""
        assert self._batch is not None
        wid = workflow_id.decode()
        header = self._batch.current(wid)
        if header is not None and header.status == "running":
            meta = header.meta
        elif wid in self._starting:   # it ended in the slice that started it
            meta = self._starting[wid]
        else:
            return False
        timed_out = self._timing_out.get(wid)
        ended = f"{timed_out}_timed_out" if timed_out == "execution" else (outcome.decode() if outcome else None)
        following = next_run(meta, from_lua(failure), ended, self.node.router.wall_ns())
        if following is None:
            return False
        self._continuing[wid] = following
        return True

    def _start_following_run(self, ended: WorkflowHeader, start_at: int, attempt: int) -> None:
        """Start the run that follows ``ended`` (a retry, a cron schedule's next), same input and PID."""
        self._starting[ended.id] = next_run_meta(ended.meta, start_at, attempt)
        self._new_run(ended.entry, list(ended.input), {"ctx": ended.meta.get("ctx"), "parent": ended.parent},
                      ended.id, self._next_run(ended.id))

    def _watch_deadline(self, header: WorkflowHeader) -> None:
        """Time the run out at its deadline (run_timeout, execution_timeout), if it has one."""
        deadline = run_deadline(header.meta, header.created_ns)
        if deadline is None or self._nursery is None:
            return
        scope = trio.CancelScope()
        self._deadlines[header.id] = scope
        self._nursery.start_soon(self._time_out, scope, header.id, header.run, *deadline)

    async def _time_out(self, scope: trio.CancelScope, workflow_id: str, run: int, at_ns: int, which: str) -> None:
        with scope:
            await trio.sleep(max(at_ns - self.node.router.wall_ns(), 0) / 1e9)
            if self.failure is not None or not self.worker.is_alive(self._pid(workflow_id)):
                return
            self._deadlines.pop(workflow_id, None)
            self._timing_out[workflow_id] = which
            failure = {"kind": "Timeout", "message": f"workflow {workflow_id!r} (run {run}) passed its {which} timeout"}
            self._fail_in_kernel(workflow_id.encode(), to_lua(self.worker.lua, failure))
            self.worker.wake()

    def _close_with_parent(self, workflow_id: str, parent_pid: str) -> None:
        """A child with a parent_close_policy: its parent's header lists it, for when the parent closes."""
        assert self._batch is not None
        if not parent_pid.startswith(self.worker.pid_prefix):
            return
        parent = self._batch.current(self._workflow_id(parent_pid))
        if parent is not None and parent.status == "running":
            children = [c for c in parent.meta.get("close_children") or [] if c != workflow_id] + [workflow_id]
            self._batch.put_header(parent.replace(meta={**parent.meta, "close_children": children}))

    def _close_children(self, parent: WorkflowHeader) -> None:
        """A workflow closed: its running children with a parent_close_policy are terminated or canceled."""
        assert self._batch is not None
        for child_id in parent.meta.get("close_children") or []:
            child = self._batch.current(child_id)
            if child is None or child.status != "running" or child.parent != self._pid(parent.id):
                continue
            policy = (child.meta.get("options") or {}).get("parent_close_policy")
            op = "terminate" if policy == "terminate" else "cancel"
            self.worker.signal(op, f"parent_close_policy {policy} (parent {parent.id!r} closed)", self._pid(child_id),
                               "parent closed")

    def _history_usage(self, workflow_id: bytes) -> tuple[int, int]:
        """The events and bytes of a running workflow's history, as stored until now."""
        usage = self._usage.get(workflow_id.decode())
        return (usage.events, usage.bytes) if usage is not None else (0, 0)

    def _on_attrs(self, cmd: protocol.WorkflowAttrs) -> None:
        """``workflow.attrs``: search attributes and memo merged into the workflow's header."""
        assert self._batch is not None
        header = self._batch.current(cmd.workflow)
        if header is None or header.status != "running":
            return
        meta = dict(header.meta)
        for kind, values in (("search", cmd.search), ("memo", cmd.memo)):
            if values:
                meta[kind] = {**(meta.get(kind) or {}), **values}
        self._batch.put_header(header.replace(meta=meta))

    def _on_watch(self, cmd: protocol.WorkflowWatch) -> None:
        """A workflow started or stopped monitoring or linking to another workflow: stored with
        the watched one (as its start stores its parent's), so it is restored on recovery."""
        assert self._batch is not None
        header = self._batch.current(cmd.workflow)
        if header is None or header.status != "running":
            return
        op, watcher = cmd.op, cmd.watcher
        kind = "monitors" if op in ("monitor", "unmonitor") else "links"
        watchers = [pid for pid in header.meta.get(kind) or [] if pid != watcher]
        if op in ("monitor", "link"):
            watchers.append(watcher)
        self._batch.put_header(header.replace(meta={**header.meta, kind: watchers}))

    # -- group commit ---------------------------------------------------------

    def _commit(self) -> None:
        """Commit what the slice recorded, then let the kernel see it."""
        if self.store is None or self._batch is None:
            return
        # the claims of this slice are drained: their headers are in the batch
        self._claimed_runs, self._new_ids = {}, set()
        self._starting.clear()
        if self._batch.is_empty():
            self._run_after_commit()
            return
        batch, self._batch = self._batch, self.store.batch()
        started, events = time.perf_counter(), batch.event_count
        self.store.commit(batch)
        seconds = time.perf_counter() - started
        log.debug("%s: committed %d events in %.2f ms", self.id, events, seconds * 1e3)
        for listener in self.commit_listeners:
            listener(events, seconds)
        signals, self._stored_signals = self._stored_signals, []
        replies, self._signal_replies = self._signal_replies, []
        lua = self.worker.lua
        for workflow_id, seq, sender, topic, payload in signals:
            try:
                self._signal_stored(workflow_id.encode(), seq, sender.encode() if sender else None,
                                    topic.encode(), to_lua(lua, payload))
            except Exception as error:  # noqa: BLE001 (a payload that does not convert back, say)
                self._fail_workflow(workflow_id, _failure_of(workflow_id, error, "handing it a stored message"))
        self._committed()
        for request in replies:
            self.worker.answer(request, True, None)
        self._run_after_commit()
        self.worker.wake()

    def _run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
