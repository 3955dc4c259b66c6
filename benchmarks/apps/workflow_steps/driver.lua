-- Starts n workflows on the workflow host and waits for every EXIT.
local time = require("time")

local function driver(n, workflow_host, timer)
  local events = process.events()
  local t0 = time.now():unix_nano()
  -- Start every workflow at once, as the Temporal peer does (one client
  -- call each, gathered): a start returns once stored, and concurrent
  -- starts share a commit.
  for i = 1, n do
    coroutine.spawn(function()
      local _, err = process.spawn_monitored("bench:flow", workflow_host, i, timer)
      if err then error(err) end
    end)
  end
  local done = 0
  while done < n do
    local event = events:receive()
    if event.kind == process.event.EXIT then
      if event.result and event.result.error then
        error("workflow failed: " .. tostring(event.result.error))
      end
      done = done + 1
    end
  end
  return { elapsed_ns = time.now():unix_nano() - t0, work = 4 * n }
end

return { driver = driver }
