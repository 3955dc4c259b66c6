-- The string and table libraries as processes see them: Lua's own, except
-- the functions that could work without bound in one call (see limits.lua).
--
-- A C function cannot be interrupted, so each of these either refuses, up
-- front, arguments that would take it past a limit (an Invalid error that
-- names the function, the argument and the limit), or does its work where
-- the runaway guard can stop it: table.sort of many elements compares
-- through a Lua function, and a table whose length comes from a __len
-- metamethod is shifted in Lua (C would ask __len again, and could get a
-- different answer). Pattern matching is patterns.lua's. Everything else is
-- Lua's function itself: linear in what it is given, and what it is given
-- is bounded by host.max_memory.
return function(deps)
  local errors, limits, patterns = deps.errors, deps.limits, deps.patterns
  local MAX_STRING, MAX_RANGE = limits.max_string, limits.max_range
  local SORT_IN_C, SORT_STRING_IN_C = limits.sort_in_c, limits.sort_string_in_c
  local c_rep, c_pack = string.rep, string.pack
  local c_concat, c_insert, c_remove, c_move, c_sort = table.concat, table.insert, table.remove, table.move, table.sort
  local gmatch, gsub, format = string.gmatch, string.gsub, string.format
  local type, tostring, tonumber, select, error, pcall, rawget, load =
    type, tostring, tonumber, select, error, pcall, rawget, load
  local tointeger, math_type = math.tointeger, math.type
  local getinfo, real_getmetatable = debug.getinfo, debug.getmetatable

  local function invalid(message)
    return errors.new({ kind = errors.INVALID, message = message })
  end

  --- The length of a string argument as C would see it (numbers are
  --- converted), or nil for anything else (C then raises its own error).
  local function string_length(v)
    local t = type(v)
    if t == "string" then return #v end
    if t == "number" then return #tostring(v) end
    return nil
  end

  -- string -------------------------------------------------------------------

  local strings = {}
  for name, fn in next, string do strings[name] = fn end
  strings.find, strings.match, strings.gmatch, strings.gsub =
    patterns.find, patterns.match, patterns.gmatch, patterns.gsub

  function strings.rep(s, n, sep)
    local count, len, sep_len = tointeger(n), string_length(s), sep == nil and 0 or string_length(sep)
    if count and len and sep_len and count > 0 then
      local size = (len + sep_len) * (count + 0.0) - sep_len
      if size == 0 then return "" end -- (C would loop `n` times to build it)
      if size > MAX_STRING then
        error(invalid(format("string.rep: %d copies of %d bytes make %.0f bytes, over the limit of %d bytes " ..
          "for a string built by a library function", count, len + sep_len, size, MAX_STRING)), 2)
      end
    end
    return c_rep(s, n, sep)
  end

  --- Every size a format asks for (c999, i16, !8...) and 16 bytes for each
  --- of its options: more than pack can make of it, strings given aside.
  local function pack_bound(fmt)
    local bound = 16.0 * #fmt
    if bound > MAX_STRING then return bound end
    for digits in gmatch(fmt, "%d+") do bound = bound + tonumber(digits) end
    return bound
  end

  function strings.pack(fmt, ...)
    if type(fmt) == "string" then
      local bound = pack_bound(fmt)
      if bound > MAX_STRING then
        error(invalid(format("string.pack: the format asks for up to %.0f bytes, over the limit of %d bytes " ..
          "for a string built by a library function", bound, MAX_STRING)), 2)
      end
    end
    return c_pack(fmt, ...)
  end

  -- table --------------------------------------------------------------------

  local function over_range(fname, count)
    return invalid(format("table.%s: would go through %.0f elements, over the limit of %d in one call",
      fname, count, MAX_RANGE))
  end

  local function has_len(t)
    local mt = real_getmetatable(t)
    return mt ~= nil and rawget(mt, "__len") ~= nil
  end

  local tables = {}
  for name, fn in next, table do tables[name] = fn end

  --- #t, asked once (C is then given the answer: a __len metamethod may
  --- not answer the same twice).
  local function length(t)
    local n = #t
    if math_type(n) ~= "integer" then error("object length is not an integer", 3) end
    return n
  end

  function tables.concat(t, sep, i, j)
    if type(t) == "table" then
      if j == nil then j = length(t) end
      local first, last = i == nil and 1 or tointeger(i), tointeger(j)
      if first and last and last - first + 1 > MAX_RANGE then error(over_range("concat", last - first + 1), 2) end
    end
    return c_concat(t, sep, i, j)
  end

  local function check_position(fname, pos, n)
    if pos < 1 or pos > n + 1 then error(format("bad argument #2 to '%s' (position out of bounds)", fname), 3) end
  end

  -- With a length from __len, elements are shifted here, in Lua.
  local function shift_up(t, n, pos, v)
    check_position("insert", pos, n)
    for i = n + 1, pos + 1, -1 do t[i] = t[i - 1] end
    t[pos] = v
  end

  local function shift_down(t, n, pos)
    if pos ~= n then check_position("remove", pos, n) end
    local removed = t[pos]
    for i = pos, n - 1 do t[i] = t[i + 1] end
    if pos <= n then t[n] = nil else t[pos] = nil end
    return removed
  end

  function tables.insert(t, ...)
    if type(t) == "table" and select("#", ...) == 2 then
      local n, pos = length(t), tointeger((...))
      if pos then
        if pos >= 1 and n + 1 - pos > MAX_RANGE then error(over_range("insert", n + 1 - pos), 2) end
        if has_len(t) then return shift_up(t, n, pos, select(2, ...)) end
      end
    end
    return c_insert(t, ...)
  end

  function tables.remove(t, pos)
    if type(t) == "table" then
      local n = length(t)
      local at = pos == nil and n or tointeger(pos)
      if at then
        if at >= 1 and n - at > MAX_RANGE then error(over_range("remove", n - at), 2) end
        if has_len(t) then return shift_down(t, n, at) end
      end
    end
    if pos == nil then return c_remove(t) end
    return c_remove(t, pos)
  end

  function tables.move(a1, f, e, t, a2)
    local first, last = tointeger(f), tointeger(e)
    if first and last and last - first + 1 > MAX_RANGE then error(over_range("move", last - first + 1), 2) end
    return c_move(a1, f, e, t, a2)
  end

  -- The comparisons a sort makes through Lua run as user code (the chunk is
  -- not named as the runtime's), so that the guard stops them: a comparison
  -- calls code of the process's, or C functions at its request.
  local SORT_CHUNK = "=[sort]"
  local comparators = load([[
    local less_than = function(a, b) return a < b end
    local function calling(cmp) return function(a, b) return cmp(a, b) end end
    return less_than, calling
  ]], SORT_CHUNK, "t", {})
  local less_than, calling = comparators()

  -- Lua's own message for a comparison that fails, without the chunk's line.
  local function sort_through_lua(t, cmp)
    local ok, e = pcall(c_sort, t, cmp)
    if ok then return end
    if type(e) == "string" then e = gsub(e, "^%[sort%]:%d+: ", "") end
    error(e, 0)
  end

  --- Can C sort `t` (no metatable, no comparator) in good time? Its
  --- comparisons are not counted, so only few elements, and no long
  --- strings (C compares two strings byte by byte).
  local function cheap_to_sort(t)
    if real_getmetatable(t) ~= nil then return false end
    local n = #t
    if n > SORT_IN_C then return false end
    for i = 1, n do
      local v = t[i]
      if type(v) == "string" and #v > SORT_STRING_IN_C then return false end
    end
    return true
  end

  --- A sort C could not finish in good time compares through Lua instead,
  --- where the guard counts and stops it: without a comparator, one that
  --- would not be cheap; with a C function as comparator, any.
  function tables.sort(t, cmp)
    if type(t) == "table" then
      if cmp == nil then
        if not cheap_to_sort(t) then return sort_through_lua(t, less_than) end
      elseif type(cmp) == "function" and getinfo(cmp, "S").what == "C" then
        return sort_through_lua(t, calling(cmp))
      end
    end
    return c_sort(t, cmp)
  end

  return { string = strings, table = tables }
end
