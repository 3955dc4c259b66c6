-- The order desk: starts the orders (idempotently, by name, so a restart
-- does not start them twice) and approves each one a moment after it asks.
local time = require("time")
local logger = require("logger")

local function main(count)
  process.registry.register("orders.desk")
  for i = 1, count do
    local id = "order-" .. i
    local pid, err = process.with_options({}):with_name(id):spawn("orders:order", "orders:workflows",
      { id = i, amount = i * 130 })
    if pid then
      logger.info("desk: started " .. id)
    elseif err:kind() == errors.ALREADY_EXISTS then
      logger.info("desk: " .. id .. " already exists, it continues on its own")
    else
      error(err)
    end
  end
  local requests = process.listen("approval_needed")
  local events = process.events()
  while true do
    local r = channel.select({ requests:case_receive(), events:case_receive() })
    if r.channel == events then
      if r.value.kind == process.event.CANCEL then return "closed" end
    else
      time.sleep("500ms")
      process.send(r.value.reply_to, "approval", "the desk")
    end
  end
end

return { main = main }
