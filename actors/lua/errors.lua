-- luactor/errors.lua: structured error values.
--
-- The factory returns the runtime's side of errors (making, wrapping,
-- converting to and from plain data); its `api` field is the global
-- `errors` that user code sees: the kind constants, new, wrap, is and
-- call_stack, nothing else.
--
-- An error object is an empty table whose fields live in a private weak
-- table. Processes of one worker share a Lua state, and error objects travel
-- between them, so a holder must not be able to change one (plain assignment
-- raises; rawset can only shadow methods on the holder's own view).
--
-- tostring(err) is "Kind: message", or just the message when the kind is
-- Unknown, so that errors.new("boom") reads like error("boom") would.
--
-- `retryable` is true, false or nil (unknown). Errors made with errors.new
-- carry the Lua call stack of where they were made (err:stack(),
-- errors.call_stack(err)); errors raised by Lua itself carry the stack of
-- where they were raised.
return function() -- the factory takes no deps
  local type, tostring, setmetatable, error, rawequal =
    type, tostring, setmetatable, error, rawequal
  local math_type = math.type
  local concat = table.concat

  local KINDS = {
    NOT_FOUND = "NotFound",
    ALREADY_EXISTS = "AlreadyExists",
    INVALID = "Invalid",
    PERMISSION_DENIED = "PermissionDenied",
    UNAVAILABLE = "Unavailable",
    INTERNAL = "Internal",
    CANCELED = "Canceled",
    CONFLICT = "Conflict",
    TIMEOUT = "Timeout",
    RATE_LIMITED = "RateLimited",
    UNKNOWN = "Unknown",
  }

  local errors = {}
  for name, kind in pairs(KINDS) do errors[name] = kind end

  -- error object -> {message, kind, retryable, details, frames, stack, cause}
  local fields = setmetatable({}, { __mode = "k" })

  local methods = {}
  local Error = {
    __name = "error",
    __index = methods,
    __metatable = "luactor.error",
  }

  function Error.__newindex()
    error("error objects are read-only", 2)
  end

  function Error.__tostring(err)
    local f = fields[err]
    if f.kind == "Unknown" then
      return f.message
    end
    return f.kind .. ": " .. f.message
  end

  -- Lets "context: " .. err work as it does for string errors.
  function Error.__concat(a, b)
    return tostring(a) .. tostring(b)
  end

  local function is_error(v)
    return fields[v] ~= nil
  end

  local function check_error(v, fname)
    local f = fields[v]
    if f == nil then
      error(fname .. ": expected an error object, got " .. type(v), 3)
    end
    return f
  end

  -- The text of a stack: Lua's own traceback layout, from recorded frames.
  local function format_stack(frames)
    local lines = { "stack traceback:" }
    for i = 1, #frames do
      local frame = frames[i]
      local where = frame.line and frame.line > 0 and (frame.source .. ":" .. frame.line) or frame.source
      local what
      if frame.name then
        what = "function '" .. frame.name .. "'"
      elseif frame.defined and frame.defined > 0 then
        what = "function <" .. frame.source .. ":" .. frame.defined .. ">"
      else
        what = "main chunk"
      end
      lines[#lines + 1] = "\t" .. where .. ": in " .. what
    end
    return concat(lines, "\n")
  end

  local function stack_of(f)
    if f.stack == nil and f.frames ~= nil then f.stack = format_stack(f.frames) end
    return f.stack
  end

  function methods.kind(err) return check_error(err, "err:kind").kind end
  function methods.message(err) return check_error(err, "err:message").message end
  function methods.retryable(err) return check_error(err, "err:retryable").retryable end
  function methods.details(err) return check_error(err, "err:details").details end
  function methods.stack(err) return stack_of(check_error(err, "err:stack")) end
  function methods.unwrap(err) return check_error(err, "err:unwrap").cause end

  local function make(f)
    local err = setmetatable({}, Error)
    fields[err] = f
    return err
  end

  -- Validates the table form shared by errors.new and errors.from_plain;
  -- returns the fields, or nil and what is wrong.
  local function fields_from_table(t)
    local message, kind, details, stack, retryable = t.message, t.kind, t.details, t.stack, t.retryable
    if message == nil then
      message = ""
    elseif math_type(message) then
      message = tostring(message)
    elseif type(message) ~= "string" then
      return nil, "message must be a string, got " .. type(message)
    end
    if kind == nil then
      kind = "Unknown"
    elseif type(kind) ~= "string" or kind == "" then
      return nil, "kind must be a non-empty string"
    end
    if details ~= nil and type(details) ~= "table" then
      return nil, "details must be a table, got " .. type(details)
    end
    if stack ~= nil and type(stack) ~= "string" then
      return nil, "stack must be a string, got " .. type(stack)
    end
    if retryable ~= nil and type(retryable) ~= "boolean" then
      return nil, "retryable must be a boolean, got " .. type(retryable)
    end
    return { message = message, kind = kind, retryable = retryable, details = details, stack = stack }
  end

  -- Whether the runtime's errors of a kind may be retried when their maker
  -- does not say: the kinds Wippy lists as not retryable are not; a timeout
  -- and an unavailable service typically are; of the others nothing is known.
  local RETRYABLE = {
    Invalid = false, NotFound = false, PermissionDenied = false, AlreadyExists = false,
    Timeout = true, Unavailable = true,
  }

  --- The runtime's own constructor: `{kind=, message=, ...}` or a message.
  --- Raises on malformed input (runtime code passes literals).
  function errors.new(v)
    if fields[v] then
      return v
    end
    local tv = type(v)
    if tv == "string" or tv == "number" then
      return make({ message = tostring(v), kind = "Unknown" })
    elseif tv == "table" then
      local f, problem = fields_from_table(v)
      if f == nil then error("errors.new: " .. problem, 2) end
      if f.retryable == nil then f.retryable = RETRYABLE[f.kind] end
      return make(f)
    end
    error("errors.new: expected a string or a table, got " .. tv, 2)
  end
  local new = errors.new

  -- A wrapper adds context only: it copies kind, retryable, details and
  -- stack from the cause and keeps the cause reachable through unwrap().
  -- A string cause is first made an Unknown error.
  function errors.wrap(err, msg)
    local cause = fields[err] and err or nil
    if cause == nil then
      if type(err) ~= "string" then
        return nil, new({ kind = "Invalid", message = "errors.wrap: expected an error object or a string, got " .. type(err) })
      end
      cause = new(err)
    end
    if msg ~= nil and type(msg) ~= "string" then
      return nil, new({ kind = "Invalid", message = "errors.wrap: message must be a string, got " .. type(msg) })
    end
    local c = fields[cause]
    return make({
      message = msg and (msg .. ": " .. c.message) or c.message,
      kind = c.kind,
      retryable = c.retryable,
      details = c.details,
      frames = c.frames,
      stack = c.stack,
      cause = cause,
    })
  end

  -- True when err or an error in its wrap chain has the kind (target is a
  -- string) or is the very object (target is an error).
  function errors.is(err, target)
    local by_kind = type(target) == "string"
    local f = fields[err]
    while f do
      if by_kind then
        if f.kind == target then return true end
      elseif rawequal(err, target) then
        return true
      end
      err = f.cause
      f = fields[err]
    end
    return false
  end

  errors.is_error = is_error
  function errors.kind_of(err) return fields[err].kind end
  function errors.message_of(err) return fields[err].message end

  --- The frames of `co`'s stack (nil: the running coroutine) from `level`
  --- on, runtime code left out: `{source=, line=, name=}` each. Reading a
  --- stack runs no user code.
  local getinfo = debug.getinfo
  local RUNTIME = "=luactor/"
  local MAX_FRAMES = 32
  local function frames_of(co, level)
    local frames = {}
    while #frames < MAX_FRAMES do
      local info
      if co then info = getinfo(co, level, "Sln") else info = getinfo(level, "Sln") end
      if info == nil then break end
      local source = info.source
      if source:sub(1, #RUNTIME) ~= RUNTIME and info.what ~= "C" then
        frames[#frames + 1] = { source = info.short_src, line = info.currentline, name = info.name,
          defined = info.linedefined }
      end
      level = level + 1
    end
    return frames
  end
  errors.frames_of = frames_of

  -- Turns a raw Lua error value (what a task raised) into an Internal error
  -- with the frames of `co`, where it was raised. Error objects pass through
  -- unchanged. `describe(value)` gives the text of a table or userdata (the
  -- runtime calls its __tostring under a budget) or nil; an address
  -- ("table: 0x...", "payload: 0x...") differs between replays, so it is
  -- never the message.
  function errors.from_lua(value, co, describe)
    if fields[value] then
      return value
    end
    local tv = type(value)
    local message
    if tv == "string" or tv == "number" then
      message = tostring(value)
    elseif (tv == "table" or tv == "userdata") and describe then
      local s = describe(value)
      if type(s) == "string" and not s:find(": 0x%x+$") then
        message = s
      end
    end
    message = message or ("(error object is a " .. tv .. " value)")
    return make({
      message = message,
      kind = "Internal",
      retryable = false,
      frames = co and frames_of(co, 0) or nil,
    })
  end

  -- Plain-data form for crossing into Python/msgpack. stack and cause are
  -- included only when present; cause is itself a plain table so errors.is
  -- still sees the chain after from_plain. The chain keeps its first
  -- MAX_CHAIN errors, so that no loop of wraps makes an error that is slow
  -- to convert or too deep to send. details is passed by reference: the
  -- caller's payload copier decides whether it is plain data.
  local MAX_CHAIN = 16
  local function plain_of(f)
    return { message = f.message, kind = f.kind, retryable = f.retryable, details = f.details, stack = stack_of(f) }
  end
  local function to_plain(err)
    local f = check_error(err, "errors.to_plain")
    local top = plain_of(f)
    local plain = top
    for _ = 2, MAX_CHAIN do
      f = fields[f.cause]
      if f == nil then break end
      plain.cause = plain_of(f)
      plain = plain.cause
    end
    return top
  end
  errors.to_plain = to_plain

  -- Kinds as stores written before luactor took Wippy's values hold them.
  local LEGACY_KINDS = {}
  for name, kind in pairs(KINDS) do LEGACY_KINDS[name] = kind end

  local function from_plain(t)
    if type(t) ~= "table" then
      error("errors.from_plain: expected a table, got " .. type(t), 2)
    end
    local f, problem = fields_from_table(t)
    if f == nil then error("errors.from_plain: " .. problem, 2) end
    f.kind = LEGACY_KINDS[f.kind] or f.kind
    if t.cause ~= nil then
      f.cause = from_plain(t.cause)
    end
    return make(f)
  end
  errors.from_plain = from_plain

  -- The global `errors` ------------------------------------------------------

  local api = {}
  for name, kind in pairs(KINDS) do api[name] = kind end

  local function invalid(message)
    return nil, make({ kind = "Invalid", message = message, retryable = false })
  end

  --- errors.new("message") or errors.new({message=, kind=, retryable=,
  --- details=}): an error carrying the stack of its caller; nil and an
  --- Invalid error when there is no message.
  function api.new(v)
    if fields[v] then
      return v
    end
    local tv = type(v)
    local f
    if tv == "string" or math_type(v) then
      f = { message = tostring(v), kind = "Unknown" }
    elseif tv == "table" then
      local message = rawget(v, "message")
      if message == nil then return invalid("errors.new: the table needs a message field") end
      local problem
      f, problem = fields_from_table({
        message = message, kind = rawget(v, "kind"), retryable = rawget(v, "retryable"), details = rawget(v, "details"),
      })
      if f == nil then return invalid("errors.new: " .. problem) end
    else
      return invalid("errors.new: expected a message or a table with one, got " .. tv)
    end
    f.frames = frames_of(nil, 2)
    return make(f)
  end

  api.wrap = errors.wrap
  api.is = errors.is

  --- The stack an error carries, as `{thread=, frames={{source=, line=,
  --- name=}...}}` (a fresh copy), or nil when it carries none.
  function api.call_stack(err)
    local f = fields[err]
    if f == nil then return nil end
    local frames = f.frames
    if frames == nil then return nil end
    local copy = {}
    for i = 1, #frames do
      local frame = frames[i]
      copy[i] = { source = frame.source, line = frame.line, name = frame.name }
    end
    return { thread = "main", frames = copy }
  end

  errors.api = api
  errors.metatable = Error
  return errors
end
