"""What is particular to the temporal.worker host: an unreachable server,
its configuration. (The workflow behaviour it shares with the embedded host
is tested in test_workflows_shared.py.)"""

from __future__ import annotations

import uuid

import pytest
import trio
from temporal_dev import DevServer, free_port

from actors import ActorError, Node
from actors.registry import check_app

WAIT = 90


def temporal_app(app, address, **worker_fields):
    app.entry(name="temporal", kind="temporal.client", address=address)
    app.entry(name="wf", kind="temporal.worker", client="test:temporal", task_queue=f"q-{uuid.uuid4()}",
              **worker_fields)
    app.lua("double", """
        local function run(n) return n * 2 end
        return { run = run }
    """, method="run", kind="workflow.lua")
    app.lua("echo", """
        local function main(n) return n end
        return { main = main }
    """)


async def test_an_unreachable_server_fails_the_host_which_retries_while_the_node_runs(app, tmp_path):
    port = free_port()
    temporal_app(app, f"127.0.0.1:{port}", lifecycle={"restart": {"initial_delay": "100ms", "max_delay": "500ms"}})
    with trio.fail_after(WAIT):
        async with Node.open(app.root, tmp_path / "data") as node:
            host = node.router.hosts["test:wf"]
            assert host.state == "Failed"
            # the other hosts work
            assert await node.exec("test:echo", "test:host", 5) == 5
            # work for the failed host is refused, clearly, not dropped
            with pytest.raises(ActorError) as refused:
                await node.spawn("test:double", "test:wf", 1)
            assert refused.value.kind == "Unavailable" and f"127.0.0.1:{port}" in refused.value.message
            with pytest.raises(ActorError) as unsent:
                await node.send("{luactor@test:wf|some-workflow}", "hello", 1)
            assert unsent.value.kind == "Unavailable"
            # the server comes up: the host connects on its next attempt
            server = await trio.to_thread.run_sync(DevServer, tmp_path / "late.db", port)
            try:
                while host.state != "Running":  # noqa: ASYNC110 (the host exposes its state, not an event)
                    await trio.sleep(0.05)
                assert await node.exec("test:double", "test:wf", 21) == 42
            finally:
                await trio.to_thread.run_sync(server.stop)


async def test_worker_options_are_checked_and_durations_converted(app, tmp_path, temporal_server):
    temporal_app(app, temporal_server.address, worker_options={"no_such_option": 1})
    with pytest.raises(ActorError) as bad:
        async with Node.open(app.root, tmp_path / "data"):
            pass
    assert bad.value.kind == "Invalid" and "test:wf: worker_options.no_such_option:" in bad.value.message


async def test_worker_options_pass_through_with_durations(app, tmp_path, temporal_server):
    temporal_app(app, temporal_server.address,
                 worker_options={"max_cached_workflows": 0, "sticky_queue_schedule_to_start_timeout": "2s"})
    with trio.fail_after(WAIT):
        async with Node.open(app.root, tmp_path / "data") as node:
            # with no cache, every workflow task replays the workflow from its history
            assert await node.exec("test:double", "test:wf", 4) == 8
            assert node.process_count("test:wf") == 0


def test_luactor_check_names_bad_temporal_settings(app, tmp_path):
    app.entry(name="temporal", kind="temporal.client", tls={"server_root_ca_cert": "missing-ca.pem"})
    app.entry(name="wf", kind="temporal.worker", client="test:temporal", task_queue="q",
              worker_options={"no_such_option": 1, "graceful_shutdown_timeout": "soon"})
    assert [str(problem) for problem in check_app(app.root)] == [
        f"app/app.yaml: test:temporal: field 'tls.server_root_ca_cert': cannot read "
        f"{app.root / 'missing-ca.pem'}: No such file or directory",
        "app/app.yaml: test:wf: field 'worker_options.no_such_option': "
        "'no_such_option' is an option of neither Wippy's worker nor temporalio's Worker",
    ]


async def test_a_runaway_workflow_is_stopped_before_temporal_thinks_the_worker_hangs(app, tmp_path, temporal_server):
    temporal_app(app, temporal_server.address, host={"max_instructions": 1_000_000})
    app.lua("spin", """
        local function run() local n = 0; while true do n = n + 1 end end
        return { run = run }
    """, method="run", kind="workflow.lua")
    with trio.fail_after(WAIT):
        async with Node.open(app.root, tmp_path / "data") as node:
            with pytest.raises(ActorError) as stopped:
                await node.exec("test:spin", "test:wf")
            assert await node.exec("test:double", "test:wf", 5) == 10  # the worker goes on
    assert stopped.value.kind == "RateLimited"


async def test_meta_decides_which_worker_serves_a_workflow_and_an_activity(app, tmp_path, temporal_server):
    """Two workers of one node on their own task queues: the workflow runs on the one its
    meta.temporal.workflow names (whichever host it is spawned on), its activity on the queue
    of the one meta.temporal.activity names, which alone registers it."""
    app.entry(name="temporal", kind="temporal.client", address=temporal_server.address)
    front, back = f"front-{uuid.uuid4()}", f"back-{uuid.uuid4()}"
    app.entry(name="front", kind="temporal.worker", client="test:temporal", task_queue=front)
    app.entry(name="back", kind="temporal.worker", client="test:temporal", task_queue=back)
    app.lua("charge", """
        local function main(n) return "charged " .. n end
        return { main = main }
    """, kind="function.lua", meta={"temporal": {"activity": {"worker": "test:back"}}})
    app.lua("order", """
        local funcs = require("funcs")
        local workflow = require("workflow")
        local function run(n)
          local charged = assert(funcs.new():with_options({ ["activity.start_to_close_timeout"] = "10s",
            ["activity.retry_policy"] = { maximum_attempts = 1 } }):call("test:charge", n))
          return { charged = charged, queue = workflow.info().task_queue, type = workflow.info().workflow_type }
        end
        return { run = run }
    """, method="run", kind="workflow.lua", modules=["funcs", "workflow"],
        meta={"temporal": {"workflow": {"worker": "test:back", "name": "OrderWorkflow"}}})
    with trio.fail_after(WAIT):
        async with Node.open(app.root, tmp_path / "data") as node:
            result = await node.exec("test:order", "test:front", 7)
    assert result == {"charged": "charged 7", "queue": back, "type": "OrderWorkflow"}
