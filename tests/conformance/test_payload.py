"""Payload Encoding page: the ``payload`` global, its format constants,
``payload.new``, and a Payload's ``get_format``, ``data``, ``transcode`` and
``unmarshal``; Payloads as async results and message payloads.
"""

from __future__ import annotations

import pytest

FORMATS = {
    "JSON": "json/plain",
    "YAML": "yaml/plain",
    "STRING": "text/plain",
    "BYTES": "application/octet-stream",
    "MSGPACK": "application/msgpack",
    "LUA": "lua/any",
    "GOLANG": "golang/any",
    "ERROR": "golang/error",
}


async def test_payload_is_a_global(lua, autojump_clock):
    assert await lua.run("return type(payload), type(payload.new)", modules=()) == "table"


async def test_format_constants(lua, autojump_clock):
    out = await lua.run("""
        local out = {}
        for _, name in ipairs(...) do out[name] = payload.format[name] end
        return out
    """, list(FORMATS), modules=())
    assert out == FORMATS


# -- creating ---------------------------------------------------------------------------


async def test_new_from_each_kind_of_value(lua, autojump_clock):
    out = await lua.run("""
        -- From table
        local p = payload.new({
            user_id = 123,
            name = "Alice",
            roles = {"admin", "user"}
        })

        -- From string
        local str_p = payload.new("Hello, World!")

        -- From number
        local num_p = payload.new(42.5)

        -- From boolean
        local bool_p = payload.new(true)

        -- From nil
        local nil_p = payload.new(nil)

        -- From error
        local err_p = payload.new(errors.new("something failed"))

        return {
            table = p:data(), string = str_p:data(), number = num_p:data(), boolean = bool_p:data(),
            is_nil = nil_p:data() == nil, error = err_p:data():message(),
            all_payloads = type(p) == "table" and type(nil_p.get_format) == "function",
        }
    """, modules=())
    assert out == {
        "table": {"user_id": 123, "name": "Alice", "roles": ["admin", "user"]},
        "string": "Hello, World!", "number": 42.5, "boolean": True, "is_nil": True,
        "error": "something failed", "all_payloads": True,
    }


# -- format -----------------------------------------------------------------------------


async def test_get_format_example(lua, autojump_clock):
    out = await lua.run("""
        local p = payload.new({name = "test"})
        local format = p:get_format()  -- "lua/any"

        local str_p = payload.new("hello")
        local format2 = str_p:get_format()  -- "lua/any"

        local err_p = payload.new(errors.new("failed"))
        local format3 = err_p:get_format()  -- "golang/error"
        return { format, format2, format3, format3 == payload.format.ERROR }
    """, modules=())
    assert out == ["lua/any", "lua/any", "golang/error", True]


# -- data -------------------------------------------------------------------------------


async def test_data_example(lua, autojump_clock):
    out = await lua.run("""
        local p = payload.new({
            items = {1, 2, 3},
            total = 100
        })

        local data, err = p:data()
        if err then
            return nil, err
        end

        return { data.total, data.items[1], err == nil }
    """, modules=())
    assert out == [100, 1, True]


# -- transcode --------------------------------------------------------------------------


async def test_transcode_example(lua, autojump_clock):
    out = await lua.run("""
        local p = payload.new({
            name = "test",
            value = 123
        })

        -- Convert to JSON
        local json_p, err = p:transcode(payload.format.JSON)
        if err then
            return nil, err
        end
        local json_format = json_p:get_format()  -- "json/plain"

        -- Convert to MessagePack (compact binary)
        local msgpack_p, err2 = p:transcode(payload.format.MSGPACK)
        if err2 then
            return nil, err2
        end

        -- Convert to YAML
        local yaml_p, err3 = p:transcode(payload.format.YAML)
        return {
            formats = { json_format, msgpack_p:get_format(), yaml_p:get_format() },
            errs = { err == nil, err2 == nil, err3 == nil },
            data = { json_p:data(), msgpack_p:data(), yaml_p:data() },
        }
    """, modules=())
    assert out["formats"] == ["json/plain", "application/msgpack", "yaml/plain"]
    assert out["errs"] == [True, True, True]
    assert out["data"] == [{"name": "test", "value": 123}] * 3


@pytest.mark.parametrize("fmt", ["JSON", "YAML", "MSGPACK", "LUA"])
async def test_transcode_round_trips(lua, autojump_clock, fmt):
    out = await lua.run(f"""
        local original = payload.new({{ list = {{ 1, 2, 3 }}, nested = {{ ok = true }}, text = "é" }})
        local there, err = original:transcode(payload.format.{fmt})
        local back, err2 = there:transcode(payload.format.LUA)
        return {{ err == nil, err2 == nil, back:get_format(), back:data() }}
    """, modules=())
    assert out == [True, True, "lua/any", {"list": [1, 2, 3], "nested": {"ok": True}, "text": "é"}]


@pytest.mark.parametrize("fmt", ["STRING", "BYTES"])
async def test_transcode_of_text_to_the_text_formats(lua, autojump_clock, fmt):
    out = await lua.run(f"""
        local p, err = payload.new("plain text"):transcode(payload.format.{fmt})
        return {{ err == nil, p:get_format(), p:data(), (p:transcode(payload.format.LUA)):data() }}
    """, modules=())
    assert out == [True, FORMATS[fmt], "plain text", "plain text"]


async def test_transcoding_failure_is_internal_and_not_retryable(lua, autojump_clock):
    out = await lua.run("""
        local p = payload.new({ fn = print })
        local json_p, err = p:transcode(payload.format.JSON)
        local e_p, err2 = payload.new({ 1 }):transcode(payload.format.ERROR)
        return { json_p == nil, err:kind(), err:retryable(), e_p == nil, err2:kind() }
    """, modules=())
    assert out == [True, "Internal", False, True, "Internal"]


async def test_transcode_to_an_unknown_format_is_an_error(lua, autojump_clock):
    out = await lua.run("""
        local p, err = payload.new(1):transcode("image/png")
        return { p == nil, err:kind() }
    """, modules=())
    assert out == [True, "Invalid"]


# -- unmarshal --------------------------------------------------------------------------


async def test_unmarshal_gives_a_lua_value_from_any_format(lua, autojump_clock):
    out = await lua.run("""
        local p = payload.new({ a = 1, b = { "x" } })
        local results = {}
        for _, f in ipairs({ "LUA", "JSON", "YAML", "MSGPACK" }) do
            local there = p:transcode(payload.format[f])
            local data, err = there:unmarshal()
            results[f] = { data, err == nil }
        end
        return results
    """, modules=())
    for fmt in ("LUA", "JSON", "YAML", "MSGPACK"):
        assert out[fmt] == [{"a": 1, "b": ["x"]}, True], fmt


# -- async results ----------------------------------------------------------------------


async def test_async_results_example(lua, autojump_clock):
    lua.function("compute", "local input = ...; return { computed_value = input.x * 2 }", modules=())
    out = await lua.run("""
        local input_data = { x = 21 }
        local funcs = require("funcs")

        local future, err = funcs.async("test:compute", input_data)
        if err then
            return nil, err
        end

        -- Wait for result
        local ch = future:response()
        local result_payload, ok = ch:receive()
        if not ok then
            return nil, errors.new("channel closed")
        end

        -- Extract data from payload
        local result, err2 = result_payload:data()
        if err2 then
            return nil, err2
        end

        print(result.computed_value)
        return result.computed_value
    """, modules=("funcs",))
    assert out == 42


# -- payloads in messages ---------------------------------------------------------------


async def test_message_payloads_are_payload_objects(lua, autojump_clock):
    out = await lua.run("""
        process.send(process.pid(), "t", { k = "v" })
        local p = process.inbox():receive():payload()
        local data, err = p:data()
        return { p:get_format(), data.k, err == nil, (p:transcode(payload.format.JSON)):get_format() }
    """, modules=())
    assert out == ["lua/any", "v", True, "json/plain"]


async def test_a_payload_sent_on_carries_its_data(lua, autojump_clock):
    out = await lua.run("""
        local p = payload.new({ n = 5 })
        process.send(process.pid(), "a", p)
        process.send(process.pid(), "b", (p:transcode(payload.format.JSON)))
        local inbox = process.inbox()
        return { inbox:receive():payload():data(), inbox:receive():payload():data() }
    """, modules=())
    assert out == [{"n": 5}, {"n": 5}]


async def test_payload_objects_cannot_be_changed(lua, autojump_clock):
    out = await lua.run("""
        local p = payload.new("v")
        local ok = pcall(rawset, p, "data", function() return "forged" end)
        return { ok, p:data() }
    """, modules=())
    assert out == [False, "v"]
