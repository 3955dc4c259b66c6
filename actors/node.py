"""The node: a loaded application with its hosts running, seen from Python.

``Node.open(app_dir)`` loads the registry, starts every host (the kinds that
packages declare under the ``luactor.hosts`` entry point group) and any
other node components, and gives Python code its API: spawn, send,
mailboxes, calls, names, monitors and links, cancel and terminate.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import trio

from .errors import ActorError, NodeFailure
from .mailbox import Endpoint, ExitWaiter, Mailbox
from .registry import Registry, load_app
from .router import Router

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup

__all__ = ["Node"]

log = logging.getLogger("luactor")

#: The data directory of a node, inside its app directory, unless one is given.
DATA_DIR = ".luactor"


def host_kinds() -> dict[str, Any]:
    """Host entry points by registry kind (``luactor.hosts``), not loaded yet:
    a host kind's module (and what it needs, e.g. temporalio) is imported
    only by apps that use it."""
    return {ep.name: ep for ep in entry_points(group="luactor.hosts")}


def load_host_class(kind: str, entry_point: Any) -> Any:
    try:
        return entry_point.load()
    except ImportError as error:
        raise ActorError("Unavailable", f"hosts of kind {kind} need the module {error.name!r}, which is not "
                                        f"installed ({error}); for temporal.worker: pip install 'luactor[temporal]'") from None


def component_factories() -> list[Any]:
    """Node components (e.g. the supervision tree) from ``luactor.components``.

    A component is built as ``factory(node)`` after the hosts are up, started
    with ``await component.start(nursery)`` and stopped, in reverse order,
    with ``await component.stop()`` before the hosts stop.
    """
    return [ep.load() for ep in sorted(entry_points(group="luactor.components"), key=lambda ep: ep.name)]


def _sole_node_failure(group: BaseExceptionGroup) -> NodeFailure | ActorError | None:
    """The NodeFailure or ActorError (a host that could not start) that is all ``group`` holds
    (however nested), else None."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            leaves.append(error)
    if len(leaves) == 1 and isinstance(leaves[0], (NodeFailure, ActorError)):
        return leaves[0]
    return None


class Node:
    """A running application. Create it with :meth:`Node.open`."""

    def __init__(self, registry: Registry, *, name: str = "luactor", data_dir: Path | None = None):
        self.registry = registry
        self.name = name
        self.data_dir = Path(data_dir) if data_dir is not None else registry.app_dir / DATA_DIR
        self.router = Router(name)
        self._hosts: list[Any] = []
        self.components: list[Any] = []
        self._root: Endpoint = self.router.new_endpoint(Endpoint)
        self.observability: Any = None  # metrics, tracing and the observer (actors/observe), set by open
        self.cluster: Any = None        # the node's cluster (actors/cluster), when open joined one

    @property
    def pid(self) -> str:
        """The node's own PID: the sender of what the node itself sends (and of CANCEL at shutdown)."""
        return self._root.pid

    @classmethod
    @asynccontextmanager
    async def open(cls, app_dir: str | Path, data_dir: str | Path | None = None, *,
                   node: str = "luactor", cluster: str | list[str] | None = None,
                   functions: dict[str, Callable[..., Any]] | None = None,
                   metrics: str | None = None, observe: str | None = None, observe_actions: bool | None = None,
                   tracing: Any = None) -> AsyncIterator[Node]:
        """Load ``app_dir``, start its hosts, and stop everything on exit.

        ``functions`` are Python callables to register before anything
        starts: recovered workflows may call them at once. ``metrics`` and
        ``observe`` are ``HOST:PORT`` addresses to serve ``/metrics`` and the
        web observer on, ``tracing`` an exporter ("console", "otlp" or a
        SpanExporter); they override the app's ``node.observe`` entry.
        ``node`` is the node's name (PIDs carry it); ``cluster`` the NATS
        servers (``nats://HOST:PORT[,...]``) of a cluster to join under it
        (see actors/cluster): Unavailable if none answers, AlreadyExists if
        another node of the cluster has the name.
        Raises ``RegistryError`` listing every problem if the app does not load,
        and the ``ActorError`` of a host that cannot start (a store it cannot open).
        """
        registry = load_app(app_dir)
        for warning in registry.warnings:
            log.warning("%s", warning)
        name, node = node, cls(registry, name=node, data_dir=Path(data_dir) if data_dir else None)
        group_scopes = {entry.id for entry in registry.of_kind("pg.scope")}
        if cluster is not None:
            from .cluster.cluster import Cluster  # a standalone node never imports NATS
            node.cluster = Cluster(name, cluster, node.router, group_scopes=group_scopes)
        else:
            from .cluster.groups import ProcessGroups  # (which needs no NATS alone)
            node.router.groups = ProcessGroups(name, None, node.router, group_scopes)
        for fn_id, fn in (functions or {}).items():
            node.register_function(fn_id, fn)
        # Built before anything starts, so a host or component that refuses
        # its configuration fails the open as cleanly as the loader does.
        node._hosts = node._build_hosts()
        node.components = [factory(node) for factory in component_factories()]
        from .observe.observability import Observability
        from .observe.settings import ObserveSettings
        node.observability = Observability(node, node._hosts, ObserveSettings.resolve(
            registry, metrics=metrics, observe=observe, observe_actions=observe_actions, tracing=tracing))
        try:
            async with trio.open_nursery() as nursery:
                await node._start(nursery)
                try:
                    yield node
                finally:
                    with trio.CancelScope(shield=True):
                        await node._stop()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            failure = _sole_node_failure(group)
            if failure is None:
                raise
            raise failure from None

    @classmethod
    def start_blocking(cls, app_dir: str | Path, data_dir: str | Path | None = None, **kwargs: Any) -> Any:
        """A node on a background thread, for code that is not async."""
        from .blocking import BlockingNode
        return BlockingNode(app_dir, data_dir, **kwargs)

    def _build_hosts(self) -> list[Any]:
        """A host for every entry of a host kind, in registry order (not started)."""
        kinds = host_kinds()
        return [load_host_class(entry.kind, kinds[entry.kind])(entry, self)
                for entry in self.registry if entry.kind in kinds]

    async def _start(self, nursery: trio.Nursery) -> None:
        if self.observability is not None:  # first: a taken port stops the open before any host runs
            await self.observability.start(nursery)
        if self.cluster is not None:  # before any host: a taken name or no NATS stops the open here
            await self.cluster.join()
            self.router.remote = self.cluster.routing
            self.router.cluster = self.cluster
            await self.cluster.start(nursery)
        else:
            await self.router.groups.start()
        self.router.start_clock()
        for host in self._hosts:
            await host.start(nursery)
            self.router.hosts[host.id] = host
        for component in self.components:
            await component.start(nursery)

    async def _stop(self) -> None:
        if self.observability is not None:  # open pages say the node stopped, while they still show it running
            await self.observability.stop()
        for component in reversed(self.components):
            await component.stop()
        for host in reversed(list(self.router.hosts.values())):  # those that started
            await host.stop()
        if self.router.remote is not None:
            await self.cluster.stop()
        if self.observability is not None:
            self.observability.close()

    # -- processes ------------------------------------------------------

    def register_function(self, fn_id: str, fn: Callable[..., Any]) -> None:
        """Make a Python callable a ``funcs.call`` target under ``fn_id``."""
        self.router.register_function(fn_id, fn)

    async def spawn(self, entry_id: str, host: str, *args: Any, name: str | None = None,
                    context: dict | None = None, messages: list[tuple[str, Any]] | None = None,
                    monitor_by: str | None = None, options: dict | None = None) -> str:
        """Start ``entry_id`` on ``host``; returns its PID.

        ``name`` registers the process under a name atomically, ``context``
        is what ``ctx.get`` sees, ``messages`` are (topic, payload) pairs
        delivered before anything else, ``monitor_by`` is a PID (e.g. a
        mailbox's) that gets the process's EXIT event, with no race.
        ``options`` are spawn options, as Lua's ``with_options`` (for
        workflows: ``workflow.id``, ``workflow.id_conflict_policy``).
        """
        if self.router.tracing is not None:
            context = self.router.tracing.current_context(context)
        pid = await self.router.start(host, entry_id, list(args), {
            "ctx": context, "name": name, "messages": list(messages or []), "monitor_by": monitor_by,
            "options": options,
        })
        await trio.lowlevel.checkpoint()
        return pid

    async def exec(self, entry_id: str, host: str, *args: Any, context: dict | None = None) -> Any:
        """Spawn, wait for the process to end, return its result (or raise its error)."""
        return await self._run_to_end(host, entry_id, list(args), {"ctx": context})

    async def call(self, fn_id: str, *args: Any, context: dict | None = None, host: str | None = None) -> Any:
        """Call a ``function.lua`` entry or a registered Python callable."""
        if fn_id in self.router.functions:
            return await self.router.call_python(fn_id, list(args), context or {})
        entry = self.registry.entries.get(fn_id)
        if entry is None or entry.kind != "function.lua":
            what = f"a {entry.kind}" if entry else "not in the registry"
            raise ActorError("NotFound", f"no function {fn_id!r} ({what}, and no Python callable registered)")
        host = host or self._default_process_host()
        return await self._run_to_end(host, fn_id, list(args), {"ctx": context, "call": True, "quiet": True})

    def _default_process_host(self) -> str:
        hosts = self.registry.of_kind("process.host")
        if not hosts:
            raise ActorError("Unavailable", "the app has no process.host entry to run functions on")
        return hosts[0].id

    async def _run_to_end(self, host: str, entry_id: str, args: list, options: dict) -> Any:
        if self.router.tracing is not None:
            options = {**options, "ctx": self.router.tracing.current_context(options.get("ctx"))}
        waiter = self.router.new_endpoint(ExitWaiter)
        pid = None
        try:
            pid = await self.router.start(host, entry_id, args, {**options, "monitor_by": waiter.pid})
            return await waiter.value()
        finally:
            if pid is not None and options.get("call") and not waiter._done.is_set():
                # a function is cancelled with its caller (here, the awaiting task)
                self.router.signal("terminate", waiter.pid, pid, None)
            self.router.remove_endpoint(waiter.pid)

    async def send(self, dest: str, topic: str, payload: Any = None) -> None:
        """Send from the node itself (its own PID is the sender).

        To a workflow, this returns once the message is stored.
        """
        await self.router.send(self._root.pid, dest, topic, payload)

    @asynccontextmanager
    async def mailbox(self, name: str | None = None) -> AsyncIterator[Mailbox]:
        """A Python-side process with a PID, removed on exit."""
        mailbox = self.router.new_endpoint(Mailbox)
        try:
            if name is not None:
                self.register_name(name, mailbox.pid)
            yield mailbox
        finally:
            mailbox.close()

    # -- control ----------------------------------------------------------

    async def cancel(self, dest: str, reason: Any = None) -> None:
        """Deliver CANCEL to ``dest``'s events; the process decides how to end."""
        self.router.signal("cancel", self._root.pid, self.router.resolve(dest), reason)
        await trio.lowlevel.checkpoint()

    async def terminate(self, dest: str) -> None:
        """End ``dest`` at once; its monitors get EXIT with an error."""
        self.router.signal("terminate", self._root.pid, self.router.resolve(dest), None)
        await trio.lowlevel.checkpoint()

    def register_name(self, name: str, pid: str) -> None:
        """Give ``pid`` a node-local name, released when the process exits."""
        if not isinstance(name, str) or not name:
            raise ActorError("Invalid", f"name must be a non-empty string, got {name!r}")
        if not self.router.names.register(name, pid):
            raise ActorError("AlreadyExists", f"name {name!r} is already registered")
        self.router.mark_named(pid)

    def lookup(self, name: str) -> str:
        return self.router.resolve(name)

    def unregister_name(self, name: str) -> bool:
        return self.router.names.unregister(name)

    def process_count(self, host: str) -> int:
        return self.router.host(host).process_count()

    def memory(self, host: str) -> int:
        """Bytes held by ``host``'s Lua state after a full collection."""
        return self.router.host(host).memory()

    def metrics(self) -> list[Any]:
        """Every metric sample now (prometheus-client ``Sample``: name, labels, value), as
        ``/metrics`` would show them; needs prometheus-client (``luactor[metrics]``)."""
        if self.observability is None or self.observability.metrics is None:
            raise ActorError("Unavailable", "metrics need prometheus-client: pip install 'luactor[metrics]'")
        return self.observability.metrics.samples()

    @property
    def host_ids(self) -> list[str]:
        return list(self.router.hosts)
