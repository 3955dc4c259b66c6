"""`imports` at run time: `require` of any Lua entry gives the module its source returns,
on process hosts and workflow hosts alike, and the always-present modules need no listing."""

from __future__ import annotations

import pytest

from actors import ActorError, Node
from hosts import process_host

# A module of each Lua kind: a table with a function, and a counter that shows whose instance it is.
MODULE = """
local count = 0
return {{
  main = function() return "{kind} ran as an entry" end,
  hello = function() count = count + 1; return "hello from {kind} #" .. count end,
}}
"""

IMPORTER = """
return { main = function()
  local out = {}
  for _, name in ipairs({ "fn", "proc", "lib", "wf" }) do out[name] = require(name).hello() end
  out.again = require("fn").hello()
  return out
end }
"""

IMPORTS = {"fn": "test:a_function", "proc": "test:a_process", "lib": "test:a_library", "wf": "test:a_workflow"}


def define_modules(app):
    for name, kind in (("a_function", "function.lua"), ("a_process", "process.lua"),
                       ("a_library", "library.lua"), ("a_workflow", "workflow.lua")):
        app.lua(name, MODULE.format(kind=kind), kind=kind)


async def test_a_process_imports_an_entry_of_every_lua_kind(app):
    define_modules(app)
    app.lua("importer", IMPORTER, imports=IMPORTS)
    async with Node.open(app.root) as node:
        first = await node.exec("test:importer", app.host)
        second = await node.exec("test:importer", app.host)
    assert first == {
        "fn": "hello from function.lua #1", "proc": "hello from process.lua #1",
        "lib": "hello from library.lua #1", "wf": "hello from workflow.lua #1",
        "again": "hello from function.lua #2",  # one instance per process, made on first require
    }
    assert second == first  # and a new process has its own


async def test_a_function_imports_by_a_bare_name(app):
    define_modules(app)
    app.lua("caller", "return { main = function() return require('f').hello() end }",
            kind="function.lua", imports={"f": "a_function"})
    async with Node.open(app.root) as node:
        assert await node.call("test:caller") == "hello from function.lua #1"


async def test_a_workflow_imports_functions_and_libraries(app, tmp_path, autojump_clock):
    define_modules(app)
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("flow", IMPORTER, kind="workflow.lua", imports=IMPORTS)
    async with Node.open(app.root) as node:
        result = await node.exec("test:flow", "test:workflows")
    assert result["fn"] == "hello from function.lua #1" and result["wf"] == "hello from workflow.lua #1"


async def test_an_imported_library_in_a_workflow_gets_the_workflows_deterministic_os(app, tmp_path, autojump_clock):
    app.lua("clock", "return { now = function() return os.time() end }", kind="library.lua")
    app.entry(name="workflows", kind="workflow.host", store=str(tmp_path / "store"))
    app.lua("flow", """
        return { main = function()
          local ok, err = pcall(require("clock").now)
          return { ok = ok, err = tostring(err) }
        end }
    """, kind="workflow.lua", imports={"clock": "test:clock"})
    async with Node.open(app.root) as node:
        result = await node.exec("test:flow", "test:workflows")
    assert result["ok"] is False and "os.time is not available in workflows" in result["err"]


async def test_always_present_modules_are_required_without_listing(app):
    app.lua("plain", """
        return { main = function()
          return require("process") == process and require("channel") == channel and require("errors") == errors
            and require("payload") == payload
        end }
    """)
    async with Node.open(app.root) as node:
        assert await node.exec("test:plain", app.host) is True


async def test_a_global_that_is_no_module_is_not_required(app):
    app.lua("plain", "return { main = function() return require('string') end }")
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as caught:
            await node.exec("test:plain", app.host)
    assert caught.value.kind == "NotFound"
    assert "module 'string' is not in the imports or modules of test:plain" in caught.value.message


async def test_an_import_the_host_does_not_load_fails_naming_it(app, monkeypatch):
    # As on a temporal.worker, whose workflows call functions as activities rather than load them.
    monkeypatch.setattr(process_host, "LUA_KINDS", ("process.lua",))
    define_modules(app)
    app.lua("importer", "return { main = function() return require('fn') end }", imports={"fn": "test:a_function"})
    async with Node.open(app.root) as node:
        with pytest.raises(ActorError) as caught:
            await node.exec("test:importer", app.host)
    assert caught.value.kind == "NotFound"
    assert ("require: test:importer imports 'fn' from test:a_function, which host test:host does not load"
            in caught.value.message)
