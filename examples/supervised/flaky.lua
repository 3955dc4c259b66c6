-- Does one job a second and reports it to the tally; crashes now and then.
local time = require("time")
local logger = require("logger")

local function main(crash_chance)
  local events = process.events()
  local jobs = time.ticker("1s")
  local done = 0
  while true do
    local r = channel.select({ jobs:response():case_receive(), events:case_receive() })
    if r.channel == events then
      if r.value.kind == process.event.CANCEL then
        logger.info("worker: stopping", { jobs = done })
        return done
      end
    else
      if math.random() < crash_chance then
        error("lost my footing after " .. done .. " jobs")
      end
      done = done + 1
      process.send("tally", "done", done)
    end
  end
end

return { main = main }
