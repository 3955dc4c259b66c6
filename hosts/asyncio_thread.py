"""An asyncio event loop on a thread of its own, beside the node's trio loop.

The Temporal SDK is built on asyncio; the node runs on trio. Rather than
mixing the two loops in one thread, the SDK gets a loop on a daemon thread
and the two sides call each other through this module:

- trio code awaits ``await loop.run(coroutine)`` (runs on the asyncio loop);
- asyncio code awaits ``await portal.run(async_fn, *args)`` (runs in the
  node's nursery on trio).

Cancellation crosses too: cancelling the waiting side cancels the work.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import trio

__all__ = ["AsyncioThread", "TrioPortal"]

T = TypeVar("T")


class AsyncioThread:
    """An asyncio loop running forever on a daemon thread until :meth:`close`."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the asyncio loop and wait for it from trio."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()

        def wake(_: Any) -> None:
            try:
                token.run_sync_soon(done.set)
            except trio.RunFinishedError:
                pass

        future.add_done_callback(wake)
        try:
            await done.wait()
        except trio.Cancelled:
            future.cancel()
            raise
        return future.result()

    def close(self) -> None:
        """Cancel what still runs on the loop, stop it and join the thread."""
        if not self.loop.is_running():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_all(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class TrioPortal:
    """Lets asyncio code run trio functions in a nursery of the node."""

    def __init__(self, nursery: trio.Nursery):
        self._nursery = nursery
        self._token = trio.lowlevel.current_trio_token()

    async def run(self, async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``async_fn(*args)`` on trio from the asyncio loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        scope = trio.CancelScope()

        def settle(outcome: Callable[[], None]) -> None:
            if not future.done():
                outcome()

        async def job() -> None:
            with scope:
                try:
                    value = await async_fn(*args)
                except trio.Cancelled:
                    raise
                except BaseException as error:  # noqa: BLE001 (handed to the asyncio side, which raises it)
                    failure = error
                    loop.call_soon_threadsafe(settle, lambda: future.set_exception(failure))
                    return
                loop.call_soon_threadsafe(settle, lambda: future.set_result(value))
            if scope.cancelled_caught:
                loop.call_soon_threadsafe(settle, future.cancel)

        try:
            self._token.run_sync_soon(self._nursery.start_soon, job)
        except trio.RunFinishedError:
            raise RuntimeError("the node has stopped") from None
        try:
            return await future
        except asyncio.CancelledError:
            self._token.run_sync_soon(scope.cancel)
            raise
