-- Idle memory: n processes, each reports once and then blocks on receive.
-- The spawner tells the Python side (`observer`) when all are up, so that it
-- can read RSS, then waits for "release" to stop them all.
local time = require("time")

local function idle(parent)
  local stop = process.listen("stop")
  process.send(parent, "up", true)
  stop:receive()
end

local function spawner(n, host, observer)
  local ups = process.listen("up")
  local release = process.listen("release")
  local me = process.pid()
  local pids = {}
  local t0 = time.now():unix_nano()
  for i = 1, n do
    pids[i] = process.spawn("bench:idle", host, me)
  end
  for _ = 1, n do ups:receive() end
  process.send(observer, "up", { elapsed_ns = time.now():unix_nano() - t0 })
  release:receive()
  for i = 1, n do process.send(pids[i], "stop", true) end
  return true
end

return { spawner = spawner, idle = idle }
