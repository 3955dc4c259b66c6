"""``luactor workflows list|show|history``, run as a real subprocess on stores in tmp dirs.

Stores are written with hosts.history; the CLI must read them while a writer
process holds them, and say clearly (with the documented exit code) when the
store is missing, of a newer format, or damaged.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import lmdb
import msgpack
import pytest

from hosts.history import HistoryStore, WorkflowHeader, event_key

TIMEOUT = 60
T0 = 1_700_000_000_000_000_000          # 2023-11-14T22:13:20Z in ns


def workflows(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "actors.cli", "workflows", *map(str, args)],
                          capture_output=True, text=True, timeout=TIMEOUT)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def header(workflow_id: str, status: str = "running", **fields) -> WorkflowHeader:
    fields = {"input": [{"order": 1}], "parent": None, "created_ns": T0, "updated_ns": T0, **fields}
    return WorkflowHeader(id=workflow_id, entry="shop:order_saga", status=status, **fields)


@pytest.fixture
def store(tmp_path) -> Path:
    """A store with three workflows: running with history, completed, failed with a stack."""
    path = tmp_path / "store"
    with HistoryStore.open(path) as history:
        batch = history.batch()
        batch.put_header(header("order-1", updated_ns=T0 + 1_500_000_000))
        batch.append("order-1", {"type": "started", "ts": T0, "input": [{"order": 1}]})
        batch.append("order-1", {"type": "call", "ts": T0 + 1_000_000_000, "fn": "shop:reserve",
                                 "key": "order-1/1", "raw": b"\xff"})
        batch.append("order-1", {"type": "signal", "payload": {"note": "x" * 300}})
        batch.put_header(header("order-2", status="completed", result={"shipped": True}, parent="order-1"))
        batch.put_header(header("order-3", status="failed", error={
            "kind": "Internal", "message": "card declined", "stack": "saga.lua:12: in charge\nsaga.lua:40: in main"}))
        history.commit(batch)
    return path


# -- list ----------------------------------------------------------------------------------------


def test_list_prints_one_line_per_workflow(store):
    result = workflows("list", store)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in lines(result.stdout)]
    assert rows == [
        ["ID", "ENTRY", "STATUS", "RUN", "ATTEMPT", "UPDATED", "EVENTS", "ATTRS"],
        ["order-1", "shop:order_saga", "running", "1", "1", "2023-11-14T22:13:21.500Z", "3", "-"],
        ["order-2", "shop:order_saga", "completed", "1", "1", "2023-11-14T22:13:20.000Z", "0", "-"],
        ["order-3", "shop:order_saga", "failed", "1", "1", "2023-11-14T22:13:20.000Z", "0", "-"],
    ]
    failed = workflows("list", store, "--status", "failed")
    assert [line.split()[0] for line in lines(failed.stdout)] == ["ID", "order-3"]


def test_list_json(store):
    result = workflows("list", store, "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [h["id"] for h in listed] == ["order-1", "order-2", "order-3"]
    assert listed[1] == header("order-2", status="completed", result={"shipped": True},
                               parent="order-1").to_dict()
    assert listed[0]["next_seq"] == 3


def test_list_of_an_empty_store(tmp_path):
    HistoryStore.open(tmp_path / "store").close()
    result = workflows("list", tmp_path / "store")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"no workflows in {tmp_path / 'store'}"
    assert json.loads(workflows("list", tmp_path / "store", "--json").stdout) == []


# -- show ----------------------------------------------------------------------------------------


def test_show_prints_the_header_result_and_error(store):
    done = workflows("show", store, "order-2")
    assert done.returncode == 0, done.stderr
    fields = dict(line.split(None, 1) for line in lines(done.stdout))
    assert fields["status"] == "completed" and fields["parent"] == "order-1"
    assert json.loads(fields["result"]) == {"shipped": True}
    assert json.loads(fields["input"]) == [{"order": 1}]
    assert fields["created"] == "2023-11-14T22:13:20.000Z" and fields["events"] == "0"

    failed = workflows("show", store, "order-3")
    assert "error    Internal: card declined" in failed.stdout
    assert "  saga.lua:12: in charge" in failed.stdout and "  saga.lua:40: in main" in failed.stdout


def test_show_json(store):
    result = workflows("show", store, "order-3", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["status"] == "failed" and shown["error"]["message"] == "card declined"


# -- history -------------------------------------------------------------------------------------


def test_history_prints_one_line_per_event(store):
    result = workflows("history", store, "order-1")
    assert result.returncode == 0, result.stderr
    out = lines(result.stdout)
    assert out[0].split() == ["SEQ", "TIME", "TYPE", "SUMMARY"]
    assert out[1].split() == ["0", "2023-11-14T22:13:20.000Z", "started", 'input=[{"order":1}]']
    assert out[2].split() == ["1", "2023-11-14T22:13:21.000Z", "call",
                              'fn="shop:reserve"', 'key="order-1/1"', 'raw={"$bytes":"/w=="}']
    seq, when, kind, summary = out[3].split(None, 3)
    assert (seq, when, kind) == ("2", "-", "signal")
    assert summary.startswith('payload={"note":"xxx') and summary.endswith("…") and len(summary) == 100
    assert len(out) == 4

    later = workflows("history", store, "order-1", "--from", "2")
    assert [line.split()[0] for line in lines(later.stdout)] == ["SEQ", "2"]
    assert lines(workflows("history", store, "order-2").stdout) == ["no events"]


def test_show_and_history_of_the_runs_of_one_id(store):
    with HistoryStore.open(store) as history:       # order-1 replaced: run 2 starts after its 3 events
        batch = history.batch()
        batch.put_header(header("order-1", status="terminated"))
        batch.start_run(header("order-1", input=[{"order": 2}]))
        batch.append("order-1", {"type": "started", "ts": T0, "input": [{"order": 2}]})
        history.commit(batch)

    listed = [line.split() for line in lines(workflows("list", store).stdout)]
    assert listed[1][:4] == ["order-1", "shop:order_saga", "running", "2"] and listed[1][-2] == "1"
    current = dict(line.split(None, 1) for line in lines(workflows("show", store, "order-1").stdout))
    assert current["run"] == "2 (other runs: 1 terminated (attempt 1))" and current["events"] == "1"
    first = dict(line.split(None, 1) for line in lines(workflows("show", store, "order-1", "--run", "1").stdout))
    assert first["status"] == "terminated" and first["run"] == "1 (other runs: 2 running (attempt 1))"

    now = lines(workflows("history", store, "order-1").stdout)
    assert [line.split()[:3] for line in now[1:]] == [["3", "2023-11-14T22:13:20.000Z", "started"]]
    before = json.loads(workflows("history", store, "order-1", "--run", "1", "--json").stdout)
    assert [item["seq"] for item in before] == [0, 1, 2]
    missing = workflows("history", store, "order-1", "--run", "7")
    assert missing.returncode == 1 and "no run 7 of workflow 'order-1'" in missing.stderr


def test_history_json(store):
    result = workflows("history", store, "order-1", "--json")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)
    assert [item["seq"] for item in events] == [0, 1, 2]
    assert events[1]["event"] == {"type": "call", "ts": T0 + 1_000_000_000, "fn": "shop:reserve",
                                  "key": "order-1/1", "raw": {"$bytes": "/w=="}}
    assert json.loads(workflows("history", store, "order-2", "--json").stdout) == []


# -- while a node writes ---------------------------------------------------------------------------


WRITER = r"""
import sys
from hosts.history import HistoryStore, WorkflowHeader

store = HistoryStore.open(sys.argv[1])
batch = store.batch()
batch.put_header(WorkflowHeader("live", "shop:order_saga", "running", [], None, 1, 1))
batch.append("live", {"type": "started"})
store.commit(batch)
print("ready", flush=True)
for line in sys.stdin:                   # each line: one more event, then "ok"
    batch = store.batch()
    batch.append("live", {"type": line.strip()})
    store.commit(batch)
    print("ok", flush=True)
store.close()
"""


def test_the_store_can_be_read_while_a_process_writes_it(tmp_path):
    path = tmp_path / "store"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, writer.kill)     # a hung writer fails the test
    watchdog.start()
    try:
        assert writer.stdout.readline().strip() == "ready"
        listed = workflows("list", path)
        assert listed.returncode == 0, listed.stderr
        assert lines(listed.stdout)[1].split()[:3] == ["live", "shop:order_saga", "running"]

        writer.stdin.write("approved\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "ok"
        history = workflows("history", path, "live", "--json")
        assert history.returncode == 0, history.stderr
        assert [item["event"]["type"] for item in json.loads(history.stdout)] == ["started", "approved"]
        assert json.loads(workflows("show", path, "live", "--json").stdout)["next_seq"] == 2
    finally:
        writer.stdin.close()
        writer.wait()
        watchdog.cancel()
    assert writer.returncode == 0


# -- what cannot be shown ------------------------------------------------------------------------


def test_a_missing_store_is_a_usage_error(tmp_path):
    result = workflows("list", tmp_path / "nowhere")
    assert result.returncode == 2
    assert f"error: no workflow store at {tmp_path / 'nowhere'}: the directory does not exist" in result.stderr
    (tmp_path / "empty").mkdir()
    result = workflows("show", tmp_path / "empty", "x")
    assert result.returncode == 2 and "no data.mdb" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_an_unknown_workflow_is_not_found(store):
    for command in ("show", "history"):
        result = workflows(command, store, "order-9")
        assert result.returncode == 1
        assert result.stderr.strip() == f"error: no workflow 'order-9' in {store}"
        assert result.stdout == ""


def test_a_newer_format_is_refused_untouched(store):
    env = lmdb.open(str(store), max_dbs=4)
    with env.begin(write=True) as txn:
        txn.put(b"format", msgpack.packb(7), db=env.open_db(b"meta", txn=txn))
    env.close()
    before = {child.name: child.read_bytes() for child in store.iterdir()}
    result = workflows("list", store)
    assert result.returncode == 2
    assert str(store) in result.stderr and "format 7" in result.stderr and "formats 1 and 2" in result.stderr
    assert {child.name: child.read_bytes() for child in store.iterdir()} == before


def test_corrupt_records_are_named_and_the_rest_is_shown(store):
    env = lmdb.open(str(store), max_dbs=4)
    with env.begin(write=True) as txn:
        txn.put(event_key("order-1", 1), b"\xc1", db=env.open_db(b"events", txn=txn))
        txn.put(b"order-2", b"\x01", db=env.open_db(b"workflows", txn=txn))
    env.close()

    history = workflows("history", store, "order-1")
    assert history.returncode == 1
    assert [line.split()[0] for line in lines(history.stdout)] == ["SEQ", "0"]
    assert "database 'events', workflow 'order-1' seq 1" in history.stderr

    as_json = workflows("history", store, "order-1", "--json")
    assert as_json.returncode == 1
    assert [item["seq"] for item in json.loads(as_json.stdout)] == [0]

    listed = workflows("list", store)
    assert listed.returncode == 1
    assert [line.split()[0] for line in lines(listed.stdout)] == ["ID", "order-1", "order-3"]
    assert "database 'workflows', workflow 'order-2'" in listed.stderr

    shown = workflows("show", store, "order-2")
    assert shown.returncode == 1 and "workflow 'order-2'" in shown.stderr


def test_usage_errors_exit_2(store):
    assert workflows().returncode == 2
    assert workflows("list").returncode == 2
    assert workflows("show", store).returncode == 2
    assert workflows("list", store, "--status", "paused").returncode == 2


def test_list_and_show_give_attributes_attempts_and_filter_by_attribute(store):
    with HistoryStore.open(store) as history:
        batch = history.batch()
        batch.put_header(history.header("order-2").replace(meta={
            "search": {"customer_id": "cust-1", "priority": True}, "memo": {"source": "web"}, "attempt": 3}))
        history.commit(batch)
    listed = [line.split() for line in lines(workflows("list", store, "--attr", "customer_id=cust-1").stdout)]
    assert listed == [["ID", "ENTRY", "STATUS", "RUN", "ATTEMPT", "UPDATED", "EVENTS", "ATTRS"],
                      ["order-2", "shop:order_saga", "completed", "1", "3", "2023-11-14T22:13:20.000Z", "0",
                       "customer_id=cust-1", "priority=true"]]
    both = workflows("list", store, "--attr", "priority=true", "--attr", "source=web")
    assert [line.split()[0] for line in lines(both.stdout)] == ["ID", "order-2"]
    none = workflows("list", store, "--attr", "customer_id=cust-2")
    assert none.returncode == 0 and "with customer_id=cust-2" in none.stdout
    shown = dict(line.split(None, 1) for line in lines(workflows("show", store, "order-2").stdout))
    assert shown["attempt"] == "3" and shown["search"] == '{"customer_id":"cust-1","priority":true}'
    assert shown["memo"] == '{"source":"web"}'
    assert workflows("list", store, "--attr", "nokey").returncode == 2
