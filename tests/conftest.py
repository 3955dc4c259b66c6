"""Shared test helpers: build small apps on disk and run them on a node."""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua54

import actors

# Hosts that do not set host.workers run this many workers (CI runs the suite at 1 and at 4).
os.environ.setdefault("LUACTOR_WORKERS", "1")


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


@pytest.fixture(scope="session")
def temporal_certificates(tmp_path_factory):
    """A test CA with a server and a client certificate, for TLS in front of a dev server."""
    from temporal_proxy import Certificates

    return Certificates(tmp_path_factory.mktemp("certificates"))


# --------------------------------------------------------------------------- the luactor command line

LUACTOR_TIMEOUT = 60  # seconds a command, or a wait for one of its lines, may take before the test fails


def luactor(*args: object, cwd: Path | None = None, timeout: float = LUACTOR_TIMEOUT) -> subprocess.CompletedProcess:
    """``luactor ARGS`` run to its end in a subprocess, its output captured."""
    return subprocess.run([sys.executable, "-m", "actors.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


class LuactorProcess:
    """``luactor ARGS`` running in a subprocess; its output lines (stdout and stderr
    together, in ``seen``) read as they come. Leaving the block kills what still runs."""

    def __init__(self, *args: object, **popen: Any):
        self.process = subprocess.Popen([sys.executable, "-m", "actors.cli", *map(str, args)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream,), daemon=True)
                         for stream in (self.process.stdout, self.process.stderr)]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> LuactorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, count: int = 1) -> None:
        """Until ``count`` lines seen so far contain ``text``."""
        end = time.monotonic() + LUACTOR_TIMEOUT
        while sum(text in line for line in self.seen) < count:
            try:
                self.seen.append(self.lines.get(timeout=max(0.1, end - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no {count} x {text!r} in time; the output:\n" + "\n".join(self.seen)) from None

    def finish(self, timeout: float = LUACTOR_TIMEOUT) -> int:
        """Wait for the exit; then ``seen`` holds every line. Returns the exit code."""
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code


def edit_stored(store: Path, database: str, key: bytes, edit: Any) -> None:
    """Change one record of a workflow store in place, as damage (or an older luactor) would:
    ``edit`` gets the stored value decoded and returns the new one (bytes are stored as they are)."""
    import lmdb
    import msgpack

    env = lmdb.open(str(store), max_dbs=8)
    try:
        with env.begin(write=True) as txn:
            db = env.open_db(database.encode(), txn=txn)
            value = edit(msgpack.unpackb(txn.get(key, db=db), raw=False, strict_map_key=False))
            txn.put(key, value if isinstance(value, bytes) else msgpack.packb(value, use_bin_type=True), db=db)
    finally:
        env.close()


@contextlib.contextmanager
def unwritable(*paths: Path) -> Iterator[None]:
    """Make ``paths`` unwritable for this user, really: mode bits for a user, the
    immutable attribute for root (whom mode bits do not stop); skips the test
    where neither is possible."""
    if os.geteuid() != 0:
        modes = {path: path.stat().st_mode for path in paths}
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    made = []
    try:
        for path in paths:
            if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
                pytest.skip(f"running as root and cannot make {path} immutable (chattr +i), so nothing is unwritable")
            made.append(path)
        yield
    finally:
        for path in made:
            subprocess.run(["chattr", "-i", str(path)], check=True)


# --------------------------------------------------------------------------- NATS, for clusters of nodes


@pytest.fixture
def nats_server(tmp_path):
    """A NATS server with JetStream of the test's own (see tests/nats_server.py)."""
    from nats_server import NatsServer

    server = NatsServer(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
def cluster_app(app):
    """An app for every node of a cluster test: a host and an echo service (tests/cluster_nodes.py)."""
    from cluster_nodes import add_echo

    add_echo(app)
    return app
