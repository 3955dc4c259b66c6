"""The node's NATS connection, on an asyncio thread of its own.

nats-py is an asyncio client; the node runs on trio. The client gets a loop
on a daemon thread (as the Temporal host does), and this class is what the
trio side sees:

- ``publish`` hands a message over without waiting: a queue on the asyncio
  side publishes in the order they were handed, so a sender's batches keep
  their order;
- ``subscribe`` calls a trio-side handler for every message, in order;
- ``request`` and the key-value operations are awaited from trio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import nats
import nats.errors
import trio
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError

from actors.errors import ActorError
from hosts.asyncio_thread import AsyncioThread

__all__ = ["Conflict", "NatsLink"]

log = logging.getLogger("luactor")

T = TypeVar("T")

#: How long a key-value bucket may take to be ready (seconds): JetStream elects its leaders first.
JETSTREAM_READY = 20.0

#: How long a key-value operation waits for JetStream to answer again (seconds).
KV_PATIENCE = 8.0

#: A key-value write that lost to another (the key exists, or changed since read).
Conflict = (KeyWrongLastSequenceError,)


class NatsLink:
    """One NATS connection of a node: connect, publish, subscribe, request, key-value buckets."""

    def __init__(self, urls: list[str], node: str, *, credentials: str | None = None,
                 on_disconnect: Callable[[], None] | None = None, on_reconnect: Callable[[], None] | None = None):
        self.urls = urls
        self.node = node
        self._credentials = credentials
        self._on_disconnect = on_disconnect
        self._on_reconnect = on_reconnect
        self._thread: AsyncioThread | None = None
        self._nc: Any = None
        self._js: Any = None
        self._outgoing: asyncio.Queue | None = None
        self._token: Any = None
        self.connected = False

    # -- lifecycle ----------------------------------------------------------

    async def connect(self, timeout: float = 2.0) -> None:
        """Connect, or raise Unavailable naming the servers (no retries: a node that
        cannot reach NATS at start says so at once)."""
        self._token = trio.lowlevel.current_trio_token()
        self._thread = AsyncioThread(f"nats {self.node}")

        async def quiet(error: Exception) -> None:
            log.debug("NATS: %s", error)

        async def disconnected() -> None:
            self.connected = False
            self._to_trio(self._on_disconnect)

        async def reconnected() -> None:
            self.connected = True
            self._to_trio(self._on_reconnect)

        options: dict[str, Any] = {
            "servers": self.urls, "name": self.node, "connect_timeout": timeout,
            "max_reconnect_attempts": 1, "reconnect_time_wait": 0.2, "ping_interval": 1, "max_outstanding_pings": 2,
            "error_cb": quiet, "disconnected_cb": disconnected, "reconnected_cb": reconnected,
        }
        if self._credentials:
            options["user_credentials"] = self._credentials
        try:
            self._nc = await self._run(nats.connect(**options))
        except ActorError as error:
            self._thread.close()
            self._thread = None
            reason = error.message.removeprefix("NATS: ")
            raise ActorError("Unavailable", f"cannot reach NATS at {','.join(self.urls)}: {reason}") from None
        # once connected, a lost connection is retried for as long as the node runs
        self._nc.options["max_reconnect_attempts"] = -1
        self._js = self._nc.jetstream(timeout=timeout)
        self.connected = True
        self._outgoing = asyncio.Queue()
        asyncio.run_coroutine_threadsafe(self._publisher(), self._thread.loop)

    async def close(self) -> None:
        if self._thread is None:
            return
        try:
            with trio.move_on_after(2):
                await self._run(self._nc.drain())
        except (nats.errors.Error, OSError):
            pass
        self._thread.close()
        self._thread = None
        self.connected = False

    @property
    def server_url(self) -> str:
        """The NATS server this node is connected to now ("" when it is not)."""
        url = self._nc.connected_url if self._nc is not None and self.connected else None
        return f"{url.scheme}://{url.hostname}:{url.port}" if url is not None else ""

    @property
    def max_payload(self) -> int:
        """The largest message the server takes (bytes)."""
        return int(self._nc.max_payload)

    # -- messages -------------------------------------------------------------

    def publish(self, subject: str, data: bytes) -> None:
        """Hand ``data`` over for publishing, in order; never blocks."""
        assert self._thread is not None and self._outgoing is not None
        self._thread.loop.call_soon_threadsafe(self._outgoing.put_nowait, (subject, data))

    async def _publisher(self) -> None:
        assert self._outgoing is not None
        while True:
            subject, data = await self._outgoing.get()
            try:
                await self._nc.publish(subject, data)
            except (nats.errors.Error, OSError) as error:
                # lost: the link is down (its sends already fail) or closing
                log.debug("NATS publish to %s failed: %s", subject, error)

    async def subscribe(self, subject: str, handler: Callable[[bytes, str], None],
                        arrived: Callable[[bytes], None] | None = None) -> None:
        """Call ``handler(data, reply_subject)`` on the trio side for every message, in order;
        ``arrived(data)``, if given, at once on the client's thread (it must be quick and
        touch nothing but what it owns): a node busy on trio still knows when things came."""
        async def deliver(msg: Any) -> None:
            if arrived is not None:
                arrived(msg.data)
            self._to_trio(handler, msg.data, msg.reply)
        await self._run(self._nc.subscribe(subject, cb=deliver))

    def beat(self, subject: str, interval: float, data: Callable[[], bytes]) -> None:
        """Publish ``data()`` on ``subject`` every ``interval`` seconds from the client's
        thread, while connected: the beat goes on while trio is busy."""
        async def beating() -> None:
            while True:
                await asyncio.sleep(interval)
                if self.connected:
                    try:
                        await self._nc.publish(subject, data())
                    except (nats.errors.Error, OSError) as error:
                        log.debug("NATS heartbeat: %s", error)
        assert self._thread is not None
        asyncio.run_coroutine_threadsafe(beating(), self._thread.loop)

    async def request(self, subject: str, data: bytes, timeout: float) -> bytes:
        """A request and its reply; Unavailable when nobody answers in time."""
        async def request() -> bytes:
            try:
                return (await self._nc.request(subject, data, timeout=timeout)).data
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                raise ActorError("Unavailable", f"no answer on {subject} within {timeout:g}s") from None
            except nats.errors.NoRespondersError:
                raise ActorError("Unavailable", f"nobody serves {subject}") from None
        return await self._run(request())

    async def flush(self, timeout: float = 2.0) -> None:
        await self._run(self._nc.flush(timeout=timeout))

    # -- key-value ------------------------------------------------------------

    async def bucket(self, name: str, ttl: float | None = None) -> KeyValue:
        """The key-value bucket ``name``, made if missing (entries expire after ``ttl`` seconds)."""
        async def open_or_create() -> Any:
            try:
                return await self._js.key_value(name)
            except BucketNotFoundError:
                config = KeyValueConfig(bucket=name, history=1, ttl=ttl, storage=StorageType.MEMORY,
                                        replicas=self._replicas())
                return await self._js.create_key_value(config)
        # a JetStream cluster that is still electing its leaders answers nothing for a moment
        with trio.move_on_after(JETSTREAM_READY):
            while True:
                try:
                    return KeyValue(self, await self._run(open_or_create()))
                except ActorError as error:
                    log.debug("NATS: bucket %s not ready: %s", name, error.message)
                await trio.sleep(0.25)
        return KeyValue(self, await self._run(open_or_create()))

    def _replicas(self) -> int:
        """As many copies as the NATS cluster has servers (those it told the client of), up to 3
        (JetStream's Raft keeps them)."""
        return max(1, min(3, len({(url.hostname, url.port) for url in self._nc.servers})))

    # -- plumbing -------------------------------------------------------------

    async def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` on the client's loop; NATS's failures (other than a
        key-value :data:`Conflict`) become Unavailable."""
        if self._thread is None:
            coroutine.close()
            raise ActorError("Unavailable", "the node is not connected to NATS")
        try:
            return await self._thread.run(coroutine)
        except Conflict:
            raise
        except (nats.errors.Error, OSError, asyncio.TimeoutError) as error:
            raise ActorError("Unavailable", f"NATS: {error or type(error).__name__}") from None

    def _to_trio(self, fn: Callable[..., None] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            self._token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            pass


class KeyValue:
    """A JetStream key-value bucket, used from trio. Keys are text; values bytes."""

    def __init__(self, link: NatsLink, kv: Any):
        self._link = link
        self._kv = kv

    async def _patiently(self, operation: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``operation()``, again while JetStream cannot answer (a server went away and its
        streams elect new leaders), for KV_PATIENCE seconds at most: writes wait for a quorum."""
        deadline = trio.current_time() + KV_PATIENCE
        while True:
            try:
                return await self._link._run(operation())
            except ActorError:
                if trio.current_time() >= deadline:
                    raise
            await trio.sleep(0.2)

    async def create(self, key: str, value: bytes) -> int:
        """Write ``key`` if it does not exist; raises a :data:`Conflict` error if it does."""
        return await self._patiently(lambda: self._kv.create(key, value))

    async def update(self, key: str, value: bytes, last: int) -> int:
        return await self._patiently(lambda: self._kv.update(key, value, last=last))

    async def get(self, key: str) -> tuple[bytes, int] | None:
        """The value and revision of ``key``, or None."""
        async def get() -> tuple[bytes, int] | None:
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                return None
            return entry.value, entry.revision
        return await self._patiently(get)

    async def delete(self, key: str, last: int | None = None) -> bool:
        """Delete ``key`` (only at revision ``last``, when given); False if it changed meanwhile."""
        async def delete() -> bool:
            try:
                await self._kv.delete(key, last=last)
            except KeyWrongLastSequenceError:
                return False
            return True
        return await self._patiently(delete)

    async def watch(self, changed: Callable[[str, bytes | None, int], None]) -> Callable[[], None]:
        """Call ``changed(key, value, revision)`` on the trio side for every key now in the
        bucket and every change after (``value`` None for a deletion), in order. Returns
        what stops the watch."""
        watcher = await self._link._run(self._kv.watchall())

        async def follow() -> None:
            async for entry in watcher:
                if entry is None:  # the end of what was there at the start
                    continue
                gone = entry.operation in ("DEL", "PURGE")
                self._link._to_trio(changed, entry.key, None if gone else entry.value, entry.revision)
        assert self._link._thread is not None
        loop = self._link._thread.loop
        task = asyncio.run_coroutine_threadsafe(follow(), loop)

        def stop() -> None:
            task.cancel()
            asyncio.run_coroutine_threadsafe(watcher.stop(), loop)
        return stop

    async def last_revision(self) -> int:
        """The revision of the bucket's latest change."""
        async def last() -> int:
            return (await self._kv.status()).stream_info.state.last_seq
        return await self._link._run(last())

    async def items(self) -> dict[str, tuple[bytes, int]]:
        """Every live key with its value and revision."""
        async def items() -> dict[str, tuple[bytes, int]]:
            out: dict[str, tuple[bytes, int]] = {}
            try:
                keys = await self._kv.keys()
            except nats.js.errors.NoKeysError:
                return out
            for key in keys:
                try:
                    entry = await self._kv.get(key)
                except KeyNotFoundError:
                    continue
                out[key] = (entry.value, entry.revision)
            return out
        return await self._link._run(items())
