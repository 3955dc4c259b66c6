-- Tests of the hello tour, run by `luactor test examples/hello`, each in its own process.
local funcs = require("funcs")
local time = require("time")

local function check(ok, message)
  if not ok then error(message, 2) end
end

local function shout()
  check(funcs.call("hello:shout", "hi") == "HI!", "shout upper-cases and exclaims")
end

local function a_greeter_answers_in_its_language_and_stops()
  local replies = process.listen("greeting")
  local pid = assert(process.spawn_monitored("hello:greeter", "hello:processes", "fr"))
  process.send(pid, "greet", { reply_to = process.pid(), name = "test" })
  local r = channel.select({ replies:case_receive(), time.after("5s"):case_receive() })
  check(r.channel == replies, "no greeting within 5s")
  check(r.value == "bonjour, test", "greeting " .. tostring(r.value))
  process.send(pid, "stop", true)
  local event = process.events():receive()
  check(event.kind == process.event.EXIT and event.from == pid, "the greeter's EXIT")
  check(event.result.value == "stopped", "the greeter ends with 'stopped'")
end

local function the_demo_gathers_every_answer()
  local result = assert(funcs.call("hello:demo", "tests"))
  check(table.concat(result.answers, " | ") == "BONJOUR, TESTS! | HELLO, TESTS! | HOLA, TESTS!",
        "answers " .. table.concat(result.answers, " | "))
  check(result.greeters_stopped == 3, "every greeter stopped")
end

return { shout = shout, a_greeter_answers_in_its_language_and_stops = a_greeter_answers_in_its_language_and_stops,
         the_demo_gathers_every_answer = the_demo_gathers_every_answer }
