"""The boundary between a worker's kernel (Lua) and its host (Python), declared once.

Three things cross it:

- **Commands**: what a slice leaves in the outbox for Python (see
  ``actors/lua/bridge.lua``). Lua builds each as a positional array
  ``{name, field, ...}``, the cheapest thing to build in a hot path; here
  every command is a typed record, and :func:`decode` is the one place that
  turns an array into its record. A field's annotation says how it is read:
  ``str`` is text, ``str | None`` text or nil, ``int`` and ``bytes`` are taken
  as they are, ``Any`` is a Lua value converted to Python and ``list`` a list
  of arguments (nil in the middle kept). Every value is a copy the kernel
  made (copy.lua bounds its depth), so reading one cannot fail.
- **Entry points**: what the kernel offers Python (``kernel.lua``'s table),
  bound by name on :class:`Kernel`.
- **Callbacks**: what Python gives the kernel (the ``deps`` table), named in
  :data:`CALLBACKS`.

``tests/test_protocol.py`` checks that the commands Lua emits, the records
declared here and the handlers of each host are the same set, and that the
entry points and callbacks match what ``kernel.lua`` defines and reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .codec import arguments_from_lua, from_lua

__all__ = ["CALLBACKS", "COMMANDS", "CORE_COMMANDS", "DURABLE_COMMANDS", "Kernel", "decode"]


# -- commands every worker may leave --------------------------------------


class Route(NamedTuple):
    """A message for a process or endpoint outside this worker's host."""
    sender: str
    dest: str
    topic: str
    payload: Any


class Event(NamedTuple):
    """A lifecycle event (EXIT, LINK_DOWN...) for a watcher outside this host."""
    dest: str
    event: Any


class Signal(NamedTuple):
    """A relationship signal (monitor, link, cancel...) for a process outside this host."""
    op: str
    sender: str
    dest: str
    data: Any


class Spawn(NamedTuple):
    """Start a process on another host; answered with its PID."""
    request: int
    entry: str
    host: str
    args: list
    options: Any


class Exec(NamedTuple):
    """Run a process on another host to its end; answered with its result."""
    request: int
    entry: str
    host: str
    args: list
    options: Any


class Call(NamedTuple):
    """Call a function (``funcs.call``); answered with its result."""
    request: int
    fn: str
    args: list
    ctx: Any
    options: Any


class RouteDurable(NamedTuple):
    """A message for a workflow, answered once it is stored."""
    request: int
    sender: str
    dest: str
    topic: str
    payload: Any


class Cluster(NamedTuple):
    """A cluster operation (names, groups, locks); answered with its result."""
    request: int
    op: str
    args: Any


class CancelRequest(NamedTuple):
    """The answer to ``request`` is no longer wanted: stop the work behind it."""
    request: int


class Log(NamedTuple):
    """A line for the node's log."""
    level: str
    pid: str | None
    message: Any
    fields: Any
    name: Any


class Observe(NamedTuple):
    """A slice's metric updates and ended spans, for the node's observer."""
    metrics: Any
    spans: Any


class Cross(NamedTuple):
    """A slice's batch for another worker of the host (msgpack, see bridge.lua)."""
    worker: int
    batch: bytes


# -- commands of workflow hosts -------------------------------------------


class History(NamedTuple):
    """A run of history records (msgpack ``id, ts, record`` each, when the host
    asks for them encoded), and the workflows whose records could not be."""
    records: bytes | None
    unstorable: Any


class StoreMessage(NamedTuple):
    """A message for a workflow of this host, to be stored (request 0: no answer wanted)."""
    request: int
    workflow: str
    sender: Any
    topic: str
    payload: Any


class WorkflowStart(NamedTuple):
    """A workflow (or a new run of one) started."""
    workflow: str
    entry: str
    args: list
    parent: Any
    ctx: Any
    now: int
    seed: int
    watchers: Any
    run: int


class WorkflowDone(NamedTuple):
    """A workflow ended, with its value or its error."""
    workflow: str
    value: Any
    error: Any
    outcome: Any


class WorkflowWatch(NamedTuple):
    """A workflow's monitor or link of another workflow, to be stored with it."""
    workflow: str
    op: str
    watcher: str


class WorkflowAttrs(NamedTuple):
    """A workflow's search attributes and memo."""
    workflow: str
    search: Any
    memo: Any


def _text(value: bytes) -> str:
    return value.decode()


def _optional_text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _as_is(value: Any) -> Any:
    return value


_READERS: dict[str, Callable[[Any], Any]] = {
    "str": _text, "str | None": _optional_text, "int": _as_is, "bytes": _as_is, "bytes | None": _as_is,
    "Any": from_lua, "list": arguments_from_lua,
}


class Command(NamedTuple):
    """A declared command: its record type and how each field is read."""
    record: type
    readers: tuple[Callable[[Any], Any], ...]


def _declare(records: dict[str, type]) -> dict[str, Command]:
    """Commands by the name Lua gives them, each with how its fields are read."""
    return {name: Command(record, tuple(_READERS[getattr(annotation, "__forward_arg__", annotation)]
                                        for annotation in record.__annotations__.values()))
            for name, record in records.items()}


#: Commands any worker's slice may leave.
CORE_COMMANDS = _declare({
    "route": Route, "event": Event, "signal": Signal, "spawn": Spawn, "exec": Exec, "call": Call,
    "route_durable": RouteDurable, "cluster": Cluster, "cancel_request": CancelRequest, "log": Log,
    "observe": Observe, "cross": Cross,
})
#: Commands only a workflow host's kernel leaves (its ``durable`` dependency set).
DURABLE_COMMANDS = _declare({
    "history": History, "store_message": StoreMessage, "wf_start": WorkflowStart, "wf_done": WorkflowDone,
    "wf_watch": WorkflowWatch, "wf_attrs": WorkflowAttrs,
})
COMMANDS = {**CORE_COMMANDS, **DURABLE_COMMANDS}


def decode(raw: Any) -> tuple:
    """The record of one outbox command (a Lua array ``{name, field, ...}``);
    fields Lua left nil at the end are None."""
    command = COMMANDS[raw[1].decode()]
    return command.record(*[read(raw[i]) for i, read in enumerate(command.readers, 2)])


# -- entry points and callbacks -------------------------------------------


class Kernel:
    """A kernel's entry points, as kernel.lua's table defines them."""

    #: Every kernel's.
    ENTRIES = (
        "define", "spawn", "send", "signal", "reply", "take", "run", "count", "load", "start_placed",
        "apply", "memory", "alive", "snapshot", "stats", "configure_observe", "cancel_all",
        "terminate_all", "watchdog", "guard_probe", "guard_probe_done",
    )
    #: A workflow host's, besides (see workflow.lua's add_entry_points).
    WORKFLOW_ENTRIES = ("new_workflow", "start_workflow", "signal_stored", "child_ended", "committed",
                        "fail_workflow")

    __slots__ = ENTRIES + WORKFLOW_ENTRIES

    def __init__(self, table: Any):
        defined = {name.decode() for name in table}
        declared = set(self.ENTRIES + (self.WORKFLOW_ENTRIES if "start_workflow" in defined else ()))
        if defined != declared:
            raise ValueError(f"kernel entry points not declared: {sorted(defined - declared)}, "
                             f"declared but missing: {sorted(declared - defined)} (see actors/protocol.py)")
        for name in defined:
            setattr(self, name, table[name.encode()])


#: What Python may give a kernel (``deps``), each read by kernel.lua.
CALLBACKS = frozenset({
    # every worker
    "host_id", "pid_prefix", "max_processes", "reductions", "max_instructions", "max_depth", "max_values",
    "load_module", "now", "wall_ns", "random_bytes", "zone", "digest", "validate_json", "is_durable_pid",
    "remote_send", "payload_encode", "payload_decode", "names",
    # process hosts
    "max_memory", "max_mailbox",
    # hosts of several workers
    "workers", "worker", "cpu_clock", "claim_process", "release_process", "slot_block",
    # workflow hosts
    "durable", "encode_records", "seed", "claim_workflow", "workflow_result", "history_usage",
    "continue_workflow", "single_workflow", "task_queue", "namespace",
})
