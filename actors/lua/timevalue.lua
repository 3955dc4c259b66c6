-- Duration, Location and Time values of the `time` module, and the module
-- functions that make them (timemod adds now, sleep, timers and tickers).
--
-- The objects user code holds are empty handles; their state lives in
-- private weak tables. Every process of a worker shares the module and its
-- Locations, so those must not be changeable: Locations are the sandbox's
-- read-only proxies (which `rawset` refuses), and Durations and Times are
-- made per call, so a process can only scribble on its own.
--
-- Durations follow Go's time.Duration: int64 nanoseconds. The duration
-- constants are plain integers; a function taking a duration accepts an
-- integer or float of nanoseconds, a Go duration string ("1h30m", "1.5s",
-- "-250ms", "10us"/"10µs") or a Duration. tostring gives Go's String()
-- ("1h30m0s", "1.5µs"); arithmetic on a Duration yields plain numbers of
-- nanoseconds, comparisons work against Durations and numbers.
--
-- A Time is a Unix second, a nanosecond within it and a Location (years
-- about -146e9 to 146e9). UTC and fixed offsets are handled here; a named
-- zone's offset at an instant comes from `deps.zone` (Python's zoneinfo),
-- asked once per Time and only when a calendar field or format needs it.
return function(deps)
  local errors, layout, readonly, zone = deps.errors, deps.layout, deps.readonly, deps.zone
  local type, tostring, tonumber, error, setmetatable, ipairs, pairs =
    type, tostring, tonumber, error, setmetatable, ipairs, pairs
  local byte, sub, find, format, gsub = string.byte, string.sub, string.find, string.format, string.gsub
  local floor, math_type, tointeger = math.floor, math.type, math.tointeger
  local maxinteger, mininteger = math.maxinteger, math.mininteger

  local NANOSECOND, MICROSECOND, MILLISECOND = 1, 1000, 1000000
  local SECOND = 1000000000
  local MINUTE = 60 * SECOND
  local HOUR = 60 * MINUTE

  -- Longest layout, value or duration string accepted.
  local MAX_TEXT = 4096

  local function invalid(message)
    return errors.new({ kind = errors.INVALID, message = message })
  end

  local quote = layout.quote

  -- A whole number (an integer, or a float with an integral value) within
  -- +-limit, or nil and an INVALID error naming `what`.
  local function whole(v, what, limit)
    if type(v) ~= "number" then
      return nil, invalid(what .. " must be a number, got " .. type(v))
    end
    local n = tointeger(v)
    if n == nil then
      return nil, invalid(what .. " must be a whole number, got " .. tostring(v))
    end
    if n > limit or n < -limit then
      return nil, invalid(what .. " is out of range: " .. tostring(v))
    end
    return n
  end

  local api = {}

  ---------------------------------------------------------------------------
  -- Durations

  local duration_ns = setmetatable({}, { __mode = "k" })
  local duration_methods = {}
  local Duration = { __name = "Duration", __index = duration_methods, __metatable = false }

  local function new_duration(ns)
    local d = setmetatable({}, Duration)
    duration_ns[d] = ns
    return d
  end

  -- Division truncated toward zero, as Go's integer division.
  local function quotient(a, b)
    local q = a // b
    if q < 0 and q * b ~= a then q = q + 1 end
    return q
  end

  -- Go's Hours()/Minutes()/Seconds(): whole units plus the remainder, so
  -- large durations keep their precision.
  local function in_units(ns, unit)
    local whole_units = quotient(ns, unit)
    return whole_units + (ns - whole_units * unit) / unit
  end

  local function duration_method(name, unit, fractional)
    duration_methods[name] = function(d)
      local ns = duration_ns[d]
      if ns == nil then
        return nil, invalid("Duration:" .. name .. ": called on a " .. type(d) .. ", not a Duration")
      end
      if fractional then return in_units(ns, unit) end
      return quotient(ns, unit)
    end
  end
  duration_method("hours", HOUR, true)
  duration_method("minutes", MINUTE, true)
  duration_method("seconds", SECOND, true)
  duration_method("milliseconds", MILLISECOND, false)
  duration_method("microseconds", MICROSECOND, false)
  duration_method("nanoseconds", NANOSECOND, false)

  -- "whole.fraction" with the fraction written in `digits` digits, trailing
  -- zeros removed.
  local function decimal(whole_part, fraction, digits)
    if fraction == 0 then return tostring(whole_part) end
    return whole_part .. "." .. gsub(format("%0" .. digits .. "d", fraction), "0+$", "")
  end

  -- Go's Duration.String().
  local function format_duration(ns)
    if ns == 0 then return "0s" end
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
      if hours > 0 then text = hours .. "h" .. text end
    end
    return sign .. text
  end

  Duration.__tostring = function(d) return format_duration(duration_ns[d]) end

  Duration.__newindex = function()
    error(invalid("Duration values are read-only"), 2)
  end

  -- An operand of Duration arithmetic: a Duration or a number, as ns.
  local function operand(v, op)
    local ns = duration_ns[v]
    if ns ~= nil then return ns end
    if type(v) == "number" then return v end
    error(invalid("attempt to " .. op .. " a Duration and a " .. type(v)), 3)
  end

  Duration.__add = function(a, b) return operand(a, "add") + operand(b, "add") end
  Duration.__sub = function(a, b) return operand(a, "subtract") - operand(b, "subtract") end
  Duration.__mul = function(a, b) return operand(a, "multiply") * operand(b, "multiply") end
  Duration.__div = function(a, b) return operand(a, "divide") / operand(b, "divide") end
  Duration.__idiv = function(a, b) return operand(a, "divide") // operand(b, "divide") end
  Duration.__mod = function(a, b) return operand(a, "divide") % operand(b, "divide") end
  Duration.__unm = function(a) return -duration_ns[a] end
  Duration.__lt = function(a, b) return operand(a, "compare") < operand(b, "compare") end
  Duration.__le = function(a, b) return operand(a, "compare") <= operand(b, "compare") end
  Duration.__eq = function(a, b)
    local x = duration_ns[a]
    return x ~= nil and x == duration_ns[b]
  end
  Duration.__concat = function(a, b)
    local function text(v)
      if duration_ns[v] ~= nil then return format_duration(duration_ns[v]) end
      local tv = type(v)
      if tv == "string" or tv == "number" then return v end
      error(invalid("attempt to concatenate a Duration and a " .. tv), 3)
    end
    return text(a) .. text(b)
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

  -- Go's time.ParseDuration. Returns ns, or nil and an INVALID error whose
  -- message starts with `what`.
  local function parse_duration_ns(s, what)
    local function bad(reason)
      return nil, invalid(what .. ": " .. reason .. " " .. quote(s))
    end
    if #s > MAX_TEXT then return bad("duration too long") end
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
        if int_digits == "" and frac_digits == "" then return bad("invalid duration") end
      elseif int_digits == "" then
        return bad("invalid duration")
      end
      local _, unit_end = find(s, "^[^%d.]*", i)
      local unit = sub(s, i, unit_end)
      i = unit_end + 1
      if unit == "" then return bad("missing unit in duration") end
      local scale = UNITS[unit]
      if not scale then return bad("unknown unit " .. quote(unit) .. " in duration") end
      -- More than 19 significant digits cannot fit; tonumber gives a float
      -- for 19-digit values above maxinteger.
      int_digits = gsub(int_digits, "^0+", "")
      local whole_part = #int_digits <= 19 and tointeger(tonumber(int_digits ~= "" and int_digits or "0"))
      if not whole_part or whole_part > maxinteger // scale then return bad("invalid duration") end
      local value = whole_part * scale
      if frac_digits ~= "" then
        -- As Go: digits are taken while they fit in an int64, the fraction
        -- is scaled in floating point and truncated.
        local fraction, divisor = 0, 1.0
        for k = 1, #frac_digits do
          local next_fraction = fraction * 10 + (byte(frac_digits, k) - 48)
          if fraction > maxinteger // 10 or next_fraction < 0 then break end
          fraction, divisor = next_fraction, divisor * 10
        end
        value = value + floor(fraction * (scale / divisor))
      end
      if value < 0 or total > maxinteger - value then return bad("invalid duration") end
      total = total + value
    end
    return negative and -total or total
  end

  --- A duration argument as integer nanoseconds: a Duration, a number of
  --- nanoseconds (floats truncated toward zero) or a Go duration string.
  --- Returns nil and an INVALID error naming `what` otherwise.
  local function to_ns(d, what)
    local ns = duration_ns[d]
    if ns ~= nil then return ns end
    local td = type(d)
    if td == "number" then
      if math_type(d) == "integer" then return d end
      if d ~= d or d >= 2 ^ 63 or d < -2 ^ 63 then
        return nil, invalid(what .. ": duration " .. tostring(d) .. " ns is out of range")
      end
      return d >= 0 and floor(d) or -floor(-d)
    elseif td == "string" then
      return parse_duration_ns(d, what)
    end
    return nil, invalid(what .. ": duration must be a number of nanoseconds, a string or a Duration, got " .. td)
  end

  --- A Duration from a string, a number of nanoseconds or a Duration.
  function api.parse_duration(value)
    local ns, err = to_ns(value, "time.parse_duration")
    if ns == nil then return nil, err end
    return new_duration(ns)
  end

  ---------------------------------------------------------------------------
  -- Calendar (proleptic Gregorian, on days since 1970-01-01)

  local DAY_SECONDS = 86400
  -- Days before each month in a common year; [13] is the whole year.
  local DAYS_BEFORE = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365 }
  -- Unix seconds of 0001-01-01T00:00:00Z, Go's zero Time.
  local ZERO_UNIX = -62135596800
  -- Times stay within +-2^62 seconds, so differences and offsets never
  -- overflow an int64.
  local MAX_SECONDS = (1 << 62) - 1
  local MAX_DAYS = MAX_SECONDS // DAY_SECONDS - 1
  -- Components of time.date and add_date; sums of them stay far from
  -- overflow in the calendar arithmetic below.
  local MAX_COMPONENT = 1 << 53

  local function is_leap(year)
    return year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)
  end

  local function days_in(month, year)
    if month == 2 and is_leap(year) then return 29 end
    return DAYS_BEFORE[month + 1] - DAYS_BEFORE[month]
  end

  -- Howard Hinnant's days_from_civil (eras of 400 years from 0000-03-01).
  local function days_from_civil(year, month, day)
    if month <= 2 then year = year - 1 end
    local era = year // 400
    local year_of_era = year - era * 400
    local day_of_year = (153 * (month > 2 and month - 3 or month + 9) + 2) // 5 + day - 1
    local day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468
  end

  -- Year, month, day of days since the epoch (civil_from_days).
  local function civil_from_days(days)
    local z = days + 719468
    local era = z // 146097
    local day_of_era = z - era * 146097
    local year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    local day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    local mp = (5 * day_of_year + 2) // 153 -- month counted from March
    local month = mp < 10 and mp + 3 or mp - 9
    local year = year_of_era + era * 400 + (month <= 2 and 1 or 0)
    return year, month, day_of_year - (153 * mp + 2) // 5 + 1
  end

  -- Seconds of a wall-clock reading counted as if it were UTC, with Go's
  -- normalisation (October 32 is November 1, and so on), and the
  -- nanosecond; nil when the date is out of range. Components are at most
  -- about 2^54 in size.
  local function wall_seconds(year, month, day, hour, min, sec, nsec)
    sec, nsec = sec + nsec // SECOND, nsec % SECOND
    min, sec = min + sec // 60, sec % 60
    hour, min = hour + min // 60, min % 60
    day, hour = day + hour // 24, hour % 24
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    local days = days_from_civil(year, month, 1) + day - 1
    if days > MAX_DAYS or days < -MAX_DAYS then return nil end
    return days * DAY_SECONDS + hour * 3600 + min * 60 + sec, nsec
  end

  local function in_range(sec)
    return sec <= MAX_SECONDS and sec >= -MAX_SECONDS
  end

  ---------------------------------------------------------------------------
  -- Locations
  --
  -- State: name; fixed zones have offset and abbr, named zones a key for
  -- deps.zone ("Local" is the node's own zone).

  local location_state = setmetatable({}, { __mode = "k" })
  local location_methods = {}

  --- The zone's name: "UTC", "Local", an IANA name or a fixed zone's name.
  function location_methods.string(handle)
    local loc = location_state[handle]
    if loc == nil then
      return nil, invalid("Location:string: called on a " .. type(handle) .. ", not a Location")
    end
    return loc.name
  end

  local function new_location(loc)
    local handle = readonly(location_methods)
    loc.handle = handle
    location_state[handle] = loc
    return loc
  end

  local function fixed_location(name, offset)
    return new_location({ name = name, fixed = true, offset = offset, abbr = name })
  end

  local UTC = new_location({ name = "UTC", fixed = true, offset = 0, abbr = "UTC" })
  local LOCAL = new_location({ name = "Local", key = "Local" })
  -- Zones loaded by name, shared by every process of the worker.
  local loaded = {}

  -- Offset (seconds east of UTC) and abbreviation of `loc` at Unix second `sec`.
  local function offset_at(loc, sec)
    if loc.fixed then return loc.offset, loc.abbr end
    local _, offset, abbr = zone(loc.key, sec, false)
    return offset, abbr
  end

  -- Go's Location.lookupName: the offset of a zone called `name` that `loc`
  -- has, preferring one in effect around Unix second `unix` (the zone's
  -- kinds are taken from the half years around it).
  local HALF_YEAR = 182 * DAY_SECONDS
  local function offset_named(loc, name, unix)
    if loc.fixed then return loc.abbr == name and loc.offset or nil end
    local fallback
    for _, probe in ipairs({ unix, unix - HALF_YEAR, unix + HALF_YEAR }) do
      local offset, abbr = offset_at(loc, probe)
      if abbr == name then
        local in_effect, abbr_then = offset_at(loc, unix - offset)
        if abbr_then == name then return in_effect end
        fallback = fallback or offset
      end
    end
    return fallback
  end

  local function location_arg(v, what)
    local loc = location_state[v]
    if loc == nil then
      return nil, invalid(what .. " must be a Location, got " .. type(v))
    end
    return loc
  end

  --- The Location of an IANA zone name; "UTC" and "Local" give time.utc and
  --- time.localtz. Empty names are INVALID, unknown ones NOT_FOUND.
  function api.load_location(name)
    if type(name) ~= "string" then
      return nil, invalid("time.load_location: name must be a string, got " .. type(name))
    elseif name == "" then
      return nil, invalid("time.load_location: name is empty")
    elseif name == "UTC" then
      return UTC.handle
    elseif name == "Local" then
      return LOCAL.handle
    end
    local loc = loaded[name]
    if loc == nil then
      if #name > 255 or zone(name, 0, false) == nil then
        return nil, errors.new({ kind = errors.NOT_FOUND, message = "time.load_location: unknown time zone " .. quote(name) })
      end
      loc = new_location({ name = name, key = name })
      loaded[name] = loc
    end
    return loc.handle
  end

  --- A Location `offset` seconds east of UTC whose abbreviation is `name`.
  function api.fixed_zone(name, offset)
    if type(name) ~= "string" then
      return nil, invalid("time.fixed_zone: name must be a string, got " .. type(name))
    end
    local seconds, err = whole(offset, "time.fixed_zone: offset", (1 << 31) - 1)
    if seconds == nil then return nil, err end
    return fixed_location(name, seconds).handle
  end

  api.utc = UTC.handle
  api.localtz = LOCAL.handle

  ---------------------------------------------------------------------------
  -- Times
  --
  -- State: sec (Unix seconds), nsec (0..999999999), loc (location state),
  -- offset and abbr (of loc at sec) and fields (calendar fields); the last
  -- three are filled when first needed.

  local time_state = setmetatable({}, { __mode = "k" })
  local time_methods = {}
  local Time = { __name = "Time", __index = time_methods, __metatable = false }

  local function new_time(sec, nsec, loc, offset, abbr)
    if loc.fixed then offset, abbr = loc.offset, loc.abbr end
    local t = setmetatable({}, Time)
    time_state[t] = { sec = sec, nsec = nsec, loc = loc, offset = offset, abbr = abbr }
    return t
  end

  local function zone_of(st)
    local offset = st.offset
    if offset == nil then
      offset, st.abbr = offset_at(st.loc, st.sec)
      st.offset = offset
    end
    return offset, st.abbr
  end

  -- The calendar fields of a Time in its location (what layouts render),
  -- worked out once: Times do not change.
  local function fields(st)
    local f = st.fields
    if f then return f end
    local offset, abbr = zone_of(st)
    local wall = st.sec + offset
    local days, second_of_day = wall // DAY_SECONDS, wall % DAY_SECONDS
    local year, month, day = civil_from_days(days)
    f = {
      year = year, month = month, day = day,
      yday = DAYS_BEFORE[month] + day + ((month > 2 and is_leap(year)) and 1 or 0),
      weekday = (days + 4) % 7, -- 1970-01-01 was a Thursday
      hour = second_of_day // 3600, minute = second_of_day % 3600 // 60, second = second_of_day % 60,
      nanosecond = st.nsec, offset = offset, abbr = abbr,
    }
    st.fields = f
    return f
  end

  -- The Time whose wall clock in `loc` reads `wall` seconds (counted as if
  -- UTC) and `nsec`; nil when out of range. In a named zone a reading that
  -- a clock change skips or repeats is resolved as Go does.
  local function time_at_wall(wall, nsec, loc)
    local sec, offset, abbr
    if loc.fixed then
      sec = wall - loc.offset
    else
      sec, offset, abbr = zone(loc.key, wall, true)
    end
    if not in_range(sec) then return nil end
    return new_time(sec, nsec, loc, offset, abbr)
  end

  local function out_of_range(label)
    return nil, invalid(label .. ": the result is out of the range of Time")
  end

  -- The Time `ns` nanoseconds after st, in the same location; nil and an
  -- error naming `label` when out of range.
  local function plus(st, ns, label)
    local sec, nsec = st.sec + ns // SECOND, st.nsec + ns % SECOND
    if nsec >= SECOND then sec, nsec = sec + 1, nsec - SECOND end
    if not in_range(sec) then return out_of_range(label) end
    return new_time(sec, nsec, st.loc)
  end

  -- Nanoseconds from b to a as an int64, saturated at its ends (Go's Sub).
  local function difference(a, b)
    local sec, nsec = a.sec - b.sec, a.nsec - b.nsec
    if nsec < 0 then sec, nsec = sec - 1, nsec + SECOND end
    if sec > maxinteger // SECOND or (sec == maxinteger // SECOND and nsec > maxinteger % SECOND) then
      return maxinteger
    elseif sec < mininteger // SECOND or (sec == mininteger // SECOND and nsec < mininteger % SECOND) then
      return mininteger
    end
    return sec * SECOND + nsec -- may wrap on the way, not in the end
  end

  Time.__newindex = function()
    error(invalid("Time values are read-only"), 2)
  end

  -- Go's Time.String() without the monotonic reading.
  local STRING_LAYOUT = "2006-01-02 15:04:05.999999999 -0700 MST"
  Time.__tostring = function(t) return layout.format(STRING_LAYOUT, fields(time_state[t])) end

  Time.__eq = function(a, b)
    local x, y = time_state[a], time_state[b]
    return x ~= nil and y ~= nil and x.sec == y.sec and x.nsec == y.nsec
  end

  local function compared(a, b)
    local x, y = time_state[a], time_state[b]
    if x == nil or y == nil then
      error(invalid("attempt to compare a Time with a " .. type(x == nil and a or b)), 3)
    end
    return x, y
  end
  Time.__lt = function(a, b)
    local x, y = compared(a, b)
    return x.sec < y.sec or (x.sec == y.sec and x.nsec < y.nsec)
  end
  Time.__le = function(a, b)
    local x, y = compared(a, b)
    return x.sec < y.sec or (x.sec == y.sec and x.nsec <= y.nsec)
  end

  -- Defines Time:name; `fn(st, ...)` runs only when called on a Time.
  local function method(name, fn)
    local label = "Time:" .. name
    time_methods[name] = function(t, ...)
      local st = time_state[t]
      if st == nil then
        return nil, invalid(label .. ": called on a " .. type(t) .. ", not a Time (use t:" .. name .. "(...))")
      end
      return fn(st, label, ...)
    end
  end

  local function other_time(v, label)
    local st = time_state[v]
    if st == nil then return nil, invalid(label .. ": time must be a Time, got " .. type(v)) end
    return st
  end

  method("add", function(st, label, d)
    local ns, err = to_ns(d, label)
    if ns == nil then return nil, err end
    return plus(st, ns, label)
  end)

  method("sub", function(st, label, u)
    local other, err = other_time(u, label)
    if other == nil then return nil, err end
    return new_duration(difference(st, other))
  end)

  method("add_date", function(st, label, years, months, days)
    local y, m, d, err
    y, err = whole(years, label .. ": years", MAX_COMPONENT)
    if y == nil then return nil, err end
    m, err = whole(months, label .. ": months", MAX_COMPONENT)
    if m == nil then return nil, err end
    d, err = whole(days, label .. ": days", MAX_COMPONENT)
    if d == nil then return nil, err end
    local f = fields(st)
    local wall, nsec = wall_seconds(f.year + y, f.month + m, f.day + d, f.hour, f.minute, f.second, st.nsec)
    local t = wall and time_at_wall(wall, nsec, st.loc)
    if t == nil then return out_of_range(label) end
    return t
  end)

  local function comparison(name, holds)
    method(name, function(st, label, u)
      local other, err = other_time(u, label)
      if other == nil then return nil, err end
      return holds(st, other)
    end)
  end
  comparison("before", function(a, b) return a.sec < b.sec or (a.sec == b.sec and a.nsec < b.nsec) end)
  comparison("after", function(a, b) return a.sec > b.sec or (a.sec == b.sec and a.nsec > b.nsec) end)
  comparison("equal", function(a, b) return a.sec == b.sec and a.nsec == b.nsec end)

  local function layout_arg(v, label, what)
    if type(v) ~= "string" then return nil, invalid(label .. ": " .. what .. " must be a string, got " .. type(v)) end
    if #v > MAX_TEXT then return nil, invalid(label .. ": " .. what .. " is longer than " .. MAX_TEXT .. " bytes") end
    return v
  end

  method("format", function(st, label, layout_text)
    local text, err = layout_arg(layout_text, label, "layout")
    if text == nil then return nil, err end
    return layout.format(text, fields(st))
  end)

  local RFC3339 = "2006-01-02T15:04:05Z07:00"
  method("format_rfc3339", function(st) return layout.format(RFC3339, fields(st)) end)

  method("unix", function(st) return st.sec end)

  method("unix_nano", function(st, label)
    local sec = st.sec
    if sec > maxinteger // SECOND or sec < mininteger // SECOND
      or (sec == maxinteger // SECOND and st.nsec > maxinteger % SECOND) then
      return nil, invalid(label .. ": the time is outside the years 1678 to 2262 that nanoseconds since 1970 can count")
    end
    return sec * SECOND + st.nsec
  end)

  method("date", function(st)
    local f = fields(st)
    return f.year, f.month, f.day
  end)
  method("clock", function(st)
    local f = fields(st)
    return f.hour, f.minute, f.second
  end)
  for name, field in pairs({
    year = "year", month = "month", day = "day", hour = "hour", minute = "minute",
    second = "second", weekday = "weekday", year_day = "yday",
  }) do
    method(name, function(st) return fields(st)[field] end)
  end
  method("nanosecond", function(st) return st.nsec end)
  method("is_zero", function(st) return st.sec == ZERO_UNIX and st.nsec == 0 end)

  method("utc", function(st) return new_time(st.sec, st.nsec, UTC) end)
  method("in_local", function(st) return new_time(st.sec, st.nsec, LOCAL) end)
  method("in_location", function(st, label, v)
    local loc, err = location_arg(v, label .. ": location")
    if loc == nil then return nil, err end
    return new_time(st.sec, st.nsec, loc)
  end)
  method("location", function(st) return st.loc.handle end)

  -- a + b mod m for a, b in [0, m), without overflow.
  local function add_mod(a, b, m)
    if a >= m - b then return a - (m - b) end
    return a + b
  end

  -- a * b mod m for a, b in [0, m), by doubling.
  local function mul_mod(a, b, m)
    local r = 0
    while b > 0 do
      if b & 1 == 1 then r = add_mod(r, a, m) end
      a, b = add_mod(a, a, m), b >> 1
    end
    return r
  end

  -- Nanoseconds since the zero Time, mod d (in [0, d)), where Go's Round
  -- and Truncate count multiples from.
  local function since_zero_mod(st, d)
    return add_mod(mul_mod((st.sec - ZERO_UNIX) % d, SECOND % d, d), st.nsec % d, d)
  end

  local function duration_arg(v, label)
    local ns = duration_ns[v]
    if ns == nil then
      return nil, invalid(label .. ": duration must be a Duration (see time.parse_duration), got " .. type(v))
    end
    return ns
  end

  method("round", function(st, label, d)
    local ns, err = duration_arg(d, label)
    if ns == nil then return nil, err end
    if ns <= 0 then return new_time(st.sec, st.nsec, st.loc) end
    local r = since_zero_mod(st, ns)
    if r < ns - r then return plus(st, -r, label) end
    return plus(st, ns - r, label)
  end)

  method("truncate", function(st, label, d)
    local ns, err = duration_arg(d, label)
    if ns == nil then return nil, err end
    if ns <= 0 then return new_time(st.sec, st.nsec, st.loc) end
    return plus(st, -since_zero_mod(st, ns), label)
  end)

  ---------------------------------------------------------------------------
  -- Making Times

  --- Year, month, ..., nanosecond on the wall clock of `location` (default
  --- time.localtz); out-of-range values carry over as in Go.
  function api.date(year, month, day, hour, min, sec, nsec, location)
    local parts = { year, month, day, hour, min, sec, nsec }
    for i, name in ipairs({ "year", "month", "day", "hour", "minute", "second", "nanosecond" }) do
      local n, err = whole(parts[i], "time.date: " .. name, MAX_COMPONENT)
      if n == nil then return nil, err end
      parts[i] = n
    end
    local loc = LOCAL
    if location ~= nil then
      local err
      loc, err = location_arg(location, "time.date: location")
      if loc == nil then return nil, err end
    end
    local wall, ns = wall_seconds(parts[1], parts[2], parts[3], parts[4], parts[5], parts[6], parts[7])
    local t = wall and time_at_wall(wall, ns, loc)
    if t == nil then return nil, invalid("time.date: the date is out of the range of Time") end
    return t
  end

  --- The local Time `sec` seconds and `nsec` nanoseconds after 1970-01-01 UTC.
  function api.unix(sec, nsec)
    local s, ns, err
    s, err = whole(sec, "time.unix: sec", MAX_SECONDS)
    if s == nil then return nil, err end
    ns, err = whole(nsec, "time.unix: nsec", maxinteger)
    if ns == nil then return nil, err end
    s, ns = s + ns // SECOND, ns % SECOND
    if not in_range(s) then return nil, invalid("time.unix: the time is out of the range of Time") end
    return new_time(s, ns, LOCAL)
  end

  -- The local Time of `ns` nanoseconds since 1970 (a clock's reading).
  local function from_unix_nano(ns)
    return new_time(ns // SECOND, ns % SECOND, LOCAL)
  end

  -- Go's parse once the layout has been read: the calendar checks and the
  -- zone. A zone the value names is looked up in `local_loc`; a time
  -- without one is on `default_loc`'s wall clock.
  local function assemble(f, value, default_loc, local_loc)
    local function fail(reason) return nil, invalid(layout.failure(value, reason)) end
    local year, month, day = f.year, f.month, f.day
    if f.yday >= 0 then
      local yday, m, d = f.yday, 0, 0
      if is_leap(year) then
        if yday == 60 then
          m, d = 2, 29
        elseif yday > 60 then
          yday = yday - 1
        end
      end
      if yday < 1 or yday > 365 then return fail("day-of-year out of range") end
      if m == 0 then
        m = (yday - 1) // 31 + 1
        if DAYS_BEFORE[m + 1] < yday then m = m + 1 end
        d = yday - DAYS_BEFORE[m]
      end
      if month >= 0 and month ~= m then return fail("day-of-year does not match month") end
      if day >= 0 and day ~= d then return fail("day-of-year does not match day") end
      month, day = m, d
    else
      if month < 0 then month = 1 end
      if day < 0 then day = 1 end
    end
    if day < 1 or day > days_in(month, year) then return fail("day out of range") end
    local wall, nsec = wall_seconds(year, month, day, f.hour, f.min, f.sec, f.nsec)
    if f.utc then return new_time(wall, nsec, UTC) end
    local name = f.zone_name
    if f.zone_offset then
      local sec = wall - f.zone_offset
      local offset, abbr = offset_at(local_loc, sec)
      if offset == f.zone_offset and (name == nil or abbr == name) then
        return new_time(sec, nsec, local_loc, offset, abbr)
      end
      return new_time(sec, nsec, fixed_location(name or "", f.zone_offset))
    end
    if name then
      local offset = offset_named(local_loc, name, wall)
      if offset then return new_time(wall - offset, nsec, local_loc) end
      -- An abbreviation the location does not have: zero offset, except
      -- that GMT+h / GMT-h say theirs.
      offset = find(name, "^GMT[+-]") and tointeger(tonumber(sub(name, 4))) * 3600 or 0
      return new_time(wall - offset, nsec, fixed_location(name, offset))
    end
    return time_at_wall(wall, nsec, default_loc)
  end

  --- Parse `value` by Go layout `layout`. Without `location`, a time that
  --- names no zone is UTC and zone names are looked up in the local zone;
  --- with it, both are `location` (Go's ParseInLocation).
  function api.parse(layout_text, value, location)
    local label = "time.parse"
    local text, err = layout_arg(layout_text, label, "layout")
    if text == nil then return nil, err end
    local input
    input, err = layout_arg(value, label, "value")
    if input == nil then return nil, err end
    local default_loc, local_loc = UTC, LOCAL
    if location ~= nil then
      local loc
      loc, err = location_arg(location, label .. ": location")
      if loc == nil then return nil, err end
      default_loc, local_loc = loc, loc
    end
    local f, message = layout.parse(text, input)
    if f == nil then return nil, invalid(message) end
    return assemble(f, input, default_loc, local_loc)
  end

  ---------------------------------------------------------------------------
  -- Constants

  api.NANOSECOND, api.MICROSECOND, api.MILLISECOND = NANOSECOND, MICROSECOND, MILLISECOND
  api.SECOND, api.MINUTE, api.HOUR = SECOND, MINUTE, HOUR

  api.RFC3339 = RFC3339
  api.RFC3339NANO = "2006-01-02T15:04:05.999999999Z07:00"
  api.RFC822 = "02 Jan 06 15:04 MST"
  api.RFC822Z = "02 Jan 06 15:04 -0700"
  api.RFC850 = "Monday, 02-Jan-06 15:04:05 MST"
  api.RFC1123 = "Mon, 02 Jan 2006 15:04:05 MST"
  api.RFC1123Z = "Mon, 02 Jan 2006 15:04:05 -0700"
  api.DATE_TIME = "2006-01-02 15:04:05"
  api.DATE_ONLY = "2006-01-02"
  api.TIME_ONLY = "15:04:05"
  api.KITCHEN = "3:04PM"
  api.STAMP = "Jan _2 15:04:05"
  api.STAMP_MILLI = "Jan _2 15:04:05.000"
  api.STAMP_MICRO = "Jan _2 15:04:05.000000"
  api.STAMP_NANO = "Jan _2 15:04:05.000000000"

  for i, name in ipairs({
    "JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY",
    "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER",
  }) do
    api[name] = i
  end
  for i, name in ipairs({ "SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY" }) do
    api[name] = i - 1
  end

  -- What timemod needs besides the module functions.
  return { api = api, to_ns = to_ns, from_unix_nano = from_unix_nano }
end
