-- luactor/timevalue.lua: Duration and Time values for the `time` module
-- (the scheduler adds now/sleep/after/timer/ticker on top).
--
-- Both are int64 nanosecond counts wrapped in read-only objects; the count
-- lives in a private weak table because processes of a worker share these
-- objects (the constants at least) and must not be able to change them.
--
-- Durations follow Go's time.Duration: parse_duration takes Go syntax
-- ("1h30m", "1.5s", "-250ms", "10us"/"10µs"), tostring gives Go's String()
-- ("1h30m0s", "1.5µs"), arithmetic wraps around like int64. The range is
-- +-(2^63-1) ns, so Go's minimum duration does not parse.
--
-- Times are UTC instants since the Unix epoch in nanoseconds (years 1677 to
-- 2262). format_rfc3339 and tostring give RFC 3339 with the fraction of a
-- second only when it is nonzero and without trailing zeros (Go's
-- RFC3339Nano), e.g. "2026-11-24T22:10:41Z", "2026-11-24T22:10:41.5Z".
-- format(layout) takes Go reference-time layouts (Mon Jan 2 15:04:05 MST
-- 2006) with these tokens:
--   2006 06            year, 2-digit year
--   January Jan 01 1   month name, abbreviation, zero-padded, plain
--   Monday Mon         weekday name, abbreviation
--   02 _2 2            day: zero-padded, space-padded, plain
--   002 __2            day of year: zero-padded, space-padded
--   15 03 3            hour: 24-hour, 12-hour zero-padded, 12-hour plain
--   04 4 05 5          minute, second: zero-padded, plain
--   PM pm              AM/PM marker
--   .000 .999 ,000     fraction of a second with that many digits; the 9s
--                      form drops trailing zeros (and the separator if 0)
--   MST                "UTC"
--   Z07:00 Z0700 Z07 Z07:00:00 Z070000       "Z"
--   -07:00 -0700 -07 -07:00:00 -070000       "+00:00", "+0000", ...
-- Like Go, "Jan"/"Mon" followed by a lowercase letter are literal text.
return function(deps)
  local errors = deps.errors
  local type, tostring, error, setmetatable, pairs = type, tostring, error, setmetatable, pairs
  local byte, sub, find, format, gsub =
    string.byte, string.sub, string.find, string.format, string.gsub
  local concat = table.concat
  local floor, math_type, tointeger = math.floor, math.type, math.tointeger
  local maxinteger, mininteger = math.maxinteger, math.mininteger

  local NANOSECOND = 1
  local MICROSECOND = 1000
  local MILLISECOND = 1000000
  local SECOND = 1000000000
  local MINUTE = 60 * SECOND
  local HOUR = 60 * MINUTE
  local DAY = 24 * HOUR

  local timevalue = {}

  local function invalid(message)
    return errors.new({ kind = errors.INVALID, message = message })
  end

  ---------------------------------------------------------------------------
  -- Durations

  local duration_ns = setmetatable({}, { __mode = "k" })
  local duration_methods = {}
  local Duration = { __name = "Duration", __index = duration_methods, __metatable = "luactor.duration" }

  local function new_duration(ns)
    local d = setmetatable({}, Duration)
    duration_ns[d] = ns
    return d
  end

  local function is_duration(v)
    return duration_ns[v] ~= nil
  end

  local function ns_of(d, what)
    local ns = duration_ns[d]
    if ns == nil then
      error(what .. ": expected a Duration, got " .. type(d), 3)
    end
    return ns
  end

  -- Division truncated toward zero, as Go's integer division.
  local function quotient(a, b)
    local q = a // b
    if q < 0 and q * b ~= a then
      q = q + 1
    end
    return q
  end

  -- Go's Hours()/Minutes()/Seconds(): the whole units plus the remainder,
  -- so large durations keep their precision.
  local function in_units(ns, unit)
    local whole = quotient(ns, unit)
    return whole + (ns - whole * unit) / unit
  end

  function duration_methods.hours(d) return in_units(ns_of(d, "hours"), HOUR) end
  function duration_methods.minutes(d) return in_units(ns_of(d, "minutes"), MINUTE) end
  function duration_methods.seconds(d) return in_units(ns_of(d, "seconds"), SECOND) end
  function duration_methods.milliseconds(d) return quotient(ns_of(d, "milliseconds"), MILLISECOND) end
  function duration_methods.microseconds(d) return quotient(ns_of(d, "microseconds"), MICROSECOND) end
  function duration_methods.nanoseconds(d) return ns_of(d, "nanoseconds") end

  -- "whole.fraction" with the fraction written in `digits` digits, trailing
  -- zeros removed.
  local function decimal(whole, fraction, digits)
    if fraction == 0 then
      return tostring(whole)
    end
    return whole .. "." .. gsub(format("%0" .. digits .. "d", fraction), "0+$", "")
  end

  -- Go's Duration.String().
  local function format_duration(ns)
    if ns == 0 then
      return "0s"
    end
    -- Split before negating: -mininteger does not exist.
    local sign, secs, fraction = "", ns // SECOND, ns % SECOND
    if ns < 0 then
      sign = "-"
      if fraction > 0 then
        secs, fraction = -(secs + 1), SECOND - fraction
      else
        secs = -secs
      end
    end
    if secs == 0 then
      if fraction < MICROSECOND then
        return sign .. fraction .. "ns"
      elseif fraction < MILLISECOND then
        return sign .. decimal(fraction // MICROSECOND, fraction % MICROSECOND, 3) .. "µs"
      end
      return sign .. decimal(fraction // MILLISECOND, fraction % MILLISECOND, 6) .. "ms"
    end
    local text = decimal(secs % 60, fraction, 9) .. "s"
    local minutes = secs // 60
    if minutes > 0 then
      text = minutes % 60 .. "m" .. text
      local hours = minutes // 60
      if hours > 0 then
        text = hours .. "h" .. text
      end
    end
    return sign .. text
  end

  function Duration.__tostring(d)
    return format_duration(duration_ns[d])
  end

  function Duration.__newindex()
    error("Duration values are read-only", 2)
  end

  function Duration.__add(a, b)
    return new_duration(ns_of(a, "Duration +") + ns_of(b, "Duration +"))
  end

  function Duration.__sub(a, b)
    return new_duration(ns_of(a, "Duration -") - ns_of(b, "Duration -"))
  end

  function Duration.__eq(a, b)
    return duration_ns[a] == duration_ns[b]
  end

  function Duration.__lt(a, b)
    return ns_of(a, "Duration <") < ns_of(b, "Duration <")
  end

  function Duration.__le(a, b)
    return ns_of(a, "Duration <=") <= ns_of(b, "Duration <=")
  end

  local UNITS = {
    ns = NANOSECOND,
    us = MICROSECOND,
    ["\u{B5}s"] = MICROSECOND, -- micro sign
    ["\u{3BC}s"] = MICROSECOND, -- Greek small letter mu
    ms = MILLISECOND,
    s = SECOND,
    m = MINUTE,
    h = HOUR,
  }

  -- Go's time.ParseDuration. Returns ns, or nil and an INVALID error.
  local function parse_duration_ns(s)
    local function bad(reason)
      return nil, invalid(format('time: %s "%s"', reason, s))
    end
    local i, len, negative = 1, #s, false
    local sign = sub(s, 1, 1)
    if sign == "-" or sign == "+" then
      negative, i = sign == "-", 2
    end
    if i == len and sub(s, i) == "0" then
      return 0
    elseif i > len then
      return bad("invalid duration")
    end
    local total = 0
    while i <= len do
      local _, int_end = find(s, "^%d*", i)
      local int_digits = sub(s, i, int_end)
      local frac_digits = ""
      i = int_end + 1
      if byte(s, i) == 46 then -- .
        local _, frac_end = find(s, "^%d*", i + 1)
        frac_digits = sub(s, i + 1, frac_end)
        i = frac_end + 1
        if int_digits == "" and frac_digits == "" then
          return bad("invalid duration")
        end
      elseif int_digits == "" then
        return bad("invalid duration")
      end
      local _, unit_end = find(s, "^[^%d.]*", i)
      local unit = sub(s, i, unit_end)
      i = unit_end + 1
      if unit == "" then
        return bad("missing unit in duration")
      end
      local scale = UNITS[unit]
      if not scale then
        return bad('unknown unit "' .. unit .. '" in duration')
      end
      -- More than 19 significant digits cannot fit; tonumber gives a float
      -- for 19-digit values above maxinteger.
      int_digits = gsub(int_digits, "^0+", "")
      local whole = #int_digits <= 19 and tointeger(tonumber(int_digits ~= "" and int_digits or "0"))
      if not whole or whole > maxinteger // scale then
        return bad("invalid duration")
      end
      local value = whole * scale
      if frac_digits ~= "" then
        -- As Go: digits are taken while they fit in an int64, the fraction
        -- is scaled in floating point and truncated.
        local fraction, divisor = 0, 1.0
        for k = 1, #frac_digits do
          local next_fraction = fraction * 10 + (byte(frac_digits, k) - 48)
          if fraction > maxinteger // 10 or next_fraction < 0 then
            break
          end
          fraction, divisor = next_fraction, divisor * 10
        end
        value = value + floor(fraction * (scale / divisor))
      end
      if value < 0 or total > maxinteger - value then
        return bad("invalid duration")
      end
      total = total + value
    end
    return negative and -total or total
  end

  -- Duration, number of nanoseconds (floats truncated toward zero) or Go
  -- duration string -> integer ns, or nil and an INVALID error.
  local function to_ns(d)
    local ns = duration_ns[d]
    if ns then
      return ns
    end
    local td = type(d)
    if td == "number" then
      if math_type(d) == "integer" then
        return d
      elseif d ~= d or d >= 2 ^ 63 or d < -2 ^ 63 then
        return nil, invalid("invalid duration: " .. tostring(d) .. " ns is out of range")
      end
      return d >= 0 and floor(d) or -floor(-d)
    elseif td == "string" then
      return parse_duration_ns(d)
    end
    return nil, invalid("invalid duration: expected a Duration, a number of nanoseconds or a string, got " .. td)
  end

  function timevalue.duration(ns)
    local value, err = to_ns(ns)
    if value == nil then
      error(err, 2)
    end
    return new_duration(value)
  end

  function timevalue.parse_duration(s)
    if type(s) ~= "string" then
      return nil, invalid("time: invalid duration: expected a string, got " .. type(s))
    end
    local ns, err = parse_duration_ns(s)
    if ns == nil then
      return nil, err
    end
    return new_duration(ns)
  end

  timevalue.to_ns = to_ns
  timevalue.is_duration = is_duration

  -- What the `time` module re-exports: the Duration constants here and
  -- Go's layout strings below. Each is also a field of timevalue.
  local constants = {
    NANOSECOND = new_duration(NANOSECOND),
    MICROSECOND = new_duration(MICROSECOND),
    MILLISECOND = new_duration(MILLISECOND),
    SECOND = new_duration(SECOND),
    MINUTE = new_duration(MINUTE),
    HOUR = new_duration(HOUR),
  }
  timevalue.constants = constants

  ---------------------------------------------------------------------------
  -- Calendar

  local MONTH_NAMES = {
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
  }
  local DAY_NAMES = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
  }
  -- Days before the first of each month in a common year.
  local DAYS_BEFORE_MONTH = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 }

  -- UTC calendar fields of an instant. Date from days since the epoch by
  -- Howard Hinnant's civil_from_days (eras of 400 years starting 0000-03-01).
  local function calendar(ns)
    local days, nanos_of_day = ns // DAY, ns % DAY
    local z = days + 719468
    local era = z // 146097
    local day_of_era = z - era * 146097
    local year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524
      - day_of_era // 146096) // 365
    local day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    local mp = (5 * day_of_year + 2) // 153 -- month index counted from March
    local month = mp < 10 and mp + 3 or mp - 9
    local year = year_of_era + era * 400 + (month <= 2 and 1 or 0)
    local day = day_of_year - (153 * mp + 2) // 5 + 1
    local leap = year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)
    local secs_of_day = nanos_of_day // SECOND
    return {
      year = year,
      month = month,
      day = day,
      yday = DAYS_BEFORE_MONTH[month] + day + ((leap and month > 2) and 1 or 0),
      weekday = (days + 4) % 7, -- 1970-01-01 was a Thursday; 0 is Sunday
      hour = secs_of_day // 3600,
      minute = secs_of_day % 3600 // 60,
      second = secs_of_day % 60,
      nanosecond = nanos_of_day % SECOND,
    }
  end

  local function format_rfc3339(ns)
    local c = calendar(ns)
    local text = format("%04d-%02d-%02dT%02d:%02d:%02d",
      c.year, c.month, c.day, c.hour, c.minute, c.second)
    if c.nanosecond ~= 0 then
      text = text .. "." .. gsub(format("%09d", c.nanosecond), "0+$", "")
    end
    return text .. "Z"
  end

  local function hour12(c)
    local h = c.hour % 12
    return h == 0 and 12 or h
  end

  -- Layout token -> function(calendar fields) -> text.
  local RENDER = {
    ["2006"] = function(c) return format("%04d", c.year) end,
    ["06"] = function(c) return format("%02d", c.year % 100) end,
    January = function(c) return MONTH_NAMES[c.month] end,
    Jan = function(c) return sub(MONTH_NAMES[c.month], 1, 3) end,
    ["01"] = function(c) return format("%02d", c.month) end,
    ["1"] = function(c) return tostring(c.month) end,
    Monday = function(c) return DAY_NAMES[c.weekday + 1] end,
    Mon = function(c) return sub(DAY_NAMES[c.weekday + 1], 1, 3) end,
    ["02"] = function(c) return format("%02d", c.day) end,
    ["_2"] = function(c) return format("%2d", c.day) end,
    ["2"] = function(c) return tostring(c.day) end,
    ["002"] = function(c) return format("%03d", c.yday) end,
    ["__2"] = function(c) return format("%3d", c.yday) end,
    ["15"] = function(c) return format("%02d", c.hour) end,
    ["03"] = function(c) return format("%02d", hour12(c)) end,
    ["3"] = function(c) return tostring(hour12(c)) end,
    ["04"] = function(c) return format("%02d", c.minute) end,
    ["4"] = function(c) return tostring(c.minute) end,
    ["05"] = function(c) return format("%02d", c.second) end,
    ["5"] = function(c) return tostring(c.second) end,
    PM = function(c) return c.hour >= 12 and "PM" or "AM" end,
    pm = function(c) return c.hour >= 12 and "pm" or "am" end,
    MST = function() return "UTC" end,
  }
  -- Times are UTC: zone tokens render a zero offset.
  for token, text in pairs({
    ["Z070000"] = "Z", ["Z07:00:00"] = "Z", ["Z0700"] = "Z", ["Z07:00"] = "Z", ["Z07"] = "Z",
    ["-070000"] = "+000000", ["-07:00:00"] = "+00:00:00", ["-0700"] = "+0000",
    ["-07:00"] = "+00:00", ["-07"] = "+00",
  }) do
    RENDER[token] = function() return text end
  end

  -- Tokens that may start with a given character, longest or most specific
  -- first (the order of Go's nextStdChunk).
  local CANDIDATES = {
    J = { "January", "Jan" },
    M = { "Monday", "Mon", "MST" },
    ["0"] = { "01", "02", "03", "04", "05", "06", "002" },
    ["1"] = { "15", "1" },
    ["2"] = { "2006", "2" },
    ["_"] = { "_2", "__2" },
    ["3"] = { "3" },
    ["4"] = { "4" },
    ["5"] = { "5" },
    P = { "PM" },
    p = { "pm" },
    ["-"] = { "-070000", "-07:00:00", "-0700", "-07:00", "-07" },
    Z = { "Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07" },
  }

  -- The token starting at layout position i, or nil when that character is
  -- literal text.
  local function token_at(layout, i)
    local candidates = CANDIDATES[sub(layout, i, i)]
    if not candidates then
      return nil
    end
    for k = 1, #candidates do
      local token = candidates[k]
      if sub(layout, i, i + #token - 1) == token then
        local after = i + #token
        if (token == "Jan" or token == "Mon") and find(layout, "^%l", after) then
          return nil -- "Month", "Janet": words, not tokens
        elseif token == "_2" and sub(layout, after, after + 2) == "006" then
          return nil -- "_2006" is "_" then the year
        end
        return token
      end
    end
    return nil
  end

  local function format_layout(ns, layout)
    local c = calendar(ns)
    local parts, count = {}, 0
    local i, len, literal_start = 1, #layout, 1
    while i <= len do
      local token = token_at(layout, i)
      local text, token_end
      if token then
        text, token_end = RENDER[token](c), i + #token - 1
      else
        -- .000/.999 (or with a comma): a fraction unless more digits follow.
        local _, run_end = find(layout, "^[.,]0+", i)
        if not run_end then
          _, run_end = find(layout, "^[.,]9+", i)
        end
        if run_end and not find(layout, "^%d", run_end + 1) then
          local digits = run_end - i
          local fraction = sub(format("%09d", c.nanosecond), 1, digits)
          if byte(layout, i + 1) == 57 then -- 9: drop trailing zeros
            fraction = gsub(fraction, "0+$", "")
          end
          text = fraction ~= "" and sub(layout, i, i) .. fraction or ""
          token_end = run_end
        end
      end
      if text then
        parts[count + 1] = sub(layout, literal_start, i - 1)
        parts[count + 2] = text
        count = count + 2
        i = token_end + 1
        literal_start = i
      else
        i = i + 1
      end
    end
    parts[count + 1] = sub(layout, literal_start)
    return concat(parts)
  end

  -- Go's layout constants, under Go's names.
  constants.Layout = "01/02 03:04:05PM '06 -0700"
  constants.ANSIC = "Mon Jan _2 15:04:05 2006"
  constants.RFC822 = "02 Jan 06 15:04 MST"
  constants.RFC1123 = "Mon, 02 Jan 2006 15:04:05 MST"
  constants.RFC3339 = "2006-01-02T15:04:05Z07:00"
  constants.RFC3339Nano = "2006-01-02T15:04:05.999999999Z07:00"
  constants.Kitchen = "3:04PM"
  constants.DateTime = "2006-01-02 15:04:05"
  constants.DateOnly = "2006-01-02"
  constants.TimeOnly = "15:04:05"
  for name, value in pairs(constants) do
    timevalue[name] = value
  end

  ---------------------------------------------------------------------------
  -- Times

  local time_ns = setmetatable({}, { __mode = "k" })
  local time_methods = {}
  local Time = { __name = "Time", __index = time_methods, __metatable = "luactor.time" }

  local function new_time(ns)
    local t = setmetatable({}, Time)
    time_ns[t] = ns
    return t
  end

  local function instant(t, what)
    local ns = time_ns[t]
    if ns == nil then
      error(what .. ": expected a Time, got " .. type(t), 3)
    end
    return ns
  end

  function Time.__tostring(t)
    return format_rfc3339(time_ns[t])
  end

  function Time.__newindex()
    error("Time values are read-only", 2)
  end

  -- Floor division, so instants before 1970 round down as in Go.
  function time_methods.unix(t) return instant(t, "unix") // SECOND end
  function time_methods.unix_nano(t) return instant(t, "unix_nano") end

  -- Saturates at the extreme durations on overflow, as Go's Time.Sub.
  function time_methods.sub(t, u)
    local a, b = instant(t, "sub"), instant(u, "sub")
    local d = a - b
    if ((a ~ b) & (a ~ d)) < 0 then
      d = a < b and mininteger or maxinteger
    end
    return new_duration(d)
  end

  function time_methods.add(t, d)
    local a = instant(t, "add")
    local ns, err = to_ns(d)
    if ns == nil then
      error(err, 2)
    end
    local sum = a + ns
    if ((a ~ sum) & (ns ~ sum)) < 0 then
      error(invalid("time: add overflows the range of Time"), 2)
    end
    return new_time(sum)
  end

  function time_methods.before(t, u) return instant(t, "before") < instant(u, "before") end
  function time_methods.after(t, u) return instant(t, "after") > instant(u, "after") end
  function time_methods.equal(t, u) return instant(t, "equal") == instant(u, "equal") end

  function time_methods.format_rfc3339(t)
    return format_rfc3339(instant(t, "format_rfc3339"))
  end

  function time_methods.format(t, layout)
    local ns = instant(t, "format")
    if type(layout) ~= "string" then
      error("format: layout must be a string, got " .. type(layout), 2)
    end
    return format_layout(ns, layout)
  end

  function timevalue.from_unix_nano(ns)
    local value = math_type(ns) and tointeger(ns)
    if not value then
      error(invalid("time: from_unix_nano expects an integer, got " .. tostring(ns)), 2)
    end
    return new_time(value)
  end

  function timevalue.is_time(v)
    return time_ns[v] ~= nil
  end

  return timevalue
end
