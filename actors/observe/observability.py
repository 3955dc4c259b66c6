"""A node's observability: what ``Node.open`` builds from its settings and starts first.

It tells every kernel whether the ``metrics`` module has a collector and
whether to time processes for tracing, takes the kernels' per-slice
observations from the router, and serves ``/metrics`` and the observer.
Both addresses are bound before any host starts, so a taken port stops the
open with one line and no host left running; the startup log says where
each one listens.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from actors.errors import ActorError

from .settings import ObserveSettings

__all__ = ["Observability"]

log = logging.getLogger("luactor")


class Observability:
    """Metrics (when prometheus-client is installed), tracing and web servers of one node."""

    def __init__(self, node: Any, hosts: list[Any], settings: ObserveSettings) -> None:
        self.node = node
        self.settings = settings
        self.metrics = self._metrics(node, settings)
        self.tracing = None
        if settings.tracing is not None:
            from .tracing import Tracing
            self.tracing = Tracing(settings.tracing, node.name)
        self.streams: Any = None                # the observer's live streams, once it serves
        self.urls: dict[str, str] = {}          # "metrics" / "observer" -> where each is served
        self._shutdown = trio.Event()
        self._servers_done: trio.Event | None = None
        from .app_metrics import BUCKETS
        for host in hosts:
            if hasattr(host, "configure_observe"):
                host.configure_observe({"metrics": self.metrics is not None, "buckets": list(BUCKETS),
                                        "tracing": self.tracing is not None})
            if self.metrics is not None and hasattr(host, "commit_listeners"):
                self.metrics.runtime.watch_commits(host)
        node.router.observations = self._observed
        node.router.tracing = self.tracing

    @staticmethod
    def _metrics(node: Any, settings: ObserveSettings) -> Any:
        try:
            from .metrics import NodeMetrics
        except ImportError as error:
            if settings.metrics is not None:
                raise ActorError("Unavailable", f"metrics need prometheus-client ({error}): "
                                                "pip install 'luactor[metrics]'") from None
            return None
        return NodeMetrics(node)

    def _observed(self, host_id: str, updates: list, spans: list) -> None:
        if updates and self.metrics is not None:
            self.metrics.app.apply(host_id, updates)
        if spans and self.tracing is not None:
            self.tracing.record(host_id, spans)

    # -- serving ---------------------------------------------------------------------

    async def start(self, nursery: trio.Nursery) -> None:
        """Bind both addresses (ActorError if one is taken: nothing is served then), then serve."""
        servers = []
        try:
            from .server import bind
        except ImportError as error:
            raise ActorError("Unavailable", f"serving metrics or the observer needs starlette and hypercorn ({error}): "
                                            "pip install 'luactor[observe]'") from None
        try:
            if self.settings.metrics is not None:
                from .web import metrics_app
                servers.append(("metrics", bind(self.settings.metrics, "metrics"), metrics_app(self.metrics), "/metrics"))
            if self.settings.observer is not None:
                servers.append(("observer", bind(self.settings.observer, "the observer"), self._observer_app(), "/"))
        except BaseException:
            for _, sock, _, _ in servers:
                sock.close()
            raise
        self._servers_done = trio.Event() if servers else None
        remaining = len(servers)

        async def run(app: Any, sock: Any) -> None:
            nonlocal remaining
            from .server import serve
            try:
                await serve(app, sock, self._shutdown)
            finally:
                remaining -= 1
                if remaining == 0 and self._servers_done is not None:
                    self._servers_done.set()

        for what, sock, app, path in servers:
            host, port = sock.getsockname()[:2]
            self.urls[what] = f"http://{host}:{port}{path}"
            nursery.start_soon(run, app, sock)
            extra = ""
            if what == "observer":
                extra = ", actions on" if self.settings.actions else ", read-only"
            reach = "this machine only" if host in ("127.0.0.1", "::1", "localhost") else "every interface it names"
            log.info("%s on %s (bound to %s: %s%s)", what, self.urls[what], host, reach, extra)

    def _observer_app(self) -> Any:
        from .views import NodeView
        from .web import LiveStreams, observer_app
        self.streams = LiveStreams()
        return observer_app(NodeView(self.node), self.streams, actions=self.settings.actions, metrics=self.metrics)

    async def stop(self) -> None:
        """Tell open pages the node stopped and end the servers (the node is about to stop its hosts)."""
        if self.streams is not None:
            self.streams.stopped.set()
        self._shutdown.set()
        if self._servers_done is not None:
            with trio.move_on_after(3):
                await self._servers_done.wait()

    def close(self) -> None:
        """Export the spans left (the hosts have stopped: every process has ended)."""
        if self.tracing is not None:
            self.tracing.shutdown()
