local strings = require("strings")
local time = require("time")

local function main(n)
    local inbox = process.inbox()
    while true do
        local msg = inbox:receive()
        process.send(msg:from(), "echo", strings.upper(msg:payload():data()))
    end
end

return { main = main }
