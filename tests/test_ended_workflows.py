"""A workflow that has ended is still known by its PID: watching it, or starting it again
under ``use_existing``, gives the result its store holds (also on a node started later)."""

from __future__ import annotations

import trio

from actors import Node

FLOW = """
return { run = function(x)
  if x < 0 then error("no negative orders") end
  return 2 * x
end }
"""

AGAIN = """
return { run = function(id)
  local existing = process.with_options({ ["workflow.id"] = id, ["workflow.id_conflict_policy"] = "use_existing" })
  return existing:exec("test:flow", "test:workflows", 1)
end }
"""


def pid_of(workflow_id: str) -> str:
    return f"{{luactor@test:workflows|{workflow_id}}}"


async def test_an_ended_workflow_is_watched_and_found_by_its_result(app, tmp_path):
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("flow", FLOW, kind="workflow.lua", method="run")
    app.lua("again", AGAIN, kind="function.lua", method="run")
    async with Node.open(app.root) as node, node.mailbox() as me:
        for name, x in (("doubled", 21), ("refused", -1)):
            await node.spawn("test:flow", "test:workflows", x, name=name, monitor_by=me.pid)
            await me.receive()

    async with Node.open(app.root) as node, node.mailbox() as me:     # both ended before this node started
        me.monitor(pid_of("doubled"))
        me.monitor(pid_of("refused"))
        exits = {message.sender: message.payload["result"] for message in [await me.receive(), await me.receive()]}
        assert exits[pid_of("doubled")] == {"value": 42, "error": None}
        assert exits[pid_of("refused")]["error"]["kind"] == "Internal"
        assert "no negative orders" in exits[pid_of("refused")]["error"]["message"]

        with trio.fail_after(10):    # exec under use_existing: the stored result (it used to wait forever)
            assert await node.call("test:again", "doubled") == 42
        me.monitor(pid_of("never-started"))
        assert (await me.receive()).payload["result"]["error"]["kind"] == "NotFound"
