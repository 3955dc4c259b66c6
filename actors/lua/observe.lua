-- What one worker tells about itself: counts of spawns and exits, a
-- snapshot of its processes for the observer, and, when tracing is on, a
-- span per process. Python reads counts and snapshots on demand; spans and
-- the `metrics` module's updates leave in one outbox command per slice.
--
-- Process values are read raw (next, rawget, rawlen): the snapshot never
-- runs user code, whatever a process keeps in its mailbox.
return function(deps)
  local S, errors, emit, wall_ns = deps.sched, deps.errors, deps.emit, deps.wall_ns
  local next, type, rawget, tostring = next, type, rawget, tostring
  local format, sub = string.format, string.sub
  local getinfo, random = debug.getinfo, math.random

  local O = {
    spawned = 0, exited = 0, failed = 0, runaways = 0, out_of_memory = 0,
    procs = nil, -- the process table, set by the kernel
  }
  local tracing = false
  local spans, n_spans = {}, 0

  -- Tracing ------------------------------------------------------------------

  local function span_id() return format("%016x", random(0, math.maxinteger)) end

  --- The trace id and parent span id of a W3C traceparent, or nil.
  local function parse_traceparent(value)
    if type(value) ~= "string" then return nil end
    local trace, parent = value:match("^%x%x%-(%x+)%-(%x+)%-%x%x$")
    if trace and #trace == 32 and parent and #parent == 16 then return trace, parent end
    return nil
  end

  --- Open a span for `proc`, a child of the traceparent in its context (a
  --- new trace without one); its context then carries the new span, so what
  --- it calls and spawns nests below it.
  local function open_span(proc)
    local ctx = proc.ctx
    local trace, parent = parse_traceparent(rawget(ctx, "traceparent"))
    trace = trace or (span_id() .. span_id())
    local id = span_id()
    proc.span = { trace = trace, id = id, parent = parent, start = wall_ns() }
    local own = {}
    for k, v in next, ctx do own[k] = v end
    own.traceparent = "00-" .. trace .. "-" .. id .. "-01"
    proc.ctx = own
  end

  local function close_span(proc, failure)
    local span = proc.span
    proc.span = nil
    span.finish = wall_ns()
    local entry = proc.entry
    span.name, span.kind, span.entry, span.pid = entry.id, entry.kind, entry.id, proc.pid
    span.frame = proc.frame_id
    span.workflow = proc.wf and proc.wf.id or nil
    if failure then span.error = errors.kind_of(failure) .. ": " .. tostring(errors.message_of(failure)) end
    n_spans = n_spans + 1
    spans[n_spans] = span
  end

  function O.set_tracing(on) tracing = on == true end

  -- Lifecycle hooks (process.lua) ----------------------------------------------

  function O.started(proc)
    O.spawned = O.spawned + 1
    if tracing then open_span(proc) end
  end

  local RUNAWAY, MEMORY = "process ran ", "not enough memory"

  function O.finished(proc, failure)
    O.exited = O.exited + 1
    if failure then
      O.failed = O.failed + 1
      if errors.kind_of(failure) == errors.RATE_LIMITED then
        local message = errors.message_of(failure)
        if sub(message, 1, #RUNAWAY) == RUNAWAY then O.runaways = O.runaways + 1
        elseif sub(message, 1, #MEMORY) == MEMORY then O.out_of_memory = O.out_of_memory + 1 end
      end
    end
    if proc.span then close_span(proc, failure) end
  end

  --- Once per slice: the metrics module's updates and the spans that ended,
  --- in one command.
  function O.flush(metric_updates)
    if metric_updates == nil and n_spans == 0 then return end
    local ended = false
    if n_spans > 0 then
      ended = spans
      spans, n_spans = {}, 0
    end
    emit({ "observe", metric_updates or false, ended })
  end

  -- Snapshots ----------------------------------------------------------------

  local function depth(ch)
    if ch == nil then return 0 end
    local n = ch.bt - ch.bh + 1
    return n > 0 and n or 0
  end

  --- A rough size in bytes of a queued value: what it holds, walked raw,
  --- at most `budget` values deep and wide.
  local function approx_size(value, budget)
    local tv = type(value)
    if tv == "string" then return 24 + #value, budget - 1 end
    if tv ~= "table" then return 16, budget - 1 end
    local size = 56
    budget = budget - 1
    local k, v = next(value)
    while k ~= nil and budget > 0 do
      local ks, vs
      ks, budget = approx_size(k, budget)
      vs, budget = approx_size(v, budget)
      size = size + ks + vs
      k, v = next(value, k)
    end
    return size, budget
  end

  --- What an idle process costs (its coroutine, tables and globals); see
  --- the README's figure.
  local IDLE_BYTES = 2900

  local function channels_of(proc)
    local list = { proc.inbox, proc.events }
    local topics = proc.topics
    if topics then for _, ch in next, topics do list[#list + 1] = ch end end
    return list
  end

  local function measure(proc)
    local queued, bytes, reds = 0, IDLE_BYTES, 0
    for _, ch in next, channels_of(proc) do
      local buf = ch.buf
      if buf then
        local budget = 1000
        for i = ch.bh, ch.bt do
          local size
          size, budget = approx_size(rawget(buf, i), budget)
          bytes = bytes + size
          if budget <= 0 then break end
        end
      end
      queued = queued + depth(ch)
    end
    for task in next, proc.tasks do reds = reds + (task.reds or 0) end
    return queued, bytes, reds
  end

  --- Where the process's main task is: the innermost frame of user code
  --- (a source named "@file"), as "name (file:line)".
  local function current_function(proc)
    for task, mark in next, proc.tasks do
      if mark == "main" then
        local co = task.co
        if not co then return "not started" end
        for level = 0, 40 do
          local info = getinfo(co, level, "Sln")
          if info == nil then break end
          if sub(info.source, 1, 1) == "@" then
            local name = info.name or ("function <" .. info.short_src .. ":" .. info.linedefined .. ">")
            return name .. " (" .. info.short_src .. ":" .. info.currentline .. ")"
          end
        end
        return nil
      end
    end
    return nil
  end

  local function status_of(proc)
    local status = "waiting"
    local cur = S.cur
    for task in next, proc.tasks do
      if task == cur then return "running" end
      if task.queued then status = "runnable" end
    end
    return status
  end

  local function keys(set)
    local list = {}
    if set then for k in next, set do list[#list + 1] = k end end
    table.sort(list)
    return list
  end

  local function topic_depths(proc)
    local out = {}
    if proc.topics then for topic, ch in next, proc.topics do out[topic] = depth(ch) end end
    return out
  end

  local SORT_KEYS = { mailbox = true, reductions = true, memory = true, pid = true }

  --- Plain data about every process (at most `limit` of them, the first by
  --- `sort`: mailbox, reductions or memory, largest first, or pid), and
  --- the count of all. `pid` alone: that process's row with its details.
  function O.snapshot(limit, sort, pid)
    local rows, n = {}, 0
    local function add(proc)
      local queued, bytes, reds = measure(proc)
      n = n + 1
      rows[n] = { pid = proc.pid, entry = proc.entry.id, kind = proc.entry.kind, mailbox = queued,
        memory = bytes, reductions = reds, proc = proc }
    end
    if pid then
      local proc = O.procs[pid]
      if proc then add(proc) end
    else
      for _, proc in next, O.procs do add(proc) end
    end
    local total = n
    sort = SORT_KEYS[sort] and sort or "pid"
    if sort == "pid" then
      table.sort(rows, function(a, b) return a.pid < b.pid end)
    else
      table.sort(rows, function(a, b)
        if a[sort] ~= b[sort] then return a[sort] > b[sort] end
        return a.pid < b.pid
      end)
    end
    if limit and n > limit then
      for i = limit + 1, n do rows[i] = nil end
      n = limit
    end
    for i = 1, n do
      local row = rows[i]
      local proc = row.proc
      row.proc = nil
      row.status = status_of(proc)
      row["function"] = current_function(proc)
      row.links, row.monitors = keys(proc.links), keys(proc.monitors)
      row.topics = topic_depths(proc)
      row.inbox, row.events = depth(proc.inbox), depth(proc.events)
      row.trap_links = proc.trap_links == true
      row.workflow = proc.wf and proc.wf.id or nil
    end
    return { total = total, processes = rows }
  end

  --- The worker's counters, for metrics, with the mailbox depths of its
  --- processes counted into buckets of upper bounds `bounds` (the last
  --- count is past every bound) and their largest.
  function O.stats(bounds)
    local counts, deepest = {}, 0
    for i = 1, #bounds + 1 do counts[i] = 0 end
    for _, proc in next, O.procs do
      local queued = depth(proc.inbox) + depth(proc.events)
      local topics = proc.topics
      if topics then for _, ch in next, topics do queued = queued + depth(ch) end end
      local i = 1
      while bounds[i] and queued > bounds[i] do i = i + 1 end
      counts[i] = counts[i] + 1
      if queued > deepest then deepest = queued end
    end
    return {
      spawned = O.spawned, exited = O.exited, failed = O.failed,
      runaways = O.runaways, out_of_memory = O.out_of_memory,
      reductions = S.reductions_used, turns = S.turns_run, slices = S.slices_run,
      delivered = deps.delivered(), refused = deps.refused(), depth_counts = counts, depth_max = deepest,
    }
  end

  return O
end
