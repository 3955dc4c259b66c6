-- A workflow caught in flight: it reports that it started, sleeps on a
-- durable timer, then reports that it finished.  `bench:started` and
-- `bench:finished` are Python callables registered by the benchmark.
local funcs = require("funcs")
local time = require("time")

local function sleeper(i, timer)
  local _, err = funcs.call("bench:started", i)
  if err then return nil, err end
  time.sleep(timer)
  _, err = funcs.call("bench:finished", i)
  if err then return nil, err end
  return i
end

return { sleeper = sleeper }
