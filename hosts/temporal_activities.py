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

from typing import Any, Awaitable, Callable

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
        except Exception as error:  # a Python callable's own failure
            plain = {"kind": "INTERNAL", "message": f"{type(error).__name__}: {error}"}
            raise ApplicationError(plain["message"], plain, type="INTERNAL", non_retryable=True,
                                   category=ApplicationErrorCategory.BENIGN) from None

    @activity.defn(name="luactor.call")
    async def call(data: bytes) -> bytes:
        request = unpack(data)
        return await on_trio(lambda: node.call(request["fn"], *request["args"], context=request["ctx"]))

    @activity.defn(name="luactor.send")
    async def send(data: bytes) -> bytes:
        request = unpack(data)
        return await on_trio(lambda: router.send(request["from"], request["to"], request["topic"], request["payload"]))

    @activity.defn(name="luactor.spawn")
    async def spawn(data: bytes) -> bytes:
        request = unpack(data)
        return await on_trio(lambda: router.spawn_for(request["entry"], request["host"], request["args"], request["opts"]))

    @activity.defn(name="luactor.exec")
    async def exec_(data: bytes) -> bytes:
        request = unpack(data)
        return await on_trio(lambda: router.exec_for(request["entry"], request["host"], request["args"], request["opts"]))

    @activity.defn(name="luactor.signal")
    async def signal(data: bytes) -> bytes:
        request = unpack(data)

        async def relay() -> None:
            if request["op"] == "event":
                router.deliver_event(request["to"], request["data"])
            else:
                router.signal(request["op"], request["from"], request["to"], request["data"])

        return await on_trio(relay)

    return [call, send, spawn, exec_, signal]
