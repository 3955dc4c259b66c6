-- The benchmark workflow: three recorded function calls and one durable
-- timer, four steps in all (the same shape as the Temporal peer's).
local funcs = require("funcs")
local time = require("time")

local function flow(x, timer)
  for _ = 1, 3 do
    local result, err = funcs.call("bench:step", x)
    if err then return nil, err end
    x = result
  end
  time.sleep(timer)
  return x
end

return { flow = flow }
