-- Spawn rate: n children, each sends one message to its parent and exits.
local time = require("time")

local function child(parent)
  process.send(parent, "bye", true)
end

local function spawner(n, host)
  local byes = process.listen("bye")
  local me = process.pid()
  local t0 = time.now():unix_nano()
  for _ = 1, n do
    process.spawn("bench:child", host, me)
  end
  for _ = 1, n do byes:receive() end
  return { elapsed_ns = time.now():unix_nano() - t0, work = n }
end

return { spawner = spawner, child = child }
