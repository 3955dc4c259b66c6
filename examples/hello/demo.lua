-- Spawns three greeters, asks each to greet, and gathers the answers.
local funcs = require("funcs")
local time = require("time")

local function run(name)
  name = name or "world"
  local me = process.pid()
  local replies = process.listen("greeting")
  local greeters = {}
  for _, language in ipairs({ "en", "fr", "es" }) do
    local pid = assert(process.spawn_monitored("hello:greeter", "hello:processes", language))
    process.send(pid, "greet", { reply_to = me, name = name })
    greeters[#greeters + 1] = pid
  end

  local answers = {}
  local deadline = time.after("1s")
  while #answers < #greeters do
    local r = channel.select({ replies:case_receive(), deadline:case_receive() })
    if r.channel == deadline then
      return nil, errors.new({ kind = errors.TIMEOUT, message = "greeters did not answer in time" })
    end
    answers[#answers + 1] = funcs.call("hello:shout", r.value)
  end
  table.sort(answers)

  for _, pid in ipairs(greeters) do process.send(pid, "stop", true) end
  local events = process.events()
  local stopped = 0
  while stopped < #greeters do
    local event = events:receive()
    if event.kind == process.event.EXIT and event.result.value == "stopped" then stopped = stopped + 1 end
  end
  return { answers = answers, greeters_stopped = stopped }
end

return { run = run }
