"""Soak: spawning and killing many linked processes leaks nothing.

Marked ``soak``: excluded from the default run, run with ``pytest -m soak``.
"""

import pytest

pytestmark = pytest.mark.soak

CHURN = """
local function child()
  process.inbox():receive()
end

-- Spawns `n` linked children in batches and terminates each batch; the
-- LINK_DOWN events are trapped and drained.
local function churn(n, batch)
  process.set_options({ trap_links = true })
  local events = process.events()
  local done = 0
  while done < n do
    local pids = {}
    for i = 1, batch do
      pids[i] = assert(process.spawn_linked("test:child", "test:host"))
    end
    for i = 1, batch do process.terminate(pids[i]) end
    for _ = 1, batch do
      local event = events:receive()
      assert(event.kind == process.event.LINK_DOWN, event.kind)
    end
    done = done + batch
  end
  return done
end

return { child = child, churn = churn }
"""


async def test_memory_returns_to_baseline_after_100k_linked_processes(app):
    """After a warm-up of the same size (weak tables and the run queue reach
    the capacity the incremental GC's lag needs), 100,000 more linked
    processes spawned and killed leave the Lua state where it was."""
    app.lua("churn", CHURN, method="churn")
    app.entry(name="child", kind="process.lua", source="file://churn.lua", method="child")
    from actors import Node
    async with Node.open(app.root) as node:
        assert await node.exec("test:churn", app.host, 100_000, 1_000) == 100_000
        baseline = node.memory(app.host)
        assert await node.exec("test:churn", app.host, 100_000, 1_000) == 100_000
        after = node.memory(app.host)
        assert node.process_count(app.host) == 0
        assert after - baseline < 64 * 1024, (baseline, after)
