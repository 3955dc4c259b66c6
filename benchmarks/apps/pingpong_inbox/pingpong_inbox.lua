-- Ping-pong written the way Wippy documents it: each end reads its process
-- inbox, gets Message objects, and replies to `msg:from()`; payloads are
-- tables `{seq = i}`, and `ping` fails if a reply comes out of order.
--
-- The driver runs `npairs` such pairs (one for pingpong_inbox, 4 per worker
-- for pairs), each on one worker, the pairs dealt round the workers; with
-- `cross`, a pair's pong is on the next worker instead (pingpong_cross).  It
-- waits until every end is running, starts all pings at once and stops the
-- clock when the last one has exited; a ping that failed fails the run.  Its
-- result names each pair's ends ({ping, pong}), so where they ran can be
-- checked.
local time = require("time")

local function pong(driver)
  local inbox = process.inbox()
  process.send(driver, "ready", true)
  while true do
    local msg = inbox:receive()
    local data = msg:payload():data()
    if data.seq == 0 then return end
    process.send(msg:from(), "pong", data)
  end
end

local function ping(driver, peer, rounds)
  local inbox = process.inbox()
  process.send(driver, "ready", true)
  inbox:receive() -- the driver's go
  for i = 1, rounds do
    process.send(peer, "ping", { seq = i })
    local msg = inbox:receive()
    local seq = msg:payload():data().seq
    if seq ~= i then
      error("reply out of order: expected seq " .. i .. ", got " .. tostring(seq))
    end
  end
  process.send(peer, "ping", { seq = 0 })
  return rounds
end

--- Raise the error of an end that failed (a monitor's EXIT event).
local function check(event)
  if event.kind == process.event.EXIT and event.result and event.result.error then
    error("a ping-pong end failed: " .. tostring(event.result.error))
  end
end

--- Spawn `entry` on worker `k` (1-based), monitored.
local function spawn_on(k, entry, host, ...)
  local pid, err = process.with_options({ worker = k }):spawn_monitored(entry, host, ...)
  if not pid then error(err) end
  return pid
end

local function driver(n, npairs, workers, cross, host)
  local ready = process.listen("ready")
  local events = process.events()
  local me = process.pid()
  local rounds = n // npairs
  local pings, ends = {}, {}
  for j = 1, npairs do
    local w = (j - 1) % workers + 1
    local peer = spawn_on(cross and w % workers + 1 or w, "bench:pong", host, me)
    local ping = spawn_on(w, "bench:ping", host, me, peer, rounds)
    pings[ping], ends[j] = true, { ping, peer }
  end
  local up = 0
  while up < 2 * npairs do
    local r = channel.select({ ready:case_receive(), events:case_receive() })
    if r.channel == ready then up = up + 1 else check(r.value) end
  end
  local t0 = time.now():unix_nano()
  for pid in pairs(pings) do process.send(pid, "go", true) end
  local done = 0
  while done < npairs do
    local event = events:receive()
    check(event)
    if event.kind == process.event.EXIT and pings[event.from] then done = done + 1 end
  end
  return { elapsed_ns = time.now():unix_nano() - t0, work = 2 * rounds * npairs, ends = ends }
end

return { driver = driver, ping = ping, pong = pong }
