"""The kernel/host boundary is declared once (actors/protocol.py): the commands
Lua emits, the records declared and the handlers of each host are the same
set, and the entry points and callbacks are those kernel.lua defines and reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lupa import lua54

import actors
from actors import Node, protocol
from actors.codec import to_lua

LUA = Path(actors.__file__).parent / "lua"

# A command is a table constructor whose first item is its name, handed to the
# bridge (emit, request, request_blocking), queued for another worker (cross),
# or built as a run of history records (durable.lua's `run`).
_EMITTED = re.compile(r"""(?:emit|request|request_blocking)\(\s*\{\s*"(\w+)"
                        |cross\(\w+,\s*\{\s*"(\w+)"
                        |run\s*=\s*\{\s*"(\w+)\"""", re.X)

CORE = frozenset(command.record for command in protocol.CORE_COMMANDS.values())
DURABLE = frozenset(command.record for command in protocol.DURABLE_COMMANDS.values())


def test_the_commands_lua_emits_are_the_ones_declared():
    emitted = set()
    for source in LUA.glob("*.lua"):
        for match in _EMITTED.finditer(source.read_text()):
            emitted.add(next(name for name in match.groups() if name))
    assert emitted == set(protocol.COMMANDS)


def test_a_command_decodes_into_its_record_and_nil_fields_at_the_end_are_none():
    lua = lua54.LuaRuntime(encoding=None)
    route = to_lua(lua, [b"route", b"app:a", b"app:b", b"topic", {b"seq": 1}])
    assert protocol.decode(route) == protocol.Route("app:a", "app:b", "topic", {"seq": 1})
    call = lua.eval('{ "call", 7, "app:f", { n = 2, 1, nil } }')
    assert protocol.decode(call) == protocol.Call(7, "app:f", [1, None], None, None)


@pytest.mark.parametrize("workers", [1, 2])
async def test_each_hosts_handlers_are_the_commands_its_kernel_may_leave(app, tmp_path, workers):
    app.entries[0]["host"] = {"workers": workers}
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.body("wf", "return 1", kind="workflow.lua")
    async with Node.open(app.root) as node:
        hosts = {type(host).__name__: host for host in node._hosts}
        for worker in hosts["ProcessHost"].workers.workers:
            # one worker's batches for another are its group's to forward
            assert set(worker.handlers) == (CORE if workers > 1 else CORE - {protocol.Cross})
        assert set(hosts["WorkflowHost"].worker.handlers) == (CORE - {protocol.Cross}) | DURABLE


def test_a_kernel_whose_entry_points_differ_from_the_declared_ones_is_refused():
    lua = lua54.LuaRuntime(encoding=None)
    table = lua.table_from({name.encode(): len for name in protocol.Kernel.ENTRIES if name != "count"})
    table[b"made_up"] = len
    with pytest.raises(ValueError, match=r"not declared: \['made_up'\], declared but missing: \['count'\]"):
        protocol.Kernel(table)


def test_the_callbacks_python_may_give_are_the_ones_kernel_lua_reads():
    read = set(re.findall(r"deps\.(\w+)", (LUA / "kernel.lua").read_text()))
    assert read == protocol.CALLBACKS


async def test_an_undeclared_callback_is_refused_when_a_worker_is_built(app, monkeypatch):
    from actors import worker

    built = worker.Worker.__init__

    def with_made_up(self, *args, extra_deps=None, **kwargs):
        built(self, *args, extra_deps={**(extra_deps or {}), b"made_up": 1}, **kwargs)
    monkeypatch.setattr(worker.Worker, "__init__", with_made_up)
    with pytest.raises(ValueError, match=r"undeclared kernel callbacks: \['made_up'\]"):
        async with Node.open(app.root):
            pass
