-- Go-style channels and `select`, the one blocking primitive of processes.
--
-- Mailboxes (inbox, listen, events) are unbounded channels, so every receive
-- in the runtime goes through here. A waiter is either a task (a plain
-- receive or send) or a select case `{sel=, i=, value=}`; a select that has
-- fired is marked done and its other cases are dropped lazily.
return function(deps)
  local S, errors = deps.sched, deps.errors
  local ready, block, tick = S.ready, S.block, S.tick
  local setmetatable, type, error = setmetatable, type, error

  local Channel = {}
  Channel.__index = Channel
  Channel.__name = "channel"
  Channel.__metatable = false

  local function is_channel(v)
    return type(v) == "table" and debug.getmetatable(v) == Channel
  end

  local function new(size)
    if size == nil then size = 0 end
    if type(size) ~= "number" or size < 0 or size ~= size // 1 then
      error(errors.new({ kind = errors.INVALID, message = "channel size must be a non-negative integer, got " .. tostring(size) }), 2)
    end
    return setmetatable({
      buf = {}, bh = 1, bt = 0, size = size, closed = false,
      rq = {}, rqh = 1, rqt = 0,   -- waiting receivers
      sq = {}, sqh = 1, sqt = 0,   -- waiting senders
    }, Channel)
  end

  --- An unbounded channel, for mailboxes: sends never block.
  local function unbounded()
    local ch = new(0)
    ch.size = math.huge
    return ch
  end

  -- Pop the first live receiver waiter, or nil.
  local function pop_receiver(ch)
    local q, h = ch.rq, ch.rqh
    while h <= ch.rqt do
      local w = q[h]
      q[h] = nil
      h = h + 1
      if w.sel then
        if not w.sel.done then ch.rqh = h; return w end
      elseif not w.dead then
        ch.rqh = h; return w
      end
    end
    ch.rqh, ch.rqt = 1, 0
    return nil
  end

  local function pop_sender(ch)
    local q, h = ch.sq, ch.sqh
    while h <= ch.sqt do
      local w = q[h]
      q[h] = nil
      h = h + 1
      if w.sel then
        if not w.sel.done then ch.sqh = h; return w end
      elseif not w.task.dead then
        ch.sqh = h; return w
      end
    end
    ch.sqh, ch.sqt = 1, 0
    return nil
  end

  -- Hand `value` to a receiver waiter: wake its task with (value, ok).
  local function wake_receiver(w, value, ok)
    local sel = w.sel
    if sel then
      sel.done = true
      ready(sel.task, w.i, value)
      sel.task.c = ok
    else
      ready(w, value, ok)
    end
  end

  local function wake_sender(w, ok)
    local sel = w.sel
    if sel then
      sel.done = true
      ready(sel.task, w.i, nil)
      sel.task.c = ok
    else
      ready(w.task, ok)
    end
  end

  --- Non-blocking delivery used by mailboxes; returns false if closed.
  local function push(ch, value)
    if ch.closed then return false end
    local w = pop_receiver(ch)
    if w then
      wake_receiver(w, value, true)
    else
      local bt = ch.bt + 1
      ch.bt = bt
      ch.buf[bt] = value
    end
    return true
  end

  local function buffered(ch) return ch.bt - ch.bh + 1 end

  -- Try to receive without blocking: returns found, value, ok.
  local function try_receive(ch)
    if ch.bh <= ch.bt then
      local bh = ch.bh
      local v = ch.buf[bh]
      ch.buf[bh] = nil
      ch.bh = bh + 1
      if ch.bh > ch.bt then ch.bh, ch.bt = 1, 0 end
      -- a sender blocked on a full buffer may now put its value in
      local w = pop_sender(ch)
      if w then
        local bt = ch.bt + 1
        ch.bt = bt
        ch.buf[bt] = w.value
        wake_sender(w, true)
      end
      return true, v, true
    end
    local w = pop_sender(ch)
    if w then
      wake_sender(w, true)
      return true, w.value, true
    end
    if ch.closed then return true, nil, false end
    return false
  end

  -- Try to send without blocking: returns whether it was done.
  local function try_send(ch, value)
    if ch.closed then
      error(errors.new({ kind = errors.INVALID, message = "send on a closed channel" }), 3)
    end
    local w = pop_receiver(ch)
    if w then
      wake_receiver(w, value, true)
      return true
    end
    if buffered(ch) < ch.size then
      local bt = ch.bt + 1
      ch.bt = bt
      ch.buf[bt] = value
      return true
    end
    return false
  end

  function Channel:receive()
    local r = S.reds - 1
    S.reds = r
    if r <= 0 then S.yield_now() end
    -- fast path: a buffered value and no blocked sender
    local bh = self.bh
    if bh <= self.bt and self.sqh > self.sqt then
      local v = self.buf[bh]
      self.buf[bh] = nil
      if bh == self.bt then self.bh, self.bt = 1, 0 else self.bh = bh + 1 end
      return v, true
    end
    local found, v, ok = try_receive(self)
    if found then return v, ok end
    local task = S.cur
    local rqt = self.rqt + 1
    self.rqt = rqt
    self.rq[rqt] = task
    return block()
  end

  function Channel:send(value)
    tick()
    if try_send(self, value) then return true end
    local sqt = self.sqt + 1
    self.sqt = sqt
    self.sq[sqt] = { task = S.cur, value = value }
    local ok = block()
    if not ok then
      error(errors.new({ kind = errors.INVALID, message = "send on a closed channel" }), 2)
    end
    return true
  end

  function Channel:close()
    if self.closed then
      error(errors.new({ kind = errors.INVALID, message = "close of a closed channel" }), 2)
    end
    self.closed = true
    -- Receivers get (nil, false) once the buffer is drained; any waiting
    -- receiver means the buffer is empty.
    local w = pop_receiver(self)
    while w do
      wake_receiver(w, nil, false)
      w = pop_receiver(self)
    end
    w = pop_sender(self)
    while w do
      wake_sender(w, false)
      w = pop_sender(self)
    end
  end

  function Channel:case_receive() return { ch = self, recv = true } end
  function Channel:case_send(value) return { ch = self, send = true, value = value } end

  --- `channel.select{cases..., default=true}`: the first ready case wins;
  --- the scan starts at a rotating offset so no case starves another.
  local rotation = 0
  local function select(cases)
    tick()
    local n = #cases
    if n == 0 and not cases.default then
      error(errors.new({ kind = errors.INVALID, message = "select needs at least one case or default" }), 2)
    end
    for i = 1, n do
      local c = cases[i]
      if type(c) ~= "table" or not is_channel(c.ch) then
        error(errors.new({ kind = errors.INVALID, message = "select case " .. i .. " is not a channel case" }), 2)
      end
    end
    rotation = rotation + 1
    for k = 0, n - 1 do
      local i = (rotation + k) % n + 1
      local c = cases[i]
      if c.recv then
        local found, v, ok = try_receive(c.ch)
        if found then return { channel = c.ch, value = v, ok = ok } end
      elseif try_send(c.ch, c.value) then
        return { channel = c.ch, value = c.value, ok = true }
      end
    end
    if cases.default then return { default = true } end
    local task = S.cur
    local sel = { task = task, done = false }
    for i = 1, n do
      local c = cases[i]
      local ch = c.ch
      if c.recv then
        local t = ch.rqt + 1
        ch.rqt = t
        ch.rq[t] = { sel = sel, i = i }
      else
        local t = ch.sqt + 1
        ch.sqt = t
        ch.sq[t] = { sel = sel, i = i, value = c.value }
      end
    end
    local i, v = block()
    local ok = task.c
    task.c = nil
    local c = cases[i]
    if c.send then
      if not ok then
        error(errors.new({ kind = errors.INVALID, message = "send on a closed channel" }), 2)
      end
      return { channel = c.ch, value = c.value, ok = true }
    end
    return { channel = c.ch, value = v, ok = ok }
  end

  return {
    api = { new = new, select = select },
    new = new,
    unbounded = unbounded,
    push = push,
    is_channel = is_channel,
    Channel = Channel,
  }
end
