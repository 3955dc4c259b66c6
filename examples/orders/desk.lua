-- The order desk: starts the orders (idempotently, by name, so a restart
-- does not start them twice), approves each one a moment after it asks, and
-- says when every order is done.
local time = require("time")
local logger = require("logger")

-- Start order `i`, or find it started by an earlier run of the desk; either way
-- its end comes to the desk as an EXIT event (at once if it has already ended).
local function start(i)
  local id = "order-" .. i
  local order = { id = i, amount = i * 130 }
  local pid, err = process.with_options({}):with_name(id):spawn_monitored("orders:order", "orders:workflows", order)
  if pid then
    logger.info("desk: started " .. id)
    return pid
  end
  if err:kind() ~= errors.ALREADY_EXISTS then error(err) end
  logger.info("desk: " .. id .. " already exists, it continues on its own")
  pid = assert(process.with_options({ ["workflow.id_conflict_policy"] = "use_existing" }):with_name(id)
    :spawn("orders:order", "orders:workflows", order))
  process.monitor(pid)
  return pid
end

-- How an order ended, as the summary says it.
local OUTCOMES = { shipped = "shipped", cancelled = "declined (stock released)" }

local function outcome(result)
  if result.error then return "failed" end
  return OUTCOMES[result.value.status] or tostring(result.value.status)
end

-- "3 shipped, 2 declined (stock released)": how many orders ended each way.
local function tally(outcomes)
  local counts, names = {}, {}
  for _, outcome in pairs(outcomes) do
    if not counts[outcome] then names[#names + 1] = outcome end
    counts[outcome] = (counts[outcome] or 0) + 1
  end
  table.sort(names, function(a, b) return counts[a] > counts[b] or (counts[a] == counts[b] and a < b) end)
  local parts = {}
  for _, name in ipairs(names) do parts[#parts + 1] = counts[name] .. " " .. name end
  return table.concat(parts, ", ")
end

local function main(count)
  process.registry.register("orders.desk")
  local orders, outcomes, left = {}, {}, count
  for i = 1, count do orders[start(i)] = true end
  local requests = process.listen("approval_needed")
  local events = process.events()
  while true do
    local r = channel.select({ requests:case_receive(), events:case_receive() })
    if r.channel == requests then
      time.sleep("500ms")
      process.send(r.value.reply_to, "approval", "the desk")
    elseif r.value.kind == process.event.CANCEL then
      return "closed"
    elseif r.value.kind == process.event.EXIT and orders[r.value.from] then
      orders[r.value.from] = nil
      outcomes[r.value.from] = outcome(r.value.result)
      left = left - 1
      if left == 0 then
        logger.info("desk: all " .. count .. " orders are done: " .. tally(outcomes) ..
          ". Stop the node with Ctrl-C")
      end
    end
  end
end

return { main = main }
