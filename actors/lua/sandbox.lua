-- The sandbox: what user code can see.
--
-- Every process (and every library instance it loads) gets its own global
-- table whose misses fall through to one shared, read-only base. Standard
-- libraries and runtime modules are exposed through read-only proxies, so a
-- process can neither see another's globals nor change what they share.
-- Nothing of Python, `io`, `debug`, `load`, `package` or binary chunks is in
-- reach: the privileged environment this file runs in is never handed out.
return function(deps)
  local S, errors = deps.sched, deps.errors
  local BLOCK = S.BLOCK
  local co_resume, co_yield, co_status, co_running, co_close, co_isyieldable =
    coroutine.resume, coroutine.yield, coroutine.status,
    coroutine.running, coroutine.close, coroutine.isyieldable
  local pack, unpack = table.pack, table.unpack
  local rawset, rawget, setmetatable, error, type, tostring = rawset, rawget, setmetatable, error, type, tostring

  local proxies = setmetatable({}, { __mode = "k" })

  local function refuse_write(_, key)
    error("attempt to modify read-only table (field '" .. tostring(key) .. "')", 2)
  end

  --- A read-only view of `t`: reads, `pairs`, `#` and calls pass through.
  --- Nested plain tables (e.g. `process.registry`) get views of their own,
  --- so nothing shared is writable at any depth.
  local function readonly(t, call)
    local view = {}
    for k, v in next, t do
      if type(v) == "table" and getmetatable(v) == nil then v = readonly(v) end
      view[k] = v
    end
    local proxy = setmetatable({}, {
      __index = view,
      __newindex = refuse_write,
      __pairs = function() return next, view, nil end,
      __len = function() return #view end,
      __call = call,
      __metatable = false,
    })
    proxies[proxy] = true
    return proxy
  end

  -- Strings share one metatable state-wide: hide it and remove `dump`, so no
  -- process can reach or change the real string library through a string.
  -- Their methods are those of the bounded library (bounded.lua), which is
  -- also the `string` processes see.
  string.dump = nil
  local string_metatable = getmetatable("")
  string_metatable.__metatable = false
  local limits = deps.limits
  local bounded = deps.load_module("bounded")({
    errors = errors, limits = limits,
    patterns = deps.load_module("patterns")({ errors = errors, limits = limits }),
  })
  string_metatable.__index = bounded.string

  -- A failed allocation stops the process, as the runaway guard does: no
  -- pcall, xpcall or coroutine may catch it and keep the process allocating
  -- (each failure makes Lua run a full collection first).
  local MEMORY_ERROR = S.MEMORY_ERROR
  local function caught(ok, ...)
    if not ok and rawequal((...), MEMORY_ERROR) then
      local failure = S.stop(S.out_of_memory())
      if failure then error(failure, 0) end
    end
    return ok, ...
  end
  local function protected_call(f, ...) return caught(pcall(f, ...)) end
  local function protected_xcall(f, handler, ...) return caught(xpcall(f, handler, ...)) end

  -- Coroutines in user code. A blocking runtime operation inside a user
  -- coroutine yields BLOCK; `resume` passes it up to the scheduler and feeds
  -- the wake-up values back down, so user coroutines compose with receives,
  -- sleeps and calls. Scheduler tasks themselves cannot be resumed or closed.
  local forwarding = setmetatable({}, { __mode = "k" })

  -- Coroutines user code made; any other it can reach is a process task.
  local user_coroutines = setmetatable({}, { __mode = "k" })
  local function create(fn)
    local co = S.user_coroutine(fn)
    user_coroutines[co] = true
    return co
  end

  local function check_user_coroutine(co)
    if type(co) ~= "thread" then
      error("bad argument #1 (coroutine expected, got " .. type(co) .. ")", 3)
    end
    if not user_coroutines[co] then error("cannot resume or close a process task", 3) end
    if forwarding[co] then error("cannot resume a coroutine that is blocked in a runtime call", 3) end
  end

  -- A resume counts as a reduction (so a turn resumes a bounded number of
  -- coroutines), and the coroutine takes the scheduler's `running` slot
  -- while it runs, for the runaway guard. A process that tripped the guard
  -- or ran out of memory in it stops in its resumer too.
  local function resume(co, ...)
    check_user_coroutine(co)
    if S.cur then
      local reds = S.reds - 1
      S.reds = reds
      if reds <= 0 and co_isyieldable() then S.yield_now() end
    end
    local before = S.enter(co)
    local r = pack(co_resume(co, ...))
    while r[1] and rawequal(r[2], BLOCK) and co_status(co) == "suspended" do
      S.leave(before)
      forwarding[co] = true
      local a, b = co_yield(BLOCK)
      forwarding[co] = nil
      before = S.enter(co)
      r = pack(co_resume(co, a, b))
    end
    S.leave(before)
    if not r[1] then caught(false, r[2]) end
    local failure = S.tripped()
    if failure then error(failure, 0) end
    return unpack(r, 1, r.n)
  end


  local function wrap(fn)
    local co = create(fn)
    return function(...)
      local r = pack(resume(co, ...))
      if not r[1] then error(r[2], 0) end
      return unpack(r, 2, r.n)
    end
  end

  local function yield(...)
    local co = co_running()
    if not user_coroutines[co] then
      -- yielding at the top of a task just gives other processes a turn
      S.yield_now()
      return
    end
    return co_yield(...)
  end

  local function close(co)
    check_user_coroutine(co)
    return caught(co_close(co))
  end

  local function spawn(fn)
    if type(fn) ~= "function" then
      error(errors.new({ kind = errors.INVALID, message = "coroutine.spawn expects a function, got " .. type(fn) }), 2)
    end
    return deps.spawn_coroutine(fn)
  end

  local coroutine_lib = {
    create = create, resume = resume, wrap = wrap, yield = yield,
    status = co_status, running = co_running, isyieldable = co_isyieldable,
    close = close, spawn = spawn,
  }

  -- A finalizer would run in whichever process happens to be current when
  -- the collector gets to it, so user metatables may not have one.
  local function safe_setmetatable(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
      error("__gc finalizers are not available to processes", 2)
    end
    return setmetatable(t, mt)
  end

  -- Metatables of the runtime's objects (errors, loggers, channels...):
  -- such an object may be shared by several processes, so none may plant a
  -- field on it with rawset (a method planted there would run as whoever
  -- calls it next).
  local protected = setmetatable({}, { __mode = "k" })
  local real_metatable = debug.getmetatable

  local function safe_rawset(t, k, v)
    if proxies[t] or protected[real_metatable(t)] then error("attempt to modify read-only table", 2) end
    return rawset(t, k, v)
  end

  local os_lib = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }

  -- Lua 5.4's math, plus the names of earlier versions Wippy's users write.
  local math_lib = {}
  for k, v in next, math do math_lib[k] = v end
  math_lib.pow = function(x, y) return x ^ y end
  math_lib.log10 = function(x) return math.log(x, 10) end
  math_lib.atan2 = function(y, x) return math.atan(y, x) end
  local exp = math.exp
  math_lib.sinh = function(x) return (exp(x) - exp(-x)) / 2 end
  math_lib.cosh = function(x) return (exp(x) + exp(-x)) / 2 end
  math_lib.tanh = function(x)
    if x > 20 then return 1.0 elseif x < -20 then return -1.0 end
    local a, b = exp(x), exp(-x)
    return (a - b) / (a + b)
  end

  local base = {
    _VERSION = _VERSION,
    assert = assert, error = error, getmetatable = getmetatable, ipairs = ipairs,
    next = next, pairs = pairs, pcall = protected_call, xpcall = protected_xcall, print = deps.print,
    rawequal = rawequal, rawget = rawget, rawlen = rawlen, rawset = safe_rawset,
    select = select, setmetatable = safe_setmetatable, tonumber = tonumber,
    tostring = tostring, type = type, unpack = table.unpack,
    coroutine = readonly(coroutine_lib),
    string = readonly(bounded.string, function(_, v) return tostring(v) end),
    table = readonly(bounded.table),
    math = readonly(math_lib),
    utf8 = readonly(utf8),
    os = readonly(os_lib),
  }

  local env_mt = { __index = base, __metatable = false }

  local M = { readonly = readonly, base = base, os_lib = os_lib, math_lib = math_lib }

  --- Mark `mt` as the metatable of runtime objects user code may hold.
  function M.protect(mt)
    protected[mt] = true
  end

  --- Add an always-present global (a runtime module, as a read-only proxy).
  function M.add_global(name, module)
    base[name] = readonly(module)
  end

  --- A fresh global table for one process or library instance; `_G` is
  --- the table itself.
  function M.new_env(require_fn)
    local env = setmetatable({ require = require_fn, _G = false }, env_mt)
    env._G = env
    return env
  end

  return M
end
