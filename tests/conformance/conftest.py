"""Helpers of the conformance suite: Lua snippets run as processes of a fresh
node, with their result handed back to the test.

Each module of this directory follows one page of Wippy's Lua documentation
(named in its docstring); a test checks one documented function, return
shape, error kind, constant or example of that page.
"""

from __future__ import annotations

import logging

import pytest
import trio
from trio.testing import MockClock

from actors import Node

#: The built-in modules an entry of the suite may require (each loaded into a
#: local of its name). ``time`` only where a test sleeps or waits on a timer.
MODULES = ("funcs", "ctx", "logger")


class LuaRunner:
    """Builds entries of the ``app`` fixture and runs them on a node.

    ``process(name, body)`` and ``function(name, body)`` add a ``process.lua``
    entry (method ``main``) or a ``function.lua`` entry (method ``handler``)
    whose method runs ``body`` with ``...`` as its arguments. ``run(body)``
    makes ``body`` the entry ``test:main``, runs it to its end on a fresh node
    and returns its result (an ``ActorError`` is raised if it fails); the node
    must still serve afterwards.
    """

    def __init__(self, app):
        self.app = app
        self.host = app.host
        app.body("alive", 'return "alive"')

    def process(self, name: str, body: str, *, modules=MODULES) -> str:
        return self.app.body(name, body, modules=modules, required=modules)

    def function(self, name: str, body: str, *, modules=MODULES) -> str:
        return self.app.body(name, body, modules=modules, required=modules, kind="function.lua", method="handler")

    def node(self):
        """A node of the app as built so far (``async with``)."""
        assert isinstance(trio.lowlevel.current_clock(), MockClock), "the test must take the autojump_clock fixture"
        return Node.open(self.app.root)

    async def still_serves(self, node) -> None:
        assert await node.exec("test:alive", self.host) == "alive"

    async def run(self, body: str, *args, modules=MODULES, setup=None, context=None):
        self.process("main", body, modules=modules)
        async with self.node() as node:
            if setup is not None:
                setup(node)
            try:
                with trio.fail_after(3600):
                    return await node.exec("test:main", self.host, *args, context=context)
            finally:
                await self.still_serves(node)


@pytest.fixture
def lua(app) -> LuaRunner:
    """A :class:`LuaRunner` over the ``app`` fixture. The test itself must take
    ``autojump_clock`` (pytest-trio reads the clock from the test's own
    arguments); :meth:`LuaRunner.node` checks that it did."""
    return LuaRunner(app)


@pytest.fixture
def node_log(caplog):
    """The lines of the node's log (``luactor`` logger) as ``(level, text)``."""
    caplog.set_level(logging.DEBUG, logger="luactor")

    def lines() -> list[tuple[int, str]]:
        return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "luactor"]

    return lines
