-- Tests of the flaky worker, run by `luactor test examples/supervised`, each in its
-- own process. The supervised services run beside them, as under `luactor run`.

local function check(ok, message)
  if not ok then error(message, 2) end
end

-- The EXIT of a worker spawned here with `crash_chance`, after `act(pid)`.
local function worker_exit(crash_chance, act)
  local pid = assert(process.spawn_monitored("supervised:flaky", "supervised:processes", crash_chance))
  if act then act(pid) end
  local event = process.events():receive()
  check(event.kind == process.event.EXIT and event.from == pid, "the worker's EXIT")
  return event.result
end

local function a_worker_that_always_crashes_fails_at_its_first_job()
  local result = worker_exit(1)
  check(result.error ~= nil, "the worker failed")
  local message = tostring(result.error)
  check(message:find("lost my footing after 0 jobs", 1, true), "error " .. message)
end

local function a_cancelled_worker_stops_with_its_count()
  local result = worker_exit(0, function(pid) process.cancel(pid, "test over") end)
  check(result.error == nil, "no error: " .. tostring(result.error))
  check(math.type(result.value) == "integer", "the jobs done, got " .. tostring(result.value))
end

return { a_worker_that_always_crashes_fails_at_its_first_job = a_worker_that_always_crashes_fails_at_its_first_job,
         a_cancelled_worker_stops_with_its_count = a_cancelled_worker_stops_with_its_count }
