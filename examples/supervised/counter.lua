-- Counts the jobs workers report, under the node-local name "tally".
local logger = require("logger")

local function main()
  process.registry.register("tally")
  local done = process.listen("done")
  local events = process.events()
  local count = 0
  while true do
    local r = channel.select({ done:case_receive(), events:case_receive() })
    if r.channel == events then
      if r.value.kind == process.event.CANCEL then
        logger.info("tally: stopping", { jobs = count })
        return count
      end
    else
      count = count + 1
      if count % 10 == 0 then logger.info("tally: jobs done", { jobs = count }) end
    end
  end
end

return { main = main }
