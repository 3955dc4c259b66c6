-- luactor/uuid.lua: the `uuid` module (RFC 9562), lowercase output.
--
-- deps.errors; deps.random_bytes(n) -> string of n random bytes;
-- deps.now_ns() -> unix nanoseconds; deps.digest(algorithm, data) -> the
-- "md5" or "sha1" digest of data. Nothing else is read, so the output is
-- determined by deps and by the v1/v7 state below: a workflow gets its own
-- instance fed by its seeded generator and its clock, and replays it.
--
-- Every function returns `value, err` and never raises on bad input.
-- Inputs may be written in any of the four forms Go's uuid package reads:
-- standard (8-4-4-4-12), {braced}, urn:uuid:... and 32 hex digits, in
-- either case.
return function(deps)
  local errors, random_bytes, now_ns, digest = deps.errors, deps.random_bytes, deps.now_ns, deps.digest
  local type, tonumber = type, tonumber
  local byte, char, format, find, sub, lower, gsub =
    string.byte, string.char, string.format, string.find, string.sub, string.lower, string.gsub
  local floor, math_type, tointeger = math.floor, math.type, math.tointeger

  local uuid = {}

  local LAYOUT = "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x"
  -- 100-ns intervals from the Gregorian reform (v1's epoch) to the unix epoch
  local GREGORIAN_OFFSET = 0x01B21DD213814000

  local function invalid(message)
    return nil, errors.new({ kind = errors.INVALID, message = message })
  end

  local function generation_failed(message)
    return nil, errors.new({ kind = errors.INTERNAL, message = message })
  end

  -- A string of `count` random bytes, or nil when the source misbehaves.
  local function random(count)
    local bytes = random_bytes(count)
    if type(bytes) == "string" and #bytes == count then return bytes end
    return nil
  end

  local function clock_ns()
    local ns = now_ns()
    if math_type(ns) == "integer" then return ns end
    return math_type(ns) == "float" and tointeger(floor(ns)) or nil
  end

  -- The 32 lowercase hex digits of a UUID written in an accepted form, or
  -- nil. Only type, length and string patterns touch the value.
  local function hex_digits(s)
    if type(s) ~= "string" then return nil end
    local n = #s
    if n == 45 and lower(sub(s, 1, 9)) == "urn:uuid:" then
      s, n = sub(s, 10), 36
    elseif n == 38 and byte(s, 1) == 123 and byte(s, 38) == 125 then -- { }
      s, n = sub(s, 2, 37), 36
    end
    if n == 36 then
      if not find(s, "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") then
        return nil
      end
      return lower((gsub(s, "%-", "")))
    elseif n == 32 and find(s, "^%x+$") then
      return lower(s)
    end
    return nil
  end

  -- hex_digits for a documented `uuid` argument, or nil and the error.
  local function argument(fname, name, s)
    if type(s) ~= "string" then
      return invalid(format("uuid.%s: %s must be a string, got %s", fname, name, type(s)))
    end
    local hex = hex_digits(s)
    if not hex then
      return invalid(format("uuid.%s: %s is not a valid UUID", fname, name))
    end
    return hex
  end

  local function standard(hex)
    return sub(hex, 1, 8) .. "-" .. sub(hex, 9, 12) .. "-" .. sub(hex, 13, 16) .. "-"
      .. sub(hex, 17, 20) .. "-" .. sub(hex, 21, 32)
  end

  -- Writes 16 bytes as a UUID of `version` with the RFC 4122 variant.
  local function stamp(bytes, version)
    local b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14, b15, b16 = byte(bytes, 1, 16)
    return format(LAYOUT, b1, b2, b3, b4, b5, b6,
      (b7 & 0x0f) | (version << 4), b8, (b9 & 0x3f) | 0x80, b10,
      b11, b12, b13, b14, b15, b16)
  end

  function uuid.v4()
    local bytes = random(16)
    if not bytes then return generation_failed("uuid.v4: the random source failed") end
    return stamp(bytes, 4)
  end

  -- v1 state, drawn at the first v1 so that code using only v4/v7 draws
  -- nothing more from a workflow's generator. The node id is random with the
  -- multicast bit set (RFC 9562 6.10): no host address leaks into ids.
  local node, clock_seq
  local last_ticks = -1

  -- Ticks are 100-ns intervals. A tick that does not move past the last one
  -- is taken as the last plus one, so ids of one instance increase.
  function uuid.v1()
    local ns = clock_ns()
    if not ns then return generation_failed("uuid.v1: the clock gave no time") end
    if not node then
      local bytes = random(8)
      if not bytes then return generation_failed("uuid.v1: the random source failed") end
      local s1, s2, n1, n2, n3, n4, n5, n6 = byte(bytes, 1, 8)
      clock_seq = ((s1 << 8) | s2) & 0x3fff
      node = ((n1 | 0x01) << 40) | (n2 << 32) | (n3 << 24) | (n4 << 16) | (n5 << 8) | n6
    end
    local ticks = ns // 100 + GREGORIAN_OFFSET
    if ticks <= last_ticks then ticks = last_ticks + 1 end
    last_ticks = ticks
    return format("%08x-%04x-%04x-%04x-%012x",
      ticks & 0xffffffff, (ticks >> 32) & 0xffff, ((ticks >> 48) & 0x0fff) | 0x1000,
      clock_seq | 0x8000, node)
  end

  local last_ms = -1  -- timestamp of the previous v7
  local counter = 0   -- its rand_a

  -- v7 is monotonic per instance (RFC 9562 6.2, method 1): within one
  -- millisecond the 12-bit rand_a field is a counter that starts at a random
  -- value below 0x800 and counts up. When the counter overflows, or the
  -- clock goes back, the timestamp of the last UUID is advanced by 1 ms
  -- instead, so every UUID sorts after the previous one.
  function uuid.v7()
    local ns = clock_ns()
    if not ns then return generation_failed("uuid.v7: the clock gave no time") end
    local bytes = random(10)
    if not bytes then return generation_failed("uuid.v7: the random source failed") end
    local ms = ns // 1000000
    local r1, r2, r3, r4, r5, r6, r7, r8, r9, r10 = byte(bytes, 1, 10)
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

  -- v3 and v5: the digest of the namespace's 16 bytes and the name.
  local function name_based(fname, algorithm, version, namespace, name)
    local hex, e = argument(fname, "namespace", namespace)
    if not hex then return nil, e end
    if type(name) ~= "string" then
      return invalid(format("uuid.%s: name must be a string, got %s", fname, type(name)))
    end
    local raw = gsub(hex, "%x%x", function(pair) return char(tonumber(pair, 16)) end)
    local hash = digest(algorithm, raw .. name)
    if type(hash) ~= "string" or #hash < 16 then
      return generation_failed("uuid." .. fname .. ": hashing failed")
    end
    return stamp(hash, version)
  end

  function uuid.v3(namespace, name) return name_based("v3", "md5", 3, namespace, name) end
  function uuid.v5(namespace, name) return name_based("v5", "sha1", 5, namespace, name) end

  -- Any value may be checked: what is not a UUID string is false.
  function uuid.validate(input)
    return hex_digits(input) ~= nil
  end

  local function version_of(hex) return tonumber(sub(hex, 13, 13), 16) end

  -- Variant by the high bits of byte 9, named as RFC 4122 does (its
  -- "reserved" variants are NCS, Microsoft and Future).
  local function variant_of(hex)
    local b = tonumber(sub(hex, 17, 17), 16)
    if b < 8 then return "NCS"
    elseif b < 12 then return "RFC4122"
    elseif b < 14 then return "Microsoft"
    end
    return "Future"
  end

  function uuid.version(id)
    local hex, e = argument("version", "uuid", id)
    if not hex then return nil, e end
    return version_of(hex)
  end

  function uuid.variant(id)
    local hex, e = argument("variant", "uuid", id)
    if not hex then return nil, e end
    return variant_of(hex)
  end

  -- {version, variant}, plus timestamp (unix seconds) for v1 and v7 and
  -- node (12 hex digits) for v1.
  function uuid.parse(id)
    local hex, e = argument("parse", "uuid", id)
    if not hex then return nil, e end
    local version = version_of(hex)
    local info = { version = version, variant = variant_of(hex) }
    if version == 1 then
      local ticks = (tonumber(sub(hex, 14, 16), 16) << 48) | (tonumber(sub(hex, 9, 12), 16) << 32)
        | tonumber(sub(hex, 1, 8), 16)
      info.timestamp = (ticks - GREGORIAN_OFFSET) // 10000000
      info.node = sub(hex, 21, 32)
    elseif version == 7 then
      info.timestamp = tonumber(sub(hex, 1, 12), 16) // 1000
    end
    return info
  end

  local FORMATS = {
    standard = standard,
    simple = function(hex) return hex end,
    urn = function(hex) return "urn:uuid:" .. standard(hex) end,
  }

  function uuid.format(id, form)
    local hex, e = argument("format", "uuid", id)
    if not hex then return nil, e end
    if form == nil then form = "standard" end
    if type(form) ~= "string" then
      return invalid("uuid.format: format must be a string, got " .. type(form))
    end
    local write = FORMATS[form]
    if not write then
      return invalid('uuid.format: unsupported format (use "standard", "simple" or "urn")')
    end
    return write(hex)
  end

  return uuid
end
