-- luactor/json.lua: the `json` module.
--
-- Encoding:
--   * A table whose keys are exactly 1..n is an array, and so is the empty
--     table ([]); a table whose keys are all strings is an object. Other
--     tables fail: numeric and string keys mixed, integer keys with gaps or
--     outside 1..n (sparse arrays), keys of other types.
--   * Object keys are written in sorted order. pairs() order depends on a
--     per-state hash seed, and workflows replay, so output must not.
--   * NaN and infinities encode as null, as does json.null. An error object
--     encodes as its plain form (errors.to_plain).
--   * Functions, coroutines, userdata, runtime objects (tables whose
--     metatable is protected: channels, futures, times...), cycles, nesting
--     deeper than 128 levels and strings that are not valid UTF-8 fail with
--     an INTERNAL error that names the path ($.a[2]); Lua indices in paths
--     are 1-based. So does a value of more than deps.max_values values as
--     written out, as a payload may hold (a table held twice is written
--     twice: a few shared tables could stand for an endless text).
--   * Floats always carry a '.' or an exponent (1.0 -> "1.0") so that they
--     decode back as floats; they use the shortest of %.15g/%.16g/%.17g
--     that reads back exactly.
--   * Tables are read raw (next/rawget): no metamethod of user code runs.
--
-- Decoding:
--   * null decodes to nil. In an object the member is dropped; in an array
--     the other elements keep their indices, so [1,null,3] is {1,nil,3}
--     (a table with a hole) and trailing nulls shorten the array.
--   * Integers that fit in 64 bits stay Lua integers; numbers with a
--     fraction or an exponent, and larger integers, are floats.
--   * \uXXXX escapes (surrogate pairs too) become UTF-8; a lone surrogate
--     becomes U+FFFD, as in Go's encoding/json. The text must be UTF-8.
--   * Duplicate keys: the last one wins.
--   * Errors are INTERNAL and give line, column and byte offset; details
--     hold {position=, line=, column=}. Nesting deeper than 128 levels
--     fails too, before any deeper level is read.
--
-- Schema validation: the schema (a table or JSON text) and the data are
-- turned into JSON text here and handed to deps.validate(schema_text,
-- data_text), which answers nil when the data is valid, else the kind and
-- message of the error. So only strings cross into Python.
return function(deps)
  local errors = deps.errors
  local is_error, to_plain = errors.is_error, errors.to_plain

  local type, next, tostring, tonumber, error, pcall, rawget, rawequal =
    type, next, tostring, tonumber, error, pcall, rawget, rawequal
  local setmetatable, getmetatable = setmetatable, getmetatable
  local byte, char, find, format, sub, gsub =
    string.byte, string.char, string.find, string.format, string.sub, string.gsub
  local concat, sort = table.concat, table.sort
  local math_type, huge = math.type, math.huge
  local utf8_len, utf8_char = utf8.len, utf8.char

  local MAX_DEPTH = 128
  local MAX_VALUES = deps.max_values

  local json = {}

  local null = setmetatable({}, {
    __tostring = function() return "json.null" end,
    __newindex = function() error("json.null is read-only", 2) end,
    __metatable = "json.null",
  })
  json.null = null

  -- Internal failures are raised as tables with this metatable and turned
  -- into `nil, err` at the API boundary; anything else is a bug and is
  -- re-raised.
  local Failure = {}

  local function fail(message, position)
    error(setmetatable({ message = message, position = position }, Failure), 0)
  end

  ---------------------------------------------------------------------------
  -- Encoding. The state below belongs to the encode call in progress: an
  -- encode never yields and runs no user code, so calls cannot interleave.

  local buf, n       -- output pieces and their count
  local path         -- path[d] = key of the value at depth d, for messages
  local in_progress  -- tables on the current path, for cycle detection
  local left         -- values that may still be written

  local ESCAPES = {
    ['"'] = '\\"', ["\\"] = "\\\\",
    ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
  }
  for code = 0, 31 do
    local c = char(code)
    ESCAPES[c] = ESCAPES[c] or format("\\u%04x", code)
  end
  ESCAPES["\127"] = "\\u007f" -- %c matches DEL too

  -- Keys in messages are escaped as in JSON, and bytes that are not UTF-8
  -- as \xNN: error messages must be valid text.
  local function printable(key)
    key = gsub(key, '[%c"\\]', ESCAPES)
    if not utf8_len(key) then
      key = gsub(key, "[\128-\255]", function(c) return format("\\x%02x", byte(c)) end)
    end
    return key
  end

  -- Deep paths keep their first 16 and last 8 steps, long keys their first
  -- 64 bytes.
  local function path_string(depth)
    local parts = { "$" }
    for d = 1, depth do
      local key = path[d]
      if d > 16 and d <= depth - 8 then
        if d == 17 then
          parts[#parts + 1] = "..."
        end
      elseif math_type(key) == "integer" then
        parts[#parts + 1] = "[" .. key .. "]"
      elseif #key > 64 then
        parts[#parts + 1] = '["' .. printable(sub(key, 1, 64)) .. '..."]'
      elseif find(key, "^[%a_][%w_]*$") then
        parts[#parts + 1] = "." .. key
      else
        parts[#parts + 1] = '["' .. printable(key) .. '"]'
      end
    end
    return concat(parts)
  end

  local function encode_failure(message, depth)
    fail(message .. " at " .. path_string(depth))
  end

  local function encode_string(s, depth)
    if not utf8_len(s) then
      encode_failure("string is not valid UTF-8", depth)
    end
    if find(s, '[%c"\\]') then
      s = gsub(s, '[%c"\\]', ESCAPES)
    end
    buf[n + 1] = '"'
    buf[n + 2] = s
    buf[n + 3] = '"'
    n = n + 3
  end

  local function format_float(x)
    if x ~= x or x == huge or x == -huge then
      return "null"
    end
    local s = format("%.15g", x)
    if tonumber(s) ~= x then
      s = format("%.16g", x)
      if tonumber(s) ~= x then
        s = format("%.17g", x)
      end
    end
    if not find(s, "[.e]") then
      s = s .. ".0"
    end
    return s
  end

  local encode_value

  local function encode_array(t, count, depth)
    n = n + 1
    buf[n] = "["
    for i = 1, count do
      if i > 1 then
        n = n + 1
        buf[n] = ","
      end
      path[depth + 1] = i
      encode_value(rawget(t, i), depth + 1)
    end
    n = n + 1
    buf[n] = "]"
  end

  -- names holds the table's keys, all strings; they are written sorted.
  local function encode_object(t, names, count, depth)
    sort(names)
    n = n + 1
    buf[n] = "{"
    for i = 1, count do
      local name = names[i]
      if i > 1 then
        n = n + 1
        buf[n] = ","
      end
      path[depth + 1] = name
      encode_string(name, depth + 1)
      n = n + 1
      buf[n] = ":"
      encode_value(rawget(t, name), depth + 1)
    end
    n = n + 1
    buf[n] = "}"
  end

  -- Sorts the keys out before writing anything: which kinds there are
  -- decides between array, object and failure, whatever order next() gives.
  local function encode_table(t, depth)
    if in_progress[t] then
      encode_failure("cycle: a table contains itself", depth)
    elseif depth >= MAX_DEPTH then
      encode_failure("nesting deeper than " .. MAX_DEPTH .. " levels", depth)
    end
    in_progress[t] = true
    local names, strings = {}, 0
    local indices, max_index = 0, 0
    local odd_number -- a numeric key that cannot be an array index
    for key in next, t do
      local tk = type(key)
      if tk == "string" then
        strings = strings + 1
        names[strings] = key
      elseif math_type(key) == "integer" and key >= 1 then
        indices = indices + 1
        if key > max_index then
          max_index = key
        end
      elseif tk == "number" then
        odd_number = key
      else
        encode_failure("cannot encode a key of type " .. tk, depth)
      end
    end
    if strings > 0 and (indices > 0 or odd_number) then
      encode_failure("cannot encode a table with both numeric and string keys", depth)
    elseif odd_number then
      encode_failure(format("cannot encode a table with numeric key %.14g (not an array index)", odd_number), depth)
    elseif max_index > indices then
      encode_failure(format("cannot encode a sparse array (%d elements, highest index %d)", indices, max_index),
        depth)
    elseif strings > 0 then
      encode_object(t, names, strings, depth)
    else
      encode_array(t, indices, depth)
    end
    in_progress[t] = nil
  end

  -- A table whose metatable is protected (getmetatable gives the
  -- __metatable field, read raw, instead of the metatable) is a runtime
  -- object such as a channel or a time: its fields are not its value.
  local function is_opaque(v)
    local mt = getmetatable(v)
    return mt ~= nil and type(mt) ~= "table"
  end

  encode_value = function(v, depth)
    left = left - 1
    if left < 0 then encode_failure("more than " .. MAX_VALUES .. " values", depth) end
    local tv = type(v)
    if tv == "string" then
      encode_string(v, depth)
    elseif tv == "number" then
      n = n + 1
      buf[n] = math_type(v) == "integer" and tostring(v) or format_float(v)
    elseif tv == "boolean" then
      n = n + 1
      buf[n] = v and "true" or "false"
    elseif tv == "nil" or rawequal(v, null) then
      n = n + 1
      buf[n] = "null"
    elseif tv ~= "table" then
      encode_failure("cannot encode a " .. tv, depth)
    elseif is_error(v) then
      encode_table(to_plain(v), depth)
    elseif is_opaque(v) then
      encode_failure("cannot encode a runtime object (a table with a protected metatable)", depth)
    else
      encode_table(v, depth)
    end
  end

  -- value -> JSON text, or nil and the reason.
  local function encode(value)
    buf, n, path, in_progress, left = {}, 0, {}, {}, MAX_VALUES
    local ok, failure = pcall(encode_value, value, 0)
    local out = ok and concat(buf, "", 1, n)
    buf, path, in_progress = nil, nil, nil
    if ok then
      return out
    elseif getmetatable(failure) == Failure then
      return nil, failure.message
    end
    error(failure, 0)
  end

  -- json.encode(value) -> string, or nil and an INTERNAL error.
  function json.encode(value)
    local out, problem = encode(value)
    if out then return out end
    return nil, errors.new({ kind = errors.INTERNAL, message = "json.encode: " .. problem })
  end

  ---------------------------------------------------------------------------
  -- Decoding: recursive descent over `src`, positions are byte offsets.
  -- Like encoding, a decode call runs to completion without interleaving.

  local src, src_len

  local UNESCAPES = {
    [34] = '"', [92] = "\\", [47] = "/",
    [98] = "\b", [102] = "\f", [110] = "\n", [114] = "\r", [116] = "\t",
  }

  -- Characters that end the plain run of a string: quote, backslash and
  -- the control characters JSON forbids raw.
  local STRING_STOP = '["\\\0-\31]'

  local function unexpected(i)
    if i > src_len then
      fail("unexpected end of input", i)
    end
    local c = byte(src, i)
    if c >= 32 and c < 127 then
      fail(format("unexpected character '%s'", char(c)), i)
    end
    fail(format("unexpected byte 0x%02x", c), i)
  end

  -- Compact JSON has no whitespace: test one byte before searching.
  local function skip_space(i)
    local c = byte(src, i)
    if c ~= 32 and c ~= 10 and c ~= 13 and c ~= 9 then
      return i
    end
    local _, e = find(src, "^[ \t\r\n]*", i + 1)
    return e + 1
  end

  -- i is at the backslash of \uXXXX. Returns a code point and the next index.
  local function decode_unicode_escape(i)
    local hex = find(src, "^%x%x%x%x", i + 2) and sub(src, i + 2, i + 5)
    if not hex then
      fail("invalid \\u escape", i)
    end
    local cp, after = tonumber(hex, 16), i + 6
    if cp >= 0xD800 and cp <= 0xDBFF then
      if find(src, "^\\u[dD][c-fC-F]%x%x", after) then
        local low = tonumber(sub(src, after + 2, after + 5), 16)
        return 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00), after + 6
      end
      return 0xFFFD, after
    elseif cp >= 0xDC00 and cp <= 0xDFFF then
      return 0xFFFD, after
    end
    return cp, after
  end

  -- i is at the opening quote. Returns the string and the index after it.
  local function decode_string(i)
    local run_start = i + 1
    local stop = find(src, STRING_STOP, run_start)
    if stop and byte(src, stop) == 34 then
      return sub(src, run_start, stop - 1), stop + 1
    end
    local parts, count = {}, 0
    while true do
      if not stop then
        fail("unterminated string", i)
      end
      local c = byte(src, stop)
      count = count + 1
      parts[count] = sub(src, run_start, stop - 1)
      if c == 34 then
        return concat(parts), stop + 1
      elseif c ~= 92 then
        fail("control character in string", stop)
      end
      local escape = byte(src, stop + 1)
      count = count + 1
      if escape == 117 then -- u
        local cp
        cp, run_start = decode_unicode_escape(stop)
        parts[count] = utf8_char(cp)
      else
        local unescaped = UNESCAPES[escape]
        if not unescaped then
          fail("invalid escape", stop)
        end
        parts[count] = unescaped
        run_start = stop + 2
      end
      stop = find(src, STRING_STOP, run_start)
    end
  end

  local function decode_number(i)
    local int_start = byte(src, i) == 45 and i + 1 or i
    local _, e = find(src, "^%d+", int_start)
    if not e then
      unexpected(int_start)
    elseif e > int_start and byte(src, int_start) == 48 then
      fail("leading zero in number", int_start)
    end
    local c = byte(src, e + 1)
    if c == 46 then -- .
      _, e = find(src, "^%d+", e + 2)
      if not e then
        fail("digits expected after decimal point", i)
      end
      c = byte(src, e + 1)
    end
    if c == 101 or c == 69 then -- e E
      _, e = find(src, "^[-+]?%d+", e + 2)
      if not e then
        fail("digits expected in exponent", i)
      end
    end
    return tonumber(sub(src, i, e)), e + 1
  end

  local decode_value

  local function decode_array(i, depth)
    if depth >= MAX_DEPTH then
      fail("nesting deeper than " .. MAX_DEPTH .. " levels", i)
    end
    local array, count = {}, 0
    i = skip_space(i + 1)
    if byte(src, i) == 93 then -- ]
      return array, i + 1
    end
    while true do
      local value
      value, i = decode_value(i, depth + 1)
      count = count + 1
      array[count] = value
      i = skip_space(i)
      local c = byte(src, i)
      if c == 93 then
        return array, i + 1
      elseif c ~= 44 then -- ,
        unexpected(i)
      end
      i = skip_space(i + 1)
    end
  end

  local function decode_object(i, depth)
    if depth >= MAX_DEPTH then
      fail("nesting deeper than " .. MAX_DEPTH .. " levels", i)
    end
    local object = {}
    i = skip_space(i + 1)
    if byte(src, i) == 125 then -- }
      return object, i + 1
    end
    while true do
      if byte(src, i) ~= 34 then
        unexpected(i)
      end
      local key, value
      key, i = decode_string(i)
      i = skip_space(i)
      if byte(src, i) ~= 58 then -- :
        unexpected(i)
      end
      value, i = decode_value(skip_space(i + 1), depth + 1)
      object[key] = value
      i = skip_space(i)
      local c = byte(src, i)
      if c == 125 then
        return object, i + 1
      elseif c ~= 44 then
        unexpected(i)
      end
      i = skip_space(i + 1)
    end
  end

  -- i is at the first character of the value (whitespace already skipped).
  decode_value = function(i, depth)
    local c = byte(src, i)
    if c == 34 then
      return decode_string(i)
    elseif c == 123 then
      return decode_object(i, depth)
    elseif c == 91 then
      return decode_array(i, depth)
    elseif c == 45 or (c and c >= 48 and c <= 57) then
      return decode_number(i)
    elseif c == 116 and sub(src, i, i + 3) == "true" then
      return true, i + 4
    elseif c == 102 and sub(src, i, i + 4) == "false" then
      return false, i + 5
    elseif c == 110 and sub(src, i, i + 3) == "null" then
      return nil, i + 4
    end
    unexpected(i)
  end

  local function decode_document()
    local value, i = decode_value(skip_space(1), 0)
    i = skip_space(i)
    if i <= src_len then
      unexpected(i)
    end
    return value
  end

  local function decode_error(message, position, text)
    local line, line_start = 1, 1
    while true do
      local newline = find(text, "\n", line_start, true)
      if not newline or newline >= position then
        break
      end
      line, line_start = line + 1, newline + 1
    end
    local column = position - line_start + 1
    return errors.new({
      kind = errors.INTERNAL,
      message = format("json.decode: %s at line %d, column %d (byte %d)",
        message, line, column, position),
      details = { position = position, line = line, column = column },
    })
  end

  -- json.decode(text) -> value, or nil and an INTERNAL error (INVALID when
  -- text is not a string).
  function json.decode(text)
    if type(text) ~= "string" then
      return nil, errors.new({
        kind = errors.INVALID,
        message = "json.decode: expected a string, got " .. type(text),
      })
    end
    local valid, bad_position = utf8_len(text)
    if not valid then
      return nil, decode_error("invalid UTF-8", bad_position, text)
    end
    src, src_len = text, #text
    local ok, result = pcall(decode_document)
    src = nil
    if ok then
      return result
    elseif getmetatable(result) == Failure then
      return nil, decode_error(result.message, result.position, text)
    end
    error(result, 0)
  end

  ---------------------------------------------------------------------------
  -- Schema validation.

  local validate = deps.validate

  local function invalid(message)
    return false, errors.new({ kind = errors.INVALID, message = message })
  end

  -- A schema as JSON text, or nil and the error.
  local function schema_text(fname, schema)
    local ts = type(schema)
    if ts == "string" then
      return schema
    elseif ts ~= "table" then
      return invalid(fname .. ": schema must be a table or a string, got " .. ts)
    end
    local text, problem = encode(schema)
    if not text then
      return invalid(fname .. ": schema cannot be compiled: " .. problem)
    end
    return text
  end

  local function check(fname, schema_json, data_json)
    local kind, message = validate(schema_json, data_json)
    if kind == nil then return true end
    return false, errors.new({ kind = kind, message = fname .. ": " .. message })
  end

  -- json.validate(schema, data) -> true, or false and an INVALID error
  -- (INTERNAL when data cannot be encoded).
  function json.validate(schema, data)
    local schema_json, e = schema_text("json.validate", schema)
    if not schema_json then return false, e end
    local text, problem = encode(data)
    if not text then
      return false, errors.new({ kind = errors.INTERNAL, message = "json.validate: data: " .. problem })
    end
    return check("json.validate", schema_json, text)
  end

  -- json.validate_string(schema, json_str): as validate, for JSON text;
  -- text that is not JSON is an INTERNAL error.
  function json.validate_string(schema, json_str)
    local schema_json, e = schema_text("json.validate_string", schema)
    if not schema_json then return false, e end
    if type(json_str) ~= "string" then
      return invalid("json.validate_string: json_str must be a string, got " .. type(json_str))
    end
    return check("json.validate_string", schema_json, json_str)
  end

  return json
end
