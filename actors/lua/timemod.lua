-- The `time` module: now, sleep, after, timer, ticker, durations.
--
-- Timers live in the scheduler's heap on trio's clock, so a test running
-- under trio's MockClock controls every delay here. Wall-clock time (`now`)
-- comes from the node, which derives it from the same clock.
return function(deps)
  local S, chan, errors, tv = deps.sched, deps.channel, deps.errors, deps.timevalue
  local monotonic, wall_ns = deps.now, deps.wall_ns
  local setmetatable = setmetatable

  local function duration_ns(d, what)
    local ns, e = tv.to_ns(d)
    if ns == nil then error(e or errors.new({ kind = errors.INVALID, message = what .. ": bad duration " .. tostring(d) }), 3) end
    return ns
  end

  local durable = deps.durable -- nil outside workflow hosts

  --- Wall-clock time; in a workflow, the recorded time of its latest event.
  local function now()
    local wf = durable and durable.current()
    if wf then return tv.from_unix_nano(wf.now) end
    return tv.from_unix_nano(wall_ns())
  end

  --- Run `fire(timer)` after `ns`; in a workflow the timer is recorded and
  --- keeps its deadline across restarts.
  local function after_ns(ns, fire)
    local wf = durable and durable.current()
    if wf then return durable.timer(wf, ns, fire) end
    return S.add_timer({ deadline = monotonic() + ns / 1e9, fire = fire })
  end

  local M = {}
  for k, v in pairs(tv.constants or {}) do M[k] = v end
  M.now = now
  M.parse_duration = tv.parse_duration

  function M.sleep(d)
    local ns = duration_ns(d, "time.sleep")
    if ns <= 0 then S.yield_now(); return true end
    local task = S.cur
    after_ns(ns, function() if not task.dead then S.ready(task) end end)
    S.block()
    return true
  end

  --- A channel that receives the time once, after `d`.
  function M.after(d)
    local ns = duration_ns(d, "time.after")
    local c = chan.make(1)
    after_ns(ns, function() chan.push(c, now()) end)
    return c.handle
  end

  -- Timers and tickers are empty handles; their state (channel record and
  -- heap entry) is private so user code cannot reach the scheduler's heap.
  local state = setmetatable({}, { __mode = "k" })

  local function state_of(handle, what)
    local st = state[handle]
    if st == nil then
      error(errors.new({ kind = errors.INVALID, message = "expected a " .. what .. ", got " .. type(handle) }), 3)
    end
    return st
  end

  local Timer = { __name = "timer", __metatable = false }
  Timer.__index = Timer

  local function arm(st, ns)
    local c = st.c
    st.entry = after_ns(ns, function() chan.push(c, now()) end)
  end

  function M.timer(d)
    local ns = duration_ns(d, "time.timer")
    local timer = setmetatable({}, Timer)
    local st = { c = chan.make(1) }
    state[timer] = st
    arm(st, ns)
    return timer
  end
  function Timer:response() return state_of(self, "timer").c.handle end
  Timer.channel = Timer.response
  --- Stop the timer; true if it had not fired yet.
  function Timer:stop()
    local entry = state_of(self, "timer").entry
    if entry.stopped or entry.fired then return false end
    entry.stopped = true
    return true
  end
  function Timer:reset(d)
    local ns = duration_ns(d, "timer:reset")
    local was_active = self:stop()
    arm(state[self], ns)
    return was_active
  end

  local Ticker = { __name = "ticker", __metatable = false }
  Ticker.__index = Ticker

  --- A channel that receives the time every `d`; ticks a slow reader
  --- misses are dropped, as with Go's tickers.
  function M.ticker(d)
    local ns = duration_ns(d, "time.ticker")
    if ns <= 0 then error(errors.new({ kind = errors.INVALID, message = "time.ticker needs a positive duration" }), 2) end
    local ticker = setmetatable({}, Ticker)
    local st = { c = chan.make(1) }
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
  function Ticker:response() return state_of(self, "ticker").c.handle end
  Ticker.channel = Ticker.response
  function Ticker:stop()
    local st = state_of(self, "ticker")
    if st.stopped then return false end
    st.stopped = true
    st.entry.stopped = true
    return true
  end

  return M
end
