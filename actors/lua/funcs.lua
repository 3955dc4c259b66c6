-- The `funcs` module: calling `function.lua` entries and Python callables.
--
-- A `function.lua` target runs in a short-lived process of its own on this
-- worker, so `process.*`, channels and `time` work inside it. Any other id is
-- asked of Python, which knows the callables registered on the node.
return function(deps)
  local S, chan, errors, bridge, P = deps.sched, deps.channel, deps.errors, deps.bridge, deps.process
  local entries = deps.entries
  local durable = deps.durable -- nil outside workflow hosts
  local setmetatable, type, select = setmetatable, type, select

  local function err(kind, message) return errors.new({ kind = kind, message = message }) end

  -- A Future is an empty handle; its state `f` lives in `state`, out of
  -- reach of user code (it holds a task and a scheduler timer entry).
  local Future = { __name = "future", __metatable = false }
  Future.__index = Future
  local state = setmetatable({}, { __mode = "k" })

  local function state_of(handle)
    local f = state[handle]
    if f == nil then
      error(errors.new({ kind = errors.INVALID, message = "expected a future, got " .. type(handle) }), 3)
    end
    return f
  end

  local function complete(f, value, failure)
    if f.done then return end
    f.done, f.value, f.failure = true, value, failure
    if f.timer then f.timer.stopped = true end
    if f.c then
      if failure == nil then chan.push(f.c, value) end
      chan.close(f.c)
    end
    local task = f.waiter
    if task then
      f.waiter = nil
      if not task.dead then S.ready(task) end
    end
  end

  --- Stop waiting with `failure`: a function process is terminated, a
  --- Python call's answer is ignored.
  local function abort(f, failure)
    if f.done then return false end
    complete(f, nil, failure)
    if f.pid then
      local proc = P.procs[f.pid]
      if proc then P.kill(proc, failure) end
    elseif f.request then
      bridge.forget(f.request)
    end
    return true
  end

  -- The options of every function process; spawn_local only reads them.
  local spawn_options = { quiet = true, short = true }

  --- Run call `f` for real: a function process here, or a request to Python.
  --- `done(value, failure)` gets the outcome (`f` itself: see `Call`).
  local function dispatch(f, ctx, args, done)
    local id = f.id
    local entry = entries[id]
    if entry ~= nil then
      if entry.kind ~= "function.lua" then
        done(nil, err(errors.INVALID, "funcs: '" .. id .. "' is a " .. entry.kind .. ", not a function.lua entry"))
        return
      end
      spawn_options.ctx, spawn_options.on_exit = ctx, done
      local pid, e = P.spawn_local(entry, args, spawn_options)
      spawn_options.ctx, spawn_options.on_exit = nil, nil
      if not pid then done(nil, e) return end
      f.pid = pid
    else
      f.request = bridge.request({ "call", 0, id, args, ctx }, function(ok, value)
        if ok then done(value, nil) else done(nil, errors.from_plain(value)) end
      end)
    end
  end

  -- A call's state is also the callback its outcome goes to (the on_exit
  -- of its function process, or the answer from Python), so a call makes
  -- no closure. Outside a workflow the outcome completes the call; in one
  -- it is recorded first, and the call completes when that is committed.
  local Call = { __call = complete }
  local RecordedCall = { __call = function(f, value, failure) durable.call_result(f.wf, f.call_id, value, failure) end }

  --- Run recorded call `f` of `wf` for real (live, or again on recovery).
  --- One canceled before it ran has that as its outcome.
  local function run_recorded(f, key, wf, call_id)
    f.wf, f.call_id = wf, call_id
    if f.done then
      durable.call_result(wf, call_id, nil, f.failure)
      return
    end
    local keyed = { idempotency_key = key }
    for k, v in pairs(f.ctx) do keyed[k] = v end
    local args = f.args
    f.ctx, f.args = nil, nil
    dispatch(f, keyed, args, f)
  end
  if durable then durable.handle_calls(run_recorded, complete) end

  --- Start a call; returns its private state (see `state`). In a workflow
  --- the call is recorded: it runs once (again only if its result was never
  --- stored, with the same idempotency key) and its result comes from history.
  local function start(id, ctx, options, args)
    local wf = durable and durable.current()
    if wf then
      -- every field it will get, so that it is made at its full size once
      local f = setmetatable({ done = false, id = id, ctx = ctx, args = args, wf = false, call_id = false,
        pid = nil, request = nil, timer = nil, waiter = nil, value = nil, failure = nil }, RecordedCall)
      durable.call(wf, id, f)
      -- a timeout is a durable timer too, so whichever came first replays
      local timeout = options and options.timeout
      if timeout and not f.done then
        f.timer = durable.timer(wf, math.floor(timeout * 1000000), function()
          complete(f, nil, err(errors.TIMEOUT, "funcs: call to '" .. id .. "' timed out after " .. timeout .. "ms"))
        end)
      end
      return f
    end
    local f = setmetatable({ done = false, id = id }, Call)
    dispatch(f, ctx, args, f)
    local timeout = options and options.timeout
    if timeout and not f.done then
      f.timer = S.add_timer({ deadline = deps.now() + timeout / 1000, fire = function()
        abort(f, err(errors.TIMEOUT, "funcs: call to '" .. id .. "' timed out after " .. timeout .. "ms"))
      end })
    end
    return f
  end

  local function check_id(id)
    if type(id) ~= "string" then return err(errors.INVALID, "funcs: function id must be a string, got " .. type(id)) end
  end

  local function wait(f)
    while not f.done do
      f.waiter = S.cur
      S.block()
    end
    if f.failure ~= nil then return nil, f.failure end
    return f.value
  end

  function Future:response()
    local f = state_of(self)
    if not f.c then
      f.c = chan.make(1)
      if f.done then
        if f.failure == nil then chan.push(f.c, f.value) end
        chan.close(f.c)
      end
    end
    return f.c.handle
  end
  Future.channel = Future.response
  function Future:is_complete() return state_of(self).done end
  function Future:result() local f = state_of(self); if f.done then return f.value end return nil end
  function Future:error() local f = state_of(self); if f.done then return f.failure end return nil end
  function Future:cancel()
    local f = state_of(self)
    return abort(f, err(errors.CANCELED, "call to '" .. f.id .. "' canceled"))
  end

  local Executor = {}
  Executor.__index = Executor
  Executor.__name = "funcs executor"
  Executor.__metatable = false

  local function executor(ctx, options) return setmetatable({ ctx = ctx, options = options }, Executor) end

  local merge = P.merged

  function Executor:with_context(t) return executor(merge(self.ctx, t, "with_context"), self.options) end
  function Executor:with_options(t) return executor(self.ctx, merge(self.options, t, "with_options")) end

  function Executor:async(id, ...)
    local e = check_id(id)
    if e then error(e, 2) end
    local args
    args, e = P.copy_args(select("#", ...), ...)
    if not args then error(e, 2) end
    local proc = P.current_proc()
    local ctx = self.ctx and merge(proc.ctx, self.ctx, "context") or proc.ctx
    S.tick()
    local handle = setmetatable({}, Future)
    state[handle] = start(id, ctx, self.options, args)
    return handle
  end

  function Executor:call(id, ...)
    local e = check_id(id)
    if e then return nil, e end
    local args
    args, e = P.copy_args(select("#", ...), ...)
    if not args then return nil, e end
    local proc = P.current_proc()
    local ctx = self.ctx and merge(proc.ctx, self.ctx, "context") or proc.ctx
    return wait(start(id, ctx, self.options, args))
  end

  local plain = executor(nil, nil)
  local api = {
    new = function() return executor(nil, nil) end,
    call = function(...) return plain:call(...) end,
    async = function(...) return plain:async(...) end,
  }

  return { api = api, start = start }
end
