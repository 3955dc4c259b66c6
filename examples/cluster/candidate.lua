-- A candidate for leader: takes the cluster-wide name "leader" when it is
-- free (CONSISTENT: one holder in the cluster), then hands out jobs.
local pg = require("pg")
local time = require("time")

local function lead(scope, events)
  print("leading the cluster as " .. process.pid())
  local answers = process.listen("done")
  local ticker = time.ticker("2s")
  local job = 0
  while true do
    local r = channel.select({ ticker:channel():case_receive(), answers:case_receive(), events:case_receive() })
    if r.channel == events then return end
    if r.channel == answers then
      print("job " .. r.value.job .. " done on node " .. r.value.node .. ": " .. r.value.square)
    else
      job = job + 1
      scope:broadcast("workers", "job", job)
    end
  end
end

local function main()
  local scope = assert(pg.open("cluster:pg"))
  local events = process.events()
  while true do
    if process.registry.register("leader", nil, process.registry.CONSISTENT) then
      return lead(scope, events)
    end
    -- someone else leads: try again in a second (it is free once its node is down)
    local r = channel.select({ time.after("1s"):case_receive(), events:case_receive() })
    if r.channel == events then return end
  end
end

return { main = main }
