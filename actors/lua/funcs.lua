-- The `funcs` module: calling `function.lua` entries and Python callables.
--
-- A `function.lua` target runs in a short-lived process of its own on this
-- worker, so `process.*`, channels and `time` work inside it. Any other id is
-- asked of Python, which knows the callables registered on the node.
return function(deps)
  local S, chan, errors, bridge, P = deps.sched, deps.channel, deps.errors, deps.bridge, deps.process
  local entries = deps.entries
  local durable = deps.durable -- nil outside workflow hosts
  local duration_ns, retries_here = deps.duration_ns, deps.retries_here
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
    if f.attempt_timer then f.attempt_timer.stopped = true end
    if f.retry_timer then f.retry_timer.stopped = true end
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
  local process_options = { quiet = true }

  --- Run call `f` for real: a function process here, or a request to Python.
  --- `done(value, failure, all)` gets the outcome (`f` itself: see `Call`).
  local function dispatch(f, ctx, args, done, frame_id)
    local activity = f.activity
    local id = f.id
    local entry = entries[id]
    if entry ~= nil then
      -- a workflow may call process.lua entries too (process activities): each runs to its end
      local options = entry.kind == "function.lua" and spawn_options or f.wf and entry.kind == "process.lua" and
        process_options
      if not options then
        done(nil, err(errors.INVALID, "funcs: '" .. id .. "' is a " .. entry.kind .. ", not a function.lua entry"))
        return
      end
      options.ctx, options.on_exit, options.frame_id = ctx, done, frame_id
      local pid, e = P.spawn_local(entry, args, options)
      options.ctx, options.on_exit, options.frame_id = nil, nil, nil
      if not pid then done(nil, e) return end
      f.pid = pid
    else
      f.request = bridge.request({ "call", 0, id, args, ctx, activity }, function(ok, value)
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
  --- One canceled before it ran has that as its outcome. Every attempt of
  --- a call has its first attempt's idempotency key (or `activity.id`).
  local function run_recorded(f, key, wf, call_id)
    f.wf, f.call_id = wf, call_id
    if f.done then
      durable.call_result(wf, call_id, nil, f.failure)
      return
    end
    local activity = f.activity
    if f.attempt > 1 then key = durable.call_key(wf, f.first_call) end
    local keyed = { idempotency_key = (activity and activity.id) or key }
    for k, v in pairs(f.ctx) do keyed[k] = v end
    local args = f.args
    if not (activity and activity.retry_policy) then f.ctx, f.args = nil, nil end -- (a retry needs them again)
    dispatch(f, keyed, args, f, nil)
  end

  local function attempt_timed_out(f)
    return err(errors.TIMEOUT, "funcs: attempt " .. f.attempt .. " of '" .. f.id .. "' passed its start_to_close_timeout")
  end

  --- An attempt passed its start_to_close_timeout: what runs it is stopped
  --- and the attempt fails with Timeout (recorded; on replay the record is
  --- what counts, nothing runs).
  local function expire(f)
    local pid, request = f.pid, f.request
    f.pid, f.request = nil, nil
    if pid then
      local proc = P.procs[pid]
      if proc then P.kill(proc, attempt_timed_out(f)) end -- its on_exit records the failure
    elseif request then
      bridge.cancel(request)
      durable.call_result(f.wf, f.call_id, nil, attempt_timed_out(f))
    end
  end

  --- Record attempt `f.attempt` of recorded call `f`, with its timeout.
  local function attempt(f, wf)
    local id = durable.call(wf, f.id, f, f.attempt > 1 and f.attempt or nil)
    if f.attempt == 1 then f.first_call = id end
    local limit = retries_here and f.activity and f.activity.start_to_close_timeout
    if limit and not f.done then f.attempt_timer = durable.timer(wf, limit, function() expire(f) end) end
  end

  --- Whether an attempt that failed with `failure` is tried again by `policy`.
  local function may_retry(policy, number, failure)
    if policy.maximum_attempts > 0 and number >= policy.maximum_attempts then return false end
    if not errors.is_error(failure) then return true end
    local kind, retryable = failure:kind(), failure:retryable()
    if retryable == nil then -- its maker did not say: as the runtime's own errors of its kind
      retryable = errors.new({ kind = kind, message = "" }):retryable()
    end
    return retryable ~= false and not policy.non_retryable[kind]
  end

  --- The recorded outcome of an attempt of `f`: the call completes, or,
  --- when it failed and its retry policy allows, the next attempt follows a
  --- durable timer (so a restart waits out the rest of the backoff, not
  --- all of it, and replay retries as it did).
  local function settle(f, value, failure)
    if f.attempt_timer then f.attempt_timer.stopped = true end
    f.attempt_timer, f.pid, f.request = nil, nil, nil
    local policy = retries_here and f.activity and f.activity.retry_policy
    if failure == nil or f.done or not policy or not may_retry(policy, f.attempt, failure) then
      complete(f, value, failure)
      return
    end
    local backoff = policy.initial_interval * policy.backoff_coefficient ^ (f.attempt - 1)
    if policy.maximum_interval then backoff = math.min(backoff, policy.maximum_interval) end
    f.attempt = f.attempt + 1
    f.retry_timer = durable.timer(f.wf, math.floor(backoff), function()
      f.retry_timer = nil
      if not f.done then attempt(f, f.wf) end
    end)
  end
  if durable then durable.handle_calls(run_recorded, settle) end

  local function timed_out(id, timeout, which)
    return err(errors.TIMEOUT, "funcs: call to '" .. id .. "' timed out after " .. timeout .. "ms" .. (which or ""))
  end

  --- Start a call for process `proc`; returns its private state (see
  --- `state`). In a workflow the call is recorded: it runs once (again only
  --- if its result was never stored, with the same idempotency key) and its
  --- result comes from history.
  local function start(proc, id, ctx, options, args, activity)
    local timeout = options and options.timeout
    local wf = durable and durable.current()
    if wf then
      -- every field it will get, so that it is made at its full size once
      local f = setmetatable({ done = false, id = id, ctx = ctx, args = args, wf = wf, call_id = false,
        pid = nil, request = nil, timer = nil, waiter = nil, value = nil, failure = nil, all = nil,
        activity = activity, attempt = 1, first_call = nil }, RecordedCall)
      attempt(f, wf)
      -- a timeout is a durable timer too, so whichever came first replays
      local whole = timeout and math.floor(timeout * 1000000)
        or (retries_here and activity and activity.schedule_to_close_timeout)
      if whole and not f.done then
        f.timer = durable.timer(wf, whole, function()
          complete(f, nil, timed_out(id, timeout or (whole // 1000000), timeout and "" or " (schedule_to_close_timeout)"))
        end)
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

  local function executor(ctx, options, activity)
    return setmetatable({ ctx = ctx, options = options, activity = activity }, Executor)
  end

  local merge = P.merged

  local function invalid(message) return err(errors.INVALID, "funcs: " .. message) end

  --- A positive duration option in ns: a string ("30s") or milliseconds.
  local function positive_ns(value, name)
    local ns, e
    if type(value) == "number" then
      if value ~= value or value == math.huge then return nil, invalid(name .. " must be a finite number of milliseconds") end
      ns = math.floor(value * 1000000)
    else
      ns, e = duration_ns(value, name)
      if not ns then return nil, e end
    end
    if ns <= 0 then return nil, invalid(name .. " must be more than 0") end
    return ns
  end

  local function non_empty_string(v, name)
    if type(v) == "string" and v ~= "" then return v end
    return nil, invalid(name .. " must be a non-empty string")
  end

  local function boolean(v, name)
    if type(v) == "boolean" then return v end
    return nil, invalid(name .. " must be true or false")
  end

  local POLICY_FIELDS = { initial_interval = true, backoff_coefficient = true, maximum_interval = true,
    maximum_attempts = true, non_retryable_error_types = true }

  --- An activity retry policy, intervals in ns; one that could never work is Invalid.
  local function retry_policy(t, name)
    if type(t) ~= "table" then return nil, invalid(name .. " must be a table") end
    for k in pairs(t) do
      if not POLICY_FIELDS[k] then return nil, invalid(name .. ": unknown field '" .. tostring(k) .. "'") end
    end
    local policy = { initial_interval = 1000000000, backoff_coefficient = 2.0, maximum_attempts = 0, non_retryable = {} }
    local e
    for _, field in ipairs({ "initial_interval", "maximum_interval" }) do
      if t[field] ~= nil then
        policy[field], e = positive_ns(t[field], name .. "." .. field)
        if e then return nil, e end
      end
    end
    local c = t.backoff_coefficient
    if c ~= nil then
      if type(c) ~= "number" or not (c >= 1) or c == math.huge then
        return nil, invalid(name .. ".backoff_coefficient must be a number of at least 1")
      end
      policy.backoff_coefficient = c
    end
    local n = t.maximum_attempts
    if n ~= nil then
      if type(n) ~= "number" or n ~= math.floor(n) or n < 0 then
        return nil, invalid(name .. ".maximum_attempts must be a whole number, 0 for unlimited")
      end
      policy.maximum_attempts = math.floor(n)
    end
    local kinds = t.non_retryable_error_types
    if kinds ~= nil then
      if type(kinds) ~= "table" then return nil, invalid(name .. ".non_retryable_error_types must be a list of error kinds") end
      for _, kind in pairs(kinds) do
        if type(kind) ~= "string" then return nil, invalid(name .. ".non_retryable_error_types must be a list of error kinds") end
        policy.non_retryable[kind] = true
      end
    end
    if policy.maximum_interval and policy.maximum_interval < policy.initial_interval then
      return nil, invalid(name .. ".maximum_interval is less than initial_interval")
    end
    return policy
  end

  -- The activity options (temporal/activities.md) and how each is read.
  local ACTIVITY_OPTIONS = {
    start_to_close_timeout = positive_ns, schedule_to_close_timeout = positive_ns,
    schedule_to_start_timeout = positive_ns, heartbeat_timeout = positive_ns,
    retry_policy = retry_policy, id = non_empty_string, task_queue = non_empty_string,
    wait_for_cancellation = boolean, disable_eager_execution = boolean,
  }

  --- The call options an executor accepts: `timeout` in milliseconds, and
  --- the `activity.*` options, returned read (nil when there are none).
  local function checked_options(options)
    local timeout = options.timeout
    if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0 or timeout == math.huge) then
      return nil, err(errors.INVALID, "funcs: option timeout must be a positive number of milliseconds, got " ..
        (type(timeout) == "number" and tostring(timeout) or type(timeout)))
    end
    local activity
    for key, value in pairs(options) do
      if type(key) == "string" and key:sub(1, 9) == "activity." then
        local read = ACTIVITY_OPTIONS[key:sub(10)]
        if read == nil then return nil, invalid("unknown option " .. key) end
        local v, e = read(value, key)
        if e then return nil, e end
        activity = activity or {}
        activity[key:sub(10)] = v
      end
    end
    return activity
  end

  --- Activity options the embedded host cannot honour, refused naming them.
  local function unhonoured(activity)
    if not retries_here then return nil end
    if activity.heartbeat_timeout then
      return invalid("activity.heartbeat_timeout: the embedded host's functions send no heartbeats")
    end
    if activity.task_queue then return invalid("activity.task_queue: the embedded host has no task queues") end
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
    return executor(ctx, ex.options, ex.activity)
  end
  function Executor:with_options(t)
    local ex, e = executor_of(self, "with_options")
    if not ex then return nil, e end
    local options
    options, e = merge(ex.options, t, "with_options")
    if not options then return nil, e end
    local activity
    activity, e = checked_options(options)
    if e then return nil, e end
    return executor(ex.ctx, options, activity)
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
    if ex.activity then
      if not proc.wf then return nil, invalid("activity options apply to calls from workflows") end
      e = unhonoured(ex.activity)
      if e then return nil, e end
    end
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
    state[handle] = start(proc, id, ctx, ex.options, args, ex.activity)
    return handle
  end

  function Executor:call(id, ...)
    local ex, e = executor_of(self, "call")
    if not ex then return nil, e end
    local proc, ctx, args = prepare(ex, id, select("#", ...), ...)
    if not proc then return nil, ctx end
    return wait(start(proc, id, ctx, ex.options, args, ex.activity))
  end

  local plain = executor(nil, nil, nil)
  local api = {
    new = function() return executor(nil, nil, nil) end,
    call = function(...) return plain:call(...) end,
    async = function(...) return plain:async(...) end,
  }

  return { api = api, start = start, metatables = { Future, Executor } }
end
