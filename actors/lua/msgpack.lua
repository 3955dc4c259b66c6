-- msgpack in Lua: the form values take when they leave a Lua state.
--
-- Workers of one host exchange messages as msgpack strings (one string per
-- batch crosses the thread boundary, never a table walked key by key), and
-- a workflow host stores its history records in it. The encoding is what
-- Python's msgpack makes of the same data after the codec's conversion, so
-- Python reads these strings directly: UTF-8 strings as str and other
-- strings as bin, a table with keys exactly 1..n as an array and any other
-- (the empty one too) as a map, integers in their smallest form, floats as
-- float64. Decoding is the reverse; str and bin both become Lua strings.
--
-- Tables are read raw (next, rawget, rawlen): no metamethod runs. Nesting
-- past MAX_DEPTH (and so any cycle) is refused, decoding included.
return function()
  local spack, sunpack, char, concat = string.pack, string.unpack, string.char, table.concat
  local byte, sub = string.byte, string.sub
  local mtype, utf8len = math.type, utf8.len
  local rawlen, rawget, type, next, error, pcall = rawlen, rawget, type, next, error, pcall

  local M = { MAX_DEPTH = 200 }
  local MAX_DEPTH = M.MAX_DEPTH

  local function sized(n, small_tag, small_limit, tag8, tag16, tag32)
    if n < small_limit then return char(small_tag | n) end
    if tag8 and n < 256 then return spack(">BB", tag8, n) end
    if n < 65536 then return spack(">BI2", tag16, n) end
    return spack(">BI4", tag32, n)
  end

  --- The header of a bin of `len` bytes (bin has no short form).
  local function bin_header(len) return sized(len, nil, 0, 0xc4, 0xc5, 0xc6) end

  local encode_into

  local function encode_table(t, out, n, depth)
    local count = 0
    for _ in next, t do count = count + 1 end
    local array = count > 0 and rawlen(t) == count
    if array then
      for i = 1, count do
        if rawget(t, i) == nil then array = false break end
      end
    end
    if array then
      n = n + 1
      out[n] = sized(count, 0x90, 16, nil, 0xdc, 0xdd)
      for i = 1, count do n = encode_into(rawget(t, i), out, n, depth) end
    else
      n = n + 1
      out[n] = sized(count, 0x80, 16, nil, 0xde, 0xdf)
      for k, v in next, t do
        n = encode_into(k, out, n, depth)
        n = encode_into(v, out, n, depth)
      end
    end
    return n
  end

  -- Short strings (keys, topics, PIDs) come again and again: their
  -- encodings are kept, so encoding them makes no garbage. Wiped when large.
  local short, n_short = {}, 0

  encode_into = function(v, out, n, depth)
    local t = type(v)
    if t == "string" then
      local len = #v
      local cached = short[v]
      if cached then
        n = n + 1
        out[n] = cached
        return n
      end
      if len < 32 and utf8len(v) then
        if n_short >= 4096 then short, n_short = {}, 0 end
        cached = char(0xa0 | len) .. v
        short[v], n_short = cached, n_short + 1
        n = n + 1
        out[n] = cached
        return n
      end
      n = n + 1
      out[n] = utf8len(v) and sized(len, 0xa0, 32, 0xd9, 0xda, 0xdb) or bin_header(len)
      n = n + 1
      out[n] = v
    elseif t == "number" then
      n = n + 1
      if mtype(v) == "float" then
        out[n] = spack(">Bd", 0xcb, v)
      elseif v >= 0 then
        if v < 128 then out[n] = char(v)
        elseif v < 256 then out[n] = spack(">BB", 0xcc, v)
        elseif v < 65536 then out[n] = spack(">BI2", 0xcd, v)
        elseif v < 4294967296 then out[n] = spack(">BI4", 0xce, v)
        else out[n] = spack(">BI8", 0xcf, v) end
      elseif v >= -32 then out[n] = spack(">b", v)
      elseif v >= -128 then out[n] = spack(">Bb", 0xd0, v)
      elseif v >= -32768 then out[n] = spack(">Bi2", 0xd1, v)
      elseif v >= -2147483648 then out[n] = spack(">Bi4", 0xd2, v)
      else out[n] = spack(">Bi8", 0xd3, v) end
    elseif t == "table" then
      if depth >= MAX_DEPTH then error("nested deeper than " .. MAX_DEPTH .. " tables (or cyclic)", 0) end
      n = encode_table(v, out, n, depth + 1)
    elseif t == "boolean" then
      n = n + 1
      out[n] = v and "\xc3" or "\xc2"
    elseif v == nil then
      n = n + 1
      out[n] = "\xc0"
    else
      error("a " .. t .. " cannot be encoded", 0)
    end
    return n
  end

  --- Append the encoding of `v` to the pieces `out[1..n]`; returns the new
  --- count. Raises (a string) on what cannot be encoded.
  M.encode_into = encode_into

  -- The pieces of the value being encoded; reused, so encoding makes no
  -- table per value (entries past the current value's are left over).
  local pieces = {}

  --- `v` in msgpack and nil, or nil and why it cannot be encoded.
  function M.encode(v)
    local ok, n = pcall(encode_into, v, pieces, 0, 0)
    if not ok then return nil, n end
    return concat(pieces, "", 1, n), nil
  end

  -- Decoding -----------------------------------------------------------------

  local decode_at

  local function decode_array(s, pos, count, depth)
    local t = {}
    for i = 1, count do t[i], pos = decode_at(s, pos, depth) end
    return t, pos
  end

  local function decode_map(s, pos, count, depth)
    local t, k, v = {}, nil, nil
    for _ = 1, count do
      k, pos = decode_at(s, pos, depth)
      v, pos = decode_at(s, pos, depth)
      if k == nil or k ~= k then error("a map key that Lua cannot hold", 0) end
      t[k] = v
    end
    return t, pos
  end

  local function take(s, pos, len)
    local last = pos + len - 1
    if last > #s then error("truncated", 0) end
    return sub(s, pos, last), last + 1
  end

  decode_at = function(s, pos, depth)
    local tag = byte(s, pos)
    if tag == nil then error("truncated", 0) end
    pos = pos + 1
    if tag < 0x80 then return tag, pos end
    if tag >= 0xe0 then return tag - 0x100, pos end
    if tag >= 0xa0 and tag < 0xc0 then return take(s, pos, tag & 0x1f) end
    if tag < 0xa0 then
      if depth >= MAX_DEPTH then error("nested deeper than " .. MAX_DEPTH, 0) end
      if tag < 0x90 then return decode_map(s, pos, tag & 0x0f, depth + 1) end
      return decode_array(s, pos, tag & 0x0f, depth + 1)
    end
    if tag == 0xc0 then return nil, pos end
    if tag == 0xc2 then return false, pos end
    if tag == 0xc3 then return true, pos end
    if tag == 0xcb then return sunpack(">d", s, pos) end
    if tag == 0xca then return sunpack(">f", s, pos) end
    if tag == 0xcc then return sunpack(">B", s, pos) end
    if tag == 0xcd then return sunpack(">I2", s, pos) end
    if tag == 0xce then return sunpack(">I4", s, pos) end
    if tag == 0xcf then return sunpack(">i8", s, pos) end -- past 2^63-1: wraps, as Lua integers do
    if tag == 0xd0 then return sunpack(">b", s, pos) end
    if tag == 0xd1 then return sunpack(">i2", s, pos) end
    if tag == 0xd2 then return sunpack(">i4", s, pos) end
    if tag == 0xd3 then return sunpack(">i8", s, pos) end
    local len
    if tag == 0xd9 or tag == 0xc4 then len, pos = sunpack(">B", s, pos)
    elseif tag == 0xda or tag == 0xc5 then len, pos = sunpack(">I2", s, pos)
    elseif tag == 0xdb or tag == 0xc6 then len, pos = sunpack(">I4", s, pos)
    end
    if len then return take(s, pos, len) end
    if tag == 0xdc or tag == 0xdd or tag == 0xde or tag == 0xdf then
      if depth >= MAX_DEPTH then error("nested deeper than " .. MAX_DEPTH, 0) end
      local count
      count, pos = sunpack(tag % 2 == 0 and ">I2" or ">I4", s, pos)
      if count > #s - pos + 1 then error("truncated", 0) end -- each element takes a byte at least
      if tag <= 0xdd then return decode_array(s, pos, count, depth + 1) end
      return decode_map(s, pos, count, depth + 1)
    end
    error(string.format("unknown tag 0x%02x", tag), 0)
  end

  --- `true`, the value encoded at `pos` (default 1) of `s` and the position
  --- after it; or `false` and why when `s` holds no such value there.
  function M.decode(s, pos)
    return pcall(decode_at, s, pos or 1, 0)
  end

  return M
end
