-- A greeter answers "greet" messages until it is told to stop.
local function main(language)
  local hello = ({ en = "hello", fr = "bonjour", es = "hola" })[language] or "hi"
  local greetings = process.listen("greet")
  local stop = process.listen("stop")
  while true do
    local r = channel.select({ greetings:case_receive(), stop:case_receive() })
    if r.channel == stop then
      return "stopped"
    end
    local request = r.value
    process.send(request.reply_to, "greeting", hello .. ", " .. request.name)
  end
end

return { main = main }
