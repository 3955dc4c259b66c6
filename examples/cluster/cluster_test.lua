-- Tests: run them on a node of a cluster
-- (`luactor test examples/cluster --node t --cluster nats://127.0.0.1:4222`).
local function status_names_this_node_and_the_leader()
  local funcs = require("funcs")
  local s = assert(funcs.call("cluster:status"))
  assert(s.nodes[1] == s.node, "the local node comes first")
  assert(s.leader ~= "none", "some node leads")
  assert(s.workers >= 1, "this node's worker is in the group")
end

local function every_worker_answers_a_broadcast()
  local pg, time = require("pg"), require("time")
  local scope = assert(pg.open("cluster:pg"))
  local workers = assert(scope:get_members("workers"))
  local answers = process.listen("done")
  assert(scope:broadcast("workers", "job", 7))
  local deadline = time.after("5s")
  for _ = 1, #workers do
    local r = channel.select({ answers:case_receive(), deadline:case_receive() })
    assert(r.channel == answers, "a worker did not answer in time")
    assert(r.value.square == 49)
  end
end

return {
  status_names_this_node_and_the_leader = status_names_this_node_and_the_leader,
  every_worker_answers_a_broadcast = every_worker_answers_a_broadcast,
}
