-- The `funcs` module: calling `function.lua` entries and Python callables.
--
-- A `function.lua` target runs in a short-lived process of its own on this
-- worker, so `process.*`, channels and `time` work inside it. Any other id is
-- asked of Python, which knows the callables registered on the node.
return function(deps)
  local S, chan, errors, bridge, P = deps.sched, deps.channel, deps.errors, deps.bridge, deps.process
  local entries = deps.entries
  local durable = deps.durable -- nil outside workflow hosts
  local setmetatable, type, select, next, tostring = setmetatable, type, select, next, tostring
  local find = string.find
  local real_metatable = debug.getmetatable

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

  local wrap_payload = deps.wrap_payload

  --- The result as a future's `result()` gives it: a Payload, or a table
  --- of them when the function returned several values.
  local function as_payloads(f)
    local all = f.all
    if not all then return wrap_payload(f.value) end
    local out = {}
    for i = 1, #all do out[i] = wrap_payload(all[i]) end
    return out
  end

  --- Put the outcome of done call `f` on its response channel: the result
  --- (which stays the channel's only value: it is not closed after it, so
  --- a select over several futures' channels never picks a spent one), or
  --- on failure nothing, the channel closed.
  local function deliver(f)
    if f.failure == nil then chan.push(f.c, wrap_payload(f.value)) else chan.close(f.c) end
  end

  local function complete(f, value, failure, all)
    if f.done then return end
    f.done, f.value, f.failure, f.all = true, value, failure, all
    if f.timer then f.timer.stopped = true end
    local caller = f.caller
    if caller then
      f.caller = nil
      local calls = caller.calls
      if calls then calls[f] = nil end
    end
    if f.c then deliver(f) end
    local task = f.waiter
    if task then
      f.waiter = nil
      if not task.dead then S.ready(task) end
    end
  end

  --- Stop waiting with `failure`: a function process is terminated, a
  --- Python call's answer is ignored (and its task cancelled).
  local function abort(f, failure)
    if f.done then return false end
    complete(f, nil, failure)
    if f.pid then
      local proc = P.procs[f.pid]
      if proc then P.kill(proc, failure) end
    elseif f.request then
      bridge.cancel(f.request)
    end
    return true
  end

  -- A process that ends takes the calls it is waiting for with it: their
  -- functions are cancelled, as their caller's context is.
  function P.caller_ended(proc)
    local calls = proc.calls
    proc.calls = nil
    for f in next, calls do
      f.caller = nil
      abort(f, err(errors.CANCELED, "call to '" .. f.id .. "' canceled: its caller " .. proc.pid .. " ended"))
    end
  end

  -- The options of every function process; spawn_local only reads them.
  local spawn_options = { quiet = true, short = true }

  --- Run call `f` for real: a function process here, or a request to Python.
  --- `done(value, failure, all)` gets the outcome (`f` itself: see `Call`).
  local function dispatch(f, ctx, args, done, frame_id)
    local id = f.id
    local entry = entries[id]
    if entry ~= nil then
      if entry.kind ~= "function.lua" then
        done(nil, err(errors.INVALID, "funcs: '" .. id .. "' is a " .. entry.kind .. ", not a function.lua entry"))
        return
      end
      spawn_options.ctx, spawn_options.on_exit, spawn_options.frame_id = ctx, done, frame_id
      local pid, e = P.spawn_local(entry, args, spawn_options)
      spawn_options.ctx, spawn_options.on_exit, spawn_options.frame_id = nil, nil, nil
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
    dispatch(f, keyed, args, f, nil)
  end
  if durable then durable.handle_calls(run_recorded, complete) end

  local function timed_out(id, timeout)
    return err(errors.TIMEOUT, "funcs: call to '" .. id .. "' timed out after " .. timeout .. "ms")
  end

  --- Start a call for process `proc`; returns its private state (see
  --- `state`). In a workflow the call is recorded: it runs once (again only
  --- if its result was never stored, with the same idempotency key) and its
  --- result comes from history.
  local function start(proc, id, ctx, options, args)
    local timeout = options and options.timeout
    local wf = durable and durable.current()
    if wf then
      -- every field it will get, so that it is made at its full size once
      local f = setmetatable({ done = false, id = id, ctx = ctx, args = args, wf = false, call_id = false,
        pid = nil, request = nil, timer = nil, waiter = nil, value = nil, failure = nil, all = nil }, RecordedCall)
      durable.call(wf, id, f)
      -- a timeout is a durable timer too, so whichever came first replays
      if timeout and not f.done then
        f.timer = durable.timer(wf, math.floor(timeout * 1000000), function() complete(f, nil, timed_out(id, timeout)) end)
      end
      return f
    end
    local f = setmetatable({ done = false, id = id, caller = proc }, Call)
    local calls = proc.calls
    if calls == nil then
      calls = {}
      proc.calls = calls
    end
    calls[f] = true
    dispatch(f, ctx, args, f, proc.frame_id or proc.pid)
    if timeout and not f.done then
      f.timer = S.add_timer({ deadline = deps.now() + timeout / 1000, fire = function() abort(f, timed_out(id, timeout)) end })
    end
    return f
  end

  --- nil for a well-formed target ("namespace:name"), else the error.
  local function check_target(id)
    if type(id) ~= "string" then return err(errors.INVALID, "funcs: target must be a string 'namespace:name', got " .. type(id)) end
    if id == "" then return err(errors.INVALID, "funcs: target is empty") end
    if not utf8.len(id) then return err(errors.INVALID, "funcs: target must be UTF-8 text") end
    local colon = find(id, ":", 1, true)
    if colon == nil then return err(errors.INVALID, "funcs: target '" .. id .. "' has no namespace (expected 'namespace:name')") end
    if colon == 1 then return err(errors.INVALID, "funcs: target '" .. id .. "' has an empty namespace") end
    if colon == #id then return err(errors.INVALID, "funcs: target '" .. id .. "' has an empty name") end
    if find(id, "%s") then return err(errors.INVALID, "funcs: target '" .. id .. "' contains whitespace") end
    return nil
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
      if f.done then deliver(f) end
    end
    return f.c.handle
  end
  Future.channel = Future.response
  function Future:is_complete() return state_of(self).done end
  function Future:is_canceled() return state_of(self).canceled == true end
  --- `nil, nil` while pending; `payload, nil` (a table of payloads for
  --- several values) once done; `nil, err` if it failed or was canceled.
  function Future:result()
    local f = state_of(self)
    if not f.done then return nil, nil end
    if f.failure ~= nil then return nil, f.failure end
    return as_payloads(f), nil
  end
  --- `err, true` if the call failed (or was canceled), else `nil, false`.
  function Future:error()
    local f = state_of(self)
    if f.done and f.failure ~= nil then return f.failure, true end
    return nil, false
  end
  --- Cancel the call if it is still running: `true, nil`; `false, nil`
  --- when it had already finished.
  function Future:cancel()
    local f = state_of(self)
    if f.done then return false, nil end
    f.canceled = true
    abort(f, err(errors.CANCELED, "call to '" .. f.id .. "' canceled"))
    return true, nil
  end

  local Executor = {}
  Executor.__index = Executor
  Executor.__name = "funcs executor"
  Executor.__metatable = false

  local function executor(ctx, options) return setmetatable({ ctx = ctx, options = options }, Executor) end

  local merge = P.merged

  --- The call options an executor accepts: `timeout` in milliseconds.
  local function checked_options(options)
    local timeout = options.timeout
    if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0 or timeout == math.huge) then
      return err(errors.INVALID, "funcs: option timeout must be a positive number of milliseconds, got " ..
        (type(timeout) == "number" and tostring(timeout) or type(timeout)))
    end
    return nil
  end

  local function executor_of(self, method)
    if not rawequal(real_metatable(self), Executor) then
      return nil, err(errors.INVALID, "funcs: " .. method .. " must be called on an executor (use ':'), got " .. type(self))
    end
    return self
  end

  function Executor:with_context(t)
    local ex, e = executor_of(self, "with_context")
    if not ex then return nil, e end
    local ctx
    ctx, e = merge(ex.ctx, t, "with_context")
    if not ctx then return nil, e end
    return executor(ctx, ex.options)
  end
  function Executor:with_options(t)
    local ex, e = executor_of(self, "with_options")
    if not ex then return nil, e end
    local options
    options, e = merge(ex.options, t, "with_options")
    if not options then return nil, e end
    e = checked_options(options)
    if e then return nil, e end
    return executor(ex.ctx, options)
  end

  --- Checks and copies what a call needs: returns the caller, the
  --- context and the arguments, or nil and the error.
  local function prepare(ex, id, n, ...)
    local e = check_target(id)
    if e then return nil, e end
    local args
    args, e = P.copy_args(n, ...)
    if not args then return nil, e end
    local proc = P.current_proc()
    local ctx = proc.ctx
    if ex.ctx then
      ctx, e = merge(proc.ctx, ex.ctx, "context")
      if not ctx then return nil, e end
    end
    return proc, ctx, args
  end

  function Executor:async(id, ...)
    local ex, e = executor_of(self, "async")
    if not ex then return nil, e end
    local proc, ctx, args = prepare(ex, id, select("#", ...), ...)
    if not proc then return nil, ctx end
    S.tick()
    local handle = setmetatable({}, Future)
    state[handle] = start(proc, id, ctx, ex.options, args)
    return handle
  end

  function Executor:call(id, ...)
    local ex, e = executor_of(self, "call")
    if not ex then return nil, e end
    local proc, ctx, args = prepare(ex, id, select("#", ...), ...)
    if not proc then return nil, ctx end
    return wait(start(proc, id, ctx, ex.options, args))
  end

  local plain = executor(nil, nil)
  local api = {
    new = function() return executor(nil, nil) end,
    call = function(...) return plain:call(...) end,
    async = function(...) return plain:async(...) end,
  }

  return { api = api, start = start, metatables = { Future, Executor } }
end
