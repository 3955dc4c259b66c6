-- Payload copying: what `process.send` hands to a receiver, and what every
-- other value leaving a process (a result, an error, spawn arguments,
-- context, log fields) becomes.
--
-- A payload is copied so the receiver never shares a mutable table with the
-- sender, and it is checked on the way: only nil, booleans, numbers, strings
-- and tables of these may cross, nested at most `max_depth` levels (a table
-- is one level) and holding at most `max_values` values as copied: a table
-- that appears twice is copied twice, so a few shared tables cannot stand
-- for an exponentially large payload. No table may have both the keys true
-- and 1 (or false and 0), which Python cannot tell apart. A Payload object
-- (from `msg:payload()`) stands for its data, an error object for its plain
-- form.
--
-- Copying runs no code of the value's: tables are read with `next`,
-- metatables with debug.getmetatable and rawget, compared with rawequal. So
-- the runtime may copy a value outside the process that made it (the result
-- of one that ended), and a copy always ends, in time bounded by the limits.
return function(deps)
  local errors = deps.errors
  local MAX_DEPTH, MAX_VALUES = deps.max_depth, deps.max_values
  local type, next, tostring, rawget, rawequal = type, next, tostring, rawget, rawequal
  local sub, gsub, format, concat, utf8_len = string.sub, string.gsub, string.format, table.concat, utf8.len
  local getmetatable = debug.getmetatable -- sees through __metatable
  local Payload, payload_data = deps.Payload, deps.payload_data

  -- A refusal unwinds the copy as `nil, trail`: `trail.what` is what was
  -- found, then the keys from it up to the copied value, the deepest first
  -- (unless it is about the whole value: `trail.whole`).
  local function refusal(what, whole) return nil, { what = what, whole = whole } end

  local function cannot_hold(v)
    local mt = getmetatable(v)
    local name = mt and rawget(mt, "__name")
    if type(name) == "string" then return name .. " object" end
    return mt and "a table with a metatable" or ("a " .. type(v))
  end

  local copy_table

  --- The copy of table-like `v` at `depth`; `state` holds the tables being
  --- copied (one met again is a cycle) and, at `left`, the values still allowed.
  local function copy_value(v, depth, state)
    if type(v) ~= "table" then return refusal(cannot_hold(v)) end
    local mt = getmetatable(v)
    if mt == nil then return copy_table(v, depth, state) end
    if rawequal(mt, Payload) then
      local data, e = payload_data(v)
      if e then return refusal("a payload that cannot be decoded (" .. errors.message_of(e) .. ")") end
      local td = type(data)
      if td == "table" or td == "function" or td == "thread" or td == "userdata" then
        return copy_value(data, depth, state)
      end
      return data
    end
    if errors.is_error(v) then return copy_table(errors.to_plain(v), depth, state) end
    return refusal(cannot_hold(v))
  end

  copy_table = function(t, depth, state)
    if depth > MAX_DEPTH then return refusal("tables nested deeper than " .. MAX_DEPTH .. " levels") end
    if state[t] then return refusal("a cyclic table") end
    state[t] = true
    local out, left = {}, state.left
    for k, v in next, t do
      left = left - 1
      if left < 0 then return refusal("more than " .. MAX_VALUES .. " values", true) end
      local tk = type(k)
      if tk == "boolean" then
        local twin = k and 1 or 0 -- the same key to Python (True == 1)
        if rawget(t, twin) ~= nil then return refusal("both keys " .. tostring(k) .. " and " .. twin) end
      elseif tk ~= "string" and tk ~= "number" then
        return refusal("a " .. tk .. " key")
      end
      local tv = type(v)
      if tv == "table" or tv == "function" or tv == "thread" or tv == "userdata" then
        state.left = left
        local cv, trail = copy_value(v, depth + 1, state)
        if trail then
          trail[#trail + 1] = k
          return nil, trail
        end
        left = state.left
        v = cv
      end
      out[k] = v
    end
    state.left = left
    state[t] = nil
    return out
  end

  local function escaped(byte) return format("\\x%02x", byte:byte()) end

  --- How a key reads in a path: text, cut short when long.
  local function key_text(k)
    if type(k) ~= "string" then return tostring(k) end
    if #k > 40 then k = sub(k, 1, 40) .. "..." end
    if utf8_len(k) then return k end
    return (gsub(k, "[\128-\255]", escaped))
  end

  --- Where a refusal was found: `.a.1.b`.
  local function path_of(trail)
    local parts = {}
    for i = #trail, 1, -1 do parts[#parts + 1] = "." .. key_text(trail[i]) end
    return concat(parts)
  end

  --- The copy of a table that holds only plain values under string and
  --- number keys, and has no metatable: most payloads. Nil for any other
  --- table, which the full copy then takes from the start: this one needs
  --- no state (no cycle can pass through it) and makes no trail.
  local function copy_flat(t)
    if getmetatable(t) ~= nil then return nil end
    local out, left = {}, MAX_VALUES
    for k, v in next, t do
      local tk, tv = type(k), type(v)
      if tv == "table" or tv == "function" or tv == "thread" or tv == "userdata"
        or (tk ~= "string" and tk ~= "number") then
        return nil
      end
      left = left - 1
      if left < 0 then return nil end
      out[k] = v
    end
    return out
  end

  --- A private copy of `v`, or nil and an Invalid error naming what it
  --- cannot hold and where.
  local function copy(v)
    local tv = type(v)
    if tv ~= "table" and tv ~= "function" and tv ~= "thread" and tv ~= "userdata" then
      return v
    end
    if tv == "table" then
      local flat = copy_flat(v)
      if flat then return flat end
    end
    local out, trail = copy_value(v, 1, { left = MAX_VALUES })
    if trail == nil then return out end
    local path = trail.whole and "" or path_of(trail)
    return nil, errors.new({
      kind = errors.INVALID,
      message = "payload cannot hold " .. trail.what .. (path ~= "" and (" (at " .. path .. ")") or ""),
    })
  end

  return copy
end
