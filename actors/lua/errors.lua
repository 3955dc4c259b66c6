-- luactor/errors.lua: structured error values (the global `errors`).
--
-- An error object is an empty table whose fields live in a private weak
-- table. Processes of one worker share a Lua state, and error objects travel
-- between them, so a holder must not be able to change one (plain assignment
-- raises; rawset can only shadow methods on the holder's own view).
--
-- tostring(err) is "KIND: message", or just the message when the kind is
-- UNKNOWN, so that errors.new("boom") reads like error("boom") would.
return function() -- the factory takes no deps
  local type, tostring, setmetatable, error, rawequal, pcall =
    type, tostring, setmetatable, error, rawequal, pcall
  local math_type = math.type

  local errors = {
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

  -- error object -> {message, kind, retryable, details, stack, cause}
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

  function methods.kind(err) return check_error(err, "err:kind").kind end
  function methods.message(err) return check_error(err, "err:message").message end
  function methods.retryable(err) return check_error(err, "err:retryable").retryable end
  function methods.details(err) return check_error(err, "err:details").details end
  function methods.stack(err) return check_error(err, "err:stack").stack end
  function methods.unwrap(err) return check_error(err, "err:unwrap").cause end

  local function make(f)
    local err = setmetatable({}, Error)
    fields[err] = f
    return err
  end

  -- Validates the table form shared by errors.new and errors.from_plain.
  local function fields_from_table(t, fname)
    local message, kind, details, stack = t.message, t.kind, t.details, t.stack
    if message == nil then
      message = ""
    elseif math_type(message) then
      message = tostring(message)
    elseif type(message) ~= "string" then
      error(fname .. ": message must be a string, got " .. type(message), 3)
    end
    if kind == nil then
      kind = "Unknown"
    elseif type(kind) ~= "string" or kind == "" then
      error(fname .. ": kind must be a non-empty string", 3)
    end
    if details ~= nil and type(details) ~= "table" then
      error(fname .. ": details must be a table, got " .. type(details), 3)
    end
    if stack ~= nil and type(stack) ~= "string" then
      error(fname .. ": stack must be a string, got " .. type(stack), 3)
    end
    return {
      message = message,
      kind = kind,
      retryable = t.retryable and true or false,
      details = details,
      stack = stack,
    }
  end

  -- errors.new("msg") or errors.new{message=, kind=, retryable=, details=}.
  -- An error object is returned unchanged.
  function errors.new(v)
    if fields[v] then
      return v
    end
    local tv = type(v)
    if tv == "string" or tv == "number" then
      return make({ message = tostring(v), kind = "Unknown", retryable = false })
    elseif tv == "table" then
      return make(fields_from_table(v, "errors.new"))
    end
    error("errors.new: expected a string or a table, got " .. tv, 2)
  end

  -- A wrapper adds context only: it copies kind, retryable, details and
  -- stack from the cause and keeps the cause reachable through unwrap().
  -- A string cause is first made an UNKNOWN error.
  function errors.wrap(err, msg)
    local cause = fields[err] and err or nil
    if cause == nil then
      if type(err) ~= "string" then
        error("errors.wrap: expected an error object or a string, got " .. type(err), 2)
      end
      cause = errors.new(err)
    end
    if msg ~= nil and type(msg) ~= "string" then
      error("errors.wrap: message must be a string, got " .. type(msg), 2)
    end
    local c = fields[cause]
    return make({
      message = msg and (msg .. ": " .. c.message) or c.message,
      kind = c.kind,
      retryable = c.retryable,
      details = c.details,
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

  -- Turns a raw Lua error value (what pcall caught) into an INTERNAL error
  -- keeping the traceback. Error objects pass through unchanged. A value
  -- whose tostring is only an address ("table: 0x...") gets the standalone
  -- interpreter's wording instead: an address differs between replays.
  function errors.from_lua(value, traceback)
    if fields[value] then
      return value
    end
    local tv = type(value)
    local message
    if tv == "string" or tv == "number" then
      message = tostring(value)
    elseif tv == "table" or tv == "userdata" then
      local ok, s = pcall(tostring, value)
      if ok and type(s) == "string" and s:find(tv .. ": ", 1, true) ~= 1 then
        message = s
      end
    end
    message = message or ("(error object is a " .. tv .. " value)")
    return make({
      message = message,
      kind = "Internal",
      retryable = false,
      stack = type(traceback) == "string" and traceback or nil,
    })
  end

  -- Plain-data form for crossing into Python/msgpack. stack and cause are
  -- included only when present; cause is itself a plain table so errors.is
  -- still sees the chain after from_plain. details is passed by reference:
  -- the caller's payload copier decides whether it is plain data.
  local function to_plain(err)
    local f = check_error(err, "errors.to_plain")
    local cause = f.cause
    return {
      message = f.message,
      kind = f.kind,
      retryable = f.retryable,
      details = f.details,
      stack = f.stack,
      cause = cause and to_plain(cause) or nil,
    }
  end
  errors.to_plain = to_plain

  -- Kinds as stores written before luactor took Wippy's values hold them.
  local LEGACY_KINDS = {
    NOT_FOUND = "NotFound", ALREADY_EXISTS = "AlreadyExists", INVALID = "Invalid",
    PERMISSION_DENIED = "PermissionDenied", UNAVAILABLE = "Unavailable", INTERNAL = "Internal",
    CANCELED = "Canceled", CONFLICT = "Conflict", TIMEOUT = "Timeout", RATE_LIMITED = "RateLimited",
    UNKNOWN = "Unknown",
  }

  local function from_plain(t)
    if type(t) ~= "table" then
      error("errors.from_plain: expected a table, got " .. type(t), 2)
    end
    local f = fields_from_table(t, "errors.from_plain")
    f.kind = LEGACY_KINDS[f.kind] or f.kind
    if t.cause ~= nil then
      f.cause = from_plain(t.cause)
    end
    return make(f)
  end
  errors.from_plain = from_plain

  return errors
end
