"""Shared test helpers: build small apps on disk and run them on a node."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua54

import actors


class AppBuilder:
    """Writes an app directory: one definition file plus Lua sources.

    ``app.lua("worker", src, method="main", kind="process.lua", modules=[...])``
    adds an entry ``test:worker`` whose source is ``worker.lua``.
    """

    def __init__(self, root: Path, namespace: str = "test"):
        self.root = root
        self.namespace = namespace
        self.entries: list[dict[str, Any]] = [
            {"name": "host", "kind": "process.host", "lifecycle": {"auto_start": True}},
        ]
        root.mkdir(parents=True, exist_ok=True)

    @property
    def host(self) -> str:
        return f"{self.namespace}:host"

    def entry(self, **fields: Any) -> str:
        self.entries.append(fields)
        self._write()
        return f"{self.namespace}:{fields['name']}"

    def lua(self, name: str, source: str, *, method: str | None = "main", kind: str = "process.lua",
            **fields: Any) -> str:
        (self.root / f"{name}.lua").write_text(textwrap.dedent(source))
        spec: dict[str, Any] = {"name": name, "kind": kind, "source": f"file://{name}.lua"}
        if method is not None and kind != "library.lua":
            spec["method"] = method
        spec.update(fields)
        return self.entry(**spec)

    def body(self, name: str, body: str, *, modules=(), required=(), kind: str = "process.lua",
             method: str = "main", **fields: Any) -> str:
        """An entry whose ``method(...)`` runs ``body``; each of ``required``
        is loaded into a local of its name first."""
        prelude = "".join(f"local {m} = require('{m}')\n" for m in required)
        source = f"return {{ {method} = function(...)\n{prelude}{textwrap.dedent(body)}\nend }}\n"
        return self.lua(name, source, kind=kind, method=method, modules=list(modules), **fields)

    def _write(self) -> None:
        doc = {"version": "1.0", "namespace": self.namespace, "entries": self.entries}
        (self.root / "app.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def app(tmp_path: Path) -> AppBuilder:
    builder = AppBuilder(tmp_path / "app")
    builder._write()
    return builder


class LuaLibrary:
    """A Lua state for unit tests of the runtime's library modules: each is
    loaded from actors/lua as a worker loads it, and ``errors`` is ready.
    Strings cross as ``str`` here (a worker passes bytes)."""

    def __init__(self) -> None:
        self.rt = lua54.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=True)
        self._load = self.rt.eval("function(src, name) return assert(load(src, name, 't'))() end")
        self.errors = self.load("errors")

    def load(self, name: str, **deps: Any) -> Any:
        """The module ``name`` made by its factory from ``deps``."""
        source = (Path(actors.__file__).parent / "lua" / f"{name}.lua").read_text()
        return self._load(source, f"=luactor/{name}.lua")(self.rt.table_from(deps))

    def run(self, code: str, *args: Any) -> Any:
        return self.rt.execute(code, *args)


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory):
    """A Temporal dev server shared by the tests of one run (each uses its own task queue)."""
    from temporal_dev import DevServer

    server = DevServer(tmp_path_factory.mktemp("temporal") / "dev.db")
    yield server
    server.stop()
