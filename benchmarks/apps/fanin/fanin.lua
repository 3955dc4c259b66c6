-- Fan-in: `senders` processes each send n // senders messages to one sink.
-- The sink listens before any sender exists, so nothing can be missed.
local time = require("time")

local function sender(sink, count)
  for i = 1, count do
    process.send(sink, "n", i)
  end
end

local function sink(n, senders, host)
  local inbox = process.listen("n")
  local me = process.pid()
  local per_sender = n // senders
  local t0 = time.now():unix_nano()
  for _ = 1, senders do
    process.spawn("bench:sender", host, me, per_sender)
  end
  for _ = 1, per_sender * senders do inbox:receive() end
  return { elapsed_ns = time.now():unix_nano() - t0, work = per_sender * senders }
end

return { sink = sink, sender = sender }
