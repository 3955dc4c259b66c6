-- A worker: joins the group "workers" and answers every job with its node's name.
local pg = require("pg")
local system = require("system")

local function main()
  local scope = assert(pg.open("cluster:pg"))
  assert(scope:join("workers"))
  local node = system.node.id()
  local jobs, events = process.listen("job", { message = true }), process.events()
  while true do
    local r = channel.select({ jobs:case_receive(), events:case_receive() })
    if r.channel == events then return end -- CANCEL: the node stops
    local job = r.value:payload():data()
    process.send(r.value:from(), "done", { node = node, job = job, square = job * job })
  end
end

return { main = main }
