"""``luactor workflows list|show|history STORE``: look into a workflow store, even while a node writes it.

Contributed to the ``luactor`` command line through the ``luactor.commands``
entry point group: :func:`register` adds the ``workflows`` subcommand and
sets ``handler`` in the parsed arguments to the function that runs it.

The store is opened read-only (a reader beside the node's writer, as LMDB
allows), so inspecting never blocks or changes a running node's history. A
user who may read the store but not write its directory reads it without
LMDB's lock file (see ``HistoryStore.open``).

* ``list STORE [--status S] [--attr KEY=VALUE ...]``: one line per workflow
  (its current run): id, entry, status, run, attempt, last update (UTC),
  number of events of that run, search attributes; ``--attr`` keeps those
  whose search attribute (or memo) KEY is VALUE (as text, or JSON: ``true``,
  ``250``).
* ``show STORE ID [--run N]``: the header of the current run (or run N):
  entry, status, run and the earlier runs (with their attempts), attempt,
  when it starts (a delayed start, a retry's backoff, a cron time), parent,
  times, input, result, error (with its stack), search attributes, memo, meta.
* ``history STORE ID [--run N] [--from SEQ]``: one line per event of the
  current run (or run N): sequence, time, type, and the other fields as
  ``key=JSON``, cut at 100 characters.

A workflow id has more than one run when a start under the
``terminate_existing`` conflict policy replaced it, when its retry policy
retried a failed run, or a cron schedule started the next; the runs of an id
share one event sequence, so each run's events start where the previous
run's end. A call retried by its activity retry policy shows each attempt as
a ``call`` event with ``attempt=N``.

With ``--json``: ``list`` prints a JSON list of headers, ``show`` one
header, ``history`` a list of ``{"seq": N, "event": {...}}`` (nested, so an
event's own fields never clash with ``seq``). Bytes print as
``{"$bytes": "<base64>"}`` as in ``luactor call``.

Exit codes, as for every ``luactor`` command:

* 0: success
* 1: the store was read and what was asked is missing or damaged: an
  unknown workflow id, a corrupt record, or a page LMDB cannot read. What could be read is printed
  first (a ``--json`` list stays valid JSON); each corrupt record is named
  on stderr with its database and key.
* 2: it could not run: bad usage, no store at STORE (no such directory, or
  no ``data.mdb`` in it), a store of a newer or unknown format, a store that
  LMDB cannot open.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .history import (
    STATUSES,
    CorruptRecordError,
    HistoryError,
    HistoryStore,
    WorkflowHeader,
)

__all__ = ["register"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

SUMMARY_WIDTH = 100


def register(subparsers: Any) -> None:
    """Add ``workflows`` to the ``luactor`` subcommands (the ``luactor.commands`` entry point)."""
    parser = subparsers.add_parser(
        "workflows", help="inspect a workflow store (works while a node is running)",
        description="Inspect a workflow store read-only; works while a node holds it.",
        epilog="exit codes: 0 ok, 1 unknown workflow or corrupt record, 2 no store / unreadable format / usage")
    commands = parser.add_subparsers(dest="workflows_command", metavar="SUBCOMMAND", required=True)

    def subcommand(name: str, action: Callable[[HistoryStore, argparse.Namespace], int],
                   help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.add_argument("store", metavar="STORE", help="the workflow store directory")
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.set_defaults(workflows_action=action)
        return sub

    listing = subcommand("list", _list, "one line per workflow")
    listing.add_argument("--status", choices=STATUSES, help="only workflows with this status")
    listing.add_argument("--attr", metavar="KEY=VALUE", action="append", default=[], type=_attr_filter,
                         help="only workflows whose search attribute (or memo) KEY is VALUE; may be repeated")
    show = subcommand("show", _show, "one workflow's header, result and error")
    show.add_argument("id", metavar="ID", help="workflow id")
    history = subcommand("history", _history, "one line per recorded event of a workflow")
    history.add_argument("id", metavar="ID", help="workflow id")
    for sub in (show, history):
        sub.add_argument("--run", metavar="N", type=int, help="an earlier run of the id (default: the current one)")
    history.add_argument("--from", dest="start", metavar="SEQ", type=int, default=0,
                         help="start at this sequence number (default 0)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Open the store read-only and run the chosen subcommand; returns the exit code."""
    try:
        store = HistoryStore.open(args.store, readonly=True)
    except HistoryError as error:
        _error(error.message)
        return EXIT_USAGE
    try:
        with store:
            return args.workflows_action(store, args)
    except HistoryError as error:   # LMDB failed while reading (CorruptRecordError is handled per record)
        _error(error.message)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`| head`): what it wanted was printed.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


# --------------------------------------------------------------------------- subcommands


def _attr_filter(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _attrs(header: WorkflowHeader) -> dict:
    """A workflow's search attributes and memo (search attributes win a clash)."""
    meta = header.meta
    return {**(meta.get("memo") if isinstance(meta.get("memo"), dict) else {}),
            **(meta.get("search") if isinstance(meta.get("search"), dict) else {})}


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else _dumps(value)


def _matches(header: WorkflowHeader, wanted: list[tuple[str, str]]) -> bool:
    attrs = _attrs(header)
    return all(key in attrs and _as_text(attrs[key]) == value for key, value in wanted)


def _list(store: HistoryStore, args: argparse.Namespace) -> int:
    corrupt: list[CorruptRecordError] = []
    headers = [h for h in store.headers(args.status, on_corrupt=corrupt.append) if _matches(h, args.attr)]
    if args.json:
        print(_dumps([header.to_dict() for header in headers], indent=2))
    elif headers:
        rows = [("ID", "ENTRY", "STATUS", "RUN", "ATTEMPT", "UPDATED", "EVENTS", "ATTRS")]
        rows += [(h.id, h.entry, h.status, str(h.run), str(h.meta.get("attempt") or 1), _time(h.updated_ns),
                  str(h.next_seq - h.first_seq),
                  " ".join(f"{k}={_as_text(v)}" for k, v in sorted((h.meta.get("search") or {}).items())) or "-")
                 for h in headers]
        _print_table(rows)
    else:
        which = f" with status {args.status}" if args.status else ""
        which += "".join(f" with {key}={value}" for key, value in args.attr)
        print(f"no workflows{which} in {store.path}")
    for error in corrupt:
        _error(error.message)
    return EXIT_FAILED if corrupt else EXIT_OK


def _show(store: HistoryStore, args: argparse.Namespace) -> int:
    header = _header(store, args.id, args.run)
    if not isinstance(header, WorkflowHeader):
        return header
    if args.json:
        print(_dumps(header.to_dict(), indent=2))
        return EXIT_OK
    error = header.error
    runs = [*store.runs(header.id), store.header(header.id)]
    others = ", ".join(f"{h.run} {h.status} (attempt {h.meta.get('attempt') or 1})"
                       for h in runs if h is not None and h.run != header.run)
    meta = header.meta
    shown = {key: value for key, value in meta.items() if key not in ("search", "memo")}
    fields = [
        ("id", header.id), ("entry", header.entry), ("status", header.status),
        ("run", f"{header.run} (other runs: {others})" if others else str(header.run)),
        ("attempt", str(meta.get("attempt") or 1)),
        ("starts", _time(meta["start_at"]) if meta.get("start_at") else "-"),
        ("parent", header.parent or "-"), ("created", _time(header.created_ns)),
        ("updated", _time(header.updated_ns)), ("events", str(header.next_seq - header.first_seq)),
        ("input", _dumps(header.input)), ("result", _dumps(header.result)),
        ("error", _error_line(error) if error else "-"),
        ("search", _dumps(meta.get("search") or {})), ("memo", _dumps(meta.get("memo") or {})),
        ("meta", _dumps(shown)),
    ]
    for name, value in fields:
        print(f"{name:<8} {value}")
    if error and error.get("stack"):
        print("stack:")
        for line in str(error["stack"]).splitlines():
            print(f"  {line}")
    return EXIT_OK


def _history(store: HistoryStore, args: argparse.Namespace) -> int:
    status = EXIT_OK
    try:
        header = _find_run(store, args.id, args.run)
    except CorruptRecordError as error:   # the header is damaged; its events may still be readable
        _error(error.message)
        header, status = None, EXIT_FAILED
    if header is None and status == EXIT_OK:
        _error(_missing(store, args.id, args.run))
        return EXIT_FAILED
    # with the header damaged, show every event of the id
    start, stop = (header.first_seq, header.next_seq) if header else (0, None)
    emit, finish = _json_list_printer() if args.json else _event_line_printer()
    try:
        for seq, event in store.events(args.id, start=max(start, args.start), stop=stop):
            emit(seq, event)
    except CorruptRecordError as error:
        finish(False)
        _error(error.message)
        return EXIT_FAILED
    finish(True)
    return status


# --------------------------------------------------------------------------- output


def _find_run(store: HistoryStore, workflow_id: str, run: int | None) -> WorkflowHeader | None:
    """The header of run ``run`` of ``workflow_id`` (None: the current run)."""
    current = store.header(workflow_id)
    if run is None or (current is not None and current.run == run):
        return current
    return next((h for h in store.runs(workflow_id) if h.run == run), None)


def _missing(store: HistoryStore, workflow_id: str, run: int | None) -> str:
    if run is None:
        return f"no workflow {workflow_id!r} in {store.path}"
    return f"no run {run} of workflow {workflow_id!r} in {store.path}"


def _header(store: HistoryStore, workflow_id: str, run: int | None) -> WorkflowHeader | int:
    """The header, or the exit code after saying why there is none."""
    try:
        header = _find_run(store, workflow_id, run)
    except CorruptRecordError as error:
        _error(error.message)
        return EXIT_FAILED
    if header is None:
        _error(_missing(store, workflow_id, run))
        return EXIT_FAILED
    return header


def _event_line_printer() -> tuple[Callable[[int, dict], None], Callable[[bool], None]]:
    count = 0

    def emit(seq: int, event: dict) -> None:
        nonlocal count
        if count == 0:
            print(f"{'SEQ':>6}  {'TIME':<24}  {'TYPE':<16}  SUMMARY")
        count += 1
        ts = event.get("ts")
        when = _time(ts) if isinstance(ts, int) else "-"
        print(f"{seq:>6}  {when:<24}  {event['type']:<16}  {_summary(event)}".rstrip())

    def finish(complete: bool) -> None:
        if count == 0 and complete:
            print("no events")
    return emit, finish


def _json_list_printer() -> tuple[Callable[[int, dict], None], Callable[[bool], None]]:
    """Print a JSON list one event at a time, so a long history is not held in memory."""
    count = 0

    def emit(seq: int, event: dict) -> None:
        nonlocal count
        print(("[\n  " if count == 0 else ",\n  ") + _dumps({"seq": seq, "event": event}), end="")
        count += 1

    def finish(complete: bool) -> None:
        print("\n]" if count else "[]", flush=True)   # valid JSON even when a corrupt record cut it short
    return emit, finish


def _summary(event: dict) -> str:
    """The fields other than type and ts, ``key=JSON``, cut to fit one line."""
    text = " ".join(f"{key}={_dumps(value)}" for key, value in event.items() if key not in ("type", "ts"))
    return text if len(text) <= SUMMARY_WIDTH else text[:SUMMARY_WIDTH - 1] + "…"


def _error_line(error: Any) -> str:
    if isinstance(error, dict) and "kind" in error:
        return f"{error['kind']}: {error.get('message', '')}"
    return _dumps(error)


def _time(ns: int) -> str:
    if not ns:
        return "-"
    try:
        moment = datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(ns)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _dumps(value: Any, indent: int | None = None) -> str:
    # imported late: actors.cli loads this module while building its parser
    from actors.cli import to_json

    separators = None if indent else (",", ":")
    return json.dumps(to_json(value), ensure_ascii=False, sort_keys=True, indent=indent, separators=separators)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
