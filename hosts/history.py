"""Durable workflow history in LMDB: one header and an append-only event list per workflow.

A workflow host owns one :class:`HistoryStore` (a directory holding one LMDB
environment). The store knows nothing about Lua or replay; it keeps bytes
safe and tells precisely what went wrong when they are not.

Layout (format 2). Four named databases, values in msgpack:

* ``meta``: ``b"format"`` -> ``2``. A store of an unknown or newer format is
  refused before anything is written to it.
* ``workflows``: workflow id (UTF-8) -> the :class:`WorkflowHeader` of its
  current run, as a map.
* ``runs``: id + ``b"\\0"`` + 4-byte big-endian run number -> the header of
  an earlier run of that id (one replaced under the ``terminate_existing``
  conflict policy).
* ``events``: id + ``b"\\0"`` + 8-byte big-endian sequence -> event map,
  so a workflow's events are contiguous and in order. The runs of one id
  share its sequence: a run's events are ``first_seq`` up to its
  ``next_seq``, so starting a new run moves no event.

Format 1 had no runs: its headers read as run 1 from sequence 0. A writer
opening a format 1 store upgrades it in place by writing the new format
number (and creating ``runs``) in one transaction; nothing else changes.

Writes go through a :class:`Batch`: the steps of many workflows collected
during one scheduler slice and committed in one write transaction, so one
fsync covers them all (group commit). Sequence numbers are handed out by the
batch at :meth:`Batch.append`, continuing from the header's ``next_seq``.
A commit writes a header only when it changed otherwise (start, end,
status): appending events alone leaves it as it was, so a stored header's
``next_seq`` and ``updated_ns`` may lag behind its run's events, and reading
a current header brings both up to its last event. (Writing each touched
header again at every commit cost more than writing the events.)

One process writes a store at a time, enforced by an exclusive ``flock`` on
the store directory (:class:`StoreBusyError` otherwise), because sequence
numbers are assigned before the commit. Any number of read-only stores
(``luactor workflows``) may be open beside the writer, in other processes.

What goes wrong is a :class:`HistoryError`, an ``ActorError`` whose message
is one line naming the store and what to do: a path that cannot hold a
store, a directory this user may not write, another format, a page LMDB
cannot read, a full disk. LMDB's own exceptions never leave this module,
and a refused open or a failed commit writes nothing.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import lmdb
import msgpack

from actors.errors import ActorError

__all__ = [
    "FORMAT", "STATUSES", "UPGRADABLE", "Batch", "CorruptRecordError", "HistoryError", "HistoryStore",
    "StoreBusyError", "StoreDamagedError", "StoreFormatError", "StoreFullError", "StoreNotFoundError",
    "WorkflowHeader", "check_store", "event_key",
]

FORMAT = 2
#: Older formats this code reads (and a writer upgrades in place).
UPGRADABLE = (1,)
STATUSES = ("running", "completed", "failed", "terminated", "canceled", "timed_out")

MiB = 1 << 20
GiB = 1 << 30
_MAX_KEY = 511           # LMDB's default maximum key size
_SEQ_BYTES = 8
_RUN_BYTES = 4
_READ_CHUNK = 512        # events read per read transaction, so no transaction stays open for long

_DB_META, _DB_WORKFLOWS, _DB_RUNS, _DB_EVENTS = b"meta", b"workflows", b"runs", b"events"
_DATA_DBS = (_DB_WORKFLOWS, _DB_RUNS, _DB_EVENTS)


# --------------------------------------------------------------------------- errors


class HistoryError(ActorError):
    """A workflow store cannot do what was asked; the message is one line that names the store.

    An :class:`ActorError`, so that whoever opens a node catches one kind of
    exception for what the runtime refuses; each subclass has its kind.
    """

    default_kind = "Unavailable"

    def __init__(self, message: str, kind: str | None = None):
        super().__init__(kind or self.default_kind, message)


class StoreNotFoundError(HistoryError):
    """A read-only open of a directory that holds no store."""

    default_kind = "NotFound"


class StoreBusyError(HistoryError):
    """Another process (or another open in this one) is writing the store."""


class StoreFormatError(HistoryError):
    """The store was written in a format this code does not read; it was left untouched."""

    default_kind = "Invalid"

    def __init__(self, path: Path, found: Any, supported: int = FORMAT):
        self.path, self.found, self.supported = path, found, supported
        if isinstance(found, _NotAStore):
            what = f"is not a luactor workflow store of a known format ({found})"
        elif isinstance(found, int) and not isinstance(found, bool) and found > supported:
            what = f"has format {found}, written by a newer luactor"
        else:
            what = f"has unknown format {found!r}"
        readable = " and ".join(str(n) for n in (*UPGRADABLE, supported))
        super().__init__(f"workflow store {path} {what}; this luactor reads formats {readable}. "
                         "Refusing to open it; nothing was changed.")


class StoreFullError(HistoryError):
    """A batch does not fit even at the largest map size allowed; none of it was written."""


class StoreDamagedError(HistoryError):
    """LMDB itself failed on the store (a damaged page, an I/O error); nothing was written by us."""

    default_kind = "Internal"


class CorruptRecordError(HistoryError):
    """A stored record does not decode. Names the database and key so one workflow can fail alone."""

    def __init__(self, path: Path, database: str, key: bytes, reason: str, *,
                 workflow_id: str | None = None, seq: int | None = None):
        self.path, self.database, self.key, self.reason = path, database, key, reason
        self.workflow_id, self.seq = workflow_id, seq
        where = f"workflow {workflow_id!r}" if workflow_id is not None else f"key {key!r}"
        if seq is not None:
            where += f" seq {seq}"
        super().__init__(f"corrupt record in workflow store {path}, database {database!r}, {where}: {reason}",
                         "Internal")


# --------------------------------------------------------------------------- records


@dataclass
class WorkflowHeader:
    """What one run of a workflow is and where it stands.

    ``next_seq`` is the sequence of its next event; its own events start at
    ``first_seq`` (0 for a first run; a later run continues the sequence of
    the runs before it).
    """

    id: str
    entry: str
    status: str
    input: list
    parent: str | None
    created_ns: int
    updated_ns: int
    result: Any = None
    error: dict | None = None
    next_seq: int = 0
    meta: dict = field(default_factory=dict)
    run: int = 1
    first_seq: int = 0

    def to_dict(self) -> dict:
        return dict(vars(self))     # the fields, in order (a plain dataclass keeps nothing else there)

    def replace(self, **changes: Any) -> WorkflowHeader:
        """A shallow copy with ``changes``: ``dataclasses.replace`` without its run of
        ``__init__``, several times faster (a copy or two per workflow and batch)."""
        unknown = changes.keys() - _FIELDS
        if unknown:
            raise TypeError(f"WorkflowHeader has no field {', '.join(sorted(unknown))}")
        copy = object.__new__(WorkflowHeader)
        copy.__dict__.update(vars(self))
        copy.__dict__.update(changes)
        return copy

    @classmethod
    def salvaged(cls, workflow_id: str, raw: bytes, error: dict, now_ns: int) -> WorkflowHeader:
        """A failed header, with ``error``, in place of the stored one ``raw`` that does not
        decode: the fields of the right type are kept, and ``raw`` itself under
        ``meta["unreadable_header"]``, so nothing stored is lost."""
        try:
            data = _unpack(raw)
        except Exception:  # noqa: BLE001 (msgpack may raise anything on garbage)
            data = None
        data = data if isinstance(data, dict) else {}
        values = {name: data[name] if name in data and isinstance(data[name], kind) else _DEFAULTS.get(name)
                  for name, kind in _TYPES.items()}
        values.update(id=workflow_id, status="failed", error=error, meta={"unreadable_header": raw})
        values["entry"] = values["entry"] or "?"
        values["created_ns"] = values["created_ns"] or 0
        values["updated_ns"] = now_ns
        return cls(**values)

    @classmethod
    def from_dict(cls, data: Any) -> WorkflowHeader:
        """Build from a stored map; ``ValueError`` says what is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError(f"a header is a map, not {type(data).__name__}")
        values = {name: data.get(name, _DEFAULTS.get(name)) for name in _TYPES}
        for name in _TYPES:
            if name not in data and name not in _DEFAULTS:
                raise ValueError(f"header field {name!r} is missing")
        _check_fields(values)
        return cls(result=data.get("result"), **values)


_FIELDS = frozenset(f.name for f in fields(WorkflowHeader))
_TYPES = {"id": str, "entry": str, "status": str, "input": list, "parent": (str, type(None)),
          "created_ns": int, "updated_ns": int, "error": (dict, type(None)), "next_seq": int,
          "meta": dict, "run": int, "first_seq": int}
_DEFAULTS = {"parent": None, "error": None, "next_seq": 0, "meta": {}, "input": [], "run": 1, "first_seq": 0}


def _check_fields(values: dict) -> None:
    """``ValueError`` naming the first header field of the wrong type."""
    for name, kind in _TYPES.items():
        if not isinstance(values[name], kind):
            raise ValueError(f"header field {name!r} is a {type(values[name]).__name__}")


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


_PACK_ERRORS = (TypeError, ValueError, OverflowError)


def _packed_or_invalid(value: Any, what: str, workflow_id: str) -> bytes:
    """Pack ``value`` or raise ``ActorError(INVALID)`` naming where the unstorable part sits."""
    try:
        return _pack(value)
    except _PACK_ERRORS:
        where, reason = _locate_unstorable(value, "")
        at = f" at {where}" if where else ""
        raise ActorError("Invalid", f"workflow {workflow_id!r}: {what}{at} cannot be stored: {reason} "
                                    "(only dict, list, str, bytes, int, float, bool and None)") from None


def _locate_unstorable(value: Any, path: str) -> tuple[str, str]:
    """The path of the deepest part of ``value`` msgpack refuses, and why (only called on failure)."""
    children: list[tuple[Any, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                _pack(key)
            except _PACK_ERRORS as error:
                return f"{path} key {key!r}".strip(), str(error)
            children.append((item, f"{path}[{key!r}]"))
    elif isinstance(value, (list, tuple)):
        children = [(item, f"{path}[{i}]") for i, item in enumerate(value)]
    for item, item_path in children:
        try:
            _pack(item)
        except _PACK_ERRORS:
            return _locate_unstorable(item, item_path)
    try:
        _pack(value)
    except _PACK_ERRORS as error:
        return path, str(error) or type(error).__name__
    return path, "not storable"


def _id_bytes(workflow_id: Any) -> bytes:
    """The key of a workflow id; refuses ids that would make event keys ambiguous or too long."""
    if not isinstance(workflow_id, str) or not workflow_id:
        raise ActorError("Invalid", f"a workflow id is a non-empty string, not {workflow_id!r}")
    if "\0" in workflow_id:
        raise ActorError("Invalid", f"workflow id {workflow_id!r} contains a NUL character")
    try:
        data = workflow_id.encode()
    except UnicodeEncodeError as error:
        raise ActorError("Invalid", f"workflow id {workflow_id!r} is not valid text: {error}") from None
    if len(data) + 1 + _SEQ_BYTES > _MAX_KEY:
        raise ActorError("Invalid", f"workflow id {workflow_id[:40]!r}... is {len(data)} bytes long; "
                                    f"the limit is {_MAX_KEY - 1 - _SEQ_BYTES}")
    return data


def _run_key(workflow_id: str, run: int) -> bytes:
    return _id_bytes(workflow_id) + b"\0" + run.to_bytes(_RUN_BYTES, "big")


def event_key(workflow_id: str, seq: int) -> bytes:
    """The ``events`` key of one event: id, NUL, big-endian sequence (so keys sort by seq)."""
    return _id_bytes(workflow_id) + b"\0" + seq.to_bytes(_SEQ_BYTES, "big")


# --------------------------------------------------------------------------- batch


class Batch:
    """The writes of one write transaction, across any number of workflows.

    Sequence numbers are assigned here, continuing from the header in this
    batch or else the stored one; values are packed (and so copied and
    checked) when they are added, so a later change to the caller's objects
    does not leak into the commit. Make one with :meth:`HistoryStore.batch`.

    Only headers put or started here are written; of a workflow that only
    got events, the batch keeps where its sequence got to (``_progress``),
    without copying its header.
    """

    def __init__(self, store: HistoryStore):
        self._store = store
        self._headers: dict[str, WorkflowHeader] = {}   # put or started here: written at commit
        self._progress: dict[str, list] = {}   # id -> [next_seq, updated_ns, key prefix] of the others
        self._runs: dict[tuple[str, int], WorkflowHeader] = {}   # earlier runs, as they end up
        self._events: list[tuple[bytes, bytes]] = []

    def is_empty(self) -> bool:
        return not self._headers and not self._events

    @property
    def event_count(self) -> int:
        return len(self._events)

    def put_header(self, header: WorkflowHeader, *, copy: bool = True) -> None:
        """Store ``header`` at commit. Its ``next_seq`` never moves back behind events already given out.

        ``copy=False`` hands the header over as it is (see :meth:`_checked`).
        """
        snapshot = self._checked(header, copy)
        known = self._current(header.id)
        if known is not None:
            if known.run != snapshot.run:
                raise ActorError("Invalid", f"workflow {header.id!r}: the header is of run {snapshot.run} "
                                            f"but the current run is {known.run}")
            snapshot.next_seq = max(snapshot.next_seq, known.next_seq)
        self._progress.pop(header.id, None)
        self._headers[header.id] = snapshot

    def overwrite_header(self, header: WorkflowHeader) -> None:
        """Store ``header`` at commit in place of a stored one that cannot be read (see
        :meth:`WorkflowHeader.salvaged`); its run's events are left as they are."""
        self._progress.pop(header.id, None)
        self._headers[header.id] = self._checked(header, True)

    def start_run(self, header: WorkflowHeader, *, new_id: bool = False, copy: bool = True) -> WorkflowHeader:
        """Make ``header`` a new run of its id and store it at commit; returns it as stored.

        The id's current run, if there is one, is kept as an earlier run,
        as it stands in this batch. The new run's number and first sequence
        continue from it (run 1 from sequence 0 for a new id). ``new_id``
        says the caller made the id just now, so that no run of it can
        exist: the store is not searched for one. ``copy=False`` hands the
        header over as it is (see :meth:`_checked`).
        """
        snapshot = self._checked(header, copy)
        known = None if new_id else self._current(header.id)
        if known is None:
            snapshot.run, snapshot.first_seq, snapshot.next_seq = 1, 0, 0
        else:
            self._runs[(known.id, known.run)] = known
            snapshot.run, snapshot.first_seq, snapshot.next_seq = known.run + 1, known.next_seq, known.next_seq
        self._progress.pop(header.id, None)
        self._headers[header.id] = snapshot
        return snapshot

    def _checked(self, header: WorkflowHeader, copy: bool) -> WorkflowHeader:
        """``header`` with its id, status and field types checked; with ``copy``, a private copy.

        Packing the copy proves the values storable and copies them deeply.
        Without ``copy`` the header itself is kept (and changed by the
        batch): for a caller that built it of plain data (as ``from_lua``
        makes) that nothing changes afterwards, where the round trip
        through msgpack would cost more than the rest of a workflow's start.
        """
        _id_bytes(header.id)
        if header.status not in STATUSES:
            raise ActorError("Invalid", f"workflow {header.id!r}: status {header.status!r} is not one of "
                                        f"{', '.join(STATUSES)}")
        fields = header.to_dict()
        try:
            _check_fields(fields)
        except ValueError as error:
            raise ActorError("Invalid", f"workflow {header.id!r}: {error}") from None
        if not copy:
            return header
        return WorkflowHeader(**_unpack(_packed_or_invalid(fields, "header", header.id)))

    def append(self, workflow_id: str, event: dict) -> int:
        """Add one event to a workflow that has a header; returns its sequence number.

        An ``int`` ``"ts"`` in the event moves the header's ``updated_ns`` forward.
        """
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise ActorError("Invalid", f"workflow {workflow_id!r}: an event is a dict with a string 'type', "
                                        f"not {event!r:.80}")
        ts = event.get("ts")
        if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool)):
            raise ActorError("Invalid", f"workflow {workflow_id!r}: event 'ts' is an int (ns), not {ts!r}")
        header = self._current(workflow_id)
        if header is None:
            raise self._no_header(workflow_id)
        packed = _packed_or_invalid(event, f"event {header.next_seq} ({event['type']!r})", workflow_id)
        return self.append_packed(workflow_id, packed, ts)

    def append_packed(self, workflow_id: str, packed: bytes, ts: int | None) -> int:
        """:meth:`append` for an event already in msgpack (the durable kernel encodes its
        records itself); ``ts`` is its ``"ts"``. The bytes are trusted to be an event map."""
        header = self._headers.get(workflow_id)
        if header is not None:
            seq = header.next_seq
            header.next_seq = seq + 1
            if ts is not None and ts > header.updated_ns:
                header.updated_ns = ts
            prefix = workflow_id.encode() + b"\0"
        else:
            progress = self._progress.get(workflow_id)
            if progress is None:
                known = self._store._committed_header(workflow_id)
                if known is None:
                    raise self._no_header(workflow_id)
                progress = self._progress[workflow_id] = [known.next_seq, known.updated_ns,
                                                          workflow_id.encode() + b"\0"]
            seq = progress[0]
            progress[0] = seq + 1
            if ts is not None and ts > progress[1]:
                progress[1] = ts
            prefix = progress[2]
        self._events.append((prefix + seq.to_bytes(_SEQ_BYTES, "big"), packed))
        return seq

    @staticmethod
    def _no_header(workflow_id: str) -> ActorError:
        return ActorError("NotFound", f"workflow {workflow_id!r} has no header: put_header before append")

    def current(self, workflow_id: str) -> WorkflowHeader | None:
        """The current run's header as this batch would commit it (or as stored); do not change it."""
        return self._current(workflow_id)

    def _current(self, workflow_id: str) -> WorkflowHeader | None:
        header = self._headers.get(workflow_id)
        if header is not None:
            return header
        header = self._store._committed_header(workflow_id)
        progress = self._progress.get(workflow_id)
        if header is not None and progress is not None:
            header = header.replace(next_seq=progress[0], updated_ns=progress[1])
        return header

    def _clear(self) -> None:
        self._headers.clear()
        self._progress.clear()
        self._runs.clear()
        self._events.clear()


# --------------------------------------------------------------------------- store


class HistoryStore:
    """One LMDB environment of workflow histories; open with :meth:`open`."""

    def __init__(self, path: Path, env: lmdb.Environment, *, readonly: bool, sync: bool,
                 max_map_size: int, dir_lock: int | None):
        self.path = path
        self.readonly = readonly
        self.sync = sync
        self.max_map_size = max_map_size
        self._env = env
        self._dir_lock = dir_lock
        self._dbs: dict[bytes, Any] = {}
        # Headers of running workflows as last committed, so a batch does not
        # read the store for each step. Only the single writer keeps it.
        self._running: dict[str, WorkflowHeader] = {}
        self._snapshot: lmdb.Transaction | None = None   # the writer's read transaction (see _read)

    # ---------------------------------------------------------------- opening

    @classmethod
    def open(cls, path: str | os.PathLike, *, sync: bool = True, readonly: bool = False, lock: bool | None = None,
             map_size: int = 64 * MiB, max_map_size: int = 8 * GiB) -> HistoryStore:
        """Open (or, unless ``readonly``, create) the store in directory ``path``.

        Read-only opens are for other processes than the writer: LMDB (and
        py-lmdb) allow one open of an environment per process, so the
        writing process reads through its own store. A reader uses LMDB's
        lock file when this user may write it (``lock`` says otherwise);
        without it, a read that overlaps two commits of a running writer may
        find a page the writer has reused, and fails as damaged: read again.

        ``sync=False`` skips the fsync of each commit: a crash of the machine
        (not of the process) may then lose the last commits. ``map_size`` is
        where the map starts; a commit that does not fit doubles it, up to
        ``max_map_size``.
        """
        path = Path(path)
        if map_size > max_map_size:
            raise ValueError(f"map_size {map_size} is above max_map_size {max_map_size}")
        if readonly:
            _require_store_dir(path)
        else:
            _make_store_dir(path)
        dir_lock = None if readonly else _lock_dir(path)
        try:
            # Look at the format without LMDB's lock file or touching a byte,
            # so a store of another format is refused exactly as it was found.
            stored_map_size = _probe(path) if (path / "data.mdb").exists() else 0
            env = lmdb.open(
                str(path), subdir=True, readonly=readonly, create=not readonly,
                lock=not readonly or (_may_lock(path) if lock is None else lock), max_dbs=8, sync=sync, metasync=sync,
                map_size=0 if readonly else max(map_size, stored_map_size),
            )
        except lmdb.Error as error:
            _unlock_dir(dir_lock)
            raise _lmdb_failure(path, "opened", error) from None
        except BaseException:
            _unlock_dir(dir_lock)
            raise
        store = cls(path, env, readonly=readonly, sync=sync, max_map_size=max_map_size, dir_lock=dir_lock)
        try:
            store._initialize()
        except lmdb.Error as error:
            store.close()
            raise _lmdb_failure(path, "opened", error) from None
        except BaseException:
            store.close()
            raise
        return store

    def _initialize(self) -> None:
        """Check the format under the lock (the probe raced a writer); set up a new store or
        upgrade an older one (one transaction: the upgrade happens entirely or not at all)."""
        with self._env.begin() as txn:
            found = _read_format(self._env, txn)
        if found is not _EMPTY and not _readable(found):
            raise StoreFormatError(self.path, found)
        if found != FORMAT and not self.readonly:
            with self._env.begin(write=True) as txn:
                meta = self._env.open_db(_DB_META, txn=txn)
                txn.put(b"format", _pack(FORMAT), db=meta)
                for name in _DATA_DBS:
                    self._dbs[name] = self._env.open_db(name, txn=txn)
        self._open_dbs()

    def _open_dbs(self) -> None:
        """Get the database handles (a read-only store may come before its writer made them).

        Handles are opened outside any transaction of ours: py-lmdb ends
        read transactions by resetting them, which would drop a handle opened
        in one.
        """
        for name in _DATA_DBS:
            if name not in self._dbs:
                try:
                    self._dbs[name] = self._env.open_db(name, create=False)
                except lmdb.NotFoundError:
                    pass

    def close(self) -> None:
        self._end_snapshot()
        if self._env is not None:
            self._env.close()
            self._env = None  # type: ignore[assignment]
        _unlock_dir(self._dir_lock)
        self._dir_lock = None

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "read-only" if self.readonly else "read-write"
        return f"<HistoryStore {self.path} {mode}>"

    @property
    def map_size(self) -> int:
        """The current size of the memory map (the most the store can hold before it grows)."""
        return self._env.info()["map_size"]

    # ---------------------------------------------------------------- writing

    def batch(self) -> Batch:
        return Batch(self)

    def commit(self, batch: Batch) -> None:
        """Write all of ``batch`` in one transaction (one fsync), or nothing of it; then empty it.

        When the map is full it is doubled and the whole batch tried again,
        up to ``max_map_size``; past that :class:`StoreFullError`.
        """
        if batch._store is not self:
            raise ValueError("this batch belongs to another store")
        if self.readonly:
            raise HistoryError(f"workflow store {self.path} is open read-only")
        if batch.is_empty():
            return
        headers = [(h.id.encode(), _pack(h.to_dict())) for h in batch._headers.values()]   # ids checked when put
        runs = [(_run_key(h.id, h.run), _pack(h.to_dict())) for h in batch._runs.values()]
        self._end_snapshot()   # reads after the commit must see it; and a map resize needs no transaction open
        while True:
            try:
                self._write(headers, runs, batch._events)
                break
            except lmdb.MapFullError:
                self._grow(batch)
            except lmdb.Error as error:
                raise _lmdb_failure(self.path, "written", error, batch_lost=True) from None
        for header in batch._headers.values():
            if header.status == "running":
                self._running[header.id] = header
            else:
                self._running.pop(header.id, None)
        for workflow_id, (next_seq, updated_ns, _) in batch._progress.items():
            cached = self._running.get(workflow_id)
            if cached is not None:
                cached.next_seq, cached.updated_ns = next_seq, updated_ns
        batch._clear()

    def _write(self, headers: list[tuple[bytes, bytes]], runs: list[tuple[bytes, bytes]],
               events: list[tuple[bytes, bytes]]) -> None:
        with self._env.begin(write=True) as txn:
            txn.cursor(db=self._db(_DB_WORKFLOWS, txn)).putmulti(headers)
            if runs:
                txn.cursor(db=self._db(_DB_RUNS, txn)).putmulti(runs)
            # in key order: LMDB inserts them with fewer page searches and splits
            _, added = txn.cursor(db=self._db(_DB_EVENTS, txn)).putmulti(sorted(events), overwrite=False)
            if added != len(events):
                # Leaving the block with an exception aborts: nothing is written.
                raise HistoryError(f"workflow store {self.path}: {len(events) - added} event(s) of the batch "
                                   "already exist; events are never overwritten")

    def _grow(self, batch: Batch) -> None:
        current = self.map_size
        if current >= self.max_map_size:
            size = sum(len(value) for _, value in batch._events)
            raise StoreFullError(
                f"workflow store {self.path} is full: a batch of {len(batch._events)} event(s) "
                f"({size} bytes) and {len(batch._headers)} header(s) does not fit in "
                f"{_human_size(current)}, the most it may grow to (max_size); none of it was written "
                "and the stored history is intact")
        try:
            self._env.set_mapsize(min(current * 2, self.max_map_size))
        except lmdb.Error as error:
            raise _lmdb_failure(self.path, "grown", error, batch_lost=True) from None

    # ---------------------------------------------------------------- reading

    def raw_header(self, workflow_id: str) -> bytes | None:
        """The current run's header as stored (for one that does not decode)."""
        with self._read() as txn:
            db = self._db(_DB_WORKFLOWS, txn)
            return None if db is None else txn.get(_id_bytes(workflow_id), db=db)

    def header(self, workflow_id: str) -> WorkflowHeader | None:
        """The current run's header, up to date with its last event."""
        key = _id_bytes(workflow_id)
        with self._read() as txn:
            db = self._db(_DB_WORKFLOWS, txn)
            raw = None if db is None else txn.get(key, db=db)
            return None if raw is None else self._caught_up(txn, self._decode_header(key, raw))

    def headers(self, status: str | None = None, *,
                on_corrupt: Callable[[CorruptRecordError], None] | None = None) -> list[WorkflowHeader]:
        """Every workflow's header (of one ``status`` if given), in id order.

        A header that does not decode raises :class:`CorruptRecordError`,
        unless ``on_corrupt`` is given: then it gets the error and the
        listing goes on with the others.
        """
        found = []
        with self._read() as txn:
            db = self._db(_DB_WORKFLOWS, txn)
            for key, raw in [] if db is None else txn.cursor(db=db):
                try:
                    header = self._caught_up(txn, self._decode_header(key, raw))
                except CorruptRecordError as error:
                    if on_corrupt is None:
                        raise
                    on_corrupt(error)
                    continue
                if status is None or header.status == status:
                    found.append(header)
        return found

    def unfinished(self, *, on_corrupt: Callable[[CorruptRecordError], None] | None = None) -> list[WorkflowHeader]:
        """The workflows to resume after a restart (status ``running``)."""
        return self.headers("running", on_corrupt=on_corrupt)

    def runs(self, workflow_id: str) -> list[WorkflowHeader]:
        """The headers of the earlier runs of ``workflow_id``, oldest first (the current one is :meth:`header`)."""
        prefix = _id_bytes(workflow_id) + b"\0"
        with self._read() as txn:
            db = self._db(_DB_RUNS, txn)
            records = []
            if db is not None:
                cursor = txn.cursor(db=db)
                if cursor.set_range(prefix):
                    for key, raw in cursor:
                        if not key.startswith(prefix):
                            break
                        records.append((key, raw))
        found = []
        for key, raw in records:
            header = self._decode_header(key, raw, workflow_id, "runs")
            if len(key) != len(prefix) + _RUN_BYTES or header.run != int.from_bytes(key[len(prefix):], "big"):
                raise CorruptRecordError(self.path, "runs", key, f"the header is of run {header.run}",
                                         workflow_id=workflow_id)
            found.append(header)
        return found

    def run_events(self, header: WorkflowHeader) -> Iterator[tuple[int, dict]]:
        """``(seq, event)`` of the run ``header`` describes (current or earlier)."""
        return self.events(header.id, header.first_seq, header.next_seq)

    def sized_run_events(self, header: WorkflowHeader) -> Iterator[tuple[int, dict, int]]:
        """``(seq, event, bytes stored)`` of the run ``header`` describes: what a host's
        history limits count (see ``hosts.history_limits``)."""
        for seq, key, raw in self._raw_events(header.id, header.first_seq, header.next_seq):
            yield seq, self._decode_event(header.id, key, seq, raw), len(raw)

    def events(self, workflow_id: str, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, dict]]:
        """``(seq, event)`` of one workflow id from ``start`` on (up to, not including, ``stop``),
        read in chunks of short transactions. Without bounds: the events of all its runs."""
        for seq, key, raw in self._raw_events(workflow_id, start, stop):
            yield seq, self._decode_event(workflow_id, key, seq, raw)

    def _raw_events(self, workflow_id: str, start: int, stop: int | None) -> Iterator[tuple[int, bytes, bytes]]:
        """``(seq, key, stored bytes)`` of :meth:`events`."""
        prefix = _id_bytes(workflow_id) + b"\0"
        seq = max(start, 0)
        while stop is None or seq < stop:
            chunk: list[tuple[bytes, bytes]] = []
            with self._read() as txn:
                db = self._db(_DB_EVENTS, txn)
                if db is None:
                    return
                cursor = txn.cursor(db=db)
                if cursor.set_range(prefix + seq.to_bytes(_SEQ_BYTES, "big")):
                    for key, raw in cursor:
                        if not key.startswith(prefix):
                            break
                        chunk.append((key, raw))
                        if len(chunk) == _READ_CHUNK:
                            break
            for key, raw in chunk:
                seq = self._event_seq(workflow_id, key, prefix)
                if stop is not None and seq >= stop:
                    return
                yield seq, key, raw
            if len(chunk) < _READ_CHUNK:
                return
            seq += 1

    # ---------------------------------------------------------------- internals

    def _caught_up(self, txn: lmdb.Transaction, header: WorkflowHeader) -> WorkflowHeader:
        """``header`` (of a current run) with ``next_seq`` past its last stored event, and
        ``updated_ns`` at that event's time if it has one: a commit writes a header only when
        it changes otherwise, so the events are what tell how far a run got."""
        db = self._db(_DB_EVENTS, txn)
        if db is None:
            return header
        prefix = header.id.encode() + b"\0"
        cursor = txn.cursor(db=db)
        found = cursor.prev() if cursor.set_range(prefix + b"\xff" * _SEQ_BYTES) else cursor.last()
        key = cursor.key() if found else b""
        if not key.startswith(prefix) or len(key) != len(prefix) + _SEQ_BYTES:
            return header
        seq = int.from_bytes(key[len(prefix):], "big")
        if seq >= header.next_seq:
            header.next_seq = seq + 1
            try:
                ts = self._decode_event(header.id, key, seq, cursor.value()).get("ts")
            except CorruptRecordError:
                ts = None   # the key tells the sequence; reading the run names the damaged event
            if type(ts) is int and ts > header.updated_ns:
                header.updated_ns = ts
        return header

    def _committed_header(self, workflow_id: str) -> WorkflowHeader | None:
        header = self._running.get(workflow_id)
        if header is None:
            header = self.header(workflow_id)
            if header is not None and header.status == "running" and not self.readonly:
                self._running[workflow_id] = header
        return header

    @contextmanager
    def _read(self) -> Iterator[lmdb.Transaction]:
        """A read transaction; LMDB's own failures (a damaged page, an I/O error) leave it as
        :class:`StoreDamagedError` naming the store."""
        if self._env is None:
            raise HistoryError(f"workflow store {self.path} is closed")
        try:
            if not self.readonly:
                # The one writer reads what it committed last: one read
                # transaction serves every read until the next commit ends it
                # (beginning one per read would cost more than most reads).
                if self._snapshot is None:
                    self._snapshot = self._begin()
                yield self._snapshot
                return
            try:
                txn = self._begin()
            except lmdb.MapResizedError:
                self._env.set_mapsize(0)        # the writer grew the map: adopt its size
                txn = self._begin()
            with txn:
                yield txn
        except lmdb.Error as error:
            self._end_snapshot()
            raise _lmdb_failure(self.path, "read", error) from None

    def _end_snapshot(self) -> None:
        if self._snapshot is not None:
            self._snapshot.abort()
            self._snapshot = None

    def _begin(self) -> lmdb.Transaction:
        if len(self._dbs) < len(_DATA_DBS):
            self._open_dbs()
        return self._env.begin()

    def _db(self, name: bytes, txn: lmdb.Transaction) -> Any:
        """A database handle, or None in a read-only store whose writer has not created it yet."""
        return self._dbs.get(name)

    def _decode_header(self, key: bytes, raw: bytes, workflow_id: str | None = None,
                       database: str = "workflows") -> WorkflowHeader:
        """Decode a header stored under ``key`` (in ``runs``, the id is given: the key holds more)."""
        if workflow_id is None:
            try:
                workflow_id = key.decode()
            except UnicodeDecodeError:
                raise CorruptRecordError(self.path, database, key, "the key is not UTF-8") from None
        try:
            header = WorkflowHeader.from_dict(_unpack(raw))
        except Exception as error:  # noqa: BLE001 (msgpack may raise anything on garbage)
            raise CorruptRecordError(self.path, database, key, f"{type(error).__name__}: {error}",
                                     workflow_id=workflow_id) from None
        if header.id != workflow_id:
            raise CorruptRecordError(self.path, database, key, f"the header names workflow {header.id!r}",
                                     workflow_id=workflow_id)
        return header

    def _event_seq(self, workflow_id: str, key: bytes, prefix: bytes) -> int:
        if len(key) != len(prefix) + _SEQ_BYTES:
            raise CorruptRecordError(self.path, "events", key, f"a key of {len(key)} bytes",
                                     workflow_id=workflow_id)
        return int.from_bytes(key[len(prefix):], "big")

    def _decode_event(self, workflow_id: str, key: bytes, seq: int, raw: bytes) -> dict:
        try:
            event = _unpack(raw)
        except Exception as error:  # noqa: BLE001 (msgpack may raise anything on garbage)
            raise CorruptRecordError(self.path, "events", key, f"{type(error).__name__}: {error}",
                                     workflow_id=workflow_id, seq=seq) from None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise CorruptRecordError(self.path, "events", key, "not an event map with a string 'type'",
                                     workflow_id=workflow_id, seq=seq)
        return event


# --------------------------------------------------------------------------- helpers for open


_EMPTY = object()  # an environment with nothing in it yet


class _NotAStore(str):
    """What :func:`_read_format` found instead of a format number."""


def _read_format(env: lmdb.Environment, txn: lmdb.Transaction) -> Any:
    """The stored format number, ``_EMPTY`` for a blank environment, or a description of what is there."""
    try:
        meta = env.open_db(_DB_META, txn=txn, create=False)
    except lmdb.NotFoundError:
        return _EMPTY if not txn.cursor().first() else _NotAStore("it has no meta database")
    except lmdb.IncompatibleError:
        return _NotAStore("its 'meta' is not a database")
    raw = txn.get(b"format", db=meta)
    if raw is None:
        return _NotAStore("no format in its meta database")
    try:
        return _unpack(raw)
    except Exception:  # noqa: BLE001 (msgpack may raise anything on garbage)
        return _NotAStore(f"an undecodable format record {raw[:16]!r}")


def _readable(found: Any) -> bool:
    return type(found) is int and (found == FORMAT or found in UPGRADABLE)


def _probe(path: Path) -> int:
    """Refuse a store of another format without writing anything; return its stored map size.

    The look is lock-free (no lock file opened), so a result other than our
    format is confirmed by a second look before it is believed.
    """
    if not (path / "data.mdb").is_file():
        raise StoreFormatError(path, _NotAStore("its data.mdb is not a file"))

    def look() -> tuple[Any, int]:
        try:
            env = lmdb.open(str(path), subdir=True, readonly=True, lock=False, max_dbs=8, map_size=0)
        except lmdb.InvalidError:
            return _NotAStore("data.mdb is not an LMDB file"), 0
        except lmdb.VersionMismatchError:
            return _NotAStore("written by another LMDB version"), 0
        try:
            with env.begin() as txn:
                return _read_format(env, txn), env.info()["map_size"]
        finally:
            env.close()

    found, map_size = look()
    if found is not _EMPTY and not _readable(found):
        found_again, _ = look()
        if found_again == found:
            raise StoreFormatError(path, found)
    return map_size


def _require_store_dir(path: Path) -> None:
    if not path.exists():
        raise StoreNotFoundError(f"no workflow store at {path}: the directory does not exist")
    if not path.is_dir():
        raise StoreNotFoundError(f"no workflow store at {path}: it is not a directory")
    if not (path / "data.mdb").exists():
        raise StoreNotFoundError(f"no workflow store at {path}: the directory has no data.mdb")


def check_store(path: str | os.PathLike) -> None:
    """Raise the :class:`HistoryError` a writer's open of ``path`` would raise about where the
    store is, who may write it and what format it has; creates and changes nothing."""
    path = Path(path)
    _check_place(path)
    if (path / "data.mdb").exists():
        try:
            _probe(path)
        except lmdb.Error as error:
            raise _lmdb_failure(path, "opened", error) from None


def _check_place(path: Path) -> None:
    """Refuse a store path that cannot hold a store this user writes: a file in the way, or a
    directory (the store's, or the nearest one that exists above it) this user may not write."""
    if path.exists():
        if not path.is_dir():
            raise HistoryError(f"workflow store {path} is not a directory but a file: move the file away "
                               "or choose another store path", "Invalid")
        _require_writable(path)
        return
    above = next(parent for parent in path.parents if parent.exists())
    if not above.is_dir():
        raise HistoryError(f"workflow store {path} cannot be created: {above} is a file, not a directory; "
                           "move it away or choose another store path", "Invalid")
    if not os.access(above, os.W_OK | os.X_OK):
        raise HistoryError(f"workflow store {path} cannot be created: this user may not write in {above}; "
                           "choose a store path it may write", "PermissionDenied")


def _make_store_dir(path: Path) -> None:
    """Create the store directory (and its parents), or say in one line what is in the way."""
    _check_place(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:    # something changed since the look
        raise HistoryError(f"workflow store {path} cannot be created: {error.strerror}") from None


def _require_writable(path: Path) -> None:
    """A writer needs the directory and LMDB's files in it writable; say which one is not."""
    for item, mode in ((path, os.R_OK | os.W_OK | os.X_OK), (path / "data.mdb", os.R_OK | os.W_OK),
                       (path / "lock.mdb", os.R_OK | os.W_OK)):
        if item.exists() and not os.access(item, mode):
            what = "the directory" if item == path else item.name
            raise HistoryError(f"workflow store {path} is not writable by this user ({what}): a node needs "
                               "to write its store; `luactor workflows` can still read it", "PermissionDenied")


def _may_lock(path: Path) -> bool:
    """Whether a reader may use LMDB's lock file (create it, or open it for writing)."""
    lock_file = path / "lock.mdb"
    if lock_file.exists():
        return os.access(lock_file, os.R_OK | os.W_OK)
    return os.access(path, os.W_OK | os.X_OK)


def _lmdb_failure(path: Path, doing: str, error: lmdb.Error, *, batch_lost: bool = False) -> HistoryError:
    """What LMDB's ``error`` means for the store at ``path``, in one line."""
    outcome = ("none of the batch was written and what was committed before is intact" if batch_lost
               else "nothing was written to it")
    if isinstance(error, lmdb.DiskError):
        return StoreFullError(f"workflow store {path} cannot be {doing}: the disk is full ({error}); {outcome}. "
                              "Free some space, then start the node again")
    if isinstance(error, lmdb.ReadonlyError):
        return HistoryError(f"workflow store {path} cannot be {doing}: permission denied ({error})",
                            "PermissionDenied")
    if batch_lost:
        return StoreDamagedError(f"workflow store {path} cannot be {doing}: LMDB failed ({error}); {outcome}. "
                                 "Check the disk (space, errors), then start the node again")
    return StoreDamagedError(f"workflow store {path} cannot be {doing}: LMDB failed ({error}); {outcome}. "
                             "The store may be damaged: restore a copy of it, or move it away to start afresh")


def _lock_dir(path: Path) -> int:
    """Take the single-writer lock (released by the kernel if the process dies)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreBusyError(f"workflow store {path} is already open for writing "
                             "(by another process, or already in this one)") from None
    return fd


def _unlock_dir(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)   # closing the descriptor releases the flock


def _human_size(size: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"
