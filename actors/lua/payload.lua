-- The `payload` global and the Payload objects messages and futures hand out.
--
-- A Payload is a value with a format: `lua/any` holds a Lua value as it is,
-- the text formats (JSON, YAML, plain text, bytes, msgpack) hold an encoded
-- string, `golang/error` an error object. `data()` and `unmarshal()` give
-- the Lua value (decoding the text formats); `transcode(format)` gives a
-- Payload of another format. A Payload object is the table `{value,
-- format}` (the format only when it is not `lua/any`), so wrapping a
-- message's payload costs one small table.
--
-- deps: errors, json() -> the json module (made after this one),
-- encode(format, value) / decode(format, text) for the formats Python
-- knows (msgpack, YAML): `text, nil` / `value, nil` or `nil, message`.
return function(deps)
  local errors = deps.errors
  local type, setmetatable, rawget, tostring = type, setmetatable, rawget, tostring
  local math_type = math.type

  local FORMAT = {
    JSON = "json/plain",
    YAML = "yaml/plain",
    STRING = "text/plain",
    BYTES = "application/octet-stream",
    MSGPACK = "application/msgpack",
    LUA = "lua/any",
    GOLANG = "golang/any",
    ERROR = "golang/error",
  }
  local LUA, ERROR = FORMAT.LUA, FORMAT.ERROR
  local KNOWN = {}
  for _, f in pairs(FORMAT) do KNOWN[f] = true end

  local Payload = { __name = "payload", __metatable = false }
  Payload.__index = Payload

  local function internal(message)
    return errors.new({ kind = errors.INTERNAL, message = message, retryable = false })
  end

  --- A Payload of format `lua/any` around `value` (not copied).
  local function wrap(value) return setmetatable({ value }, Payload) end

  local function format_of(p) return rawget(p, 2) or LUA end

  --- The Lua value of Payload `p`: `value, nil` or `nil, err`.
  local function data_of(p)
    local format, value = format_of(p), rawget(p, 1)
    if format == LUA or format == ERROR or format == FORMAT.GOLANG then return value, nil end
    if format == FORMAT.STRING or format == FORMAT.BYTES then return value, nil end
    if format == FORMAT.JSON then
      local decoded, e = deps.json().decode(value)
      if e then return nil, internal("payload: cannot decode its JSON: " .. e:message()) end
      return decoded, nil
    end
    local decoded, problem = deps.decode(format, value)
    if problem then return nil, internal("payload: cannot decode its " .. format .. ": " .. tostring(problem)) end
    return decoded, nil
  end

  --- `value` (a Lua value) encoded as `format`: `text, nil` or `nil, err`.
  local function encode(value, format)
    if format == LUA or format == FORMAT.GOLANG then return value, nil end
    if format == ERROR then
      if errors.is_error(value) then return value, nil end
      return nil, internal("payload: only an error can be transcoded to " .. ERROR)
    end
    if format == FORMAT.JSON then
      local text, e = deps.json().encode(value)
      if e then return nil, internal("payload: cannot encode as JSON: " .. e:message()) end
      return text, nil
    end
    if format == FORMAT.STRING or format == FORMAT.BYTES then
      if type(value) == "string" then return value, nil end
      if math_type(value) or type(value) == "boolean" then return tostring(value), nil end
      local text, e = deps.json().encode(value)
      if e then return nil, internal("payload: cannot encode as " .. format .. ": " .. e:message()) end
      return text, nil
    end
    local text, problem = deps.encode(format, value)
    if problem then return nil, internal("payload: cannot encode as " .. format .. ": " .. tostring(problem)) end
    return text, nil
  end

  local real_metatable = debug.getmetatable -- sees through __metatable
  local function not_a_payload(v)
    return nil, errors.new({ kind = errors.INVALID, message = "expected a payload, got " .. type(v) })
  end

  function Payload:data()
    if real_metatable(self) ~= Payload then return not_a_payload(self) end
    -- (indexing a table of ours runs no user code: a missing key finds Payload's methods)
    if self[2] == nil then return self[1], nil end -- lua/any: the value as it is
    return data_of(self)
  end
  Payload.unmarshal = Payload.data
  function Payload:get_format()
    if real_metatable(self) ~= Payload then return not_a_payload(self) end
    return format_of(self)
  end
  function Payload:transcode(format)
    if real_metatable(self) ~= Payload then return not_a_payload(self) end
    if type(format) ~= "string" or not KNOWN[format] then
      return nil, errors.new({ kind = errors.INVALID, message = "payload:transcode: unknown format " .. tostring(format) })
    end
    if format == format_of(self) then return self, nil end
    local value, e = data_of(self)
    if e then return nil, e end
    local encoded
    encoded, e = encode(value, format)
    if e then return nil, e end
    if format == LUA then return wrap(encoded), nil end
    return setmetatable({ encoded, format }, Payload), nil
  end

  local api = { format = FORMAT }

  --- payload.new(value): a Payload of the value (an error gets the error
  --- format). The value is the caller's own; sending it copies it.
  function api.new(value)
    if errors.is_error(value) then return setmetatable({ value, ERROR }, Payload) end
    return wrap(value)
  end

  return { api = api, Payload = Payload, wrap = wrap, data_of = data_of }
end
