"""The ``luactor`` command line.

This module only parses arguments and prints; the work is done by
:class:`actors.Node` and :func:`actors.registry.check_report`.

Exit codes, the same for every command:

* 0: success
* 1: the command ran and found a failure: ``call`` got an error, ``test``
  had a failing test, ``check`` found problems (warnings alone do not fail it)
* 2: the command could not run: bad usage, a missing application directory,
  an application that does not load (every problem is printed), a bad JSON
  argument, ``bench`` without the benchmarks package
* 5: ``test`` selected no test (as pytest does): a test run that ran nothing
  must not pass silently
* 130: interrupted (Ctrl-C) during ``call`` or ``test``, or a second signal
  during the shutdown of ``run``

A host that cannot start (its workflow store cannot be opened, say) is an
application that does not load: one ``error:`` line, exit 2. Ctrl-C in
``call`` and ``test`` shuts the node down in order and prints ``interrupted``;
a second Ctrl-C exits at once.

``luactor call`` prints its result as one line of JSON on stdout. Lua
strings arrive in Python as ``str`` when they are UTF-8 and as ``bytes``
otherwise; such bytes are printed as ``{"$bytes": "<base64>"}`` so that the
output stays valid JSON and no data is lost. Keys that are not strings
(Lua integer keys of a sparse table) become their JSON text ("5", "true");
infinite and NaN numbers, which JSON cannot express, become the strings
"Infinity", "-Infinity" and "NaN". Object keys are sorted, so the output of
the same result is always the same text.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import math
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import trio

from .errors import ActorError, NodeFailure
from .observe.cli import add_run_arguments, run_options
from .registry import RegistryError, check_report

__all__ = ["main", "to_json"]

log = logging.getLogger("luactor")

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_TESTS = 5
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A problem with what the user asked for: printed as ``error: ...``, exit 2."""


# --------------------------------------------------------------------------- output helpers


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def _app_dir(path: str) -> Path:
    app_dir = Path(path)
    if not app_dir.is_dir():
        what = "is not a directory" if app_dir.exists() else "not found"
        raise UsageError(f"application directory {what}: {path}")
    return app_dir


def _print_registry_error(app: str, error: RegistryError) -> None:
    count = len(error.problems)
    _error(f"the application {app} does not load ({count} problem{'s' if count != 1 else ''}):")
    for problem in error.problems:
        print(f"  {problem}", file=sys.stderr)
    sys.stderr.flush()


def to_json(value: Any) -> Any:
    """Turn a call result into data ``json.dumps`` accepts (see the module doc)."""
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {_json_key(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        try:
            return key.decode()
        except UnicodeDecodeError:
            return base64.b64encode(key).decode("ascii")
    return json.dumps(to_json(key))


def _run_interruptible(work: Callable[[], Awaitable[T]]) -> T:
    """``trio.run(work)`` where Ctrl-C cancels ``work`` (a node in it shuts down in
    order) and then raises KeyboardInterrupt; a second Ctrl-C exits at once.

    SIGINT arrives as an event, not as a KeyboardInterrupt raised wherever the
    program is, which could be inside a Lua callback.
    """
    async def on_signals(signals: Any, scope: trio.CancelScope) -> None:
        async for _ in signals:
            if scope.cancel_called:
                _error("interrupted again: exiting now")
                os._exit(EXIT_INTERRUPTED)
            scope.cancel()

    async def run() -> T:
        failure: Exception | None = None
        with trio.open_signal_receiver(signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                with trio.CancelScope() as scope:
                    nursery.start_soon(on_signals, signals, scope)
                    try:
                        result = await work()
                    except Exception as error:  # noqa: BLE001 (raised below, outside the nursery's group)
                        failure = error
                nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure
        if scope.cancelled_caught:
            raise KeyboardInterrupt
        return result

    return trio.run(run)


def _setup_logging(level: str) -> None:
    """One line per record of the ``luactor`` logger, on stderr."""
    logger = logging.getLogger("luactor")
    for handler in list(logger.handlers):
        if getattr(handler, "_luactor_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._luactor_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


# --------------------------------------------------------------------------- commands


def _cmd_run(args: argparse.Namespace) -> int:
    from .node import Node

    app_dir = _app_dir(args.app)
    _setup_logging(args.log_level or "INFO")
    names = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}

    async def force_on_second_signal(signals: Any) -> None:
        async for signum in signals:
            log.warning("received %s again during shutdown: exiting now", names.get(signum, signum))
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)

    up = False

    async def run() -> RegistryError | NodeFailure | ActorError | None:
        nonlocal up
        # Signals are caught from before startup, so one arriving while the
        # node starts still shuts it down in order.
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                try:
                    async with Node.open(app_dir, args.data, **run_options(args), **_node_options(args)) as node:
                        up = True
                        hosts = len(node.host_ids)
                        log.info("node up: %d host%s (%s)", hosts, "" if hosts == 1 else "s",
                                 ", ".join(node.host_ids) or "none")
                        async for signum in signals:
                            log.info("received %s, shutting down", names.get(signum, signum))
                            break
                        # Shutdown is shielded; a second signal is the way out of a stuck one.
                        nursery.start_soon(force_on_second_signal, signals)
                except (RegistryError, NodeFailure, ActorError) as error:
                    return error
                finally:
                    nursery.cancel_scope.cancel()
        log.info("node stopped")
        return None

    error = trio.run(run)
    if isinstance(error, NodeFailure) or (isinstance(error, ActorError) and up):
        _error(f"node stopped: {error}")
        return EXIT_FAILED
    if isinstance(error, ActorError):
        raise error     # a host that could not start: main says so
    if error is not None:
        _print_registry_error(args.app, error)
        return EXIT_USAGE
    return EXIT_OK


def _parse_json_args(texts: Sequence[str]) -> list[Any]:
    values = []
    for position, text in enumerate(texts, start=1):
        try:
            values.append(json.loads(text))
        except json.JSONDecodeError as error:
            hint = f" (a string needs JSON quotes: '\"{text}\"')" if text and text[0] not in "[{\"" else ""
            raise UsageError(f"argument {position} is not valid JSON: {text!r}: {error}{hint}") from None
    return values


def _cmd_call(args: argparse.Namespace) -> int:
    from .node import Node

    app_dir = _app_dir(args.app)
    call_args = _parse_json_args(args.args)
    _setup_logging(args.log_level or "WARNING")

    async def call() -> Any:
        async with Node.open(app_dir, args.data, **_node_options(args)) as node:
            try:
                return ("ok", await node.call(args.id, *call_args))
            except ActorError as error:
                return ("error", error)

    try:
        status, result = _run_interruptible(call)
    except RegistryError as error:
        _print_registry_error(args.app, error)
        return EXIT_USAGE
    if status == "error":
        _error(f"{result.kind}: {result.message}")
        return EXIT_FAILED
    print(json.dumps(to_json(result), ensure_ascii=False, sort_keys=True), flush=True)
    return EXIT_OK


def _cmd_test(args: argparse.Namespace) -> int:
    from .node import Node

    app_dir = _app_dir(args.app)
    _setup_logging(args.log_level or "WARNING")

    async def run_tests() -> tuple[int, int]:
        passed = failed = 0
        async with Node.open(app_dir, args.data, **_node_options(args)) as node:
            tests = [
                entry.id for entry in node.registry.of_kind("function.lua")
                if isinstance(entry.meta, dict) and entry.meta.get("type") == "test"
                and (args.suite is None or entry.meta.get("suite") == args.suite)
                and (args.filter is None or args.filter in entry.id)
            ]
            for test_id in tests:
                try:
                    with trio.fail_after(args.timeout) if args.timeout else nullcontext():
                        await node.call(test_id)
                except ActorError as error:
                    failed += 1
                    print(f"FAIL {test_id}: {error.kind}: {error.message}", flush=True)
                except trio.TooSlowError:
                    failed += 1
                    print(f"FAIL {test_id}: Timeout: no result after {args.timeout:g}s", flush=True)
                else:
                    passed += 1
                    print(f"PASS {test_id}", flush=True)
        return passed, failed

    try:
        passed, failed = _run_interruptible(run_tests)
    except RegistryError as error:
        _print_registry_error(args.app, error)
        return EXIT_USAGE
    if passed + failed == 0:
        selection = [f"--suite {args.suite}" if args.suite is not None else "",
                     f"--filter {args.filter}" if args.filter is not None else ""]
        chosen = " ".join(part for part in selection if part)
        _error(f"no test selected in {args.app}{' with ' + chosen if chosen else ''} "
               "(tests are function.lua entries with meta.type: test)")
        print("0 passed, 0 failed", flush=True)
        return EXIT_NO_TESTS
    print(f"{passed} passed, {failed} failed", flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    """Print each problem, then each warning (``warning: ...``), one per line."""
    _app_dir(args.app)
    report = check_report(args.app)
    for problem in report.problems:
        print(problem)
    for warning in report.warnings:
        print(f"warning: {warning}")
    sys.stdout.flush()
    if report.problems:
        _error(f"{_count(report.problems, 'problem')} in {args.app}")
        return EXIT_FAILED
    ignored = f" ({_count(report.warnings, 'warning')})" if report.warnings else ""
    print(f"ok: {len(report.registry)} entries{ignored}")
    return EXIT_OK


def _count(items: list[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"


def _cmd_bench(args: argparse.Namespace, rest: list[str]) -> int:
    # benchmarks/ is not an installed package: in a source checkout it sits
    # beside actors/, so look there when it is not importable as is.
    root = Path(__file__).resolve().parent.parent
    if (root / "benchmarks" / "__init__.py").is_file() and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        import benchmarks
    except ImportError as error:
        _error(f"the benchmarks are not available ({error}); run `luactor bench` from a source checkout")
        return EXIT_USAGE
    bench_main = getattr(benchmarks, "main", None)
    if bench_main is None:
        _error("the benchmarks package has no main() yet; `luactor bench` has nothing to run")
        return EXIT_USAGE
    code = bench_main(rest)
    return EXIT_OK if code is None else int(code)


# --------------------------------------------------------------------------- parser


def _add_node_arguments(parser: argparse.ArgumentParser) -> None:
    """``--node`` and ``--cluster``, for the commands that start a node."""
    parser.add_argument("--node", metavar="NAME", default=os.environ.get("LUACTOR_NODE") or "luactor",
                        help="the node's name, which its PIDs carry (default: $LUACTOR_NODE, else luactor)")
    parser.add_argument("--cluster", metavar="nats://HOST:PORT[,...]", default=os.environ.get("LUACTOR_CLUSTER") or None,
                        help="join the cluster on these NATS servers (default: $LUACTOR_CLUSTER, else run alone)")


def _node_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"node": args.node, "cluster": args.cluster}



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="luactor", description="Run, call, test and check luactor applications.",
        epilog="exit codes: 0 ok, 1 failure (call error, failing test, problems found), "
               "2 could not run (usage, app does not load, a host cannot start), 5 no test selected, "
               "130 interrupted",
    )
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default=None,
                        help="level of the log lines on stderr (default: INFO for run, WARNING otherwise)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="load and start an application, run until SIGINT/SIGTERM")
    run.add_argument("app", metavar="APP", help="application directory")
    run.add_argument("--data", metavar="DIR", help="data directory (default: APP/.luactor)")
    add_run_arguments(run)
    _add_node_arguments(run)

    call = commands.add_parser("call", help="call a function entry and print its result as JSON")
    call.add_argument("app", metavar="APP", help="application directory")
    call.add_argument("id", metavar="ID", help="function id, namespace:name")
    call.add_argument("args", metavar="JSON_ARG", nargs="*", help="arguments, each one JSON value")
    call.add_argument("--data", metavar="DIR", help="data directory (default: APP/.luactor)")
    _add_node_arguments(call)

    test = commands.add_parser("test", help="run the app's tests (function.lua with meta.type: test)")
    test.add_argument("app", metavar="APP", help="application directory")
    test.add_argument("--suite", metavar="S", help="only tests whose meta.suite is S")
    test.add_argument("--filter", metavar="SUBSTR", help="only tests whose id contains SUBSTR")
    test.add_argument("--timeout", metavar="SECONDS", type=float, default=60.0,
                      help="fail a test that has no result after this long (default 60, 0 for none)")
    test.add_argument("--data", metavar="DIR", help="data directory (default: APP/.luactor)")
    _add_node_arguments(test)

    check = commands.add_parser("check", help="validate the registry and Lua syntax, list every problem")
    check.add_argument("app", metavar="APP", help="application directory")

    commands.add_parser("bench", help="run the benchmarks (arguments go to the benchmarks)", add_help=False)
    # Commands that other packages contribute (e.g. `workflows` from hosts):
    # each registers a subparser that sets `handler(args) -> exit code`.
    for contributed in entry_points(group="luactor.commands"):
        try:
            contributed.load()(commands)
        except Exception as error:  # noqa: BLE001 (a broken plugin must not take the built-in commands down)
            _error(f"command {contributed.name!r} ({contributed.value}) is unavailable: {error}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, rest = parser.parse_known_args(argv)
        if args.command != "bench" and rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
    except SystemExit as exit:  # --help, or a usage error argparse already printed
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    try:
        if args.command == "bench":
            return _cmd_bench(args, rest)
        builtin = {"run": _cmd_run, "call": _cmd_call, "test": _cmd_test, "check": _cmd_check}
        command = builtin.get(args.command) or args.handler
        return command(args)
    except UsageError as error:
        _error(str(error))
        return EXIT_USAGE
    except NodeFailure as error:
        _error(f"node stopped: {error}")
        return EXIT_FAILED
    except ActorError as error:     # a host could not start (the commands catch the errors they expect)
        _error(error.message)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
