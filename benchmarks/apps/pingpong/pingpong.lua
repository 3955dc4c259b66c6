-- Ping-pong: `ping` spawns `pong` and bounces one message n times; each
-- one-way delivery counts.  Both sides receive on a listened topic, so a
-- payload arrives without a Message object: the cheapest path a user has.
local time = require("time")

local function ping(n, host)
  local replies = process.listen("pong")
  local pong = process.spawn("bench:pong", host, process.pid())
  replies:receive() -- pong is listening: nothing sent below can miss it
  local t0 = time.now():unix_nano()
  for i = 1, n do
    process.send(pong, "ping", i)
    replies:receive()
  end
  local elapsed_ns = time.now():unix_nano() - t0
  process.send(pong, "ping", 0)
  return { elapsed_ns = elapsed_ns, work = 2 * n }
end

local function pong(peer)
  local inbox = process.listen("ping")
  process.send(peer, "pong", 0)
  while true do
    local i = inbox:receive()
    if i == 0 then return end
    process.send(peer, "pong", i)
  end
end

return { ping = ping, pong = pong }
