"""The ``temporal.worker`` kind: ``workflow.lua`` entries on a Temporal cluster.

The host connects to the server its ``temporal.client`` entry names, runs a
Temporal worker on its task queue (workflows from
``temporal_workflow``, activities from ``temporal_activities``) and speaks
for its workflows to the rest of the node: spawns become workflow starts,
sends become signals, cancel and terminate are Temporal's own, and monitors
and links watch the workflow's result.

The SDK runs on an asyncio loop of its own thread (``asyncio_thread``).
When the server cannot be reached, or a health check of a running
connection fails, the host is *Failed*: it logs why (once per change),
retries with a growing delay (``lifecycle.restart.initial_delay`` up to
``lifecycle.restart.max_delay``) and refuses work with UNAVAILABLE
meanwhile; the node's other hosts run on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import trio
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker as TemporalWorker

from actors.durations import SECOND, parse_duration
from actors.errors import ActorError
from actors.pid import pid_prefix
from actors.registry import Entry

from .asyncio_thread import AsyncioThread, TrioPortal
from .start_options import start_options
from .temporal_activities import entry_activities, node_activities
from .temporal_config import SettingError, client_settings, queue_conflicts, worker_settings
from .temporal_options import start_arguments
from .temporal_routing import activity_routes, served_activities, workflow_type, workflow_worker
from .temporal_workflow import (
    EVENT_SIGNAL,
    MESSAGE_SIGNAL,
    LuaWorkflow,
    TemporalEnv,
    error_plain,
    pack,
    serve,
    unpack,
    unserve,
)

__all__ = ["TemporalWorkerHost"]

log = logging.getLogger("luactor")

#: Kinds the kernel of a workflow on Temporal loads. Functions and processes
#: are left out on purpose: calls and spawns then go to the node, as activities.
TEMPORAL_KINDS = ("workflow.lua", "library.lua")

def _settled(entry: Entry, settle: Callable[[Entry], Any]) -> Any:
    """An entry's settings, their warnings logged; bad ones refused as Invalid."""
    try:
        settings = settle(entry)
    except SettingError as error:
        raise ActorError("Invalid", f"{entry.id}: {error.field}: {error}") from None
    for field, message in settings.notes:
        log.warning("%s: %s: %s", entry.id, field, message)
    return settings


class TemporalWorkerHost:
    kind = "temporal.worker"
    durable = True  # sends return once the server has the signal

    def __init__(self, entry: Entry, node: Any):
        self.id = entry.id
        self.node = node
        conflict = {worker.id: message for worker, message in queue_conflicts(node.registry)}.get(entry.id)
        if conflict:
            raise ActorError("Invalid", f"{entry.id}: task_queue: {conflict}")
        self.settings = _settled(node.registry.entries[entry.get("client")], client_settings)
        self.worker_settings = _settled(entry, worker_settings)
        self.address = self.settings.address
        self.namespace = self.settings.namespace
        self.task_queue = self.settings.task_queue(entry.get("task_queue"))
        self.initial_delay = parse_duration(entry.get("lifecycle.restart.initial_delay")) / SECOND
        self.max_delay = parse_duration(entry.get("lifecycle.restart.max_delay")) / SECOND
        self.state = "Stopped"
        self.client: Client | None = None
        self.runs: set = set()
        self.env = TemporalEnv(
            host_id=entry.id, pid_prefix=pid_prefix(node.name, entry.id), task_queue=self.task_queue,
            router=node.router, entries=node.registry.of_kind(*TEMPORAL_KINDS),
            source_root=node.registry.app_dir.parent,
            activity_timeout=timedelta(seconds=parse_duration(entry.get("activity_timeout")) / SECOND),
            max_instructions=entry.get("host.max_instructions"), runs=self.runs,
            activities=activity_routes(node.registry),
            workflow_types={workflow_type(e): e.id for e in node.registry.of_kind("workflow.lua")},
        )
        # workflow PID -> {"monitor": {watcher pids}, "link": {linked pids}}
        self._watched: dict[str, dict[str, set[str]]] = {}
        self._worker: TemporalWorker | None = None
        self._loop: AsyncioThread | None = None
        self._nursery: trio.Nursery | None = None
        self._scope = trio.CancelScope()
        self._stopping = False

    # -- lifecycle --------------------------------------------------------

    async def start(self, nursery: trio.Nursery) -> None:
        """Make a first attempt to connect; the node goes on either way."""
        self._loop = AsyncioThread(f"temporal {self.id}")
        self._nursery = nursery
        self._portal = TrioPortal(nursery)
        serve(self.env, self.namespace)
        await nursery.start(self._serve)

    async def _serve(self, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Connect and run the worker; on failure, report it and try again."""
        delay, started = self.initial_delay, False
        self._set_state("Starting")
        with self._scope:
            while True:
                try:
                    await self._loop.run(self._connect())
                    self._set_state("Running")
                    if not started:
                        started = True
                        task_status.started()
                    delay = self.initial_delay
                    await self._loop.run(self._run_worker())
                    if self._stopping:
                        return
                    raise RuntimeError("the Temporal worker stopped")
                except (RPCError, RuntimeError, OSError) as error:
                    self._set_state("Failed", f"{type(error).__name__}: {error}")
                self.client, self._worker = None, None
                if not started:
                    started = True
                    task_status.started()
                await trio.sleep(delay)
                delay = min(delay * 2, self.max_delay)

    async def _connect(self) -> None:
        """(On the asyncio loop.) A client and a worker, not yet running."""
        timeout = self.settings.connection_timeout
        try:
            # the SDK's connect_timeout bounds reaching the server, this also its first answer
            client = await asyncio.wait_for(Client.connect(self.address, **self.settings.connect), timeout)
        except asyncio.TimeoutError:
            raise ConnectionError(f"no answer from {self.address} within {timeout:g}s") from None
        self._worker = TemporalWorker(
            client, task_queue=self.task_queue, workflows=[LuaWorkflow] if self.worker_settings.runs_workflows else [],
            activities=[*node_activities(self.node, self._portal),
                        *entry_activities(self.node, self._portal, served_activities(self.node.registry, self.id))],
            **self.worker_settings.arguments)
        self.client = client

    async def _run_worker(self) -> None:
        """(On the asyncio loop.) Run the worker until it stops, or until a
        health check fails: the worker is shut down then, and this raises."""
        client, worker = self.client, self._worker
        if worker is None:
            return   # stopped between connecting and running
        running = asyncio.ensure_future(worker.run())
        interval = self.settings.health_interval
        while not (await asyncio.wait({running}, timeout=interval))[0]:
            try:
                serving = await client.service_client.check_health(timeout=timedelta(seconds=interval))
                problem = None if serving else "health check: the server answers that it is not serving"
            except RPCError as error:
                problem = f"health check: {error}"
            if problem:
                await worker.shutdown()
                raise ConnectionError(problem)
        running.result()

    def _set_state(self, state: str, why: str = "") -> None:
        """Log a change of state: a host that stays down while it retries says so once."""
        if state == self.state:
            log.debug("%s: still %s: %s", self.id, state, why)
        elif state == "Failed":
            log.error("%s: %s -> Failed: %s; retrying, %gs to %gs apart", self.id, self.state, why,
                      self.initial_delay, self.max_delay)
        else:
            log.info("%s: %s -> %s (%s, namespace %s, task queue %s)", self.id, self.state, state,
                     self.address, self.namespace, self.task_queue)
        self.state = state

    async def stop(self) -> None:
        """Stop the worker (workflows stay on the server, another worker goes on)."""
        self._stopping = True
        worker, self._worker = self._worker, None
        if worker is not None and self._loop is not None:
            with trio.move_on_after(10):
                await self._loop.run(worker.shutdown())
        self._scope.cancel()
        self.client = None
        unserve(self.env, self.namespace)
        if self._loop is not None:
            await trio.to_thread.run_sync(self._loop.close)
            self._loop = None
        self._set_state("Stopped")

    # -- the node's side ----------------------------------------------------

    def _connected(self) -> Client:
        if self.client is None:
            raise ActorError("Unavailable", f"{self.id}: not connected to Temporal at {self.address} ({self.state})")
        return self.client

    def _handle(self, pid: str) -> WorkflowHandle:
        workflow_id = self.env.workflow_id(pid)
        if workflow_id is None:
            raise ActorError("Invalid", f"{pid} is not a workflow of {self.id}")
        return self._connected().get_workflow_handle(workflow_id)

    async def spawn_stored(self, entry_id: str, args: list, options: dict) -> str:
        """Start a workflow on Temporal; return its PID once the server has it.

        A start that finds its id taken (``use_existing``, the default) gives
        the existing workflow's PID, and the start's messages go to it.
        """
        client = self._connected()
        entry = self.node.registry.entries.get(entry_id)
        if entry is None or entry.kind != "workflow.lua":
            raise ActorError("NotFound", f"no workflow.lua entry {entry_id!r}")
        wanted = start_options(options.get("options"), options.get("name"))
        arguments = start_arguments(wanted, self.namespace)
        # the worker its meta.temporal.workflow names serves it (its task queue), else this one
        serving = workflow_worker(self.node.registry, entry_id)
        queue = self.settings.task_queue(serving.get("task_queue")) if serving is not None else self.task_queue
        workflow_id = wanted.workflow_id or str(uuid.uuid4())
        messages = [list(m) for m in options.get("messages") or []]
        start = pack({"args": list(args), "ctx": options.get("ctx"), "parent": options.get("parent"),
                      "messages": messages})
        pid = self.env.pid(workflow_id)
        task_queue = self.settings.task_queue(wanted.task_queue) if wanted.task_queue else queue
        try:
            await self._loop.run(client.start_workflow(
                workflow_type(entry), start, id=workflow_id, task_queue=task_queue,
                # use_existing is asked as fail, so that an existing workflow is known and gets the messages
                id_conflict_policy=(WorkflowIDConflictPolicy.TERMINATE_EXISTING if wanted.policy == "terminate_existing"
                                    else WorkflowIDConflictPolicy.FAIL),
                **arguments))
        except WorkflowAlreadyStartedError:
            if wanted.existing_is_error():
                raise ActorError("AlreadyExists", f"workflow {workflow_id!r} already exists") from None
            sender = options.get("parent") or pid
            for topic, payload in messages:
                await self.send_stored(sender, pid, topic, payload)
        except RPCError as error:
            kind = "Invalid" if error.status == RPCStatusCode.INVALID_ARGUMENT else "Unavailable"
            raise ActorError(kind, f"{self.id}: starting {entry_id}: {error}") from None
        for relation, watcher in (("monitor", options.get("monitor_by")), ("link", options.get("link_with"))):
            if watcher:
                self._watch(pid, relation, watcher)
        return pid

    def spawn(self, entry_id: str, args: list, options: dict) -> str:
        raise ActorError("Invalid", f"{self.id}: workflows on Temporal start asynchronously (use spawn_stored)")

    async def send_stored(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        """Signal the workflow; return once the server has stored the signal."""
        handle = self._handle(dest)
        try:
            await self._loop.run(handle.signal(MESSAGE_SIGNAL, pack({"from": sender, "topic": topic, "payload": payload})))
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return  # the workflow has ended: dropped, like a send to an exited process
            raise ActorError("Unavailable", f"{self.id}: message to {dest} not stored: {error}") from None

    def send(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        self._soon(self.send_stored, sender, dest, topic, payload)

    def signal(self, op: str, sender: str, dest: str, data: Any) -> None:
        """Relationship signals from anywhere on the node to a workflow here."""
        if op in ("monitor", "link"):
            self._watch(dest, op, sender)
        elif op in ("unmonitor", "unlink"):
            self._watched.get(dest, {}).get(op[2:], set()).discard(sender)
        elif op == "cancel":
            self._soon(self._control, dest, lambda h: h.cancel())
        elif op == "terminate":
            self._soon(self._control, dest, lambda h: h.terminate(reason=f"terminated by {sender}"))
        elif op == "event":
            self._soon(self._control, dest, lambda h: h.signal(EVENT_SIGNAL, pack(data)))

    async def _control(self, pid: str, operation: Any) -> None:
        try:
            await self._loop.run(operation(self._handle(pid)))
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise ActorError("Unavailable", f"{self.id}: {pid}: {error}") from None

    def _soon(self, fn: Any, *args: Any) -> None:
        """Fire and forget, with failures logged."""
        async def run() -> None:
            try:
                await fn(*args)
            except ActorError as error:
                log.warning("%s: %s", self.id, error)
        assert self._nursery is not None
        self._nursery.start_soon(run)

    # -- monitors and links ----------------------------------------------------

    def _watch(self, pid: str, relation: str, watcher: str) -> None:
        watched = self._watched.get(pid)
        if watched is None:
            watched = self._watched[pid] = {"monitor": set(), "link": set()}
            self._soon(self._await_end, pid)
        watched[relation].add(watcher)

    async def _await_end(self, pid: str) -> None:
        """Tell monitors (EXIT) and, on failure, links (LINK_DOWN) when ``pid`` ends."""
        try:
            result = unpack(await self._loop.run(self._handle(pid).result()))
        except WorkflowFailureError as failure:
            result = {"error": error_plain(failure.cause)}
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise ActorError("Unavailable", f"{self.id}: waiting for {pid}: {error}") from None
            result = {"error": {"kind": "NotFound", "message": f"no such process: {pid}"}}
        watched = self._watched.pop(pid, {"monitor": set(), "link": set()})
        router = self.node.router
        for watcher in watched["monitor"]:
            router.deliver_event(watcher, {"kind": "EXIT", "from": pid, "result": result})
        if result.get("error"):
            reason = f"{result['error'].get('kind')}: {result['error'].get('message')}"
            for linked in watched["link"]:
                router.deliver_event(linked, {"kind": "LINK_DOWN", "from": pid, "reason": reason})

    # -- introspection ------------------------------------------------------------

    def process_count(self) -> int:
        """Workflows this worker holds in memory (Temporal's cache)."""
        return len(self.runs)

    def memory(self) -> int:
        return sum(run.worker.memory() for run in list(self.runs))
