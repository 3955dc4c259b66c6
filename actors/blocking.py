"""A node for code that is not async: ``BlockingNode`` (blocking helpers).

``BlockingNode(app_dir)`` runs ``Node.open(app_dir)`` inside ``trio.run`` on a
background thread and offers the Node API as plain blocking methods. Every
method hands its work to the node's thread (``trio.from_thread``), so the
node's state is only ever touched by that thread and any number of caller
threads may use one ``BlockingNode``. Errors raised in the node thread
(``ActorError`` from a call, ``KeyError`` for an unknown host, ...) are raised
in the caller. A ``RegistryError`` (or any other startup failure) is raised
by the constructor.

Python callables given to :meth:`BlockingNode.register_function` run on the
node's thread: a slow one holds up the node while it runs.

Timeouts (``receive(timeout=...)``, ``call(..., timeout=...)``) raise
:class:`Timeout`, which is both an ``ActorError`` of kind ``TIMEOUT`` and a
built-in ``TimeoutError``. Using a node after ``close()`` raises
``ActorError`` of kind ``UNAVAILABLE``.

    with BlockingNode("app/") as node:
        pid = node.spawn("app:worker", "app:processes")
        with node.mailbox() as me:
            node.send(pid, "job", {"reply_to": me.pid})
            msg = me.receive(timeout=5)
        print(node.call("app:add", 1, 2))
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import trio

from .errors import ActorError
from .mailbox import Mailbox, Message

if sys.version_info < (3, 11):  # pragma: no cover - trio depends on the backport there
    from exceptiongroup import BaseExceptionGroup

__all__ = ["BlockingMailbox", "BlockingNode", "Timeout"]

T = TypeVar("T")


class Timeout(ActorError, TimeoutError):
    """Nothing came in time: an ``ActorError`` of kind TIMEOUT that is also a ``TimeoutError``."""

    def __init__(self, message: str):
        ActorError.__init__(self, "Timeout", message, retryable=True)


def _unwrap(error: BaseException) -> BaseException:
    """The single exception inside (nested) exception groups, else the group itself."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


class BlockingNode:
    """``Node.open(app_dir, data_dir, **kwargs)`` on a background thread, with blocking methods."""

    def __init__(self, app_dir: str | Path, data_dir: str | Path | None = None, **kwargs: Any):
        self.app_dir = Path(app_dir)
        self._open_args = (app_dir, data_dir, kwargs)
        self._node: Any = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._crash: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._thread_main, name=f"luactor-node {app_dir}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._closed = True
            raise self._startup_error

    # -- the node's thread -------------------------------------------------

    def _thread_main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as error:  # noqa: BLE001 - reported to the callers, not lost
            error = _unwrap(error)
            if not self._ready.is_set():
                self._startup_error = error
            else:
                self._crash = error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        from .node import Node

        app_dir, data_dir, kwargs = self._open_args
        async with Node.open(app_dir, data_dir, **kwargs) as node:
            self._node = node
            self._stop = trio.Event()
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._stop.wait()

    def _run(self, afn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``afn`` in the node's thread and wait for its result."""
        return self._enter(trio.from_thread.run, functools.partial(afn, *args, **kwargs))

    def _run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._enter(trio.from_thread.run_sync, functools.partial(fn, *args, **kwargs))

    def _enter(self, runner: Callable[..., T], fn: Callable[..., Any]) -> T:
        if self._closed or self._token is None:
            raise ActorError("Unavailable", f"the node for {self.app_dir} is closed")
        if threading.current_thread() is self._thread:
            raise RuntimeError("BlockingNode methods cannot be called from the node's own thread")
        try:
            return runner(fn, trio_token=self._token)
        except trio.RunFinishedError:
            raise ActorError("Unavailable", f"the node for {self.app_dir} has stopped") from self._crash

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Stop the node (hosts stop in order) and wait for its thread. Idempotent."""
        if self._closed:
            return
        try:
            if self._stop is not None and self._token is not None:
                try:
                    trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
                except trio.RunFinishedError:
                    pass
            self._thread.join()
        finally:
            self._closed = True
        if self._crash is not None:
            raise self._crash

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> BlockingNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- processes ---------------------------------------------------------

    def register_function(self, fn_id: str, fn: Callable[..., Any]) -> None:
        """Make a Python callable a ``funcs.call`` target; it runs on the node's thread."""
        self._run_sync(self._node.register_function, fn_id, fn)

    def spawn(self, entry_id: str, host: str, *args: Any, **kwargs: Any) -> str:
        """Start ``entry_id`` on ``host``; returns its PID (see ``Node.spawn``)."""
        return self._run(self._node.spawn, entry_id, host, *args, **kwargs)

    def exec(self, entry_id: str, host: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Spawn, wait for the process to end, return its result or raise its error."""
        return self._run(self._with_timeout, timeout, f"{entry_id} did not end",
                         self._node.exec, entry_id, host, *args, **kwargs)

    def call(self, fn_id: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """Call a function entry or registered callable; raises ``ActorError`` on error."""
        return self._run(self._with_timeout, timeout, f"no result from {fn_id}",
                         self._node.call, fn_id, *args, **kwargs)

    @staticmethod
    async def _with_timeout(timeout: float | None, what: str, afn: Callable[..., Awaitable[T]],
                            *args: Any, **kwargs: Any) -> T:
        if timeout is None:
            return await afn(*args, **kwargs)
        with trio.move_on_after(timeout):
            return await afn(*args, **kwargs)
        raise Timeout(f"{what} within {timeout:g}s")

    def send(self, dest: str, topic: str, payload: Any = None) -> None:
        """Send from the node itself."""
        self._run(self._node.send, dest, topic, payload)

    def cancel(self, dest: str, reason: Any = None) -> None:
        self._run(self._node.cancel, dest, reason)

    def terminate(self, dest: str) -> None:
        self._run(self._node.terminate, dest)

    # -- names and introspection ---------------------------------------------

    def register_name(self, name: str, pid: str) -> None:
        self._run_sync(self._node.register_name, name, pid)

    def lookup(self, name: str) -> str:
        return self._run_sync(self._node.lookup, name)

    def unregister_name(self, name: str) -> bool:
        return self._run_sync(self._node.unregister_name, name)

    def process_count(self, host: str) -> int:
        return self._run_sync(self._node.process_count, host)

    @property
    def host_ids(self) -> list[str]:
        return self._run_sync(lambda: self._node.host_ids)

    # -- mailboxes -------------------------------------------------------------

    def mailbox(self, name: str | None = None) -> BlockingMailbox:
        """A Python-side process with a PID; close it (or use ``with``) when done."""
        async def open_mailbox() -> tuple[Mailbox, AsyncExitStack]:
            stack = AsyncExitStack()
            mailbox = await stack.enter_async_context(self._node.mailbox(name))
            return mailbox, stack

        mailbox, stack = self._run(open_mailbox)
        return BlockingMailbox(self, mailbox, stack)


class BlockingMailbox:
    """The blocking face of a :class:`~actors.mailbox.Mailbox`."""

    def __init__(self, node: BlockingNode, mailbox: Mailbox, stack: AsyncExitStack):
        self._node = node
        self._mailbox = mailbox
        self._stack = stack
        self._closed = False
        self.pid: str = mailbox.pid

    def receive(self, timeout: float | None = None) -> Message:
        """The next message (``.topic``, ``.payload``, ``.sender``); waits at most ``timeout`` seconds.

        Lifecycle events arrive as messages on ``@exit``, ``@link_down`` and
        ``@cancel``. Raises :class:`Timeout` when nothing arrives in time.
        """
        self._check_open()
        return self._node._run(self._receive, timeout)

    async def _receive(self, timeout: float | None) -> Message:
        try:
            return self._mailbox.receive_nowait()
        except trio.WouldBlock:
            pass
        if timeout is None:
            return await self._mailbox.receive()
        with trio.move_on_after(timeout):
            return await self._mailbox.receive()
        raise Timeout(f"no message for {self.pid} within {timeout:g}s")

    def send(self, dest: str, topic: str, payload: Any = None) -> None:
        """Send with this mailbox as the sender."""
        self._check_open()
        self._node._run(self._mailbox.send, dest, topic, payload)

    def monitor(self, pid: str) -> None:
        self._check_open()
        self._node._run_sync(self._mailbox.monitor, pid)

    def unmonitor(self, pid: str) -> None:
        self._check_open()
        self._node._run_sync(self._mailbox.unmonitor, pid)

    def link(self, pid: str) -> None:
        self._check_open()
        self._node._run_sync(self._mailbox.link, pid)

    def unlink(self, pid: str) -> None:
        self._check_open()
        self._node._run_sync(self._mailbox.unlink, pid)

    def close(self) -> None:
        """Leave the node; monitors see a normal EXIT. Idempotent, and a no-op once the node is closed."""
        if self._closed:
            return
        self._closed = True
        if not self._node.closed:
            self._node._run(self._stack.aclose)

    def _check_open(self) -> None:
        if self._closed:
            raise ActorError("Unavailable", f"mailbox {self.pid} is closed")

    def __enter__(self) -> BlockingMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BlockingMailbox {self.pid}{' closed' if self._closed else ''}>"
