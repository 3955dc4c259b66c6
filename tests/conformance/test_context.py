"""Request Context page: the ``ctx`` module. ``ctx.get(key)`` (``value, err``)
and ``ctx.all()`` (``table, err``) read the values a process's spawner
(``process.with_context``) or a function's caller (``funcs.new():with_context``)
set; a missing key is ``nil, err`` NotFound and an empty key Invalid.
"""

from __future__ import annotations

import pytest

from actors import ActorError


async def test_require_ctx(lua, autojump_clock):
    out = await lua.run("""
        local ctx = require("ctx")
        return type(ctx.get), type(ctx.all)
    """, modules=("ctx",))
    assert out == "function"


async def test_ctx_must_be_listed_in_modules(lua, autojump_clock):
    with pytest.raises(ActorError) as info:
        await lua.run('return require("ctx")', modules=())
    assert info.value.kind == "NotFound"


async def test_get_a_value_set_by_the_spawner(lua, autojump_clock):
    lua.process("child", """
        local value, err = ctx.get("key")
        return { value, err == nil }
    """, modules=("ctx",))
    out = await lua.run("""
        return process.with_context({ key = { nested = "value" } }):exec("test:child", "test:host")
    """, modules=())
    assert out == [{"nested": "value"}, True]


async def test_get_a_value_set_by_the_caller(lua, autojump_clock):
    lua.function("reads", 'local value, err = ctx.get("key"); return { value, err == nil }', modules=("ctx",))
    out = await lua.run("""
        return funcs.new():with_context({ key = 7 }):call("test:reads")
    """, modules=("funcs",))
    assert out == [7, True]


async def test_get_a_value_given_from_python(lua, autojump_clock):
    out = await lua.run('return ctx.get("tenant")', modules=("ctx",), context={"tenant": "acme"})
    assert out == "acme"


async def test_get_of_a_missing_key_is_nil_and_not_found(lua, autojump_clock):
    out = await lua.run("""
        local value, err = ctx.get("absent")
        return { value == nil, err:kind(), err:retryable() }
    """, modules=("ctx",), context={"present": 1})
    assert out == [True, "NotFound", False]


@pytest.mark.parametrize("key", ['""', "nil", "42"])
async def test_get_of_an_empty_or_bad_key_is_invalid(lua, autojump_clock, key):
    out = await lua.run(f"""
        local value, err = ctx.get({key})
        return {{ value == nil, err:kind(), err:retryable() }}
    """, modules=("ctx",))
    assert out == [True, "Invalid", False]


async def test_get_of_false_is_false_not_an_error(lua, autojump_clock):
    out = await lua.run("""
        local value, err = ctx.get("flag")
        return { value, err == nil }
    """, modules=("ctx",), context={"flag": False})
    assert out == [False, True]


async def test_all_returns_every_value(lua, autojump_clock):
    lua.function("all", "local values, err = ctx.all(); return { values, err == nil }", modules=("ctx",))
    out = await lua.run("""
        local values, err = ctx.all()
        local called = funcs.new():with_context({ b = 2 }):call("test:all")
        return { own = values, err = err == nil, called = called }
    """, modules=("ctx", "funcs"), context={"a": 1})
    assert out == {"own": {"a": 1}, "err": True, "called": [{"a": 1, "b": 2}, True]}


async def test_all_of_an_empty_context_is_an_empty_table(lua, autojump_clock):
    out = await lua.run("""
        local values, err = ctx.all()
        return { type(values), next(values) == nil, err == nil }
    """, modules=("ctx",))
    assert out == ["table", True, True]


async def test_values_are_the_readers_own_copies(lua, autojump_clock):
    lua.process("child", """
        local t = ctx.get("shared")
        t.changed = true
        local all = ctx.all()
        all.shared.changed_too = true
        return ctx.get("shared")
    """, modules=("ctx",))
    out = await lua.run("""
        local shared = { original = true }
        local spawner = process.with_context({ shared = shared })
        local seen_by_child = spawner:exec("test:child", "test:host")
        return { seen_by_child, shared }
    """, modules=())
    assert out == [{"original": True}, {"original": True}]


async def test_ctx_is_read_only(lua, autojump_clock):
    out = await lua.run("""
        local ok = pcall(function() ctx.get = function() return "forged" end end)
        return { ok, (ctx.get("k")) }
    """, modules=("ctx",), context={"k": "real"})
    assert out == [False, "real"]
