"""Errors page: the global ``errors`` table, error objects and their methods.

Errors are made with ``errors.new`` (a message, or a table with at least a
``message``), wrapped with ``errors.wrap``, tested with ``errors.is``; an error
object answers ``kind``, ``message``, ``retryable`` (true, false or nil when
unknown), ``details`` and ``stack``, and ``tostring`` gives its full text.
"""

from __future__ import annotations

import pytest

KINDS = {
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "INVALID": "Invalid",
    "PERMISSION_DENIED": "PermissionDenied",
    "UNAVAILABLE": "Unavailable",
    "INTERNAL": "Internal",
    "CANCELED": "Canceled",
    "CONFLICT": "Conflict",
    "TIMEOUT": "Timeout",
    "RATE_LIMITED": "RateLimited",
    "UNKNOWN": "Unknown",
}


async def test_errors_is_a_global(lua, autojump_clock):
    assert await lua.run('return type(errors), type(errors.new)', modules=()) == "table"


async def test_kind_constants(lua, autojump_clock):
    out = await lua.run("""
        local out = {}
        for _, name in ipairs(...) do out[name] = errors[name] end
        return out
    """, list(KINDS))
    assert out == KINDS


# -- creating ---------------------------------------------------------------------------


async def test_new_from_a_message_is_unknown(lua, autojump_clock):
    out = await lua.run("""
        local err = errors.new("something went wrong")
        return { err:kind(), err:message(), err:kind() == errors.UNKNOWN, err:retryable() == nil, err:details() == nil }
    """)
    assert out == ["Unknown", "something went wrong", True, True, True]


async def test_new_from_a_table(lua, autojump_clock):
    # the page's example
    out = await lua.run("""
        local err = errors.new({
            message = "user not found",
            kind = errors.NOT_FOUND,
            retryable = false,
            details = {user_id = 123}
        })
        return { kind = err:kind(), message = err:message(), retryable = err:retryable(), details = err:details() }
    """)
    assert out == {"kind": "NotFound", "message": "user not found", "retryable": False, "details": {"user_id": 123}}


async def test_new_table_without_kind_is_unknown(lua, autojump_clock):
    assert await lua.run('return errors.new({ message = "m" }):kind()') == "Unknown"


async def test_new_table_needs_a_message(lua, autojump_clock):
    out = await lua.run("""
        local err, problem = errors.new({ kind = errors.NOT_FOUND })
        return { err == nil, problem:kind() }
    """)
    assert out == [True, "Invalid"]


@pytest.mark.parametrize("arg", ["nil", "true", "function() end"])
async def test_new_of_something_else_is_invalid(lua, autojump_clock, arg):
    out = await lua.run(f"""
        local err, problem = errors.new({arg})
        return {{ err == nil, problem:kind() }}
    """)
    assert out == [True, "Invalid"]


async def test_kind_message_form_is_not_supported(lua, autojump_clock):
    # "The (kind, message) form is not supported": the first argument is the message
    out = await lua.run("""
        local err = errors.new(errors.NOT_FOUND, "missing")
        return { err:kind(), err:message() }
    """)
    assert out == ["Unknown", "NotFound"]


# -- wrapping ---------------------------------------------------------------------------


async def test_wrap_keeps_kind_retryable_and_details(lua, autojump_clock):
    out = await lua.run("""
        local cause = errors.new({ message = "connection refused", kind = errors.UNAVAILABLE,
                                   retryable = true, details = { host = "db" } })
        local err = errors.wrap(cause, "failed to load users")
        return { err:kind(), err:retryable(), err:details().host, err:message(), errors.is(err, errors.UNAVAILABLE) }
    """)
    assert out[:3] == ["Unavailable", True, "db"]
    assert "failed to load users" in out[3] and "connection refused" in out[3]
    assert out[4] is True


async def test_wrap_example_returns_nil_and_the_wrapped_error(lua, autojump_clock):
    lua.function("query", 'return nil, errors.new({ message = "no table users", kind = errors.NOT_FOUND })')
    out = await lua.run("""
        local function load_users()
            local data, err = funcs.call("test:query", "SELECT * FROM users")
            if err then
                return nil, errors.wrap(err, "failed to load users")
            end
            return data
        end
        local data, err = load_users()
        return { data == nil, err:kind(), err:message() }
    """)
    assert out[:2] == [True, "NotFound"]
    assert out[2].startswith("failed to load users")


# -- methods ----------------------------------------------------------------------------


async def test_methods_return_their_documented_types(lua, autojump_clock):
    out = await lua.run("""
        local err = errors.new({ message = "m", kind = errors.CONFLICT, retryable = true, details = { a = 1 } })
        return { type(err:kind()), type(err:message()), type(err:retryable()), type(err:details()),
                 type(err:stack()), type(tostring(err)) }
    """)
    assert out == ["string", "string", "boolean", "table", "string", "string"]


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ("nil", None)])
async def test_retryable_is_true_false_or_nil_when_unknown(lua, autojump_clock, value, expected):
    out = await lua.run(f"""
        local err = errors.new({{ message = "m", retryable = {value} }})
        return {{ is_nil = err:retryable() == nil, value = err:retryable() }}
    """)
    assert out["is_nil"] is (expected is None)
    assert out.get("value") == expected


async def test_details_is_nil_without_details(lua, autojump_clock):
    assert await lua.run('return errors.new("m"):details() == nil') is True


async def test_stack_is_the_lua_stack_trace_of_where_it_was_made(lua, autojump_clock):
    out = await lua.run("""
        local function make_it()
            local err = errors.new("boom")
            return err
        end
        return make_it():stack()
    """)
    assert "main.lua" in out
    assert "make_it" in out


async def test_tostring_is_the_full_representation(lua, autojump_clock):
    out = await lua.run("""
        return { tostring(errors.new({ message = "taken", kind = errors.CONFLICT })), tostring(errors.new("plain")) }
    """)
    assert out[0] == "Conflict: taken"
    assert out[1] == "plain"


async def test_error_details_example(lua, autojump_clock):
    out = await lua.run("""
        local err = errors.new({
            message = "validation failed",
            kind = errors.INVALID,
            details = {
                errors = {
                    {field = "email", message = "invalid format"},
                    {field = "age", message = "must be positive"}
                }
            }
        })
        local seen = {}
        local details = err:details()
        for _, e in ipairs(details.errors) do
            seen[#seen + 1] = e.field .. " " .. e.message
        end
        return seen
    """)
    assert out == ["email invalid format", "age must be positive"]


async def test_error_objects_cannot_be_changed(lua, autojump_clock):
    out = await lua.run("""
        local err = errors.new({ message = "m", details = { a = 1 } })
        local ok = pcall(function() err.kind = function() return "x" end end)
        return { ok, err:kind() }
    """)
    assert out == [False, "Unknown"]


# -- checking kind ----------------------------------------------------------------------


async def test_is_and_comparing_kinds(lua, autojump_clock):
    # the page's "Checking Kind" example
    out = await lua.run("""
        local seen = {}
        local function classify(err)
            if errors.is(err, errors.INVALID) then
                seen[#seen + 1] = "invalid"
            end
            if err:kind() == errors.NOT_FOUND then
                seen[#seen + 1] = "not found"
            end
        end
        classify(errors.new({ message = "bad", kind = errors.INVALID }))
        classify(errors.new({ message = "gone", kind = errors.NOT_FOUND }))
        classify(errors.new("other"))
        return seen
    """)
    assert out == ["invalid", "not found"]


async def test_is_sees_through_wrapping_and_is_false_for_other_kinds(lua, autojump_clock):
    out = await lua.run("""
        local err = errors.wrap(errors.wrap(errors.new({ message = "m", kind = errors.TIMEOUT }), "a"), "b")
        return { errors.is(err, errors.TIMEOUT), errors.is(err, errors.INVALID), errors.is("not an error", errors.TIMEOUT) }
    """)
    assert out == [True, False, False]


# -- call stack -------------------------------------------------------------------------


async def test_call_stack_example(lua, autojump_clock):
    out = await lua.run("""
        local function inner()
            local err = errors.new("boom")
            return err
        end
        local err = inner()
        local stack = errors.call_stack(err)
        local lines = {}
        if stack then
            lines[1] = "Thread: " .. tostring(stack.thread)
            for _, frame in ipairs(stack.frames) do
                lines[#lines + 1] = frame.source .. ":" .. frame.line .. " " .. tostring(frame.name)
            end
        end
        return lines
    """)
    assert out[0].startswith("Thread: ")
    assert any("main.lua:" in line and "inner" in line for line in out[1:]), out


async def test_call_stack_of_a_raised_error(lua, autojump_clock):
    out = await lua.run("""
        local function fails() local x = nil; return x.field end
        local ok, e = pcall(fails)
        return { ok, type(e) }
    """)
    # a raised Lua error stays what Lua raised inside the process (a string)
    assert out == [False, "string"]


async def test_call_stack_of_a_non_error_is_nil(lua, autojump_clock):
    assert await lua.run('return errors.call_stack("just text") == nil') is True


# -- retryable errors -------------------------------------------------------------------


async def test_retryable_example(lua, autojump_clock):
    # "if err:retryable() then -- safe to retry": a retry loop over a flaky call
    lua.function("flaky", """
        local n = ...
        if n < 3 then return nil, errors.new({ message = "busy", kind = errors.UNAVAILABLE, retryable = true }) end
        return "done after " .. n
    """)
    out = await lua.run("""
        local attempt = 0
        while true do
            attempt = attempt + 1
            local result, err = funcs.call("test:flaky", attempt)
            if not err then return result end
            if not err:retryable() then return "gave up" end
        end
    """)
    assert out == "done after 3"


async def test_errors_cross_processes_with_their_fields(lua, autojump_clock):
    # an error returned by a function reaches its caller with kind, retryable and details
    lua.function("fails", """
        return nil, errors.new({ message = "taken", kind = errors.CONFLICT, retryable = false, details = { id = 7 } })
    """)
    out = await lua.run("""
        local _, err = funcs.call("test:fails")
        return { err:kind(), err:message(), err:retryable(), err:details().id, errors.is(err, errors.CONFLICT) }
    """)
    assert out == ["Conflict", "taken", False, 7, True]


async def test_runtime_errors_follow_the_retryable_table(lua, autojump_clock):
    # INVALID, NOT_FOUND and ALREADY_EXISTS are not retryable, TIMEOUT typically is
    lua.function("slow", 'time.sleep("10s")', modules=("time",))
    out = await lua.run("""
        local _, invalid = process.send(process.pid(), "@reserved", 1)
        local _, not_found = process.registry.lookup("nobody")
        process.registry.register("held_by_main")
        local other = process.spawn("test:alive", "test:host")
        local _, exists = process.registry.register("held_by_main", other)
        local _, timeout = funcs.new():with_options({ timeout = 100 }):call("test:slow")
        return {
            { invalid:kind(), invalid:retryable() },
            { not_found:kind(), not_found:retryable() },
            { exists:kind(), exists:retryable() },
            { timeout:kind(), timeout:retryable() },
        }
    """)
    assert out == [["Invalid", False], ["NotFound", False], ["AlreadyExists", False], ["Timeout", True]]
