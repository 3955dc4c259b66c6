-- Starts n workflows on the workflow host and waits for every EXIT, keeping
-- at most `in_flight` of them running at once (all n when it is nil): as
-- each one ends, the next starts, the way a load generator with that many
-- clients would drive a server.
local time = require("time")

local function driver(n, workflow_host, timer, in_flight)
  local events = process.events()
  local t0 = time.now():unix_nano()
  local started = 0
  -- A start returns once stored, so each runs in a coroutine of its own:
  -- starts made together share a commit, as the Temporal peer's gathered
  -- client calls share the server's work.
  local function start_next()
    started = started + 1
    local i = started
    coroutine.spawn(function()
      local _, err = process.spawn_monitored("bench:flow", workflow_host, i, timer)
      if err then error(err) end
    end)
  end
  for _ = 1, math.min(in_flight or n, n) do start_next() end
  local done, peak = 0, started
  while done < n do
    local event = events:receive()
    if event.kind == process.event.EXIT then
      if event.result and event.result.error then
        error("workflow failed: " .. tostring(event.result.error))
      end
      done = done + 1
      if started < n then start_next() end
      if started - done > peak then peak = started - done end
    end
  end
  return { elapsed_ns = time.now():unix_nano() - t0, work = 4 * n, peak_in_flight = peak }
end

return { driver = driver }
