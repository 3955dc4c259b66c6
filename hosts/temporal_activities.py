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

from .asyncio_thread import TrioPortal
from .temporal_workflow import pack, unpack

__all__ = ["node_activities"]


def node_activities(node: Any, portal: TrioPortal) -> list[Callable[..., Awaitable[bytes]]]:
    """The activities of one node, for a Temporal worker."""
    router = node.router

    async def on_trio(work: Callable[[], Awaitable[Any]]) -> bytes:
        try:
            return pack(await portal.run(work))
        except ActorError as error:
            plain = error.to_plain()
            raise ApplicationError(error.message, plain, type=error.kind, non_retryable=True,
                                   category=ApplicationErrorCategory.BENIGN) from None
        except Exception as error:  # noqa: BLE001 (a Python callable's own failure)
            plain = {"kind": "Internal", "message": f"{type(error).__name__}: {error}"}
            raise ApplicationError(plain["message"], plain, type="Internal", non_retryable=True,
                                   category=ApplicationErrorCategory.BENIGN) from None

    def node_activity(name: str, operation: Callable[[dict], Awaitable[Any]]) -> Callable[..., Awaitable[bytes]]:
        async def run(data: bytes) -> bytes:
            request = unpack(data)
            return await on_trio(lambda: operation(request))
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
