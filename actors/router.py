"""Where things go: the node's routing between hosts and Python endpoints.

Workers hand the router whatever leaves their Lua state (messages and
signals for other hosts or Python endpoints, calls of Python functions,
spawns on other hosts, log lines). The router finds the destination from
the PID's host part, or through the name registry.
"""

from __future__ import annotations

import inspect
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

import trio

from .codec import check_payload, plain_copy
from .errors import ActorError
from .mailbox import Endpoint, ExitWaiter, Message
from .names import NameRegistry
from .pid import PYTHON_HOST, host_of, is_pid, pid_prefix

__all__ = ["Host", "Router"]

log = logging.getLogger("luactor")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


class Host(Protocol):
    """What the router needs of a host (see ``hosts/``).

    A ``durable`` host also has ``spawn_stored`` and ``send_stored``,
    coroutines that return once the start or message is stored; one that
    can say so without a task (the workflow host) also has ``spawn_then``
    (see :meth:`Router.start_then`).
    """

    id: str

    def spawn(self, entry_id: str, args: list, options: dict) -> str: ...
    def send(self, sender: str, dest: str, topic: str, payload: Any) -> None: ...
    def signal(self, op: str, sender: str, dest: str, data: Any) -> None: ...


def check_topic(topic: Any) -> None:
    if not isinstance(topic, str) or not topic or topic.startswith("@"):
        raise ActorError("Invalid", f"topic must be a non-empty string not starting with '@', got {topic!r}")


class PythonFunction:
    """A Python callable registered as a ``funcs`` target.

    It is called with the call's arguments; if it accepts a ``ctx`` keyword
    it also gets the caller's context (including ``idempotency_key`` for
    durable calls). Coroutine functions are awaited; plain functions run on
    the node's thread, so they must not block.
    """

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            params = ()
        self.wants_ctx = any(p.name == "ctx" or p.kind is p.VAR_KEYWORD for p in params)

    async def __call__(self, args: list, ctx: dict) -> Any:
        result = self.fn(*args, ctx=ctx) if self.wants_ctx else self.fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return result


class Router:
    def __init__(self, node_name: str):
        self.node_name = node_name
        self.names = NameRegistry()
        self.hosts: dict[str, Host] = {}
        self.functions: dict[str, PythonFunction] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._python_prefix = pid_prefix(node_name, PYTHON_HOST)
        self._wall_base = time.time_ns()
        self._clock_base: float | None = None
        self._clock: trio.abc.Clock | None = None
        #: ``(host_id, metric_updates, spans)`` from every worker's slices (see actors/observe/).
        self.observations: Callable[[str, list, list], None] | None = None
        self.tracing: Any = None    # spans calls of Python functions when set (actors/observe/tracing.py)
        #: the cluster's routing (actors/cluster) when the node is in one: PIDs of other nodes go there
        self.remote: Any = None
        self.cluster: Any = None    # the node's cluster (names, locks), when it is in one
        self.groups: Any = None     # the node's process groups (actors/cluster/groups.py), alone or in a cluster
        self._own = "{" + node_name + "@"

    # -- time -----------------------------------------------------------

    def start_clock(self) -> None:
        """Tie wall-clock time to trio's clock (so MockClock drives both)."""
        self._clock = trio.lowlevel.current_clock()  # read from workers' slice threads too
        self._wall_base = time.time_ns()
        self._clock_base = self._clock.current_time()

    def wall_ns(self) -> int:
        if self._clock_base is None:
            return time.time_ns()
        return self._wall_base + int((self._clock.current_time() - self._clock_base) * 1e9)

    # -- endpoints ------------------------------------------------------

    def new_endpoint(self, factory: Callable[[Router, str], Endpoint]) -> Any:
        """A Python endpoint under a PID that Lua code cannot guess (to monitor or
        message it): it learns one only when given it."""
        pid = ""
        while not pid or pid in self._endpoints:
            pid = f"{self._python_prefix}{secrets.token_hex(8)}}}"
        endpoint = factory(self, pid)
        self._endpoints[pid] = endpoint
        return endpoint

    def remove_endpoint(self, pid: str) -> None:
        self._endpoints.pop(pid, None)
        self.names.release(pid)

    # -- addressing -----------------------------------------------------

    def resolve(self, dest: Any) -> str:
        """A PID for a PID or a registered name."""
        if is_pid(dest):
            return dest
        if not isinstance(dest, str):
            raise ActorError("Invalid", f"destination must be a PID or a registered name, got {dest!r}")
        pid = self.names.lookup(dest)
        if pid is None:
            raise ActorError("NotFound", f"no process registered as {dest!r}")
        return pid

    def host(self, host_id: str) -> Host:
        try:
            return self.hosts[host_id]
        except KeyError:
            known = ", ".join(sorted(self.hosts)) or "none"
            raise ActorError("NotFound", f"no host {host_id!r} (hosts: {known})") from None

    async def send(self, sender: str, dest: Any, topic: str, payload: Any) -> None:
        """Validated send from Python code; to a workflow, returns once stored."""
        check_topic(topic)
        pid, payload = self.resolve(dest), plain_copy(payload)
        if self.is_durable_pid(pid):
            await self.send_durable(sender, pid, topic, payload)
        elif self.is_remote(pid):
            self.remote.send(sender, pid, topic, payload)  # refused at once when it cannot go
            await trio.lowlevel.checkpoint()
        else:
            self.route(sender, pid, topic, payload)
            await trio.lowlevel.checkpoint()

    def is_remote(self, pid: str) -> bool:
        """Does ``pid`` name another node of the cluster?"""
        return self.remote is not None and not pid.startswith(self._own)

    def route(self, sender: str, dest: str, topic: str, payload: Any) -> None:
        """Deliver to ``dest``; a PID of an exited process or unknown host drops it, as in Erlang."""
        if self.is_remote(dest):
            self.remote.route(sender, dest, topic, payload)
            return
        target = host_of(dest)
        if target == PYTHON_HOST:
            endpoint = self._endpoints.get(dest)
            if endpoint is not None:
                endpoint.deliver(Message(topic, payload, sender))
            return
        host = self.hosts.get(target)
        if host is not None:
            host.send(sender, dest, topic, payload)

    def send_remote_from_lua(self, sender: bytes, dest: bytes, topic: bytes, payload: Any) -> tuple | None:
        """``process.send`` to a PID of another node: None once queued, else the sender's
        error ``(kind, message)``. Standalone, such a PID is unreachable: dropped."""
        if self.remote is None:
            return None
        return self.remote.send_from_lua(sender, dest, topic, payload)

    async def cluster_request(self, op: str, args: dict) -> Any:
        """What a process asks of the cluster (``args["what"]`` says it, for the error of a node alone)."""
        if op.startswith("pg_") and self.groups is not None:  # a node alone is a cluster of one
            return self.groups.request(op, args)
        if self.cluster is None:
            if op == "view":  # a node alone is a cluster of one
                return {"node": self.node_name, "members": [self.node_name], "addr": ""}
            raise ActorError("Unavailable", f"{args.get('what')} needs a cluster; this node runs alone", retryable=False)
        return await self.cluster.request(op, args)

    def is_durable_pid(self, pid: str) -> bool:
        """Does ``pid`` live on a host of this node that stores messages (a workflow host)?"""
        if self.is_remote(pid):
            return False
        try:
            host = self.hosts.get(host_of(pid))
        except ValueError:
            return False
        return getattr(host, "durable", False)

    async def send_durable(self, sender: str, dest: str, topic: str, payload: Any) -> bool:
        """Deliver to a workflow, returning once the message is stored."""
        target = host_of(dest)
        host = self.hosts.get(target)
        if host is None or not getattr(host, "durable", False):
            raise ActorError("Unavailable", f"workflow host {target!r} is not running: message to {dest} not stored")
        await host.send_stored(sender, dest, topic, payload)
        return True

    def deliver_event(self, dest: str, event: dict) -> None:
        if self.is_remote(dest):
            self.remote.event(dest, event)
            return
        target = host_of(dest)
        if target == PYTHON_HOST:
            endpoint = self._endpoints.get(dest)
            if endpoint is not None:
                endpoint.event(event)
            return
        host = self.hosts.get(target)
        if host is not None:
            host.signal("event", event.get("from", ""), dest, event)

    def signal(self, op: str, sender: str, dest: str, data: Any) -> None:
        """monitor/unmonitor/link/unlink/cancel/terminate between any two PIDs."""
        if self.is_remote(dest):
            self.remote.signal(op, sender, dest, data)
            return
        target = host_of(dest)
        if target != PYTHON_HOST:
            host = self.hosts.get(target)
            if host is not None:
                host.signal(op, sender, dest, data)
            elif op in ("monitor", "link"):
                self._noproc(op, sender, dest)
            return
        endpoint = self._endpoints.get(dest)
        if endpoint is None:
            if op in ("monitor", "link"):
                self._noproc(op, sender, dest)
            return
        if op in ("cancel", "terminate") and not sender.startswith(self._python_prefix):
            return  # only Python code ends its endpoints (Lua's process.cancel/terminate refuse it)
        if op == "monitor":
            endpoint.monitors.add(sender)
        elif op == "unmonitor":
            endpoint.monitors.discard(sender)
        elif op == "link":
            endpoint.links.add(sender)
        elif op == "unlink":
            endpoint.links.discard(sender)
        elif op == "cancel":
            endpoint.event({"kind": "CANCEL", "from": sender, "reason": data})
        elif op == "terminate":
            endpoint.close()
            for linked in endpoint.links:
                error = {"kind": "Canceled", "message": f"terminated by {sender}"}
                self.deliver_event(linked, {"kind": "LINK_DOWN", "from": dest, "reason": f"terminated by {sender}",
                                            "result": {"error": error}})

    def mark_named(self, pid: str) -> None:
        """Tell ``pid``'s host to release its names on exit."""
        target = host_of(pid)
        if target != PYTHON_HOST and target in self.hosts:
            self.hosts[target].signal("named", pid, pid, None)

    def _noproc(self, op: str, sender: str, dest: str) -> None:
        error = {"kind": "NotFound", "message": f"no such process: {dest}"}
        if op == "monitor":
            self.deliver_event(sender, {"kind": "EXIT", "from": dest, "result": {"error": error}})
        else:
            self.deliver_event(sender, {"kind": "LINK_DOWN", "from": dest, "reason": f"NotFound: no such process: {dest}",
                                        "result": {"error": error}})

    # -- work on behalf of Lua --------------------------------------------

    def register_function(self, fn_id: str, fn: Callable[..., Any]) -> None:
        if not isinstance(fn_id, str) or not fn_id:
            raise ActorError("Invalid", f"function id must be a non-empty string, got {fn_id!r}")
        if not callable(fn):
            raise ActorError("Invalid", f"{fn_id}: {fn!r} is not callable")
        self.functions[fn_id] = PythonFunction(fn)

    async def call_python(self, fn_id: str, args: list, ctx: dict) -> Any:
        fn = self.functions.get(fn_id)
        if fn is None:
            raise ActorError("NotFound", f"no function {fn_id!r}: neither a function.lua entry "
                                          "nor a Python callable registered with node.register_function")
        if self.tracing is not None:
            return await self.tracing.call(fn_id, ctx, lambda traced: fn(args, traced))
        return await fn(args, ctx)

    async def call_for(self, fn_id: str, args: list, ctx: dict) -> Any:
        """A call of a Python function a Lua process asked for: its result goes
        back as a payload, held to a payload's limits."""
        result = await self.call_python(fn_id, args, ctx)
        check_payload(result)
        return result

    def spawn_options(self, opts: dict, watcher: str | None = None) -> dict:
        parent = opts.get("parent")
        return {
            "ctx": opts.get("ctx"), "name": opts.get("name"), "messages": opts.get("messages") or [],
            "parent": parent,
            "monitor_by": watcher or (parent if opts.get("monitor") else None),
            "link_with": parent if opts.get("link") else None,
            "options": opts.get("options"),
        }

    async def start(self, host_id: str, entry_id: str, args: list, options: dict) -> str:
        """Spawn on a host (``node@host`` for a host of another node of the cluster);
        on a durable one, return once the start is stored."""
        if self.remote is not None and "@" in host_id:
            node, _, on_node = host_id.partition("@")
            if node != self.node_name:
                return await self.remote.spawn(node, on_node, entry_id, args, options)
            host_id = on_node
        host = self.host(host_id)
        if getattr(host, "durable", False):
            return await host.spawn_stored(entry_id, args, options)
        return host.spawn(entry_id, args, options)

    def start_then(self, host_id: str, entry_id: str, args: list, options: dict,
                   started: Callable[[str], None]) -> bool:
        """:meth:`start` without a task: spawn now, and call ``started(pid)`` once the start holds
        (at once, or on a workflow host once it is committed).

        Raises what the spawn raises. Returns False, having done nothing, for a
        host that starts only asynchronously (Temporal) or is on another node: await :meth:`start` then.
        """
        if "@" in host_id:
            return False
        host = self.host(host_id)
        if not getattr(host, "durable", False):
            started(host.spawn(entry_id, args, options))
            return True
        spawn_then = getattr(host, "spawn_then", None)
        if spawn_then is None:
            return False
        spawn_then(entry_id, args, options, started)
        return True

    async def spawn_for(self, entry_id: str, host_id: str, args: list, opts: dict) -> str:
        """A spawn a Lua process asked for on another host."""
        return await self.start(host_id, entry_id, args, self.spawn_options(opts))

    def spawn_for_then(self, entry_id: str, host_id: str, args: list, opts: dict,
                       started: Callable[[str], None]) -> bool:
        """:meth:`spawn_for` without a task, as :meth:`start_then`."""
        return self.start_then(host_id, entry_id, args, self.spawn_options(opts), started)

    async def exec_for(self, entry_id: str, host_id: str, args: list, opts: dict) -> dict:
        """Spawn on another host and wait for the result ``{value, error}``."""
        waiter = self.new_endpoint(ExitWaiter)
        try:
            await self.start(host_id, entry_id, args, self.spawn_options(opts, watcher=waiter.pid))
            return await waiter.result()
        finally:
            self.remove_endpoint(waiter.pid)

    def log(self, level: str, pid: str | None, message: Any, fields: Any, name: str | None = None) -> None:
        """A log line from Lua: ``pid [name] message key=value...``."""
        text = f"[{name}] {message}" if name else str(message)
        text = f"{pid} {text}" if pid else text
        if fields:
            text += " " + " ".join(f"{k}={v!r}" for k, v in (fields.items() if isinstance(fields, dict) else enumerate(fields)))
        log.log(_LEVELS.get(level, logging.INFO), text)
