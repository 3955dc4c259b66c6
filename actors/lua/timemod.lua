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

  local function now() return tv.from_unix_nano(wall_ns()) end

  local function after_ns(ns, fire)
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
    local ch = chan.new(1)
    after_ns(ns, function() chan.push(ch, now()) end)
    return ch
  end

  local Timer = {}
  Timer.__index = Timer
  Timer.__name = "timer"
  Timer.__metatable = false

  local function arm(timer, ns)
    local ch = timer.ch
    timer.t = after_ns(ns, function() chan.push(ch, now()) end)
  end

  function M.timer(d)
    local timer = setmetatable({ ch = chan.new(1) }, Timer)
    arm(timer, duration_ns(d, "time.timer"))
    return timer
  end
  function Timer:response() return self.ch end
  function Timer:channel() return self.ch end
  --- Stop the timer; true if it had not fired yet.
  function Timer:stop()
    local t = self.t
    if t.stopped or t.fired then return false end
    t.stopped = true
    return true
  end
  function Timer:reset(d)
    local ns = duration_ns(d, "timer:reset")
    local was_active = self:stop()
    arm(self, ns)
    return was_active
  end

  local Ticker = {}
  Ticker.__index = Ticker
  Ticker.__name = "ticker"
  Ticker.__metatable = false

  --- A channel that receives the time every `d`; ticks a slow reader
  --- misses are dropped, as with Go's tickers.
  function M.ticker(d)
    local ns = duration_ns(d, "time.ticker")
    if ns <= 0 then error(errors.new({ kind = errors.INVALID, message = "time.ticker needs a positive duration" }), 2) end
    local ticker = setmetatable({ ch = chan.new(1) }, Ticker)
    local function tick(timer)
      if ticker.stopped then return end
      local ch = ticker.ch
      if ch.bt < ch.bh then chan.push(ch, now()) end
      timer.deadline = timer.deadline + ns / 1e9
      timer.fired, timer.stopped = nil, nil
      ticker.t = S.add_timer(timer)
    end
    ticker.t = after_ns(ns, tick)
    return ticker
  end
  function Ticker:response() return self.ch end
  function Ticker:channel() return self.ch end
  function Ticker:stop()
    if self.stopped then return false end
    self.stopped = true
    self.t.stopped = true
    return true
  end

  return M
end
