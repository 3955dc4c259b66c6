-- Go-style channels and `select`, the one blocking primitive of processes.
--
-- Mailboxes (inbox, listen, events) are unbounded channels, so every receive
-- in the runtime goes through here. A waiter is either a task (a plain
-- receive or send) or a select case `{sel=, i=, value=}`; a select that has
-- fired is marked done and its other cases are dropped lazily.
--
-- User code holds a handle; the channel's state (indices, waiting tasks)
-- lives in a record reachable only through the private `impl` table, so no
-- process can reach another's tasks through a channel it shares. The
-- runtime passes records around and hands out `record.handle`. The values
-- a channel buffers are kept in the handle itself (`record.buf` is the
-- handle): kept in the record, what `impl` holds weakly, a chain of channels
-- each buffering the next would cost the collector a pass over `impl` per
-- link, in one step it cannot interrupt (quadratic: 20,000 channels hold
-- the worker for seconds). The holder of a channel may read what it buffers.
return function(deps)
  local S, errors = deps.sched, deps.errors
  local ready, block, tick, BLOCK = S.ready, S.block, S.tick, S.BLOCK
  local co_yield = coroutine.yield
  local setmetatable, type, error = setmetatable, type, error

  local Channel = {}
  Channel.__index = Channel
  Channel.__name = "channel"
  Channel.__metatable = false

  local impl = setmetatable({}, { __mode = "k" }) -- handle -> record

  local function record_of(handle)
    local c = impl[handle]
    if c == nil then
      error(errors.new({ kind = errors.INVALID, message = "expected a channel, got " .. type(handle) }), 3)
    end
    return c
  end

  --- A channel record with room for `size` buffered values (nil: no limit).
  --- Every process has one per mailbox, so it is kept small: the queue of
  --- waiting senders `sq` ({h=, t=, waiters...}, only bounded channels have
  --- senders wait) is made on first use, `closed` is set when closed.
  local function make(size)
    local handle = setmetatable({}, Channel)
    local c = {
      bh = 1, bt = 0, size = size,
      rqh = 1, rqt = 0,   -- waiting receivers: the record's own array part
      handle = handle, buf = handle,
    }
    impl[handle] = c
    return c
  end

  --- `channel.new(size)` for users: returns a handle.
  local function new(size)
    if size == nil then size = 0 end
    if type(size) ~= "number" or size < 0 or size ~= size // 1 then
      error(errors.new({ kind = errors.INVALID, message = "channel size must be a non-negative integer, got " .. tostring(size) }), 2)
    end
    return make(size).handle
  end

  --- An unbounded channel record, for mailboxes: sends never block.
  local function unbounded()
    return make(nil)
  end

  -- Pop the first live receiver waiter, or nil. A queue that empties
  -- restarts at 1, so a mailbox's one waiter keeps to the array part.
  local function pop_receiver(ch)
    local h, t = ch.rqh, ch.rqt
    while h <= t do
      local w = ch[h]
      ch[h] = nil
      h = h + 1
      local sel = w.sel
      if (sel and not sel.done) or (not sel and not w.dead) then
        if h > t then ch.rqh, ch.rqt = 1, 0 else ch.rqh = h end
        return w
      end
    end
    ch.rqh, ch.rqt = 1, 0
    return nil
  end

  local function pop_sender(ch)
    local q = ch.sq
    if q == nil then return nil end
    local h = q.h
    while h <= q.t do
      local w = q[h]
      q[h] = nil
      h = h + 1
      if w.sel then
        if not w.sel.done then q.h = h; return w end
      elseif not w.task.dead then
        q.h = h; return w
      end
    end
    q.h, q.t = 1, 0
    return nil
  end

  local function wait_to_send(ch, w)
    local q = ch.sq
    if q == nil then
      q = { h = 1, t = 0 }
      ch.sq = q
    end
    local t = q.t + 1
    q.t = t
    q[t] = w
  end

  -- Append `value` to the buffer.
  local function put(ch, value)
    local bt = ch.bt + 1
    ch.buf[bt] = value -- (first: if the buffer cannot grow, it is left as it was)
    ch.bt = bt
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
    local h = ch.rqh
    if h == ch.rqt then
      -- fast path: one waiter, a task in a plain receive
      local w = ch[h]
      if not w.sel and not w.dead then
        ch[h] = nil
        ch.rqh, ch.rqt = 1, 0
        ready(w, value, true)
        return true
      end
    end
    local w = h <= ch.rqt and pop_receiver(ch)
    if w then
      if w.sel then wake_receiver(w, value, true) else ready(w, value, true) end
    else
      put(ch, value)
    end
    return true
  end

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
        put(ch, w.value)
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
    local size = ch.size
    if size == nil or ch.bt - ch.bh + 1 < size then
      put(ch, value)
      return true
    end
    return false
  end

  function Channel:receive()
    local c = impl[self] or record_of(self)
    local r = S.reds - 1
    S.reds = r
    if r <= 0 then S.yield_now() end
    -- fast paths: a buffered value and no blocked sender; or nothing at all
    local bh, sq = c.bh, c.sq
    if sq == nil or sq.h > sq.t then
      if bh <= c.bt then
        local v = self[bh] -- (the handle is the buffer)
        self[bh] = nil
        if bh == c.bt then c.bh, c.bt = 1, 0 else c.bh = bh + 1 end
        return v, true
      elseif not c.closed then
        local rqt = c.rqt + 1
        c.rqt = rqt
        c[rqt] = S.cur
        return co_yield(BLOCK)
      end
    end
    local found, v, ok = try_receive(c)
    if found then return v, ok end
    local rqt = c.rqt + 1
    c.rqt = rqt
    c[rqt] = S.cur
    return block()
  end

  function Channel:send(value)
    local c = record_of(self)
    tick()
    if try_send(c, value) then return true end
    wait_to_send(c, { task = S.cur, value = value })
    local ok = block()
    if not ok then
      error(errors.new({ kind = errors.INVALID, message = "send on a closed channel" }), 2)
    end
    return true
  end

  --- Close a record: receivers get (nil, false) once the buffer is drained;
  --- any waiting receiver means the buffer is empty.
  local function close(c)
    c.closed = true
    local w = pop_receiver(c)
    while w do
      wake_receiver(w, nil, false)
      w = pop_receiver(c)
    end
    w = pop_sender(c)
    while w do
      wake_sender(w, false)
      w = pop_sender(c)
    end
  end

  --- Close the channel; closing a closed channel does nothing.
  function Channel:close()
    local c = record_of(self)
    if not c.closed then close(c) end
    return true
  end

  function Channel:case_receive() record_of(self); return { ch = self, recv = true } end
  function Channel:case_send(value) record_of(self); return { ch = self, send = true, value = value } end

  --- `channel.select{cases..., default=true}`: the first ready case wins;
  --- the scan starts at a rotating offset so no case starves another.
  local rotation = 0
  local function select(cases)
    tick()
    local n = #cases
    if n == 0 and not cases.default then
      error(errors.new({ kind = errors.INVALID, message = "select needs at least one case or default" }), 2)
    end
    local records = {}
    for i = 1, n do
      local c = cases[i]
      local rec = type(c) == "table" and impl[c.ch]
      if not rec then
        error(errors.new({ kind = errors.INVALID, message = "select case " .. i .. " is not a channel case" }), 2)
      end
      records[i] = rec
    end
    rotation = rotation + 1
    for k = 0, n - 1 do
      local i = (rotation + k) % n + 1
      local c = cases[i]
      if c.recv then
        local found, v, ok = try_receive(records[i])
        if found then return { channel = c.ch, value = v, ok = ok } end
      elseif try_send(records[i], c.value) then
        return { channel = c.ch, value = c.value, ok = true }
      end
    end
    if cases.default then return { default = true, ok = true } end
    local task = S.cur
    local sel = { task = task, done = false }
    for i = 1, n do
      local c = cases[i]
      local rec = records[i]
      if c.recv then
        local t = rec.rqt + 1
        rec.rqt = t
        rec[t] = { sel = sel, i = i }
      else
        wait_to_send(rec, { sel = sel, i = i, value = c.value })
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
    metatable = Channel,
    make = make,
    unbounded = unbounded,
    push = push,
    close = close,
  }
end
