-- What this node sees of the cluster.
local pg = require("pg")
local system = require("system")

local function status()
  local scope = assert(pg.open("cluster:pg"))
  local nodes = {}
  for i, member in ipairs(assert(system.cluster.members())) do nodes[i] = member.id end
  local leader = process.registry.lookup("leader")
  return {
    node = system.node.id(),
    nodes = nodes,
    leader = leader or "none",
    workers = #assert(scope:get_members("workers")),
  }
end

return { status = status }
