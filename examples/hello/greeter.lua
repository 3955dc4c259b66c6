local time = require("time")

local function main(name)
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    local data = msg:payload():data()
    process.send(data.reply_to, "greeting", "hello, " .. tostring(data.name) .. " from " .. name)
  end
end

return { main = main }
