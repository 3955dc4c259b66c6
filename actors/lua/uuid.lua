-- luactor/uuid.lua: the `uuid` module (RFC 9562), lowercase output.
--
-- deps.random_bytes(n) -> string of n random bytes; deps.now_ms() -> unix
-- milliseconds. Nothing else is read, so the output is determined by deps
-- and by the v7 state below.
--
-- v7 is monotonic per module instance (RFC 9562 6.2, method 1): within one
-- millisecond the 12-bit rand_a field is a counter that starts at a random
-- value below 0x800 and counts up. When the counter overflows, or the clock
-- goes back, the timestamp of the last UUID is advanced by 1 ms instead, so
-- every UUID sorts after the previous one.
return function(deps)
  local random_bytes, now_ms = deps.random_bytes, deps.now_ms
  local type, error = type, error
  local byte, format, find = string.byte, string.format, string.find
  local floor, math_type, tointeger = math.floor, math.type, math.tointeger

  local uuid = {}

  local LAYOUT = "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x"

  local function random(count)
    local bytes = random_bytes(count)
    if type(bytes) ~= "string" or #bytes ~= count then
      error("uuid: deps.random_bytes(" .. count .. ") did not return " .. count .. " bytes", 3)
    end
    return bytes
  end

  -- Bytes 7 and 9 get the version (0100) and variant (10) bits.
  function uuid.v4()
    local b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16 =
      byte(random(16), 1, 16)
    return format(LAYOUT, b1, b2, b3, b4, b5, b6,
      (b7 & 0x0f) | 0x40, b8, (b9 & 0x3f) | 0x80, b10,
      b11, b12, b13, b14, b15, b16)
  end

  local last_ms = -1  -- timestamp of the previous v7
  local counter = 0   -- its rand_a

  function uuid.v7()
    local ms = now_ms()
    if math_type(ms) ~= "integer" then
      ms = math_type(ms) == "float" and tointeger(floor(ms))
      if not ms then
        error("uuid: deps.now_ms() must return a finite number", 2)
      end
    end
    local r1, r2, r3, r4, r5, r6, r7, r8, r9, r10 = byte(random(10), 1, 10)
    if ms > last_ms then
      counter = ((r1 << 8) | r2) & 0x7ff
    elseif counter < 0xfff then
      ms, counter = last_ms, counter + 1
    else
      ms, counter = last_ms + 1, ((r1 << 8) | r2) & 0x7ff
    end
    last_ms = ms
    return format(LAYOUT,
      (ms >> 40) & 0xff, (ms >> 32) & 0xff, (ms >> 24) & 0xff, (ms >> 16) & 0xff,
      (ms >> 8) & 0xff, ms & 0xff,
      0x70 | (counter >> 8), counter & 0xff,
      (r3 & 0x3f) | 0x80, r4, r5, r6, r7, r8, r9, r10)
  end

  -- Canonical 8-4-4-4-12 hex form, either case; version bits are not checked.
  function uuid.validate(s)
    return type(s) == "string" and #s == 36
      and find(s, "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") ~= nil
  end

  return uuid
end
