-- One order, as a durable saga.
local funcs = require("funcs")
local time = require("time")
local logger = require("logger")
local workflow = require("workflow")

local DESK = "orders.desk"

-- Ask the desk for approval until it answers: a desk that restarted after a
-- crash has forgotten the question, so the question is asked again.
local function approval(id)
  local answers = process.listen("approval")
  while true do
    process.send(DESK, "approval_needed", { id = id, reply_to = process.pid() })
    local r = channel.select({ answers:case_receive(), time.after("3s"):case_receive() })
    if r.channel == answers then return r.value end
  end
end

local function run(order)
  local id = workflow.info().workflow_id
  local function step(what) logger.info(id .. ": " .. what) end

  local reservation = assert(funcs.call("orders:reserve", order))
  step("reserved " .. reservation)
  time.sleep("1s")

  local payment, declined = funcs.call("orders:charge", order)
  if declined then
    funcs.call("orders:release", reservation)
    step("charge declined, stock released (" .. declined:message() .. ")")
    return { id = id, status = "cancelled", reason = declined:message() }
  end
  step("charged " .. payment .. ", waiting for approval")

  local approved_by = approval(id)
  step("approved by " .. tostring(approved_by))
  time.sleep("2s")

  local tracking = assert(funcs.call("orders:ship", order))
  step("shipped " .. tracking)
  return { id = id, status = "shipped", tracking = tracking, approved_by = approved_by }
end

return { run = run }
