-- The `logger` module: structured log lines that go to the node's log.
--
-- The module is itself a logger, and so are the children `with(fields)` and
-- `named(name)` make; every method works called with a dot or a colon
-- (`logger.info("m")` and `logger:info("m")`, `child.info("m")` too): a
-- handle's methods are bound to it. A logger's state lives in a private
-- table: the handles are shared by every process of a worker.
return function(deps)
  local errors, copy, emit = deps.errors, deps.copy, deps.emit
  local type, tostring, setmetatable, next = type, tostring, setmetatable, next
  local real_metatable = debug.getmetatable

  local Logger = { __name = "logger", __metatable = false }
  Logger.__newindex = function() error("attempt to modify a logger", 2) end
  local state = setmetatable({}, { __mode = "k" }) -- handle -> {name=, fields=}
  local bound = setmetatable({}, { __mode = "k" }) -- handle -> its methods, made on first use

  local function new_logger(name, fields)
    local handle = setmetatable({}, Logger)
    state[handle] = { name = name, fields = fields }
    return handle
  end

  -- Fields of a line: the logger's own, then the call's (a copy: the log
  -- leaves the process).
  local function merged_fields(st, fields)
    if fields == nil then return st.fields end
    local extra, e = copy(fields)
    if e then return nil, e end
    if type(extra) ~= "table" then extra = { value = extra } end
    if st.fields == nil then return extra end
    local out = {}
    for k, v in next, st.fields do out[k] = v end
    for k, v in next, extra do out[k] = v end
    return out
  end

  -- What each method does with the state of the logger it was called on.
  local impl = {}

  local function log_at(level)
    return function(st, message, fields)
      local all, e = merged_fields(st, fields)
      if e then return nil, e end
      if type(message) ~= "string" then message = type(message) == "number" and tostring(message) or type(message) end
      emit(level, message, all, st.name)
      return true
    end
  end
  for _, level in ipairs({ "debug", "info", "warn", "error" }) do impl[level] = log_at(level) end

  --- A child logger whose lines carry `fields` too.
  function impl.with(st, fields)
    if type(fields) ~= "table" then
      return nil, errors.new({ kind = errors.INVALID, message = "logger:with expects a table of fields, got " .. type(fields) })
    end
    local all, e = merged_fields(st, fields)
    if e then return nil, e end
    return new_logger(st.name, all)
  end

  --- A child logger named `name` (appended to its parent's name).
  function impl.named(st, name)
    if type(name) ~= "string" or name == "" then
      return nil, errors.new({ kind = errors.INVALID, message = "logger:named expects a non-empty name" })
    end
    return new_logger(st.name and (st.name .. "." .. name) or name, st.fields)
  end

  --- The methods of `handle`: called with a colon they act on the logger
  --- before the colon, with a dot on `handle`.
  local function methods_of(handle)
    local m = {}
    for name, fn in next, impl do
      m[name] = function(a, b, c)
        if real_metatable(a) == Logger then return fn(state[a], b, c) end
        return fn(state[handle], a, b)
      end
    end
    bound[handle] = m
    return m
  end

  Logger.__index = function(handle, key)
    local m = bound[handle] or methods_of(handle)
    return m[key]
  end

  return { root = new_logger(nil, nil), Logger = Logger }
end
