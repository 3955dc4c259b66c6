-- Pattern matching with bounded work: string.find, match, gmatch and gsub.
--
-- Lua's matcher backtracks in C with no hook inside, so one call can run
-- for hours: ("a"):rep(200):find(".-.-.-.-b") tries every way of splitting
-- the subject. Each pattern is compiled once (and cached) into items, from
-- which the worst case of a call is estimated as a polynomial in the
-- subject's length: a quantified item multiplies the cost of the rest of the
-- pattern by the subject's length, unless what follows cannot match where it
-- repeats (a class disjoint from its own, the end of the pattern or of the
-- subject), and an unanchored search multiplies it once more. When the
-- estimate is within limits.pattern_steps_in_c, C runs the call as always.
-- Otherwise the call runs here, in Lua: the same algorithm, item by item,
-- with the same results and errors, counting its steps, and past
-- limits.pattern_steps it stops with a RateLimited error. Plain searches
-- (`plain` or a pattern with no special character) cost up to the product of
-- the two lengths; past the limit they go through candidates in Lua.
--
-- The matcher runs in a coroutine of its own, where the runaway guard does
-- not count it (its budget bounds it), and it never runs user code:
-- replacement functions and tables of gsub are called between searches.
return function(deps)
  local errors, limits = deps.errors, deps.limits
  local STEPS_IN_C, STEPS = limits.pattern_steps_in_c, limits.pattern_steps
  local c_find, c_match, c_gmatch, c_gsub = string.find, string.match, string.gmatch, string.gsub
  local byte, sub, char, format = string.byte, string.sub, string.char, string.format
  local concat, pack, unpack = table.concat, table.pack, table.unpack
  local co_create, co_resume, co_yield, co_status = coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
  local type, error, tostring, floor, huge, tointeger = type, error, tostring, math.floor, math.huge, math.tointeger

  local MAXCCALLS, MAXCAPTURES = 200, 32        -- as lstrlib.c
  local UNFINISHED, POSITION = -1, -2           -- capture lengths with a meaning
  -- item kinds
  local CLASS, OPEN, CLOSE, EOS, BALANCE, FRONTIER, BACKREF, FAIL = 1, 2, 3, 4, 5, 6, 7, 8
  -- quantifiers (the byte that follows a class)
  local STAR, PLUS, LAZY, OPT = 42, 43, 45, 63    -- '*', '+', '-', '?'

  -- Sets of bytes (byte -> true) ----------------------------------------------

  local ALL, NONE, LITERAL = {}, {}, {}
  for b = 0, 255 do
    ALL[b] = true
    LITERAL[b] = { [b] = true }
  end

  -- The set of a class as C reads it ("%a", "[^%s,]", "%."), asked of C
  -- itself byte by byte, so that it is exactly Lua's, locale included.
  local class_sets, n_class_sets = {}, 0
  local function class_set(text)
    local set = class_sets[text]
    if set then return set end
    set = {}
    local anchored = "^" .. text
    for b = 0, 255 do
      if c_find(char(b), anchored) then set[b] = true end
    end
    if n_class_sets >= 1024 then class_sets, n_class_sets = {}, 0 end
    class_sets[text] = set
    n_class_sets = n_class_sets + 1
    return set
  end

  local function disjoint(a, b)
    for x in next, a do
      if b[x] then return false end
    end
    return true
  end

  -- Compiling -------------------------------------------------------------------

  -- A pattern becomes a list of items, read as lstrlib.c reads it: a
  -- malformed part becomes a FAIL item raising C's message, reached (as in
  -- C) only when the matcher gets there.

  --- The index past the class that starts at `i` (C's classEnd), or nil
  --- and C's message.
  local function class_end(p, i, len)
    local c = byte(p, i)
    i = i + 1
    if c == 37 then -- '%'
      if i > len then return nil, "malformed pattern (ends with '%')" end
      return i + 1
    elseif c == 91 then -- '['
      if byte(p, i) == 94 then i = i + 1 end
      repeat
        if i > len then return nil, "malformed pattern (missing ']')" end
        local d = byte(p, i)
        i = i + 1
        if d == 37 and i <= len then i = i + 1 end
      until byte(p, i) == 93
      return i + 1
    end
    return i
  end

  --- A class item for p[i, ep): its set, and (but for '.') the class as a
  --- pattern of its own, with which C finds the next byte it matches
  --- (`first`) and the end of a run of them (`run`).
  local function class_item(p, i, ep, q)
    local item = { op = CLASS, quantifier = q }
    local text
    if ep == i + 1 then
      local c = byte(p, i)
      if c == 46 then -- '.'
        item.set = ALL
        return item
      end
      item.set = LITERAL[c]
      text = c_find(char(c), "^%w") and char(c) or "%" .. char(c)
    else
      text = sub(p, i, ep - 1)
      item.set = class_set(text)
    end
    item.first, item.run = text, "^" .. text .. "*"
    return item
  end

  local function compile_items(p, from)
    local items, len, i = {}, #p, from
    local function add(item) items[#items + 1] = item end
    while i <= len do
      local c = byte(p, i)
      if c == 40 then -- '('
        if byte(p, i + 1) == 41 then
          add({ op = OPEN, position = true }); i = i + 2
        else
          add({ op = OPEN }); i = i + 1
        end
      elseif c == 41 then -- ')'
        add({ op = CLOSE }); i = i + 1
      elseif c == 36 and i == len then -- '$' at the end
        add({ op = EOS }); i = i + 1
      elseif c == 37 and byte(p, i + 1) == 98 then -- '%b'
        if i + 2 >= len then add({ op = FAIL, message = "malformed pattern (missing arguments to '%b')" }); break end
        add({ op = BALANCE, open = byte(p, i + 2), close = byte(p, i + 3) }); i = i + 4
      elseif c == 37 and byte(p, i + 1) == 102 then -- '%f'
        if byte(p, i + 2) ~= 91 then add({ op = FAIL, message = "missing '[' after '%f' in pattern" }); break end
        local ep, problem = class_end(p, i + 2, len)
        if not ep then add({ op = FAIL, message = problem }); break end
        add({ op = FRONTIER, set = class_set(sub(p, i + 2, ep - 1)) }); i = ep
      elseif c == 37 and (byte(p, i + 1) or 0) >= 48 and byte(p, i + 1) <= 57 then -- '%0'..'%9'
        add({ op = BACKREF, index = byte(p, i + 1) - 48 }); i = i + 2
      else
        local ep, problem = class_end(p, i, len)
        if not ep then add({ op = FAIL, message = problem }); break end
        local q = byte(p, ep)
        if q ~= STAR and q ~= PLUS and q ~= LAZY and q ~= OPT then q = nil end
        add(class_item(p, i, ep, q))
        i = q and ep + 1 or ep
      end
    end
    return items
  end

  -- The worst case --------------------------------------------------------------

  -- Costs are polynomials in the subject's length n, kept as (degree,
  -- coefficient): c * (n + 1) ^ d, added by the larger degree.
  local function add_cost(d1, c1, d2, c2)
    return d1 > d2 and d1 or d2, c1 + c2
  end

  --- Can items k.. all match the empty string at the end of the subject?
  local function empty_at_end(items, k)
    for j = k, #items do
      local it = items[j]
      local op, q = it.op, it.quantifier
      if not (op == OPEN or op == CLOSE or op == EOS or (op == CLASS and q and q ~= PLUS)) then return false end
    end
    return true
  end

  --- Do items k.. match from every position (so a repetition before them
  --- stops at its first try)?
  local function infallible(items, k)
    for j = k, #items do
      local it = items[j]
      local op, q = it.op, it.quantifier
      if op == CLASS and (q == STAR or q == LAZY) and it.set == ALL and empty_at_end(items, j + 1) then return true end
      if not (op == OPEN or op == CLOSE or (op == CLASS and q and q ~= PLUS)) then return false end
    end
    return true
  end

  --- The set of bytes the first of items k.. needs, when that item must
  --- match a byte (NONE for the end of the subject), else nil.
  local function next_needs(items, k)
    for j = k, #items do
      local it = items[j]
      local op = it.op
      if op == EOS then return NONE end
      if op == CLASS and (it.quantifier == nil or it.quantifier == PLUS) then return it.set end
      if op ~= OPEN and op ~= CLOSE then return nil end
    end
    return nil
  end

  --- The worst case of one match attempt of items k.. at one position.
  local function attempt_cost(items)
    local d, c = 0, 1 -- past the last item
    for k = #items, 1, -1 do
      local it = items[k]
      local op, q = it.op, it.quantifier
      if op == BALANCE or op == BACKREF then
        d, c = add_cost(1, 1, d, c)      -- a scan, then the rest at one place
      elseif op == CLASS and (q == STAR or q == PLUS or q == LAZY) then
        local needs = next_needs(items, k + 1)
        if infallible(items, k + 1) or (needs and disjoint(it.set, needs)) then
          d, c = add_cost(1, 1, d, c)    -- the rest is tried where the run ends
        else
          d, c = add_cost(1, 1, d + 1, c) -- the rest is tried along the run
        end
      elseif op == CLASS and q == OPT and not infallible(items, k + 1) then
        c = 2 * c + 1
      elseif op ~= EOS and op ~= FAIL then
        c = c + 1
      end
    end
    return d, c
  end

  --- The worst case of a whole call: one attempt when anchored; else one
  --- per position, each as costly as an attempt unless the items after
  --- the first cannot fail (then an attempt fails at its first byte or
  --- succeeds, and successive matches do not overlap).
  local function call_cost(items, anchored)
    local d, c = attempt_cost(items)
    if anchored then return d, c end
    local first = 1
    while items[first] and (items[first].op == OPEN or items[first].op == CLOSE) do first = first + 1 end
    if items[first] and items[first].op == CLASS and infallible(items, first + 1) then
      return add_cost(1, #items + 1, d, c)
    end
    return d + 1, c
  end

  --- The longest subject C may be given for a worst case within the limit.
  local function longest_for_c(d, c)
    if c > STEPS_IN_C then return -1 end
    if d == 0 then return huge end
    return floor((STEPS_IN_C / c) ^ (1 / d)) - 1
  end

  -- Longer patterns are not compiled; they run in C only when they hold no
  -- repetition and the product of the lengths is within the limit.
  local MAX_COMPILED = 65536
  local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]"

  local function info_for(p, anchor_allowed)
    local info = { plain = not c_find(p, SPECIALS) }
    local anchored = anchor_allowed and byte(p, 1) == 94
    info.anchored = anchored
    if #p > MAX_COMPILED then
      info.longest = c_find(p, "[%*%+%-%?]") and -1 or floor(STEPS_IN_C / #p)
      return info
    end
    info.items = compile_items(p, anchored and 2 or 1)
    info.longest = longest_for_c(call_cost(info.items, anchored))
    return info
  end

  -- Compiled patterns, one cache for find, match and gsub (where '^'
  -- anchors) and one for gmatch (where it does not); wiped when full.
  local anchoring, literal_caret = {}, {}
  local n_cached = 0
  local function compiled(cache, p, anchor_allowed)
    local info = cache[p]
    if info == nil then
      if n_cached >= 512 then anchoring, literal_caret, n_cached = {}, {}, 0 end
      info = info_for(p, anchor_allowed)
      if anchor_allowed then anchoring[p] = info else literal_caret[p] = info end
      n_cached = n_cached + 1
    end
    return info
  end

  -- The matcher -----------------------------------------------------------------

  -- One search at a time runs, in the matcher's coroutine: its state is
  -- set up for each search by `searching`, and its results are read before
  -- any other code runs.
  local S, N, ITEMS, LEVEL, DEPTH, LEFT -- subject, its length, items, capture level, depth left, steps left
  local CINIT, CLEN = {}, {}
  local OVER = setmetatable({}, { __name = "luactor.over_steps" })

  -- What the matcher raises for a malformed pattern or capture: the entry
  -- point raises the message at its caller's line, as C's luaL_error does.
  local Malformed = { __name = "luactor.malformed_pattern" }
  local function fail(message) error(setmetatable({ message = message }, Malformed), 0) end

  local match

  local function spend(n)
    LEFT = LEFT - n
    if LEFT < 0 then error(OVER, 0) end
  end

  -- A run of a class is found by C (all of the rest for '.'), and costs a
  -- step per 64 bytes: a step of the matcher is what takes time.
  local function max_expand(i, it, k)
    local j = N + 1
    local run = it.run
    if run then j = select(2, c_find(S, run, i)) + 1 end
    spend(1 + (j - i) // 64)
    while j >= i do
      local r = match(j, k + 1)
      if r then return r end
      j = j - 1
    end
    return nil
  end

  local function min_expand(i, set, k)
    while true do
      local r = match(i, k + 1)
      if r then return r end
      local b = byte(S, i)
      if b and set[b] then i = i + 1 else return nil end
    end
  end

  local function start_capture(i, k, what)
    local level = LEVEL
    if level >= MAXCAPTURES then fail("too many captures") end
    level = level + 1
    CINIT[level], CLEN[level], LEVEL = i, what, level
    local r = match(i, k)
    if r == nil then LEVEL = LEVEL - 1 end
    return r
  end

  local function end_capture(i, k)
    local l = LEVEL
    while l >= 1 and CLEN[l] ~= UNFINISHED do l = l - 1 end
    if l < 1 then fail("invalid pattern capture") end
    CLEN[l] = i - CINIT[l]
    local r = match(i, k)
    if r == nil then CLEN[l] = UNFINISHED end
    return r
  end

  local function match_capture(i, index)
    local l = index
    if l < 1 or l > LEVEL or CLEN[l] == UNFINISHED then fail("invalid capture index %" .. index) end
    local len = CLEN[l]
    if len < 0 or N - i + 1 < len then return nil end
    spend(len)
    if sub(S, CINIT[l], CINIT[l] + len - 1) == sub(S, i, i + len - 1) then return i + len end
    return nil
  end

  local function match_balance(i, open, close)
    if (byte(S, i) or 0) ~= open then return nil end
    local depth, j = 1, i + 1
    while j <= N do
      local b = byte(S, j)
      if b == close then
        depth = depth - 1
        if depth == 0 then
          spend(j - i)
          return j + 1
        end
      elseif b == open then
        depth = depth + 1
      end
      j = j + 1
    end
    spend(j - i)
    return nil
  end

  --- lstrlib.c's match: the end of a match of items k.. at i, or nil.
  match = function(i, k)
    if DEPTH == 0 then fail("pattern too complex") end
    DEPTH = DEPTH - 1
    while true do
      LEFT = LEFT - 1
      if LEFT < 0 then error(OVER, 0) end
      local it = ITEMS[k]
      if it == nil then break end
      local op = it.op
      if op == CLASS then
        local q, b = it.quantifier, byte(S, i)
        if not (b and it.set[b]) then
          if q == STAR or q == OPT or q == LAZY then
            k = k + 1
          else
            i = nil
            break
          end
        elseif q == nil then
          i, k = i + 1, k + 1
        elseif q == OPT then
          local r = match(i + 1, k + 1)
          if r then
            i = r
            break
          end
          k = k + 1
        elseif q == LAZY then
          i = min_expand(i, it.set, k)
          break
        else
          i = max_expand(q == PLUS and i + 1 or i, it, k)
          break
        end
      elseif op == OPEN then
        i = start_capture(i, k + 1, it.position and POSITION or UNFINISHED)
        break
      elseif op == CLOSE then
        i = end_capture(i, k + 1)
        break
      elseif op == EOS then
        if i ~= N + 1 then i = nil end
        break
      elseif op == BALANCE then
        i = match_balance(i, it.open, it.close)
        if i == nil then break end
        k = k + 1
      elseif op == FRONTIER then
        local set = it.set
        if not set[i == 1 and 0 or byte(S, i - 1)] and set[byte(S, i) or 0] then
          k = k + 1
        else
          i = nil
          break
        end
      elseif op == BACKREF then
        i = match_capture(i, it.index)
        if i == nil then break end
        k = k + 1
      else
        fail(it.message)
      end
    end
    DEPTH = DEPTH + 1
    return i
  end

  --- The first match at `from` or after (only at `from` when anchored)
  --- that does not end at `lastmatch`: its start, its end (exclusive) and
  --- its captures as found (`{level=, [l]=init, [-l]=length}`).
  --- Where a match can start: an unanchored search goes from one byte the
  --- first item needs to the next (found by C), when it needs one.
  --- (Captures opened before it fail nowhere, up to C's limit on them.)
  local function first_needs(items)
    for k = 1, MAXCAPTURES do
      local it = items[k]
      if it == nil then return nil end
      if it.op == CLASS and (it.quantifier == nil or it.quantifier == PLUS) then return it.first end
      if it.op ~= OPEN then return nil end
    end
    return nil
  end

  local function search(from, anchored, lastmatch)
    local i = from
    local first = not anchored and first_needs(ITEMS)
    while true do
      if first then
        i = c_find(S, first, i)
        if i == nil then return nil end
      end
      LEVEL, DEPTH = 0, MAXCCALLS
      local e = match(i, 1)
      if e and e ~= lastmatch then
        local caps = { level = LEVEL }
        for l = 1, LEVEL do caps[l], caps[-l] = CINIT[l], CLEN[l] end
        return i, e, caps
      end
      if anchored or i > N then return nil end
      i = i + 1
    end
  end

  -- The coroutine searches run in: given the subject, items, steps left
  -- and search's arguments, it gives back the steps left and the results,
  -- and holds nothing of the call while it waits for the next.
  local function searcher(s, items, left, from, anchored, lastmatch)
    while true do
      S, N, ITEMS, LEFT = s, #s, items, left
      local a, e, caps = search(from, anchored, lastmatch)
      S, ITEMS, s, items = nil, nil, nil, nil
      s, items, left, from, anchored, lastmatch = co_yield(LEFT, a, e, caps)
    end
  end
  local searcher_co

  local function over_budget(fname, s)
    return errors.new({
      kind = errors.RATE_LIMITED,
      message = format("%s: the pattern took more than %d matching steps on a subject of %d bytes and was stopped",
        fname, STEPS, #s),
    })
  end

  --- One search, as `search` describes, against the call's budget.
  local function searching(call, from, anchored, lastmatch)
    if searcher_co == nil or co_status(searcher_co) == "dead" then searcher_co = co_create(searcher) end
    local ok, left, a, e, caps = co_resume(searcher_co, call.s, call.items, call.left, from, anchored, lastmatch)
    if not ok then
      if left == OVER then error(over_budget(call.fname, call.s), 0) end
      error(left, 0)
    end
    call.left = left
    return a, e, caps
  end

  --- Capture `l` of the match from `a` to `e` (exclusive), as C's
  --- get_onecapture: the whole match when there are no captures.
  local function capture(s, caps, l, a, e)
    if l > caps.level then
      if l ~= 1 then fail("invalid capture index %" .. l) end
      return sub(s, a, e - 1)
    end
    local len = caps[-l]
    if len == UNFINISHED then fail("unfinished capture") end
    if len == POSITION then return caps[l] end
    return sub(s, caps[l], caps[l] + len - 1)
  end

  --- All captures (C's push_captures); `whole` when the match itself counts.
  local function captures(s, caps, a, e, whole)
    local n = (caps.level == 0 and whole) and 1 or caps.level
    local values = {}
    for l = 1, n do values[l] = capture(s, caps, l, a, e) end
    return unpack(values, 1, n)
  end

  --- `driver(...)`, tail-called by an entry point: what it returns, or
  --- its error; a malformed pattern's message is raised at the line of the
  --- entry point's caller, as C's luaL_error does.
  local function run(driver, ...)
    local r = pack(pcall(driver, ...))
    if r[1] then return unpack(r, 2, r.n) end
    local e = r[2]
    if type(e) == "table" and getmetatable(e) == Malformed then error(e.message, 2) end
    error(e, 0)
  end

  -- Arguments, as C checks them -------------------------------------------------

  local function integer_arg(v, default, fname, position)
    if v == nil then return default end
    local i = tointeger(v)
    if i == nil and type(v) == "string" then i = tointeger(tonumber(v)) end
    if i then return i end
    local problem = type(v) == "number" and "number has no integer representation"
      or "number expected, got " .. type(v)
    fail(format("bad argument #%d to '%s' (%s)", position, fname, problem))
  end

  --- C's posrelatI: a start position from `init` for a subject of `len`.
  local function start_at(init, len)
    if init > 0 then return init end
    if init == 0 or init < -len then return 1 end
    return len + init + 1
  end

  local function new_call(fname, s, info)
    return { fname = fname, s = s, items = info.items, left = STEPS }
  end

  --- A plain search for `p` in `s` from `init`, in Lua between candidate
  --- positions C finds for a prefix of `p` short enough to be cheap.
  local function plain_search(s, p, init)
    local len, m = #s, #p
    init = start_at(integer_arg(init, 1, "find", 3), len)
    if init > len + 1 then return nil end
    local prefix = sub(p, 1, floor(STEPS_IN_C / (len + 1)) + 1)
    local left, at = STEPS, init
    while true do
      local a = c_find(s, prefix, at, true)
      if a == nil then return nil end
      left = left - m
      if left < 0 then error(over_budget("string.find", s), 0) end
      if sub(s, a, a + m - 1) == p then return a, a + m - 1 end
      at = a + 1
    end
  end

  -- The functions ---------------------------------------------------------------

  local P = {}

  local function lua_find(s, init, info, fname, is_find)
    init = start_at(integer_arg(init, 1, fname, 3), #s)
    if init > #s + 1 then return nil end
    local a, e, caps = searching(new_call(fname, s, info), init, info.anchored, nil)
    if a == nil then return nil end
    if is_find then return a, e - 1, captures(s, caps, a, e, false) end
    return captures(s, caps, a, e, true)
  end

  local function too_long(fname, s, p)
    return errors.new({ kind = errors.INVALID, message = format(
      "%s: a pattern of %d bytes is too long to match on a subject of %d bytes", fname, #p, #s) })
  end

  function P.find(s, p, init, plain)
    if type(s) == "string" and type(p) == "string" then
      local info = not plain and (anchoring[p] or compiled(anchoring, p, true))
      if plain or info.plain then
        if #s * #p > STEPS_IN_C then return run(plain_search, s, p, init) end
      elseif #s > info.longest then
        if not info.items then error(too_long("string.find", s, p), 2) end
        return run(lua_find, s, init, info, "find", true)
      end
    end
    return c_find(s, p, init, plain)
  end

  function P.match(s, p, init)
    if type(s) == "string" and type(p) == "string" then
      local info = anchoring[p] or compiled(anchoring, p, true)
      if #s > info.longest then
        if not info.items then error(too_long("string.match", s, p), 2) end
        return run(lua_find, s, init, info, "match", false)
      end
    end
    return c_match(s, p, init)
  end

  local function lua_gmatch(s, init, info)
    local len = #s
    local at = start_at(integer_arg(init, 1, "gmatch", 3), len)
    if at > len + 1 then at = len + 2 end
    local lastmatch
    local function step() -- (nothing at the end, as C's iterator)
      if at > len + 1 then return end
      local a, e, caps = searching(new_call("gmatch", s, info), at, false, lastmatch)
      if a == nil then
        at = len + 2
        return
      end
      at, lastmatch = e, e
      return captures(s, caps, a, e, true)
    end
    return function() return run(step) end
  end

  function P.gmatch(s, p, init)
    if type(s) == "string" and type(p) == "string" then
      local info = literal_caret[p] or compiled(literal_caret, p, false)
      if #s > info.longest then
        if not info.items then error(too_long("string.gmatch", s, p), 2) end
        return run(lua_gmatch, s, init, info)
      end
    end
    return c_gmatch(s, p, init)
  end

  --- A replacement string with its %-references expanded (C's add_s).
  local function expand(text, s, caps, a, e)
    local pieces, i, len = {}, 1, #text
    while i <= len do
      local pct = c_find(text, "%", i, true)
      if not pct then
        pieces[#pieces + 1] = sub(text, i)
        break
      end
      pieces[#pieces + 1] = sub(text, i, pct - 1)
      local d = byte(text, pct + 1)
      if d == 37 then
        pieces[#pieces + 1] = "%"
      elseif d == 48 then
        pieces[#pieces + 1] = sub(s, a, e - 1)
      elseif d and d >= 49 and d <= 57 then
        pieces[#pieces + 1] = tostring(capture(s, caps, d - 48, a, e))
      else
        fail("invalid use of '%' in replacement string")
      end
      i = pct + 2
    end
    return concat(pieces)
  end

  --- What replaces a match (C's add_value); false to keep the match.
  local function replacement(repl, kind, s, caps, a, e)
    local value
    if kind == "function" then
      value = repl(captures(s, caps, a, e, true))
    elseif kind == "table" then
      value = repl[capture(s, caps, 1, a, e)]
    else
      local text = tostring(repl)
      return c_find(text, "%", 1, true) and expand(text, s, caps, a, e) or text
    end
    if not value then return false end
    local tv = type(value)
    if tv ~= "string" and tv ~= "number" then fail("invalid replacement value (a " .. tv .. ")") end
    return value
  end

  local REPLACEMENTS = { string = true, number = true, ["function"] = true, table = true }

  local function lua_gsub(s, repl, max_n, info)
    local kind = type(repl)
    if not REPLACEMENTS[kind] then
      fail("bad argument #3 to 'gsub' (string/function/table expected, got " .. (repl == nil and "no value" or kind) .. ")")
    end
    local len = #s
    max_n = integer_arg(max_n, len + 1, "gsub", 4)
    local call = new_call("gsub", s, info)
    local out, n_out, count, changed, at, lastmatch = {}, 0, 0, false, 1, nil
    while count < max_n do
      local a, e, caps = searching(call, at, info.anchored, lastmatch)
      if a == nil then break end
      if a > at then
        n_out = n_out + 1
        out[n_out] = sub(s, at, a - 1)
      end
      count = count + 1
      local value = replacement(repl, kind, s, caps, a, e)
      n_out = n_out + 1
      if value then
        out[n_out], changed = value, true
      else
        out[n_out] = sub(s, a, e - 1)
      end
      at, lastmatch = e, e
      if info.anchored then break end
    end
    if not changed then return s, count end
    if at <= len then
      n_out = n_out + 1
      out[n_out] = sub(s, at)
    end
    return concat(out, "", 1, n_out), count
  end

  function P.gsub(s, p, repl, max_n)
    if type(s) == "string" and type(p) == "string" then
      local info = anchoring[p] or compiled(anchoring, p, true)
      if #s > info.longest then
        if not info.items then error(too_long("string.gsub", s, p), 2) end
        return run(lua_gsub, s, repl, max_n, info)
      end
    end
    return c_gsub(s, p, repl, max_n)
  end

  --- The longest subject C matches `p` on (gmatch reads '^' as a byte).
  function P.longest_in_c(p, gmatch)
    if gmatch then return (literal_caret[p] or compiled(literal_caret, p, false)).longest end
    return (anchoring[p] or compiled(anchoring, p, true)).longest
  end

  return P
end
