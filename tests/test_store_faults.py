"""A workflow store that cannot be used: each fault is one clear error (an ActorError naming
the store, from ``HistoryStore.open`` and from ``Node.open`` alike), nothing stored is
changed, and a store that fails under a running node stops its host alone."""

from __future__ import annotations

import resource
import signal
from pathlib import Path

import lmdb
import pytest
import trio
from conftest import LuactorProcess, unwritable
from test_history import file_bytes, set_format, start

from actors import Node
from actors.errors import ActorError
from hosts.history import (
    HistoryError,
    HistoryStore,
    StoreBusyError,
    StoreDamagedError,
    StoreFormatError,
    check_store,
)

# --------------------------------------------------------------------------- making faults


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes (None for a directory) under ``root``, by relative path."""
    return {str(item.relative_to(root)): None if item.is_dir() else item.read_bytes()
            for item in sorted(root.rglob("*"))}


def a_store(path: Path, workflows: int = 1, events: int = 3) -> Path:
    with HistoryStore.open(path) as store:
        start(store, *(f"w{i}" for i in range(workflows)), events=events)
    return path


def damage_pages(path: Path, *, events_only: bool) -> None:
    """Give LMDB pages of the store's data.mdb an impossible page type (bytes written
    into the file, as a bad disk would). The two meta pages are spared, so the
    store still opens; with ``events_only`` only pages of events are hit."""
    data = path / "data.mdb"
    raw = bytearray(data.read_bytes())
    page = 4096
    for start_at in range(2 * page, len(raw), page):
        content = raw[start_at:start_at + page]
        is_leaf = int.from_bytes(content[10:12], "little") == 0x02
        of_events = b"step" in content and b"entry" not in content and b"events" not in content
        if not events_only or (is_leaf and of_events):
            raw[start_at + 10:start_at + 12] = b"\x00\x00"
    data.write_bytes(bytes(raw))


def a_file(tmp_path: Path) -> Path:
    (tmp_path / "store").write_text("not a store")
    return tmp_path / "store"


def a_file_above(tmp_path: Path) -> Path:
    (tmp_path / "above").write_text("a file")
    return tmp_path / "above" / "store"


def a_newer_format(tmp_path: Path) -> Path:
    set_format(a_store(tmp_path / "store"), 3)
    return tmp_path / "store"


def another_lmdb_database(tmp_path: Path) -> Path:
    env = lmdb.open(str(tmp_path / "store"))
    with env.begin(write=True) as txn:
        txn.put(b"key", b"value")
    env.close()
    return tmp_path / "store"


def a_data_file_that_is_a_directory(tmp_path: Path) -> Path:
    (tmp_path / "store" / "data.mdb").mkdir(parents=True)
    return tmp_path / "store"


def damaged_pages(tmp_path: Path) -> Path:
    damage_pages(a_store(tmp_path / "store", workflows=20, events=40), events_only=False)
    return tmp_path / "store"


FAULTS = [  # (make the fault, the error, its kind, what the message says)
    (a_file, HistoryError, "Invalid", "is not a directory but a file: move the file away"),
    (a_file_above, HistoryError, "Invalid", "cannot be created: {tmp}/above is a file, not a directory"),
    (a_newer_format, StoreFormatError, "Invalid", "has format 3, written by a newer luactor"),
    (another_lmdb_database, StoreFormatError, "Invalid", "is not a luactor workflow store"),
    (a_data_file_that_is_a_directory, StoreFormatError, "Invalid", "its data.mdb is not a file"),
    (damaged_pages, StoreDamagedError, "Internal", "MDB_CORRUPTED"),
]
FAULT_IDS = [make.__name__ for make, *_ in FAULTS]


def workflow_app(app, store: Path, **fields) -> None:
    app.entry(name="workflows", kind="workflow.host", store=str(store), **fields)


def assert_one_line_about(error: ActorError, store: Path, kind: str, says: str, tmp_path: Path) -> None:
    assert error.kind == kind
    assert "\n" not in error.message
    assert str(store) in error.message and says.format(tmp=tmp_path) in error.message, error.message


# --------------------------------------------------------------------------- opening


@pytest.mark.parametrize(("make", "error", "kind", "says"), FAULTS, ids=FAULT_IDS)
def test_a_store_that_cannot_be_opened_is_one_error_and_left_as_it_was(tmp_path, make, error, kind, says):
    store = make(tmp_path)
    before = tree(tmp_path)
    with pytest.raises(error) as caught:
        HistoryStore.open(store)
    assert_one_line_about(caught.value, store, kind, says, tmp_path)
    assert tree(tmp_path) == before
    with pytest.raises(error):      # what `luactor check` runs finds the same
        check_store(store)
    assert tree(tmp_path) == before


@pytest.mark.parametrize(("make", "error", "kind", "says"), FAULTS, ids=FAULT_IDS)
async def test_node_open_raises_the_store_error_itself(app, tmp_path, make, error, kind, says):
    store = make(tmp_path)
    workflow_app(app, store)
    before = tree(tmp_path / "store") if (tmp_path / "store").is_dir() else None
    with pytest.raises(error) as caught:
        async with Node.open(app.root):
            pytest.fail("the node opened")
    assert_one_line_about(caught.value, store, kind, says, tmp_path)
    if before is not None:
        assert tree(tmp_path / "store") == before


def test_an_unwritable_store_is_refused_and_still_readable(tmp_path):
    store = a_store(tmp_path / "store", workflows=2)
    before = file_bytes(store)
    with unwritable(store, store / "data.mdb", store / "lock.mdb"):
        with pytest.raises(HistoryError) as caught:
            HistoryStore.open(store)
        assert_one_line_about(caught.value, store, "PermissionDenied", "is not writable by this user", tmp_path)
        with HistoryStore.open(store, readonly=True) as reader:   # without LMDB's lock file
            assert [h.id for h in reader.headers()] == ["w0", "w1"]
            assert [seq for seq, _ in reader.events("w1")] == [0, 1, 2]
    assert file_bytes(store) == before


def test_a_store_that_cannot_be_created_here_is_refused(tmp_path):
    (tmp_path / "locked").mkdir()
    with unwritable(tmp_path / "locked"), pytest.raises(HistoryError) as caught:
        HistoryStore.open(tmp_path / "locked" / "store")
    assert_one_line_about(caught.value, tmp_path / "locked" / "store", "PermissionDenied",
                          "cannot be created: this user may not write in {tmp}/locked", tmp_path)
    assert list((tmp_path / "locked").iterdir()) == []


async def test_damaged_history_fails_the_start_and_changes_nothing(app, tmp_path):
    store = a_store(tmp_path / "store", workflows=20, events=40)
    damage_pages(store, events_only=True)
    with HistoryStore.open(store, readonly=True) as reader:   # it opens: the damage is in the events
        assert len(reader.runs("w0")) == 0
    before = (store / "data.mdb").read_bytes()
    workflow_app(app, store)
    with pytest.raises(StoreDamagedError) as caught:
        async with Node.open(app.root):
            pytest.fail("the node opened")
    assert_one_line_about(caught.value, store, "Internal", "cannot be read: LMDB failed", tmp_path)
    assert "restore a copy" in caught.value.message
    assert (store / "data.mdb").read_bytes() == before


TICKING = """
local time = require("time")
return { run = function(n)
  for i = 1, n do time.sleep("5ms") end
  return n
end }
"""


def ticking_workflows(app, tmp_path: Path) -> Path:
    """An app whose node keeps five workflows committing (``wf-1`` .. ``wf-5``, stored when
    it logs "all started"); its store."""
    store = tmp_path / "store"
    workflow_app(app, store)
    app.lua("ticking", TICKING, kind="workflow.lua", method="run", modules=["time"])
    app.body("starter", """
        for i = 1, 5 do
          assert(process.with_options({}):with_name("wf-" .. i):spawn("test:ticking", "test:workflows", 100000))
        end
        logger.info("all started")""", modules=["logger"], required=["logger"])
    app.entry(name="start", kind="process.service", process="test:starter", host=app.host,
              lifecycle={"auto_start": True, "restart": {"mode": "transient"}})
    return store


def test_a_reader_without_the_lock_file_reads_while_a_node_writes(app, tmp_path):
    """What a user who may read a store but not write its directory gets (``lock=False``)."""
    store = ticking_workflows(app, tmp_path)
    with LuactorProcess("run", app.root) as node:
        node.wait_for("all started")
        with HistoryStore.open(store, readonly=True, lock=False) as reader:
            seen = []
            for _ in range(50):
                headers = reader.headers()
                seen.append(sum(1 for _ in reader.events("wf-1")))
                assert [h.id for h in headers] == [f"wf-{i}" for i in range(1, 6)]
                assert {h.status for h in headers} == {"running"}
                trio.run(trio.sleep, 0.01)
        node.process.send_signal(signal.SIGINT)
        assert node.finish() == 0
    assert seen == sorted(seen) and seen[-1] > seen[0]     # it saw the history grow, in order


async def test_a_store_has_one_node(app, tmp_path):
    workflow_app(app, tmp_path / "store")
    async with Node.open(app.root):
        with pytest.raises(StoreBusyError, match="is already open for writing"):
            async with Node.open(app.root):
                pytest.fail("a second node opened the store")
    async with Node.open(app.root):    # the failed open left nothing held
        pass


# --------------------------------------------------------------------------- a store that fills up

FILLER = """
return {
  blob = function(n) return string.rep("x", 20000) .. n end,
  flow = function(calls)
    local funcs = require("funcs")
    for i = 1, calls do funcs.call("test:blob", i) end
    return calls
  end,
}
"""


def filler_app(app, store: Path, **fields) -> None:
    """Workflows ``test:flow`` of ``calls`` calls, each result (20 kB) recorded."""
    workflow_app(app, store, **fields)
    app.lua("blob", FILLER, kind="function.lua", method="blob")
    app.lua("flow", FILLER, kind="workflow.lua", method="flow", modules=["funcs"])


def stored_workflows(store: Path) -> dict[str, tuple[str, int]]:
    """Status and number of events of each workflow; every event is read (and decodes)."""
    with HistoryStore.open(store, readonly=True) as reader:
        return {h.id: (h.status, sum(1 for _ in reader.run_events(h))) for h in reader.headers()}


async def resume_to_the_end(app, workflow_id: str) -> dict:
    """Open the node again with room enough: the result the workflow ends with."""
    async with Node.open(app.root) as node, node.mailbox() as me:
        me.monitor(f"{{luactor@test:workflows|{workflow_id}}}")
        return (await me.receive()).payload["result"]


async def test_a_full_store_fails_its_host_alone_and_loses_nothing_committed(app, tmp_path, caplog):
    store = tmp_path / "store"
    filler_app(app, store, max_size="1MB")
    async with Node.open(app.root) as node:
        for name in ("small-1", "small-2"):
            async with node.mailbox() as me:
                await node.spawn("test:flow", "test:workflows", 3, name=name, monitor_by=me.pid)
                assert (await me.receive()).payload["result"] == {"value": 3}
        async with node.mailbox() as me:
            big = await node.spawn("test:flow", "test:workflows", 500, name="big", monitor_by=me.pid)
            exit_event = (await me.receive()).payload
        assert exit_event["from"] == big and exit_event["result"]["error"]["kind"] == "Canceled"
        assert "workflow host test:workflows failed: workflow store" in exit_event["result"]["error"]["message"]

        failed = [r.getMessage() for r in caplog.records if "Running -> Failed" in r.getMessage()]
        assert len(failed) == 1 and "\n" not in failed[0], failed
        assert f"test:workflows: Running -> Failed: workflow store {store} is full" in failed[0]
        assert "resume from the store when the node starts again" in failed[0]

        with pytest.raises(ActorError) as refused:
            await node.spawn("test:flow", "test:workflows", 1)
        assert refused.value.kind == "Unavailable" and "test:workflows has failed" in refused.value.message
        with pytest.raises(ActorError, match="Unavailable: workflow host test:workflows has failed"):
            await node.send(big, "note", 1)
        assert (await node.call("test:blob", 7)).endswith("x7")     # the rest of the node runs on

    workflows = stored_workflows(store)
    assert workflows["small-1"] == workflows["small-2"] == ("completed", 6)   # a call and its result, 3 times
    status, events = workflows.pop("big")
    assert status == "running" and 0 < events < 1000
    assert all(status == "completed" for status, _ in workflows.values())

    next(entry for entry in app.entries if entry["name"] == "workflows")["max_size"] = "64MB"
    app._write()
    assert await resume_to_the_end(app, "big") == {"value": 500}


def test_a_disk_that_refuses_writes_fails_the_host_and_keeps_the_store(app, tmp_path):
    """The file size limit (RLIMIT_FSIZE) makes the disk refuse LMDB's writes, as a full disk does."""
    store = tmp_path / "store"
    filler_app(app, store)
    app.body("starter", 'process.spawn("test:flow", "test:workflows", 1000)')
    app.entry(name="start", kind="process.service", process="test:starter", host=app.host,
              lifecycle={"auto_start": True, "restart": {"mode": "transient"}})

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    with LuactorProcess("run", app.root, preexec_fn=limit_file_size) as node:
        node.wait_for("Running -> Failed")
        node.process.send_signal(signal.SIGINT)
        assert node.finish() == 0
    failed = [line for line in node.seen if "Running -> Failed" in line]
    assert len(failed) == 1 and f"workflow store {store} cannot be written" in failed[0], failed
    assert "none of the batch was written and what was committed before is intact" in failed[0]
    assert not any("Traceback" in line for line in node.seen)

    ((big, (status, events)),) = stored_workflows(store).items()
    assert status == "running" and 0 < events < 2000
    assert trio.run(resume_to_the_end, app, big) == {"value": 1000}
