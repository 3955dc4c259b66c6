"""Peer: luactor's cluster, for the cross-node scenarios: two nodes on this
machine joined on a NATS server (JetStream on, started for the run). Node B
is a `luactor run` subprocess serving an echo and a sink; node A runs in
this process and measures a Lua process talking to them.

- pingpong_nodes: n round trips between a process on A and B's echo (each
  one-way delivery counts);
- stream_nodes: n messages from a process on A to B's sink, which answers
  with its count once they all arrived.
"""
from __future__ import annotations

import functools
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from actors import Node
from benchmarks.measure import Sample, main
from benchmarks.scenarios import PEERS, SCENARIOS

APP = """
version: "1.0"
namespace: bench
entries:
  # no bound on mailboxes: the stream's sink may fall behind by the whole stream
  - {name: host, kind: process.host, host: {max_mailbox: 0}, lifecycle: {auto_start: true}}
  - {name: echo, kind: process.lua, source: "file://bench.lua", method: echo}
  - {name: sink, kind: process.lua, source: "file://bench.lua", method: sink}
  - {name: pingpong, kind: process.lua, source: "file://bench.lua", method: pingpong}
  - {name: stream, kind: process.lua, source: "file://bench.lua", method: stream}
  - {name: echo_service, kind: process.service, process: echo, host: host, lifecycle: {auto_start: true}}
  - {name: sink_service, kind: process.service, process: sink, host: host, lifecycle: {auto_start: true}}
"""

LUA = """
local function serve(topic, answer)
  print(topic .. " at " .. process.pid())
  local inbox, events = process.listen(topic, { message = true }), process.events()
  local state = { count = 0 }
  while true do
    local r = channel.select({ inbox:case_receive(), events:case_receive() })
    if r.channel == events then return end
    answer(r.value, state)
  end
end
return {
  echo = function() serve("ping", function(m) process.send(m:from(), "pong", (m:payload():data())) end) end,
  sink = function() serve("item", function(m, state)
    local v = m:payload():data()
    if v == "done" then process.send(m:from(), "count", state.count); state.count = 0
    else state.count = state.count + 1 end
  end) end,
  pingpong = function(echo, n)
    local pongs = process.listen("pong")
    for i = 1, n do
      process.send(echo, "ping", i)
      if pongs:receive() ~= i then error("out of order") end
    end
    return 2 * n
  end,
  stream = function(sink, n)
    local counts = process.listen("count")
    for i = 1, n do assert(process.send(sink, "item", i)) end
    process.send(sink, "item", "done")
    return counts:receive()
  end,
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nats_server(store: Path) -> tuple[subprocess.Popen, str]:
    binary = Path(sys.executable).with_name("nats-server")
    port = _free_port()
    server = subprocess.Popen([str(binary if binary.exists() else "nats-server"), "-a", "127.0.0.1", "-p", str(port),
                               "-js", "-sd", str(store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, f"nats://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("nats-server did not start")


def _serving_node(app: Path, url: str) -> tuple[subprocess.Popen, dict[str, str]]:
    node = subprocess.Popen([sys.executable, "-m", "actors.cli", "run", str(app), "--node", "bench-b", "--cluster", url,
                             "--data", str(app / ".b")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pids: dict[str, str] = {}
    for line in node.stderr:
        for topic in ("ping", "item"):
            if f"{topic} at " in line:
                pids[topic] = line.split(f"{topic} at ")[1].strip()
        if len(pids) == 2:
            return node, pids
    raise RuntimeError("the serving node did not start")


def run(scenario: str, n: int) -> Sample:
    root = Path(tempfile.mkdtemp(prefix="luactor-bench-cluster-"))
    app = root / "app"
    app.mkdir()
    (app / "app.yaml").write_text(APP)
    (app / "bench.lua").write_text(LUA)
    server, url = _nats_server(root / "nats")
    node_b = None
    try:
        node_b, pids = _serving_node(app, url)
        entry, dest = ("bench:pingpong", pids["ping"]) if scenario == "pingpong_nodes" else ("bench:stream", pids["item"])

        async def measure() -> Sample:
            async with Node.open(app, root / "a", node="bench-a", cluster=url) as node:
                await node.exec(entry, "bench:host", dest, SCENARIOS[scenario].warmup_n(n))
                start = time.perf_counter()
                work = await node.exec(entry, "bench:host", dest, n)
                elapsed = time.perf_counter() - start
            return Sample(work, elapsed, n, "two nodes on this machine, one NATS server")
        return trio.run(measure)
    finally:
        if node_b is not None:
            node_b.kill()
            node_b.wait()
        server.kill()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main("luactor-cluster", {s: functools.partial(run, s) for s in PEERS["luactor-cluster"].scenarios}, warmup=False)
