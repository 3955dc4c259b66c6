-- Ring: `actors` processes (the driver is one of them) pass a token that
-- counts down from `hops`.  Whoever sees 0 tells the driver; a negative
-- token then goes round once more and every node exits on it.
local time = require("time")

local function node(next_pid, driver)
  local tokens = process.listen("token")
  process.send(driver, "ready", true)
  while true do
    local t = tokens:receive()
    if t < 0 then
      process.send(next_pid, "token", t)
      return
    elseif t == 0 then
      process.send(driver, "token", 0)
    else
      process.send(next_pid, "token", t - 1)
    end
  end
end

local function driver(hops, actors, host)
  local tokens = process.listen("token")
  local ready = process.listen("ready")
  local me = process.pid()
  local first = me
  for _ = 1, actors - 1 do
    first = process.spawn("bench:ring_node", host, first, me)
  end
  for _ = 1, actors - 1 do ready:receive() end
  local t0 = time.now():unix_nano()
  process.send(first, "token", hops)
  while true do
    local t = tokens:receive()
    if t <= 0 then break end
    process.send(first, "token", t - 1)
  end
  local elapsed_ns = time.now():unix_nano() - t0
  process.send(first, "token", -1)
  tokens:receive() -- the stop token came round: the ring is gone
  return { elapsed_ns = elapsed_ns, work = hops }
end

return { driver = driver, node = node }
