"""hosts.history: the LMDB workflow store, on real files, with a real second process where it matters.

What is promised: headers and append-only events survive a reopen; one
commit holds many workflows and writes all or nothing; sequence numbers never
go back; a store of another format is refused byte for byte untouched; a
corrupt record names its key and spoils only its workflow; a full map grows,
and past its limit refuses the batch with history intact; unstorable
payloads are refused when added; a reader in another process sees a writer's
commits while the writer holds the store, even after the map grew.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import lmdb
import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.errors import ActorError
from hosts.history import (
    FORMAT,
    CorruptRecordError,
    HistoryError,
    HistoryStore,
    StoreBusyError,
    StoreFormatError,
    StoreFullError,
    StoreNotFoundError,
    WorkflowHeader,
    event_key,
)

KiB = 1024


def header(workflow_id: str, status: str = "running", **fields) -> WorkflowHeader:
    fields = {"input": [{"order": 1}], "parent": None, "created_ns": 100, "updated_ns": 100, **fields}
    return WorkflowHeader(id=workflow_id, entry="test:flow", status=status, **fields)


def start(store: HistoryStore, *workflow_ids: str, events: int = 0) -> None:
    """Create workflows, each with ``events`` step events, in one commit."""
    batch = store.batch()
    for workflow_id in workflow_ids:
        batch.put_header(header(workflow_id))
        for n in range(events):
            batch.append(workflow_id, {"type": "step", "n": n})
    store.commit(batch)


def file_bytes(path: Path) -> dict[str, bytes]:
    return {child.name: child.read_bytes() for child in sorted(path.iterdir())}


def raw_env(path: Path) -> lmdb.Environment:
    return lmdb.open(str(path), max_dbs=4)


# -- round trip ---------------------------------------------------------------------------------


def test_headers_and_events_survive_a_reopen(tmp_path):
    path = tmp_path / "store"
    with HistoryStore.open(path) as store:
        batch = store.batch()
        batch.put_header(header("order-1", meta={"attempt": 1}))
        assert batch.append("order-1", {"type": "started", "ts": 150, "input": [1, "two"]}) == 0
        assert batch.append("order-1", {"type": "call", "ts": 120, "raw": b"\xff\x00", "text": "héllo"}) == 1
        store.commit(batch)
        assert batch.is_empty()

    with HistoryStore.open(path) as store:
        got = store.header("order-1")
        assert got == header("order-1", meta={"attempt": 1}, next_seq=2, updated_ns=150)
        assert list(store.events("order-1")) == [
            (0, {"type": "started", "ts": 150, "input": [1, "two"]}),
            (1, {"type": "call", "ts": 120, "raw": b"\xff\x00", "text": "héllo"}),
        ]
        assert list(store.events("order-1", start=1)) == [
            (1, {"type": "call", "ts": 120, "raw": b"\xff\x00", "text": "héllo"})]
        assert store.header("order-2") is None
        assert list(store.events("order-2")) == []


def test_a_new_store_records_its_format(tmp_path):
    HistoryStore.open(tmp_path / "store").close()
    env = lmdb.open(str(tmp_path / "store"), max_dbs=4, readonly=True)
    with env.begin() as txn:
        meta = env.open_db(b"meta", txn=txn, create=False)
        assert msgpack.unpackb(txn.get(b"format", db=meta)) == FORMAT == 2
    env.close()


def test_header_dict_round_trip():
    original = header("w", result={"ok": True}, error={"kind": "Internal"}, next_seq=4, meta={"k": [1]})
    assert WorkflowHeader.from_dict(original.to_dict()) == original
    with pytest.raises(ValueError, match="'entry' is missing"):
        WorkflowHeader.from_dict({"id": "w", "status": "running", "created_ns": 1, "updated_ns": 1})


def test_replace_copies_a_header_with_changes_and_knows_its_fields():
    started = header("w")
    ended = started.replace(status="completed", result={"total": 3})
    assert (ended.status, ended.result, ended.input) == ("completed", {"total": 3}, [{"order": 1}])
    assert (started.status, started.result) == ("running", None)
    with pytest.raises(TypeError, match="no field colour, stauts"):
        started.replace(stauts="failed", colour="red")


def test_one_commit_spans_many_workflows_and_seqs_continue(tmp_path):
    with HistoryStore.open(tmp_path / "store") as store:
        start(store, "a", "b", events=2)
        batch = store.batch()
        assert [batch.append("a", {"type": "x"}), batch.append("b", {"type": "x"}),
                batch.append("a", {"type": "y"})] == [2, 2, 3]
        assert batch.event_count == 3
        store.commit(batch)
        assert [seq for seq, _ in store.events("a")] == [0, 1, 2, 3]
        assert [event["type"] for _, event in store.events("b")] == ["step", "step", "x"]
        assert store.header("a").next_seq == 4 and store.header("b").next_seq == 3

    with HistoryStore.open(tmp_path / "store") as store:  # nothing cached: from the stored header
        batch = store.batch()
        assert batch.append("a", {"type": "z"}) == 4


def test_appending_writes_no_header_and_reading_catches_up_with_the_events(tmp_path):
    path = tmp_path / "store"
    with HistoryStore.open(path) as store:
        start(store, "w", events=1)
        batch = store.batch()
        batch.append("w", {"type": "x", "ts": 500})
        batch.append("w", {"type": "y"})
        store.commit(batch)
    env = raw_env(path)
    with env.begin() as txn:
        raw = msgpack.unpackb(txn.get(b"w", db=env.open_db(b"workflows", txn=txn, create=False)))
    env.close()
    assert (raw["next_seq"], raw["updated_ns"]) == (1, 100)       # as the start wrote it
    with HistoryStore.open(path, readonly=True) as store:
        # next_seq past the last event; updated_ns from the last event that has a time
        assert (store.header("w").next_seq, store.headers()[0].next_seq) == (3, 3)
    with HistoryStore.open(path) as store:
        batch = store.batch()
        batch.append("w", {"type": "z", "ts": 900})
        store.commit(batch)
        assert (store.header("w").next_seq, store.header("w").updated_ns) == (4, 900)


def test_a_stale_header_does_not_move_next_seq_back(tmp_path):
    with HistoryStore.open(tmp_path / "store") as store:
        start(store, "w", events=3)
        batch = store.batch()
        batch.put_header(header("w", status="completed", result=42))   # next_seq=0 in the caller's copy
        assert batch.append("w", {"type": "done"}) == 3
        store.commit(batch)
        stored = store.header("w")
        assert (stored.status, stored.result, stored.next_seq) == ("completed", 42, 4)


def test_a_new_run_keeps_the_earlier_one_and_continues_the_sequence(tmp_path):
    path = tmp_path / "store"
    with HistoryStore.open(path) as store:
        start(store, "w", events=3)
        batch = store.batch()
        batch.put_header(header("w", status="terminated"))
        batch.append("w", {"type": "last of run 1"})
        second = batch.start_run(header("w", input=["again"]))
        assert (second.run, second.first_seq, second.next_seq) == (2, 4, 4)
        assert batch.append("w", {"type": "first of run 2"}) == 4
        with pytest.raises(ActorError, match="header is of run 1 but the current run is 2"):
            batch.put_header(header("w", status="completed"))
        store.commit(batch)
        batch = store.batch()
        assert batch.start_run(header("fresh")).run == 1   # a new id starts at run 1, seq 0
        third = batch.start_run(header("w", input=["third"]))
        assert (third.run, third.first_seq) == (3, 5)
        store.commit(batch)

    with HistoryStore.open(path, readonly=True) as store:
        current = store.header("w")
        assert (current.run, current.input, current.first_seq, current.next_seq) == (3, ["third"], 5, 5)
        first, second = store.runs("w")
        assert (first.run, first.status, first.first_seq, first.next_seq) == (1, "terminated", 0, 4)
        assert (second.run, second.status, second.input) == (2, "running", ["again"])
        assert [e["type"] for _, e in store.run_events(first)] == ["step", "step", "step", "last of run 1"]
        assert list(store.run_events(second)) == [(4, {"type": "first of run 2"})]
        assert list(store.run_events(current)) == []
        assert [seq for seq, _ in store.events("w")] == [0, 1, 2, 3, 4]   # every run's, in order
        assert store.runs("fresh") == [] and store.runs("nobody") == []
        assert [h.id for h in store.unfinished()] == ["fresh", "w"]        # only current runs


def test_a_new_id_starts_run_1_without_a_look_in_the_store(tmp_path, monkeypatch):
    with HistoryStore.open(tmp_path / "store") as store:
        start(store, "w", events=2)
        monkeypatch.setattr(store, "header", lambda workflow_id: pytest.fail(f"{workflow_id} was looked up"))
        batch = store.batch()
        made = batch.start_run(header("made-here"), new_id=True)
        assert (made.run, made.first_seq, made.next_seq) == (1, 0, 0)
        assert batch.append("made-here", {"type": "step"}) == 0
        store.commit(batch)
        monkeypatch.undo()
        batch = store.batch()
        assert batch.start_run(header("w")).run == 2      # an id given by someone else is looked up
        store.commit(batch)
        assert store.header("made-here").next_seq == 1


def test_a_header_handed_over_is_kept_as_is_and_still_checked(tmp_path):
    with HistoryStore.open(tmp_path / "store") as store:
        batch = store.batch()
        given = header("w")
        assert batch.start_run(given, copy=False) is given
        ended = header("w", status="completed", result={"total": 3})
        batch.put_header(ended, copy=False)
        assert batch.current("w") is ended
        with pytest.raises(ActorError, match="status 'paused' is not one of"):
            batch.put_header(header("w", status="paused"), copy=False)
        with pytest.raises(ActorError, match="workflow 'w': header field 'input' is a dict"):
            batch.start_run(header("w", input={"not": "a list"}), copy=False)
        with pytest.raises(ActorError, match="NUL"):
            batch.start_run(header("a\0b"), new_id=True, copy=False)
        store.commit(batch)
        assert (store.header("w").status, store.header("w").result) == ("completed", {"total": 3})


def v1_store(path: Path) -> None:
    """A store as format 1 wrote it: no runs database, headers without run or first_seq."""
    path.mkdir()
    env = lmdb.open(str(path), max_dbs=4)
    with env.begin(write=True) as txn:
        txn.put(b"format", msgpack.packb(1), db=env.open_db(b"meta", txn=txn))
        old = {"id": "w", "entry": "test:flow", "status": "running", "input": [1], "parent": None,
               "created_ns": 100, "updated_ns": 100, "result": None, "error": None, "next_seq": 2, "meta": {}}
        txn.put(b"w", msgpack.packb(old), db=env.open_db(b"workflows", txn=txn))
        events = env.open_db(b"events", txn=txn)
        for seq in range(2):
            txn.put(event_key("w", seq), msgpack.packb({"type": "step", "n": seq}), db=events)
    env.close()


def test_a_format_1_store_is_read_as_is_and_upgraded_in_place_by_a_writer(tmp_path):
    path = tmp_path / "store"
    v1_store(path)
    before = (path / "data.mdb").read_bytes()
    with HistoryStore.open(path, readonly=True) as store:    # a reader changes no data
        old = store.header("w")
        assert (old.run, old.first_seq, old.next_seq) == (1, 0, 2) and store.runs("w") == []
        assert [e["n"] for _, e in store.run_events(old)] == [0, 1]
    assert (path / "data.mdb").read_bytes() == before

    with HistoryStore.open(path) as store:
        assert store.header("w") == old
        batch = store.batch()
        assert batch.start_run(header("w")).first_seq == 2
        store.commit(batch)
    env = lmdb.open(str(path), max_dbs=8, readonly=True)
    with env.begin() as txn:
        assert msgpack.unpackb(txn.get(b"format", db=env.open_db(b"meta", txn=txn, create=False))) == 2
    env.close()
    with HistoryStore.open(path, readonly=True) as store:
        assert [h.run for h in store.runs("w")] == [1] and store.header("w").run == 2
        assert [seq for seq, _ in store.events("w")] == [0, 1]


def test_the_batch_keeps_its_own_copy_of_what_was_added(tmp_path):
    with HistoryStore.open(tmp_path / "store") as store:
        mine = header("w")
        event = {"type": "call", "args": [1]}
        batch = store.batch()
        batch.put_header(mine)
        batch.append("w", event)
        mine.input.append("later")
        event["args"].append("later")
        store.commit(batch)
        assert store.header("w").input == [{"order": 1}]
        assert list(store.events("w")) == [(0, {"type": "call", "args": [1]})]


def test_listing_by_status(tmp_path):
    with HistoryStore.open(tmp_path / "store") as store:
        batch = store.batch()
        for workflow_id, status in [("c", "completed"), ("a", "running"), ("b", "failed"), ("d", "running")]:
            batch.put_header(header(workflow_id, status=status))
        store.commit(batch)
        assert [h.id for h in store.headers()] == ["a", "b", "c", "d"]
        assert [h.id for h in store.headers("failed")] == ["b"]
        assert [h.id for h in store.unfinished()] == ["a", "d"]


def test_events_are_read_past_a_chunk(tmp_path):
    with HistoryStore.open(tmp_path / "store", sync=False) as store:
        start(store, "long", "next", events=1300)
        assert [seq for seq, _ in store.events("long")] == list(range(1300))
        assert [event["n"] for _, event in store.events("long", start=700)] == list(range(700, 1300))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["a", "ab", "b"]), st.integers(0, 3)), max_size=6),
                max_size=6))
def test_events_match_a_model_across_batches(batches):
    """Whatever the grouping into batches, each workflow's events come back in order, numbered 0..n."""
    with tempfile.TemporaryDirectory() as directory, HistoryStore.open(directory, sync=False) as store:
        model: dict[str, list[int]] = {}
        start(store, "a", "ab", "b")
        for steps in batches:
            batch = store.batch()
            for workflow_id, value in steps:
                seq = batch.append(workflow_id, {"type": "v", "value": value})
                assert seq == len(model.setdefault(workflow_id, []))
                model[workflow_id].append(value)
            store.commit(batch)
        for workflow_id in ("a", "ab", "b"):
            got = list(store.events(workflow_id))
            assert [seq for seq, _ in got] == list(range(len(model.get(workflow_id, []))))
            assert [event["value"] for _, event in got] == model.get(workflow_id, [])


# -- refused input --------------------------------------------------------------------------------


@pytest.mark.parametrize("event, where", [
    ({"type": "call", "args": [1, {"x": {1, 2}}]}, "at ['args'][1]['x']"),
    ({"type": "call", "big": 2 ** 70}, "at ['big']"),
    ({"type": "call", "fn": print}, "at ['fn']"),
    ({"type": "call", "bad": "\udc80"}, "at ['bad']"),
])
def test_unstorable_events_are_refused_when_appended(tmp_path, event, where):
    with HistoryStore.open(tmp_path / "store") as store:
        start(store, "w", events=1)
        batch = store.batch()
        with pytest.raises(ActorError) as caught:
            batch.append("w", event)
        assert caught.value.kind == "Invalid"
        assert "workflow 'w'" in caught.value.message and "event 1 ('call')" in caught.value.message
        assert where in caught.value.message
        assert batch.is_empty()
        assert batch.append("w", {"type": "fine"}) == 1     # the refused event took no seq


def test_unstorable_headers_are_refused_when_put(tmp_path):
    with HistoryStore.open(tmp_path / "store") as store:
        batch = store.batch()
        with pytest.raises(ActorError, match=r"workflow 'w': header at \['result'\]\['when'\] cannot be stored"):
            batch.put_header(header("w", result={"when": object()}))
        with pytest.raises(ActorError, match="status 'paused' is not one of"):
            batch.put_header(header("w", status="paused"))
        with pytest.raises(ActorError, match="'created_ns' is a float"):
            batch.put_header(WorkflowHeader("w", "test:flow", "running", [], None, 1.5, 1))
        assert batch.is_empty()
        store.commit(batch)
        assert store.headers() == []


@pytest.mark.parametrize("bad_id, problem", [("", "non-empty"), ("a\0b", "NUL"), ("x" * 600, "the limit is")])
def test_workflow_ids_that_cannot_be_keys_are_refused(tmp_path, bad_id, problem):
    with HistoryStore.open(tmp_path / "store") as store:
        with pytest.raises(ActorError, match=problem) as caught:
            store.batch().put_header(header(bad_id))
        assert caught.value.kind == "Invalid"


def test_events_need_a_type_and_a_header(tmp_path):
    with HistoryStore.open(tmp_path / "store") as store:
        batch = store.batch()
        with pytest.raises(ActorError, match="has no header") as caught:
            batch.append("nobody", {"type": "x"})
        assert caught.value.kind == "NotFound"
        batch.put_header(header("w"))
        for bad in [{"n": 1}, ["type", "x"], {"type": 3}, {"type": "x", "ts": "now"}]:
            with pytest.raises(ActorError) as caught:
                batch.append("w", bad)
            assert caught.value.kind == "Invalid"


# -- format --------------------------------------------------------------------------------------


def set_format(path: Path, value) -> None:
    env = raw_env(path)
    with env.begin(write=True) as txn:
        txn.put(b"format", msgpack.packb(value), db=env.open_db(b"meta", txn=txn))
    env.close()


@pytest.mark.parametrize("readonly", [False, True])
def test_a_newer_format_is_refused_and_left_untouched(tmp_path, readonly):
    path = tmp_path / "store"
    with HistoryStore.open(path) as store:
        start(store, "w", events=2)
    set_format(path, 3)
    before = file_bytes(path)
    with pytest.raises(StoreFormatError) as caught:
        HistoryStore.open(path, readonly=readonly)
    message = str(caught.value)
    assert str(path) in message and "format 3" in message and "newer" in message and "formats 1 and 2" in message
    assert (caught.value.found, caught.value.supported) == (3, 2)
    assert file_bytes(path) == before


@pytest.mark.parametrize("value", ["one", 0, None])
def test_an_unknown_format_is_refused(tmp_path, value):
    path = tmp_path / "store"
    HistoryStore.open(path).close()
    set_format(path, value)
    with pytest.raises(StoreFormatError, match=f"has unknown format {value!r}; this luactor reads formats 1 and 2"):
        HistoryStore.open(path)


def test_another_lmdb_environment_is_not_taken_for_a_store(tmp_path):
    path = tmp_path / "other"
    env = lmdb.open(str(path))
    with env.begin(write=True) as txn:
        txn.put(b"key", b"value")
    env.close()
    before = file_bytes(path)
    with pytest.raises(StoreFormatError, match="not a luactor workflow store of a known format .it has no meta"):
        HistoryStore.open(path)
    assert file_bytes(path) == before

    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "data.mdb").write_bytes(b"not lmdb at all" * 1000)
    with pytest.raises(StoreFormatError, match="not an LMDB file"):
        HistoryStore.open(tmp_path / "junk")


# -- corrupt records -----------------------------------------------------------------------------


def test_a_corrupt_record_names_its_key_and_spoils_only_its_workflow(tmp_path):
    path = tmp_path / "store"
    with HistoryStore.open(path) as store:
        start(store, "bad-events", "fine", "bad-header", events=3)
    env = raw_env(path)
    with env.begin(write=True) as txn:
        txn.put(event_key("bad-events", 1), b"\xc1garbage", db=env.open_db(b"events", txn=txn))
        txn.put(b"bad-header", b"\x93\x01\x02", db=env.open_db(b"workflows", txn=txn))
    env.close()

    with HistoryStore.open(path) as store:
        events = store.events("bad-events")
        assert next(events) == (0, {"type": "step", "n": 0})
        with pytest.raises(CorruptRecordError) as caught:
            next(events)
        error = caught.value
        assert (error.database, error.workflow_id, error.seq) == ("events", "bad-events", 1)
        assert error.key == event_key("bad-events", 1)
        assert "'events'" in str(error) and "'bad-events' seq 1" in str(error) and str(path) in str(error)

        with pytest.raises(CorruptRecordError, match="'workflows', workflow 'bad-header'"):
            store.header("bad-header")
        with pytest.raises(CorruptRecordError):
            store.headers()
        spoiled: list[CorruptRecordError] = []
        assert [h.id for h in store.unfinished(on_corrupt=spoiled.append)] == ["bad-events", "fine"]
        assert [e.workflow_id for e in spoiled] == ["bad-header"]

        assert [seq for seq, _ in store.events("fine")] == [0, 1, 2]
        assert [seq for seq, _ in store.events("bad-header")] == [0, 1, 2]   # its events are fine
        batch = store.batch()
        batch.append("fine", {"type": "more"})
        store.commit(batch)
        assert store.header("fine").next_seq == 4


# -- a full map ----------------------------------------------------------------------------------


def big_batch(store: HistoryStore, workflow_id: str, count: int, size: int):
    batch = store.batch()
    if store.header(workflow_id) is None:
        batch.put_header(header(workflow_id))
    for _ in range(count):
        batch.append(workflow_id, {"type": "blob", "data": b"x" * size})
    return batch


def test_a_full_map_grows(tmp_path):
    path = tmp_path / "store"
    with HistoryStore.open(path, map_size=128 * KiB) as store:
        assert store.map_size == 128 * KiB
        store.commit(big_batch(store, "w", 1000, 1 * KiB))
        assert store.map_size >= 1024 * KiB
        grown = store.map_size
        assert sum(1 for _ in store.events("w")) == 1000
    with HistoryStore.open(path, map_size=128 * KiB) as store:
        assert store.map_size == grown           # a reopen keeps the size the store grew to


def test_past_the_largest_map_the_batch_is_refused_and_history_is_intact(tmp_path):
    path = tmp_path / "store"
    with HistoryStore.open(path, map_size=128 * KiB, max_map_size=256 * KiB) as store:
        start(store, "kept", events=5)
        batch = big_batch(store, "kept", 400, 1 * KiB)
        batch.put_header(header("new"))
        with pytest.raises(StoreFullError) as caught:
            store.commit(batch)
        message = str(caught.value)
        assert str(path) in message and "256 KiB" in message and "none of it was written" in message
        assert store.map_size == 256 * KiB
        assert not batch.is_empty()

        assert store.header("new") is None
        assert store.header("kept").next_seq == 5
        assert [event["n"] for _, event in store.events("kept")] == [0, 1, 2, 3, 4]
        small = store.batch()
        assert small.append("kept", {"type": "after"}) == 5   # seqs of the refused batch were not used
        store.commit(small)
    with HistoryStore.open(path) as store:
        assert [seq for seq, _ in store.events("kept")] == list(range(6))


# -- opening -------------------------------------------------------------------------------------


def test_read_only_needs_an_existing_store_and_cannot_commit(tmp_path):
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        HistoryStore.open(tmp_path / "missing", readonly=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreNotFoundError, match="no data.mdb"):
        HistoryStore.open(tmp_path / "empty", readonly=True)
    assert not (tmp_path / "missing").exists()

    HistoryStore.open(tmp_path / "store").close()
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        assert store.headers() == []
        with pytest.raises(HistoryError, match="read-only"):
            store.commit(store.batch())


def test_a_store_has_one_writer(tmp_path):
    path = tmp_path / "store"
    with HistoryStore.open(path), pytest.raises(StoreBusyError, match=f"{path} is already open for writing"):
        HistoryStore.open(path)
    with HistoryStore.open(path, sync=False) as store:       # closing released it
        start(store, "w")


def test_a_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(HistoryError, match="not a directory"):
        HistoryStore.open(tmp_path / "file")


# -- a writer in another process ----------------------------------------------------------------


WRITER = r"""
import sys
from hosts.history import HistoryStore, WorkflowHeader

store = HistoryStore.open(sys.argv[1], map_size=int(sys.argv[2]))
print("ready", flush=True)
for line in sys.stdin:
    command, *args = line.split()
    if command == "append":               # append WORKFLOW COUNT SIZE: COUNT events in one commit
        workflow_id, count, size = args[0], int(args[1]), int(args[2])
        batch = store.batch()
        if store.header(workflow_id) is None:
            batch.put_header(WorkflowHeader(workflow_id, "test:flow", "running", [], None, 1, 1))
        for _ in range(count):
            batch.append(workflow_id, {"type": "step", "pad": "x" * size})
        store.commit(batch)
        print("ok", store.map_size, flush=True)
    elif command == "exit":
        break
store.close()
"""


class Writer:
    """A process holding a store open for writing, driven line by line (no sleeping)."""

    def __init__(self, path: Path, map_size: int = 64 * 1024 * KiB):
        self.process = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(map_size)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.watchdog = threading.Timer(120, self.process.kill)   # a hung writer fails the test
        self.watchdog.start()
        assert self.reply() == "ready"

    def reply(self) -> str:
        line = self.process.stdout.readline().strip()
        assert line, f"the writer died (status {self.process.poll()})"
        return line

    def append(self, workflow_id: str, count: int, size: int = 10) -> int:
        self.process.stdin.write(f"append {workflow_id} {count} {size}\n")
        self.process.stdin.flush()
        status, map_size = self.reply().split()
        assert status == "ok"
        return int(map_size)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.process.stdin.write("exit\n")
            self.process.stdin.close()
        except BrokenPipeError:
            pass
        self.process.wait()
        self.watchdog.cancel()


def test_a_reader_follows_a_writer_in_another_process(tmp_path):
    path = tmp_path / "store"
    with Writer(path, map_size=256 * KiB) as writer:
        writer.append("w", 10)
        with HistoryStore.open(path, readonly=True) as reader:
            assert reader.header("w").next_seq == 10
            assert len(list(reader.events("w"))) == 10

            with pytest.raises(StoreBusyError):
                HistoryStore.open(path)

            grown = writer.append("w", 2000, 1000)               # 2 MB: the writer's map grows
            assert grown > 256 * KiB
            assert reader.header("w").next_seq == 2010
            assert [seq for seq, _ in reader.events("w", start=2000)] == list(range(2000, 2010))
            assert reader.map_size == grown
        writer.append("later", 1)
    assert writer.process.returncode == 0
    with HistoryStore.open(path) as store:                        # the writer let go
        assert [h.id for h in store.headers()] == ["later", "w"]


def test_a_reader_opened_before_the_writer_set_the_store_up(tmp_path):
    path = tmp_path / "store"
    lmdb.open(str(path), max_dbs=4).close()          # an environment with nothing in it yet
    with HistoryStore.open(path, readonly=True) as reader:
        assert reader.headers() == [] and list(reader.events("w")) == []
        with Writer(path) as writer:
            writer.append("w", 3)
            assert reader.header("w").next_seq == 3
            assert [seq for seq, _ in reader.events("w")] == [0, 1, 2]
