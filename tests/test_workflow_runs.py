"""The runs of a workflow on the embedded host: retries, cron schedules, timeouts,
delayed starts and the start options it refuses (the behaviour both hosts share
is in test_workflows_shared.py)."""

from __future__ import annotations

import pytest
import trio

from actors import ActorError, Node
from hosts.history import HistoryStore
from hosts.workflow_runs import next_run

FLAKY = """
local workflow = require("workflow")
local function run(needed)
  local info = workflow.info()
  process.send(process.registry.lookup("observer"), "attempt", { info.attempt, info.run_id })
  if info.attempt < needed then return nil, errors.new({ kind = errors.UNAVAILABLE, message = "try again" }) end
  return info.attempt
end
return { run = run }
"""


def build(app, tmp_path, source=FLAKY, name="flaky"):
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua(name, source, method="run", kind="workflow.lua", modules=["workflow", "time"])


def runs(store_path, workflow_id):
    with HistoryStore.open(store_path, readonly=True) as store:
        headers = [*store.runs(workflow_id), store.header(workflow_id)]
    return [(h.run, h.status, h.meta.get("attempt", 1)) for h in headers]


async def test_retries_wait_their_backoff_are_new_runs_and_resume_after_a_restart(app, tmp_path, autojump_clock):
    build(app, tmp_path)
    policy = {"initial_interval": "10s", "backoff_coefficient": 3, "maximum_attempts": 5}
    async with Node.open(app.root) as node, node.mailbox(name="observer") as me:
        started = trio.current_time()
        pid = await node.spawn("test:flaky", "test:workflows", 3, name="flaky-1",
                               options={"workflow.retry_policy": policy})
        first = (await me.receive()).payload
        second = (await me.receive()).payload
        assert trio.current_time() - started >= 10   # the first backoff
        assert first[0] == 1 and second[0] == 2 and first[1] != second[1]   # each run has its own run_id
    # the node stopped during the second backoff (30 s): run 3 waits for its recorded
    # start, as attempt 3; the schedule goes on, it does not start over
    assert runs(tmp_path / "store", "flaky-1") == [(1, "failed", 1), (2, "failed", 2), (3, "running", 3)]
    async with Node.open(app.root) as node, node.mailbox(name="observer") as me:
        me.monitor(pid)
        assert (await me.receive()).payload[0] == 3
        assert (await me.receive()).payload["result"] == {"value": 3}
    assert runs(tmp_path / "store", "flaky-1")[-1] == (3, "completed", 3)


async def test_execution_timeout_ends_every_run_and_stores_timed_out(app, tmp_path, autojump_clock):
    build(app, tmp_path)
    async with Node.open(app.root) as node, node.mailbox(name="observer") as me:
        await node.spawn("test:flaky", "test:workflows", 100, name="bounded", monitor_by=me.pid, options={
            "workflow.retry_policy": {"initial_interval": "10s", "backoff_coefficient": 1},
            "workflow.execution_timeout": "35s"})
        messages = [await me.receive() for _ in range(5)]
    attempts = [m.payload[0] for m in messages if m.topic == "attempt"]
    assert attempts == [1, 2, 3, 4] and messages[-1].topic == "@exit"
    # the fifth attempt would start after the execution deadline: the fourth's failure is the end
    assert messages[-1].payload["result"]["error"]["kind"] == "Unavailable"
    assert [status for _, status, _ in runs(tmp_path / "store", "bounded")] == ["failed"] * 4


async def test_a_run_that_passes_its_execution_timeout_is_timed_out(app, tmp_path, autojump_clock):
    build(app, tmp_path, """
        local function run() process.listen("never"):receive() end
        return { run = run }
    """, name="stuck")
    async with Node.open(app.root) as node, node.mailbox() as me:
        await node.spawn("test:stuck", "test:workflows", name="stuck-1", monitor_by=me.pid,
                         options={"temporal.workflow.execution_timeout": 60_000})
        result = (await me.receive()).payload["result"]
    assert result["error"]["kind"] == "Timeout"
    assert runs(tmp_path / "store", "stuck-1") == [(1, "timed_out", 1)]


async def test_a_cron_schedule_starts_runs_at_the_times_it_names(app, tmp_path, autojump_clock):
    build(app, tmp_path, """
        local time = require("time")
        local function run(n)
          process.send(process.registry.lookup("observer"), "ran", time.now():unix_nano())
          return n
        end
        return { run = run }
    """, name="tick")
    async with Node.open(app.root) as node, node.mailbox(name="observer") as me:
        pid = await node.spawn("test:tick", "test:workflows", 1, name="tick-1",
                               options={"workflow.cron_schedule": "*/5 * * * *"})
        times = [(await me.receive()).payload for _ in range(3)]
        await node.terminate(pid)
    assert all(t >= 0 for t in times)
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        headers = [*store.runs("tick-1"), store.header("tick-1")]
    starts = [h.meta["start_at"] for h in headers]
    assert all(at % (5 * 60 * 10**9) == 0 for at in starts)   # each on a five-minute boundary
    assert [h.status for h in headers][:3] == ["completed"] * 3


@pytest.mark.parametrize(("option", "value"), [
    ("workflow.task_timeout", "10s"),
    ("temporal.workflow.namespace", "elsewhere"),
    ("workflow.task_queue", "other"),
    ("workflow.wait_for_cancellation", True),
    ("workflow.parent_close_policy", "terminate"),   # from outside a workflow: there is no parent
])
async def test_options_the_embedded_host_cannot_honour_are_refused_naming_them(app, tmp_path, option, value):
    build(app, tmp_path)
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as refused:
            await node.spawn("test:flaky", "test:workflows", 1, options={option: value})
    assert refused.value.kind == "Invalid"
    assert option.removeprefix("temporal.") in refused.value.message


def test_a_terminated_run_is_not_followed_and_a_retry_keeps_within_the_deadline():
    meta = {"attempt": 2, "options": {"retry": {"initial_interval": 1.0, "backoff_coefficient": 2.0},
                                      "execution_deadline_ns": 10 * 10**9}}
    failure = {"kind": "Internal", "message": "boom"}
    assert next_run(meta, failure, None, 0) == (2 * 10**9, 3)
    assert next_run(meta, failure, "terminated", 0) is None
    assert next_run(meta, failure, None, 9 * 10**9) is None
    assert next_run(meta, None, None, 0) is None   # completed, no cron


RETRYING = """
local funcs = require("funcs")
local reliable = funcs.new():with_options({
  ["activity.start_to_close_timeout"] = "1m",
  ["activity.retry_policy"] = { initial_interval = "10s", backoff_coefficient = 2, maximum_attempts = 4 },
})
local function run() return assert(reliable:call("py:flaky")) end
return { run = run }
"""


async def test_a_restart_between_activity_attempts_resumes_the_backoff(app, tmp_path, autojump_clock):
    """Attempts and backoffs are recorded: after a restart the schedule goes on where it
    was (the same timer, the next attempt), with the first attempt's idempotency key."""
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("retrying", RETRYING, method="run", kind="workflow.lua", modules=["funcs"])
    keys: list[str] = []
    failed = trio.Event()

    def flaky(ctx):
        keys.append(ctx["idempotency_key"])
        if len(keys) < 3:
            failed.set()
            raise ActorError("Unavailable", f"attempt {len(keys)} fails")
        return len(keys)

    async with Node.open(app.root, functions={"py:flaky": flaky}) as node:
        pid = await node.spawn("test:retrying", "test:workflows", name="retrying-1")
        await failed.wait()
        await trio.sleep(1)   # the failure is recorded; the 10 s backoff runs
    async with Node.open(app.root, functions={"py:flaky": flaky}) as node, node.mailbox() as me:
        me.monitor(pid)
        result = (await me.receive()).payload["result"]
    assert result == {"value": 3}
    assert keys == ["retrying-1/call/1"] * 3
    with HistoryStore.open(tmp_path / "store", readonly=True) as store:
        records = [record for _, record in store.events("retrying-1")]
    calls = [record.get("attempt", 1) for record in records if record["type"] == "call"]
    assert calls == [1, 2, 3]
