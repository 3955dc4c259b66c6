-- The `time` module: the values of timevalue plus now, sleep, after, timer
-- and ticker.
--
-- Timers live in the scheduler's heap on trio's clock, so a test running
-- under trio's MockClock controls every delay here. Wall-clock time (`now`)
-- comes from the node, which derives it from the same clock. In a workflow,
-- `now` is the recorded time of its latest event and timers are durable.
return function(deps)
  local S, chan, errors, tv = deps.sched, deps.channel, deps.errors, deps.timevalue
  local monotonic, wall_ns = deps.now, deps.wall_ns
  local durable = deps.durable -- nil outside workflow hosts
  local setmetatable, type, pairs = setmetatable, type, pairs
  local to_ns, from_unix_nano = tv.to_ns, tv.from_unix_nano

  local function invalid(message)
    return errors.new({ kind = errors.INVALID, message = message })
  end

  --- Wall-clock time; in a workflow, the recorded time of its latest event.
  local function now()
    local wf = durable and durable.current()
    if wf then return from_unix_nano(wf.now) end
    return from_unix_nano(wall_ns())
  end

  --- Run `fire(timer)` after `ns`; in a workflow the timer is recorded and
  --- keeps its deadline across restarts.
  local function after_ns(ns, fire)
    local wf = durable and durable.current()
    if wf then return durable.timer(wf, ns, fire) end
    return S.add_timer({ deadline = monotonic() + ns / 1e9, fire = fire })
  end

  -- A duration for a timer or ticker: above zero.
  local function positive_ns(d, what)
    local ns, err = to_ns(d, what)
    if ns == nil then return nil, err end
    if ns <= 0 then return nil, invalid(what .. ": duration must be above zero") end
    return ns
  end

  local M = {}
  for k, v in pairs(tv.api) do M[k] = v end
  M.now = now

  --- Block the calling coroutine for `d` (nothing for d <= 0 but a yield).
  function M.sleep(d)
    local ns, err = to_ns(d, "time.sleep")
    if ns == nil then return nil, err end
    if ns <= 0 then
      S.yield_now()
      return true
    end
    local task = S.cur
    after_ns(ns, function() if not task.dead then S.ready(task) end end)
    S.block()
    return true
  end

  --- A channel that receives the time once, after `d` (at once for d <= 0).
  function M.after(d)
    local ns, err = to_ns(d, "time.after")
    if ns == nil then return nil, err end
    local c = chan.make(1)
    after_ns(ns, function() chan.push(c, now()) end)
    return c.handle
  end

  -- Timers and tickers are empty handles; their state (channel record and
  -- heap entry) is private so user code cannot reach the scheduler's heap.
  local state = setmetatable({}, { __mode = "k" })

  -- Defines a method of `class`; `fn(st, ...)` runs only on a handle of it.
  local function method(class, name, fn)
    local label = class.__name .. ":" .. name
    class.__index[name] = function(handle, ...)
      local st = state[handle]
      if st == nil or st.class ~= class then
        return nil, invalid(label .. ": called on a " .. type(handle) .. ", not a " .. class.__name)
      end
      return fn(st, label, ...)
    end
  end

  local function response(st) return st.c.handle end

  local Timer = { __name = "Timer", __index = {}, __metatable = false }

  local function arm(st, ns)
    local c = st.c
    st.entry = after_ns(ns, function() chan.push(c, now()) end)
  end

  --- A timer whose channel receives the time once, after `d`.
  function M.timer(d)
    local ns, err = positive_ns(d, "time.timer")
    if ns == nil then return nil, err end
    local timer = setmetatable({}, Timer)
    local st = { class = Timer, c = chan.make(1) }
    state[timer] = st
    arm(st, ns)
    return timer
  end

  -- Stop the timer; true if it had not fired yet.
  local function stop_timer(st)
    local entry = st.entry
    if entry.stopped or entry.fired then return false end
    entry.stopped = true
    return true
  end

  method(Timer, "response", response)
  method(Timer, "channel", response)
  method(Timer, "stop", stop_timer)
  --- Re-arm the timer to fire `d` from now; true if it had not fired yet.
  method(Timer, "reset", function(st, label, d)
    local ns, err = positive_ns(d, label)
    if ns == nil then return nil, err end
    local was_active = stop_timer(st)
    arm(st, ns)
    return was_active
  end)

  local Ticker = { __name = "Ticker", __index = {}, __metatable = false }

  --- A channel that receives the time every `d`; ticks a slow reader
  --- misses are dropped, as with Go's tickers.
  function M.ticker(d)
    local ns, err = positive_ns(d, "time.ticker")
    if ns == nil then return nil, err end
    local ticker = setmetatable({}, Ticker)
    local st = { class = Ticker, c = chan.make(1) }
    state[ticker] = st
    local function tick(entry)
      if st.stopped then return end
      local c = st.c
      if c.bt < c.bh then chan.push(c, now()) end
      if durable and durable.current() then
        st.entry = after_ns(ns, tick)
        return
      end
      entry.deadline = entry.deadline + ns / 1e9
      entry.fired, entry.stopped = nil, nil
      st.entry = S.add_timer(entry)
    end
    st.entry = after_ns(ns, tick)
    return ticker
  end

  method(Ticker, "response", response)
  method(Ticker, "channel", response)
  --- Stop the ticker; true if it was running.
  method(Ticker, "stop", function(st)
    if st.stopped then return false end
    st.stopped = true
    st.entry.stopped = true
    return true
  end)

  return M
end
