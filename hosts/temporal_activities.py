"""Activities: what a Lua workflow on Temporal asks of the node.

A Temporal workflow must not touch the world, so everything it does outside
itself is an activity that Temporal records: function calls (``funcs``),
and sends, spawns and relationship signals to processes. Each activity
crosses from the SDK's asyncio loop to the node's trio loop and runs there,
exactly as the same operation from a process would.

A failure the Lua code should see (an ``ActorError`` or a Python callable's
exception) is an outcome, not an incident: non-retryable, *benign* (the SDK
does not log it as an error), carrying ``{kind, message}``. A worker dying
mid-activity is Temporal's business: it retries after the timeout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from actors.errors import ActorError
from actors.registry import Entry

from .asyncio_thread import TrioPortal
from .temporal_workflow import pack, unpack

__all__ = ["entry_activities", "node_activities"]

#: Wippy's error kinds that are not retried unless the error says otherwise (as errors.lua's).
NOT_RETRYABLE = frozenset({"Invalid", "NotFound", "PermissionDenied", "AlreadyExists"})


def _failure(kind: str, message: str, plain: dict, retry: bool, retryable: bool | None) -> ApplicationError:
    """An activity's own failure, for Temporal: non-retryable (an outcome) unless the call has a
    retry policy and the error may be retried."""
    if retryable is None:
        retryable = kind not in NOT_RETRYABLE
    return ApplicationError(message, plain, type=kind, non_retryable=not (retry and retryable),
                            category=ApplicationErrorCategory.BENIGN)


def _on_trio(portal: TrioPortal):
    """Run work on the node's trio loop; its failure raised as an activity failure."""
    async def run(work: Callable[[], Awaitable[Any]], retry: bool) -> bytes:
        try:
            return pack(await portal.run(work))
        except ActorError as error:
            raise _failure(error.kind, error.message, error.to_plain(), retry, error.retryable) from None
        except Exception as error:  # noqa: BLE001 (a Python callable's own failure)
            plain = {"kind": "Internal", "message": f"{type(error).__name__}: {error}"}
            raise _failure("Internal", plain["message"], plain, retry, False) from None
    return run


def node_activities(node: Any, portal: TrioPortal) -> list[Callable[..., Awaitable[bytes]]]:
    """The activities of one node, for a Temporal worker."""
    router = node.router
    on_trio = _on_trio(portal)

    def node_activity(name: str, operation: Callable[[dict], Awaitable[Any]]) -> Callable[..., Awaitable[bytes]]:
        async def run(data: bytes) -> bytes:
            request = unpack(data)
            return await on_trio(lambda: operation(request), request.get("retry", False))
        return activity.defn(name=name)(run)

    async def relay(request: dict) -> None:
        if request["op"] == "event":
            router.deliver_event(request["to"], request["data"])
        else:
            router.signal(request["op"], request["from"], request["to"], request["data"])

    return [
        node_activity("luactor.call", lambda r: node.call(r["fn"], *r["args"], context=r["ctx"])),
        node_activity("luactor.send", lambda r: router.send(r["from"], r["to"], r["topic"], r["payload"])),
        node_activity("luactor.spawn", lambda r: router.spawn_for(r["entry"], r["host"], r["args"], r["opts"])),
        node_activity("luactor.exec", lambda r: router.exec_for(r["entry"], r["host"], r["args"], r["opts"])),
        node_activity("luactor.signal", relay),
    ]


def _process_host(node: Any) -> str:
    hosts = node.registry.of_kind("process.host")
    if not hosts:
        raise ActorError("Unavailable", "process activities need a process.host entry to run on")
    return hosts[0].id


def entry_activities(node: Any, portal: TrioPortal, entries: list[Entry]) -> list[Callable[..., Awaitable[bytes]]]:
    """The activities named by entry id (``meta.temporal.activity``): a function.lua entry
    is called, a process.lua entry runs to its end on the node's first process host."""
    on_trio = _on_trio(portal)

    def entry_activity(entry: Entry) -> Callable[..., Awaitable[bytes]]:
        async def run(data: bytes) -> bytes:
            request = unpack(data)
            args, ctx = request["args"], request["ctx"]
            if entry.kind == "function.lua":
                work = lambda: node.call(entry.id, *args, context=ctx)   # noqa: E731
            else:
                work = lambda: node.exec(entry.id, _process_host(node), *args, context=ctx)   # noqa: E731
            return await on_trio(work, request.get("retry", False))
        return activity.defn(name=entry.id)(run)

    return [entry_activity(entry) for entry in entries]
