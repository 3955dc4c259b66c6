"""Command line: ``luactor run``'s observability flags, and ``luactor observe STORE``.

``luactor observe STORE [--address HOST:PORT]`` serves the observer of a
workflow store alone, opened read-only (beside a running node if one writes
it), until Ctrl-C: its workflows, searchable, and each one's history.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import trio

from actors.errors import ActorError

from .settings import TRACING_EXPORTERS, parse_address

__all__ = ["add_run_arguments", "register", "run_options"]

EXIT_OK, EXIT_USAGE = 0, 2


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--metrics``, ``--observe``, ``--observe-actions`` and ``--tracing`` for ``luactor run``."""
    parser.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics at /metrics here")
    parser.add_argument("--observe", metavar="HOST:PORT", help="serve the web observer here (read-only)")
    parser.add_argument("--observe-actions", action="store_true", default=None,
                        help="let the observer restart services, terminate processes and workflows, send messages")
    parser.add_argument("--tracing", choices=TRACING_EXPORTERS,
                        help="export OpenTelemetry spans (default: $LUACTOR_TRACING, else the app's node.observe, else off)")


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """``Node.open`` keyword arguments from the flags above."""
    return {"metrics": args.metrics, "observe": args.observe, "observe_actions": args.observe_actions,
            "tracing": args.tracing}


def register(subparsers: Any) -> None:
    """Add ``observe`` to the ``luactor`` subcommands (the ``luactor.commands`` entry point)."""
    parser = subparsers.add_parser(
        "observe", help="serve the web observer of a workflow store (read-only; works while a node runs)",
        description="Serve the observer of a workflow store, opened read-only, until Ctrl-C.")
    parser.add_argument("store", metavar="STORE", help="the workflow store directory")
    parser.add_argument("--address", metavar="HOST:PORT", default="127.0.0.1:8400",
                        help="where to serve it (default 127.0.0.1:8400: this machine only)")
    parser.set_defaults(handler=observe_store)


def observe_store(args: argparse.Namespace) -> int:
    from hosts.history import HistoryError, HistoryStore

    try:
        address = parse_address(args.address, "observer")
        store = HistoryStore.open(args.store, readonly=True)
    except (ActorError, HistoryError) as error:
        print(f"error: {error.message}", file=sys.stderr)
        return EXIT_USAGE
    with store:
        try:
            trio.run(_serve_store, store, address)
        except ActorError as error:
            print(f"error: {error.message}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


async def _serve_store(store: Any, address: tuple[str, int]) -> None:
    from .server import bind, serve
    from .views import StoreView
    from .web import LiveStreams, observer_app

    sock = bind(address, "the observer")
    host, port = sock.getsockname()[:2]
    streams = LiveStreams()
    shutdown = trio.Event()
    print(f"observer of {store.path} on http://{host}:{port}/ (bound to {host}, read-only); Ctrl-C to stop",
          file=sys.stderr, flush=True)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve, observer_app(StoreView(store), streams), sock, shutdown)
            async for _ in signals:
                break
            streams.stopped.set()
            shutdown.set()
