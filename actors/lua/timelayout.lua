-- Go's reference-time layouts ("Mon Jan 2 15:04:05 MST 2006"): calendar
-- fields to text (format) and text to fields (parse), as Go's time package
-- reads a layout.
--
-- These are pure functions of strings and numbers; timevalue turns the
-- fields into Times and resolves zones. A layout is split into chunks
-- (literal text, token) once and recent layouts' chunks are kept; values are
-- walked by position, never by slicing off the rest, so the cost is linear
-- in their length.
--
-- Tokens (anything else is literal text):
--   2006 06            year, two-digit year
--   January Jan 01 1   month name, abbreviation, zero-padded, plain
--   Monday Mon         weekday name, abbreviation
--   02 _2 2            day: zero-padded, space-padded, plain
--   002 __2            day of the year: zero-padded, space-padded
--   15 03 3            hour: 24-hour, 12-hour zero-padded, 12-hour plain
--   04 4 05 5          minute, second: zero-padded, plain
--   PM pm              AM/PM marker
--   .000 ,000 .999     fraction of a second with that many digits; the 9s
--                      form drops trailing zeros (and the separator if 0)
--   MST                zone abbreviation (the offset as -0700 if it has none)
--   -07:00 -0700 -07 -07:00:00 -070000      offset
--   Z07:00 Z0700 Z07 Z07:00:00 Z070000      offset, "Z" for UTC
-- "Jan" and "Mon" followed by a lowercase letter are words, not tokens.
return function()
  local byte, sub, find, format, lower, gsub = string.byte, string.sub, string.find, string.format, string.lower, string.gsub
  local tostring = tostring
  local concat = table.concat

  local MONTH_NAMES = {
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
  }
  local DAY_NAMES = { "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday" }
  local SHORT_MONTHS, SHORT_DAYS = {}, {}
  for i, name in ipairs(MONTH_NAMES) do SHORT_MONTHS[i] = sub(name, 1, 3) end
  for i, name in ipairs(DAY_NAMES) do SHORT_DAYS[i] = sub(name, 1, 3) end

  -- "0" followed by 1..6
  local ZERO_TOKENS = { "01", "02", "03", "04", "05", "06" }
  -- Offset tokens in the order Go tries them (longest first where they overlap).
  local NUM_ZONES = { "-070000", "-07:00:00", "-0700", "-07:00", "-07" }
  local ISO_ZONES = { "Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07" }
  -- Characters a token can start with; the rest of a layout is skipped at C speed.
  local TOKEN_START = "[JM0-5_PpZ%-%.,]"

  local function digit_at(s, i)
    local b = byte(s, i)
    return b ~= nil and b >= 48 and b <= 57
  end

  local function lower_at(s, i)
    local b = byte(s, i)
    return b ~= nil and b >= 97 and b <= 122
  end

  local function token_of(list, layout, i)
    for k = 1, #list do
      local token = list[k]
      if sub(layout, i, i + #token - 1) == token then return token, i + #token - 1 end
    end
    return nil
  end

  -- The token starting at layout position i: its name and last position, or
  -- nil when the character there is literal. Fractions are named "frac0" or
  -- "frac9" (their digits are the span's length minus the separator).
  local function token_at(layout, i)
    local c = byte(layout, i)
    if c == 74 then -- J
      if sub(layout, i, i + 6) == "January" then return "January", i + 6 end
      if sub(layout, i, i + 2) == "Jan" and not lower_at(layout, i + 3) then return "Jan", i + 2 end
    elseif c == 77 then -- M
      if sub(layout, i, i + 5) == "Monday" then return "Monday", i + 5 end
      local three = sub(layout, i, i + 2)
      if three == "Mon" and not lower_at(layout, i + 3) then return "Mon", i + 2 end
      if three == "MST" then return "MST", i + 2 end
    elseif c == 48 then -- 0
      local n = byte(layout, i + 1)
      if n ~= nil and n >= 49 and n <= 54 then return ZERO_TOKENS[n - 48], i + 1 end
      if n == 48 and byte(layout, i + 2) == 50 then return "002", i + 2 end
    elseif c == 49 then -- 1
      if byte(layout, i + 1) == 53 then return "15", i + 1 end
      return "1", i
    elseif c == 50 then -- 2
      if sub(layout, i, i + 3) == "2006" then return "2006", i + 3 end
      return "2", i
    elseif c == 95 then -- _ ("_2006" is a literal "_" and the year)
      if byte(layout, i + 1) == 50 and sub(layout, i + 1, i + 4) ~= "2006" then return "_2", i + 1 end
      if byte(layout, i + 1) == 95 and byte(layout, i + 2) == 50 then return "__2", i + 2 end
    elseif c == 51 then
      return "3", i
    elseif c == 52 then
      return "4", i
    elseif c == 53 then
      return "5", i
    elseif c == 80 then -- P
      if byte(layout, i + 1) == 77 then return "PM", i + 1 end
    elseif c == 112 then -- p
      if byte(layout, i + 1) == 109 then return "pm", i + 1 end
    elseif c == 45 then -- -
      return token_of(NUM_ZONES, layout, i)
    elseif c == 90 then -- Z
      return token_of(ISO_ZONES, layout, i)
    elseif c == 46 or c == 44 then -- . or ,
      local d = byte(layout, i + 1)
      if d == 48 or d == 57 then
        local j = i + 2
        while byte(layout, j) == d do j = j + 1 end
        -- a run followed by another digit is literal text
        if not digit_at(layout, j) then return d == 48 and "frac0" or "frac9", j - 1 end
      end
    end
    return nil
  end

  -- A layout split into chunks: { prefix = literal text before the token,
  -- token = its name (nil in the last chunk), text = the token as written }.
  -- Chunk lists of recent layouts are kept; the cache starts over when full.
  local CACHED = 256
  local cache, cached = {}, 0

  local function chunks(layout)
    local list = cache[layout]
    if list then return list end
    list = {}
    local literal, i = 1, 1
    while true do
      local s = find(layout, TOKEN_START, i)
      local token, stop
      if s then token, stop = token_at(layout, s) end
      if s == nil then
        list[#list + 1] = { prefix = sub(layout, literal) }
        break
      elseif token then
        list[#list + 1] = { prefix = sub(layout, literal, s - 1), token = token, text = sub(layout, s, stop) }
        literal = stop + 1
        i = stop + 1
      else
        i = s + 1
      end
    end
    if cached >= CACHED then cache, cached = {}, 0 end
    cache[layout], cached = list, cached + 1
    return list
  end

  ---------------------------------------------------------------------------
  -- Formatting

  -- "00" .. "99", the most common field texts.
  local TWO = {}
  for n = 0, 99 do TWO[n] = format("%02d", n) end

  -- Go's appendInt: the sign, then at least `width` digits.
  local function padded(n, width)
    if n < 0 then return "-" .. format("%0" .. width .. "d", -n) end
    return format("%0" .. width .. "d", n)
  end

  local function zone_offset_text(token, offset)
    if offset == 0 and byte(token, 1) == 90 then return "Z" end
    -- whole minutes toward zero, as Go
    local minutes = offset >= 0 and offset // 60 or -(-offset // 60)
    local sign, seconds = "+", offset
    if minutes < 0 then sign, minutes, seconds = "-", -minutes, -offset end
    local hours = minutes // 60
    local text = sign .. (TWO[hours] or tostring(hours))
    local colon = find(token, ":", 1, true) ~= nil
    if token ~= "-07" and token ~= "Z07" then
      text = text .. (colon and ":" or "") .. TWO[minutes % 60]
    end
    if #token == 7 or #token == 9 then -- the forms with seconds
      text = text .. (colon and ":" or "") .. TWO[seconds % 60]
    end
    return text
  end

  local function hour12(f)
    local h = f.hour % 12
    return h == 0 and 12 or h
  end

  -- token -> function(fields) -> text
  local RENDER = {
    ["2006"] = function(f) return padded(f.year, 4) end,
    ["06"] = function(f) return TWO[(f.year < 0 and -f.year or f.year) % 100] end,
    January = function(f) return MONTH_NAMES[f.month] end,
    Jan = function(f) return SHORT_MONTHS[f.month] end,
    ["01"] = function(f) return TWO[f.month] end,
    ["1"] = function(f) return tostring(f.month) end,
    Monday = function(f) return DAY_NAMES[f.weekday + 1] end,
    Mon = function(f) return SHORT_DAYS[f.weekday + 1] end,
    ["02"] = function(f) return TWO[f.day] end,
    ["_2"] = function(f) return format("%2d", f.day) end,
    ["2"] = function(f) return tostring(f.day) end,
    ["002"] = function(f) return format("%03d", f.yday) end,
    ["__2"] = function(f) return format("%3d", f.yday) end,
    ["15"] = function(f) return TWO[f.hour] end,
    ["03"] = function(f) return TWO[hour12(f)] end,
    ["3"] = function(f) return tostring(hour12(f)) end,
    ["04"] = function(f) return TWO[f.minute] end,
    ["4"] = function(f) return tostring(f.minute) end,
    ["05"] = function(f) return TWO[f.second] end,
    ["5"] = function(f) return tostring(f.second) end,
    PM = function(f) return f.hour >= 12 and "PM" or "AM" end,
    pm = function(f) return f.hour >= 12 and "pm" or "am" end,
    MST = function(f)
      if f.abbr ~= "" then return f.abbr end
      return (zone_offset_text("-0700", f.offset))
    end,
  }
  for _, token in ipairs(NUM_ZONES) do RENDER[token] = function(f) return zone_offset_text(token, f.offset) end end
  for _, token in ipairs(ISO_ZONES) do RENDER[token] = function(f) return zone_offset_text(token, f.offset) end end

  -- ".000" / ",999" and the like: the separator and as many digits as
  -- the token has (at most nine); the 9s form drops trailing zeros.
  local function fraction_text(token_text, nanosecond)
    local trim = byte(token_text, 2) == 57
    if trim and nanosecond == 0 then return "" end
    local text = sub(format("%09d", nanosecond), 1, #token_text - 1)
    if trim then
      text = gsub(text, "0+$", "")
      if text == "" then return "" end
    end
    return sub(token_text, 1, 1) .. text
  end
  RENDER.frac0 = function(f, token_text) return fraction_text(token_text, f.nanosecond) end
  RENDER.frac9 = RENDER.frac0

  local L = {}

  --- `layout` rendered with calendar fields `f`: year, month, day, hour,
  --- minute, second, nanosecond, weekday (0 = Sunday), yday, offset
  --- (seconds east of UTC) and abbr (zone abbreviation, may be "").
  function L.format(layout, f)
    local list = chunks(layout)
    local parts, n = {}, 0
    for k = 1, #list do
      local chunk = list[k]
      n = n + 1
      parts[n] = chunk.prefix
      local token = chunk.token
      if token then
        n = n + 1
        parts[n] = RENDER[token](f, chunk.text)
      end
    end
    return concat(parts)
  end

  ---------------------------------------------------------------------------
  -- Parsing

  --- `s` in double quotes for an error message, cut if long.
  local function quote(s)
    if #s > 64 then s = sub(s, 1, 64) .. "..." end
    return '"' .. s .. '"'
  end
  L.quote = quote

  --- The message of a parse failure of `value`, as Go words it.
  function L.failure(value, reason)
    return "parsing time " .. quote(value) .. ": " .. reason
  end

  local function cannot_parse(layout, value, at, what)
    return "parsing time " .. quote(value) .. " as " .. quote(layout) .. ": cannot parse "
      .. quote(sub(value, at)) .. " as " .. quote(what)
  end

  -- One or two digits at i (exactly two when `fixed`): number, next position.
  local function getnum(value, i, fixed)
    if not digit_at(value, i) then return nil end
    local first = byte(value, i) - 48
    if not digit_at(value, i + 1) then
      if fixed then return nil end
      return first, i + 1
    end
    return first * 10 + byte(value, i + 1) - 48, i + 2
  end

  -- One to three digits at i (exactly three when `fixed`).
  local function getnum3(value, i, fixed)
    local n, j = 0, i
    while j < i + 3 and digit_at(value, j) do
      n = n * 10 + byte(value, j) - 48
      j = j + 1
    end
    if j == i or (fixed and j ~= i + 3) then return nil end
    return n, j
  end

  -- Go's atoi of value[i..j]: an optional sign and digits, all of it.
  local function atoi(value, i, j)
    local text = sub(value, i, j)
    if not find(text, "^[+-]?%d+$") then return nil end
    return math.tointeger(tonumber(text))
  end

  -- A name from `names` (lowercase; the value may be in any case) at i:
  -- its index, next position.
  local function lookup(names, value, i)
    for k = 1, #names do
      local name = names[k]
      if lower(sub(value, i, i + #name - 1)) == name then return k, i + #name end
    end
    return nil
  end

  local function lowercase(names)
    local out = {}
    for k, name in ipairs(names) do out[k] = lower(name) end
    return out
  end
  local MONTHS_LOWER, SHORT_MONTHS_LOWER = lowercase(MONTH_NAMES), lowercase(SHORT_MONTHS)
  local DAYS_LOWER, SHORT_DAYS_LOWER = lowercase(DAY_NAMES), lowercase(SHORT_DAYS)

  -- Go's skip: the literal `prefix` at value position vi, where a run of
  -- spaces in the layout matches any run of spaces in the value.
  local function skip(prefix, value, vi)
    local a, b = 1, #prefix
    while a <= b do
      local c = byte(prefix, a)
      if c == 32 then
        if byte(value, vi) ~= nil and byte(value, vi) ~= 32 then return nil end
        while a <= b and byte(prefix, a) == 32 do a = a + 1 end
        while byte(value, vi) == 32 do vi = vi + 1 end
      else
        if byte(value, vi) ~= c then return nil end
        a, vi = a + 1, vi + 1
      end
    end
    return vi
  end

  -- Digits after a separator at value[i] (the span is i..i+length-1) as
  -- nanoseconds; only the first nine digits count.
  local function nanoseconds(value, i, length)
    local c = byte(value, i)
    if c ~= 46 and c ~= 44 then return nil end
    if length > 10 then length = 10 end
    local digits = sub(value, i + 1, i + length - 1)
    if not find(digits, "^%d+$") then return nil end
    local ns = math.tointeger(tonumber(digits))
    for _ = length, 9 do ns = ns * 10 end
    return ns
  end

  -- Go's parseSignedOffset: "+h" or "-hh" (up to 24) at i; its length or 0.
  local function signed_offset_length(value, i)
    local c = byte(value, i)
    if c ~= 43 and c ~= 45 then return 0 end
    local _, last = find(value, "^%d+", i + 1)
    if last == nil then return 0 end
    local hours = tonumber(sub(value, i + 1, last))
    if hours > 24 then return 0 end
    return last - i + 1
  end

  -- Go's parseTimeZone: the length of a zone abbreviation at i, or nil.
  local function zone_name_length(value, i)
    if #value - i + 1 < 3 then return nil end
    local four = sub(value, i, i + 3)
    if four == "ChST" or four == "MeST" then return 4 end
    if sub(value, i, i + 2) == "GMT" then return 3 + (byte(value, i + 3) and signed_offset_length(value, i + 3) or 0) end
    local c = byte(value, i)
    if c == 43 or c == 45 then
      local n = signed_offset_length(value, i)
      return n > 0 and n or nil
    end
    local upper = 0
    while upper < 6 do
      local b = byte(value, i + upper)
      if b == nil or b < 65 or b > 90 then break end
      upper = upper + 1
    end
    if upper == 3 then return 3 end
    if upper == 4 and (byte(value, i + 3) == 84 or four == "WITA") then return 4 end
    if upper == 5 and byte(value, i + 4) == 84 then return 5 end
    return nil
  end

  -- An offset token's text at value position i: seconds east of UTC and the
  -- next position, or nil; `range` names an offset part out of range.
  local function parse_offset(token, value, i)
    local sign, h, m, s, after
    if token == "-07:00" or token == "Z07:00" then
      if byte(value, i + 3) ~= 58 then return nil end
      sign, h, m, s, after = i, i + 1, i + 4, nil, i + 6
    elseif token == "-07" or token == "Z07" then
      sign, h, m, s, after = i, i + 1, nil, nil, i + 3
    elseif token == "-07:00:00" or token == "Z07:00:00" then
      if byte(value, i + 3) ~= 58 or byte(value, i + 6) ~= 58 then return nil end
      sign, h, m, s, after = i, i + 1, i + 4, i + 7, i + 9
    elseif token == "-070000" or token == "Z070000" then
      sign, h, m, s, after = i, i + 1, i + 3, i + 5, i + 7
    else
      sign, h, m, s, after = i, i + 1, i + 3, nil, i + 5
    end
    if after - 1 > #value then return nil end
    local hours, minutes, seconds = getnum(value, h, true), 0, 0
    if m then minutes = getnum(value, m, true) end
    if s then seconds = getnum(value, s, true) end
    if hours == nil or minutes == nil or seconds == nil then return nil end
    local range
    if hours > 24 then range = "time zone offset hour" end
    if minutes > 60 then range = "time zone offset minute" end
    if seconds > 60 then range = "time zone offset second" end
    local offset = (hours * 60 + minutes) * 60 + seconds
    local c = byte(value, sign)
    if c == 45 then
      offset = -offset
    elseif c ~= 43 then
      return nil
    end
    return offset, after, range
  end

  --- Parse `value` by `layout`. Returns the fields Go's parser collects:
  --- year, month, day, yday (-1 when absent), hour, min, sec, nsec, and for
  --- a zone: utc (true for "Z" or "UTC"), zone_offset, zone_name. Or nil
  --- and Go's message.
  function L.parse(layout, value)
    local f = { year = 0, month = -1, day = -1, yday = -1, hour = 0, min = 0, sec = 0, nsec = 0 }
    local am, pm = false, false
    local list, vi = chunks(layout), 1
    for k = 1, #list do
      local chunk = list[k]
      local after = skip(chunk.prefix, value, vi)
      if after == nil then return nil, cannot_parse(layout, value, vi, chunk.prefix) end
      vi = after
      local token = chunk.token
      if token == nil then
        if vi <= #value then return nil, L.failure(value, "extra text: " .. quote(sub(value, vi))) end
        break
      end
      local hold, range, n = vi, nil, nil
      if token == "06" then
        n = #value - vi >= 1 and atoi(value, vi, vi + 1)
        if n then
          f.year, vi = n >= 69 and n + 1900 or n + 2000, vi + 2
        end
      elseif token == "2006" then
        n = digit_at(value, vi) and #value - vi >= 3 and atoi(value, vi, vi + 3)
        if n then f.year, vi = n, vi + 4 end
      elseif token == "Jan" or token == "January" then
        n, vi = lookup(token == "Jan" and SHORT_MONTHS_LOWER or MONTHS_LOWER, value, vi)
        f.month = n
      elseif token == "01" or token == "1" then
        n, vi = getnum(value, vi, token == "01")
        if n and (n < 1 or n > 12) then range = "month" end
        f.month = n
      elseif token == "Mon" or token == "Monday" then
        n, vi = lookup(token == "Mon" and SHORT_DAYS_LOWER or DAYS_LOWER, value, vi)
      elseif token == "02" or token == "_2" or token == "2" then
        if token == "_2" and byte(value, vi) == 32 then vi = vi + 1 end
        n, vi = getnum(value, vi, token == "02")
        f.day = n
      elseif token == "002" or token == "__2" then
        if token == "__2" then
          for _ = 1, 2 do if byte(value, vi) == 32 then vi = vi + 1 end end
        end
        n, vi = getnum3(value, vi, token == "002")
        f.yday = n
      elseif token == "15" then
        n, vi = getnum(value, vi, false)
        if n and n >= 24 then range = "hour" end
        f.hour = n
      elseif token == "03" or token == "3" then
        n, vi = getnum(value, vi, token == "03")
        if n and n > 12 then range = "hour" end
        f.hour = n
      elseif token == "04" or token == "4" then
        n, vi = getnum(value, vi, token == "04")
        if n and n >= 60 then range = "minute" end
        f.min = n
      elseif token == "05" or token == "5" then
        n, vi = getnum(value, vi, token == "05")
        f.sec = n
        if n and n >= 60 then
          range = "second"
        elseif n and (byte(value, vi) == 46 or byte(value, vi) == 44) and digit_at(value, vi + 1) then
          -- a fraction in the value that the layout does not have
          local next_token = list[k + 1].token
          if next_token ~= "frac0" and next_token ~= "frac9" then
            local _, last = find(value, "^%d+", vi + 1)
            f.nsec = nanoseconds(value, vi, last - vi + 1)
            vi = last + 1
          end
        end
      elseif token == "PM" or token == "pm" then
        local marker = sub(value, vi, vi + 1)
        local upper = token == "PM"
        if marker == (upper and "PM" or "pm") then
          pm, n, vi = true, 1, vi + 2
        elseif marker == (upper and "AM" or "am") then
          am, n, vi = true, 1, vi + 2
        end
      elseif token == "MST" then
        if sub(value, vi, vi + 2) == "UTC" then
          f.utc, n, vi = true, 1, vi + 3
        else
          local length = zone_name_length(value, vi)
          if length then
            f.zone_name, n, vi = sub(value, vi, vi + length - 1), 1, vi + length
          end
        end
      elseif token == "frac0" then
        local length = #chunk.text
        if #value - vi + 1 >= length then
          n = nanoseconds(value, vi, length)
          f.nsec, vi = n, vi + length
        end
      elseif token == "frac9" then
        local c = byte(value, vi)
        if (c == 46 or c == 44) and digit_at(value, vi + 1) then
          local _, last = find(value, "^%d%d?%d?%d?%d?%d?%d?%d?%d?", vi + 1)
          n = nanoseconds(value, vi, last - vi + 1)
          f.nsec, vi = n, last + 1
        else
          n = 0 -- the fraction may be left out
        end
      else -- offsets; "Z" for UTC where the layout's short forms allow it
        if (token == "Z0700" or token == "Z07:00" or token == "Z07") and byte(value, vi) == 90 then
          f.utc, n, vi = true, 1, vi + 1
        else
          local after_offset
          n, after_offset, range = parse_offset(token, value, vi)
          if n then f.zone_offset, vi = n, after_offset end
        end
      end
      if range then return nil, L.failure(value, range .. " out of range") end
      if not n then return nil, cannot_parse(layout, value, hold, chunk.text) end
    end
    if pm and f.hour < 12 then
      f.hour = f.hour + 12
    elseif am and f.hour == 12 then
      f.hour = 0
    end
    return f
  end

  return L
end
