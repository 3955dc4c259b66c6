-- Payload copying: what `process.send` hands to a receiver.
--
-- A payload is copied so the receiver never shares a mutable table with the
-- sender, and it is checked on the way: only nil, booleans, numbers, strings
-- and tables of these may cross. A Payload object (from `msg:payload()`)
-- stands for its data.
return function(deps)
  local errors = deps.errors
  local type, next, tostring = type, next, tostring
  local getmetatable = debug.getmetatable -- sees through __metatable
  local Payload, payload_data = deps.Payload, deps.payload_data

  local function refuse(what, path)
    return nil, errors.new({
      kind = errors.INVALID,
      message = "payload cannot hold " .. what .. (path ~= "" and (" (at " .. path .. ")") or ""),
    })
  end

  local copy_table

  local function copy_value(v, path, active)
    local tv = type(v)
    if tv == "table" then
      local mt = getmetatable(v)
      if mt == Payload then
        -- a Payload stands for its data (decoded, for the text formats)
        local data, e = payload_data(v)
        if e then return nil, e end
        return copy_value(data, path, active)
      end
      if mt ~= nil then
        if errors.is_error(v) then return copy_value(errors.to_plain(v), path, active) end
        return refuse(mt.__name and (mt.__name .. " object") or "a table with a metatable", path)
      end
      return copy_table(v, path, active)
    elseif tv == "function" or tv == "thread" or tv == "userdata" then
      return refuse("a " .. tv, path)
    end
    return v
  end

  copy_table = function(t, path, active)
    active = active or {}
    if active[t] then return refuse("a cyclic table", path) end
    active[t] = true
    local out = {}
    for k, v in next, t do
      local tk = type(k)
      if tk ~= "string" and tk ~= "number" and tk ~= "boolean" then
        return refuse("a " .. tk .. " key", path)
      end
      local cv, err
      local tv = type(v)
      if tv == "table" or tv == "function" or tv == "thread" or tv == "userdata" then
        cv, err = copy_value(v, path .. "." .. tostring(k), active)
        if err then return nil, err end
      else
        cv = v
      end
      out[k] = cv
    end
    active[t] = nil
    return out
  end

  --- Returns a private copy of `v`, or nil and an INVALID error.
  local function copy(v)
    local tv = type(v)
    if tv ~= "table" and tv ~= "function" and tv ~= "thread" and tv ~= "userdata" then
      return v
    end
    return copy_value(v, "", nil)
  end

  return copy
end
