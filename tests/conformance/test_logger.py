"""Logging page: the ``logger`` module. ``debug``/``info``/``warn``/``error``
with a message and optional fields, child loggers with ``with(fields)`` and
``named(name)``; the methods work called with a colon (as the page writes
them) or a dot. Lines go to the node's log (the ``luactor`` Python logger) as
``pid [name] message key=value...``.
"""

from __future__ import annotations

import logging
import re

import pytest

from actors import ActorError

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def normal(text: str) -> str:
    """A log line with its ``key=value`` fields sorted (a table's fields come in no set order)."""
    words = text.split(" ")
    fields = [w for w in words if re.match(r"^\w+=", w)]
    return " ".join([w for w in words if w not in fields] + sorted(fields))


def lines_of(node_log, pid: str) -> list[tuple[int, str]]:
    """The log lines of process ``pid``, fields sorted (compare with :func:`normal` lines)."""
    return [(level, normal(text)) for level, text in node_log() if text.startswith(pid)]


async def test_require_logger(lua, autojump_clock):
    out = await lua.run("""
        local logger = require("logger")
        return { type(logger.info), type(logger.with), type(logger.named) }
    """, modules=("logger",))
    assert out == ["function", "function", "function"]


async def test_logger_must_be_listed_in_modules(lua, autojump_clock):
    with pytest.raises(ActorError) as info:
        await lua.run('return require("logger")', modules=())
    assert info.value.kind == "NotFound"


@pytest.mark.parametrize("level", list(LEVELS))
async def test_each_level_with_fields(lua, autojump_clock, node_log, level):
    pid = await lua.run(f"""
        logger:{level}("message", {{key = "value"}})
        return process.pid()
    """)
    assert (LEVELS[level], f"{pid} message key='value'") in lines_of(node_log, pid)


@pytest.mark.parametrize("level", list(LEVELS))
async def test_each_level_without_fields(lua, autojump_clock, node_log, level):
    pid = await lua.run(f"""
        logger:{level}("just a message")
        return process.pid()
    """)
    assert (LEVELS[level], f"{pid} just a message") in lines_of(node_log, pid)


async def test_dot_and_colon_calls(lua, autojump_clock, node_log):
    pid = await lua.run("""
        logger.info("with a dot", { n = 1 })
        logger:info("with a colon", { n = 2 })
        local child = logger:with({ c = true })
        child.warn("child with a dot")
        child:warn("child with a colon")
        return process.pid()
    """)
    lines = lines_of(node_log, pid)
    assert (logging.INFO, f"{pid} with a dot n=1") in lines
    assert (logging.INFO, f"{pid} with a colon n=2") in lines
    assert (logging.WARNING, f"{pid} child with a dot c=True") in lines
    assert (logging.WARNING, f"{pid} child with a colon c=True") in lines


async def test_with_fields(lua, autojump_clock, node_log):
    pid = await lua.run("""
        local id = "req-1"
        local child = logger:with({request_id = id})
        child:info("message")
        child:info("with more", { step = 2 })
        local grandchild = child:with({ user = "ada" })
        grandchild:error("deeper")
        logger:info("the parent is unchanged")
        return process.pid()
    """)
    lines = lines_of(node_log, pid)
    assert (logging.INFO, f"{pid} message request_id='req-1'") in lines
    assert (logging.INFO, normal(f"{pid} with more request_id='req-1' step=2")) in lines
    assert (logging.ERROR, normal(f"{pid} deeper user='ada' request_id='req-1'")) in lines
    assert (logging.INFO, f"{pid} the parent is unchanged") in lines


async def test_with_returns_a_logger(lua, autojump_clock):
    out = await lua.run("""
        local child = logger:with({ a = 1 })
        return { type(child), type(child.info), type(child.with), type(child.named) }
    """)
    assert out == ["table", "function", "function", "function"]


async def test_named_logger(lua, autojump_clock, node_log):
    pid = await lua.run("""
        local named = logger:named("auth")
        named:info("message")
        named:with({ user = "ada" }):warn("denied")
        named:named("tokens"):debug("refreshed")
        return process.pid()
    """)
    lines = lines_of(node_log, pid)
    assert (logging.INFO, f"{pid} [auth] message") in lines
    assert (logging.WARNING, f"{pid} [auth] denied user='ada'") in lines
    assert (logging.DEBUG, f"{pid} [auth.tokens] refreshed") in lines


async def test_named_with_an_empty_name_is_invalid(lua, autojump_clock):
    out = await lua.run("""
        local named, err = logger:named("")
        return { named == nil, err:kind(), err:retryable() }
    """)
    assert out == [True, "Invalid", False]


@pytest.mark.parametrize("call", ['logger:named(42)', 'logger:with("not a table")'])
async def test_bad_arguments_to_child_loggers_are_invalid(lua, autojump_clock, call):
    out = await lua.run(f"""
        local child, err = {call}
        return {{ child == nil, err:kind() }}
    """)
    assert out == [True, "Invalid"]


async def test_fields_that_cannot_leave_the_process_are_an_error(lua, autojump_clock, node_log):
    out = await lua.run("""
        local ok, err = logger:info("message", { f = print })
        return { ok == nil, err:kind() }
    """)
    assert out == [True, "Invalid"]


async def test_a_child_logger_belongs_to_no_process(lua, autojump_clock, node_log):
    # a logger made in one process logs as whichever process uses it: the
    # module is shared, the fields are not
    lua.process("other", 'logger:info("from the other"); return process.pid()')
    out = await lua.run("""
        local mine = logger:with({ mine = true })
        mine:info("from main")
        local other = process.exec("test:other", "test:host")
        local ok = pcall(function() logger.info = nil end)
        return { process.pid(), other, ok }
    """)
    me, other, ok = out
    assert (logging.INFO, f"{me} from main mine=True") in lines_of(node_log, me)
    assert (logging.INFO, f"{other} from the other") in lines_of(node_log, other)
    assert ok is False
