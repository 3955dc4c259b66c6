-- Durable workflows: recording, replay and the deterministic step model.
--
-- A workflow's own coroutines run FIFO and meet only through channels, so
-- between two external events its execution is a function of its code and
-- its inputs. Everything from outside therefore arrives as an *event*:
-- a timer firing, a call's result, a message, a lifecycle event. Events never
-- wake a workflow directly; they queue on it, and when none of its tasks can
-- run (it is quiescent) they are recorded as one *batch*, committed by the
-- host, and only then applied. What the code asks of the world (timers,
-- calls, sends, spawns, version markers) is recorded as a *command* when
-- issued.
--
-- Replay runs the code again from the start. Each command it issues must
-- match the next recorded command; at each quiescent point the next
-- recorded batch is applied; when history runs out the workflow goes live:
-- timers still pending are armed at their recorded deadline, calls without a
-- result run again with the same idempotency key, and stored messages that no
-- batch consumed are queued again.
--
-- Messages to a workflow are stored as *signals* when sent (the sender waits
-- for the commit); a batch refers to a signal by its sequence number.
return function(deps)
  local S, errors, bridge = deps.sched, deps.errors, deps.bridge
  local monotonic, wall_ns = deps.now, deps.wall_ns
  local emit = bridge.emit
  local pairs, next, tostring, setmetatable = pairs, next, tostring, setmetatable

  local D = {}
  local workflows = {}      -- workflow id -> wf
  local active = {}         -- wf -> true: may need flushing or replay progress
  local awaiting = {}       -- wf -> true: its last batch waits for the host's commit
  local applying = nil      -- the wf whose batch is being applied
  D.workflows = workflows

  -- How calls run and complete: `run(call, key, wf, id)` runs call `id` of
  -- `wf` for real, its outcome going to D.call_result; `complete(call,
  -- value, failure)` gives it the recorded outcome. Set by funcs.
  local run_for_real, complete_call
  function D.handle_calls(run, complete) run_for_real, complete_call = run, complete end

  local function err(kind, message) return errors.new({ kind = kind, message = message }) end

  --- The workflow the running code belongs to, if any.
  local function current()
    local t = S.cur
    if t then return t.proc.wf end
    return applying
  end
  D.current = current

  -- A per-workflow pseudo-random generator (xorshift64*), so math.random and
  -- uuid give the same values on replay.
  local function rng_next(wf)
    local x = wf.rng
    x = x ~ (x >> 12)
    x = x ~ (x << 25)
    x = x ~ (x >> 27)
    wf.rng = x
    return x * 0x2545F4914F6CDD1D
  end

  function D.random(wf, m, n)
    local r = rng_next(wf)
    if m == nil then return ((r >> 11) & 0x1FFFFFFFFFFFFF) / 9007199254740992.0 end
    if n == nil then m, n = 1, m end
    if m > n then error("bad argument to 'random' (interval is empty)", 3) end
    return m + ((r >> 1) % (n - m + 1))
  end

  function D.random_bytes(wf, count)
    local out = {}
    for i = 1, count do out[i] = string.char((rng_next(wf) >> 24) & 0xFF) end
    return table.concat(out)
  end

  -- Encoding records --------------------------------------------------------------
  --
  -- For a host that stores them (deps.encode_records), records leave Lua
  -- already in msgpack: one string per record crosses into Python instead
  -- of a table walked key by key.
  -- The encoding is what Python's msgpack makes of the same data after the
  -- usual conversion: UTF-8 strings as str and other strings as bin, a table
  -- with keys exactly 1..n as an array and any other (the empty one too) as a
  -- map, integers in their smallest form, floats as float64.

  local spack, char, concat, mtype, utf8len = string.pack, string.char, table.concat, math.type, utf8.len
  local rawlen, rawget, type = rawlen, rawget, type
  local MAX_DEPTH = 200

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

  -- Short strings (keys, types, function ids) come again and again: their
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
      error("a " .. t .. " cannot be stored", 0)
    end
    return n
  end

  -- The pieces of the record being encoded; reused, so encoding makes no
  -- table per record (entries past the current record's are left over).
  local pieces = {}

  --- `record` in msgpack, or nil and why it cannot be stored.
  local function encode(record)
    local ok, n = pcall(encode_into, record, pieces, 0, 0)
    if not ok then return nil, n end
    return concat(pieces, "", 1, n)
  end
  D.encode = encode

  -- History records leave in runs: consecutive records share one command,
  -- `{"history", ...}`, so Python pays one crossing per run, not per record
  -- (it was a third of the Python time of a workflow step). A run grows
  -- while it is the outbox's last command, so records keep their order with
  -- the commands around them (starts and ends of workflows, messages).
  local open_run = nil
  -- Runs emitted and not yet taken by Python: their records are encoded
  -- when taken (see D.seal), as fields may be set on them until then.
  local unsealed, n_unsealed = {}, 0

  local encoding = deps.encode_records   -- else records leave as tables
  local last_emitted = bridge.last

  local function emit_record(wf, record)
    local run = open_run
    if run == nil or last_emitted() ~= run then
      run = { "history", ids = {}, records = {}, n = 0 }
      open_run = run
      emit(run)
      if encoding then
        n_unsealed = n_unsealed + 1
        unsealed[n_unsealed] = run
      end
    end
    local n = run.n + 1
    run.n, run.ids[n], run.records[n] = n, wf.id, record
  end

  local run_pieces = {} -- reused, as `pieces` is
  -- One run in msgpack: a flat array of `id, ts, record` per record, the
  -- record as bin holding its own msgpack (stored as it is).
  local function encode_run(ids, records, count)
    local out = run_pieces
    local m = 1
    out[1] = sized(count * 3, 0x90, 16, nil, 0xdc, 0xdd)
    for i = 1, count do
      local record = records[i]
      m = encode_into(ids[i], out, m, 0)
      m = encode_into(record.ts, out, m, 0)
      m = m + 1
      local header = m
      m = encode_into(record, out, m, 0)
      local len = 0
      for k = header + 1, m do len = len + #out[k] end
      out[header] = bin_header(len)
    end
    return concat(out, "", 1, m)
  end

  --- The records of a run that can be stored, and why those of other
  --- workflows cannot (`{[id] = why}`): from a workflow's first record that
  --- cannot be stored on, none of its records is kept, so that it alone
  --- fails (see D.seal).
  local function storable(ids, records, count)
    local kept_ids, kept, n, unstorable = {}, {}, 0, {}
    for k = 1, count do
      local id, record = ids[k], records[k]
      if unstorable[id] == nil then
        local _, why = encode(record)
        if why then
          unstorable[id] = "a " .. tostring(record.type) .. " record cannot be stored: " .. why
        else
          n = n + 1
          kept_ids[n], kept[n] = id, record
        end
      end
    end
    return kept_ids, kept, n, unstorable
  end

  --- Encode the runs about to be taken: `{"history", msgpack}`, and when
  --- records of some workflows cannot be stored (a value nested too deep),
  --- `{"history", msgpack of the others, {[id] = why}}`: the host fails
  --- those workflows and stores the rest.
  function D.seal()
    for i = 1, n_unsealed do
      local cmd = unsealed[i]
      local ids, records, count = cmd.ids, cmd.records, cmd.n
      local ok, packed = pcall(encode_run, ids, records, count)
      if ok then
        cmd[2] = packed
      else
        local kept_ids, kept, n, unstorable = storable(ids, records, count)
        cmd[2], cmd[3] = encode_run(kept_ids, kept, n), unstorable
      end
      cmd.ids, cmd.records = nil, nil
    end
    if n_unsealed > 0 then unsealed, n_unsealed = {}, 0 end
  end

  -- Recording -----------------------------------------------------------------

  local function describe(record)
    local what = record.type
    if record.fn then what = what .. " " .. tostring(record.fn) end
    if record.entry then what = what .. " " .. tostring(record.entry) end
    if record.change then what = what .. " " .. tostring(record.change) end
    return what
  end

  --- What the runtime raised for a workflow, as text (no user code runs:
  --- error objects print themselves with the runtime's own __tostring).
  local function reason(e)
    if type(e) == "string" or errors.is_error(e) then return tostring(e) end
    return "(a " .. type(e) .. " was raised)"
  end

  --- The error of a workflow the runtime failed on while `doing` something
  --- for it: its history or what it asked for broke the runtime's code.
  local function runtime_failure(wf_id, doing, e)
    return err(errors.INTERNAL, "workflow '" .. tostring(wf_id) .. "' failed while " .. doing .. ": " .. reason(e))
  end

  --- The runtime's code raised for `wf` (outside its own coroutines, where
  --- it would have failed the worker): it fails alone instead.
  local function fail_alone(wf, doing, e)
    applying = nil
    if not wf.done then deps.kill(wf.proc, runtime_failure(wf.id, doing, e)) end
    if not wf.done then D.detach(wf) end -- (its process had ended already)
  end

  --- End workflow `wf_id` with the plain error `failure`: the host could
  --- not do something of its own for it (store a record, say). False when
  --- it does not run here.
  function D.fail(wf_id, failure)
    local wf = workflows[wf_id]
    if wf == nil then return false end
    deps.kill(wf.proc, errors.from_plain(failure))
    return true
  end

  --- The recovery of `wf_id` raised `e` (a stored value is not what the
  --- runtime needs): if its process was made, it fails alone. Returns the
  --- error, for the host to store.
  function D.abandon(wf_id, e)
    local failure = runtime_failure(wf_id, "being recovered", e)
    local wf = workflows[wf_id]
    if wf ~= nil then deps.kill(wf.proc, failure) end
    return failure
  end

  --- The refusal of a message to `pid`, a workflow of this host that has
  --- ended: one that failed at a history limit refuses what is sent to it,
  --- as it did while its history was full (see hosts/history_limits.py).
  function D.refusal(pid)
    local ended = deps.workflow_result(pid)
    local failure = ended and ended.error
    local details = type(failure) == "table" and failure.details
    local limit = type(details) == "table" and details.limit
    if type(limit) ~= "string" or limit:sub(1, 8) ~= "history." then return nil end
    return errors.new({ kind = errors.RATE_LIMITED, retryable = false, details = details,
      message = "message to " .. pid .. " refused: " .. tostring(failure.message) })
  end

  local function fail_nondeterministic(wf, recorded, requested)
    local message = "workflow " .. wf.id .. " is not deterministic: at step " .. wf.step ..
      " the history holds " .. (recorded and describe(recorded) or "nothing more") ..
      " but the code asked for " .. requested
    deps.kill(wf.proc, err(errors.INTERNAL, message))
  end

  -- The next ordered record of the history being replayed, or nil.
  local function peek(wf)
    return wf.history and wf.history[wf.cursor]
  end

  --- Record a command issued by the running workflow. Returns the record
  --- and whether it is live: during replay it is checked against history and
  --- the recorded one comes back; live it is appended. (The host reads the
  --- record after the slice, so fields set on it until then are stored.)
  local go_live -- below

  function D.command(wf, record)
    wf.step = wf.step + 1
    if wf.replaying and peek(wf) == nil then
      -- history ran out in the middle of a step: from here on it is live
      go_live(wf)
    end
    if wf.replaying then
      local recorded = peek(wf)
      local same = recorded and recorded.type == record.type and recorded.fn == record.fn
        and recorded.entry == record.entry and recorded.change == record.change
      if not same then
        fail_nondeterministic(wf, recorded, describe(record))
        return nil, false
      end
      wf.cursor = wf.cursor + 1
      return recorded, false
    end
    emit_record(wf, record)
    return record, true
  end

  --- `wf` heard lifecycle `event` (an EXIT or LINK_DOWN). Of a workflow it
  --- watches, an EXIT ends the monitor's watch and a LINK_DOWN the link's.
  --- While replaying, what came from a workflow not watched yet (its end
  --- can come before replay reaches the spawn) is kept until going live, so
  --- catch_up does not make it up again.
  local function hear(wf, event)
    local from, kind = event.from, event.kind
    local how = wf.watching[from]
    if how then
      if kind == "EXIT" then how.monitor = nil elseif kind == "LINK_DOWN" then how.link = nil end
      if not (how.monitor or how.link) then wf.watching[from] = nil end
    elseif wf.replaying then
      local heard = wf.heard[from] or {}
      heard[kind] = true
      wf.heard[from] = heard
    end
  end

  --- An event from outside for `wf`; applied after it is recorded.
  function D.event(wf, event)
    if wf.done then return end
    if event.kind == "lifecycle" then hear(wf, event.event) end
    local pending = wf.pending
    pending[#pending + 1] = event
    active[wf] = true
  end

  -- Applying events -----------------------------------------------------------

  local apply_event = {}

  function apply_event.timer(wf, event)
    local timer = wf.timers[event.id]
    wf.timers[event.id] = nil
    if timer and not timer.stopped then
      timer.fired = true
      timer.fire(timer)
    end
  end

  function apply_event.result(wf, event)
    local call = wf.calls[event.id]
    wf.calls[event.id] = nil
    if call then
      local failure = event.error and errors.from_plain(event.error) or nil
      complete_call(call, event.value, failure)
    end
  end

  function apply_event.message(wf, event)
    wf.consumed[event.seq] = true
    deps.deliver_now(wf.proc, event.from, event.topic, event.payload)
  end

  --- A child workflow ended: its waiting `workflow.exec` gets the result.
  function apply_event.child(wf, event)
    local waiter = wf.children[event.from]
    if waiter then
      wf.children[event.from] = nil
      waiter(event.result)
    end
  end

  function apply_event.lifecycle(wf, event)
    hear(wf, event.event)
    deps.event_now(wf.proc, event.event)
  end

  local function apply_batch(wf, batch)
    wf.now = batch.ts
    applying = wf
    local events = batch.events
    for i = 1, #events do
      local event = events[i]
      local apply = apply_event[event.kind]
      if apply then apply(wf, event) end
      if wf.done then break end
    end
    applying = nil
  end

  local function quiescent(wf)
    for task in next, wf.proc.tasks do
      if task.queued then return false end
    end
    return true
  end

  --- The idempotency key of call `id` of `wf`.
  function D.call_key(wf, id)
    local key = wf.id .. "/call/" .. id
    -- later runs of an id (terminate_existing, retries, cron) make calls of their own
    if wf.run > 1 then key = key .. "/run/" .. wf.run end
    return key
  end

  --- Run call `id` of `wf` for real.
  local function run_call(wf, id, call)
    run_for_real(call, D.call_key(wf, id), wf, id)
  end

  --- The outcome of call `id` of `wf`, run for real: recorded, then applied.
  function D.call_result(wf, id, value, failure)
    D.event(wf, { kind = "result", id = id, value = value, error = failure and errors.to_plain(failure) or nil })
  end

  local catch_up -- below

  -- Going live after replay: re-issue what history left outstanding.
  go_live = function(wf)
    wf.replaying, wf.history = false, nil
    for id, timer in pairs(wf.timers) do
      timer.real = S.add_timer({
        deadline = monotonic() + (timer.deadline - wall_ns()) / 1e9,
        fire = function() D.event(wf, { kind = "timer", id = id }) end,
      })
    end
    for id, call in pairs(wf.outstanding_calls) do
      if wf.calls[id] then run_call(wf, id, call) end
    end
    wf.outstanding_calls = {}
    for seq, signal in pairs(wf.signals) do
      if not wf.consumed[seq] then
        D.event(wf, { kind = "message", seq = seq, from = signal.from, topic = signal.topic, payload = signal.payload })
      end
    end
    wf.signals = {}
    catch_up(wf)
  end

  -- A child that ended while the node was down never told its parent, nor a
  -- watched workflow its monitor or link: make up for it from its stored end.
  catch_up = function(wf)
    for pid in pairs(wf.children) do
      local result = deps.workflow_result(pid)
      if result then D.event(wf, { kind = "child", from = pid, result = result }) end
    end
    for pid, how in pairs(wf.watching) do
      local result = deps.workflow_result(pid)
      if result then
        local heard = wf.heard[pid] or {}
        if how.monitor and not heard.EXIT then
          D.event(wf, { kind = "lifecycle", event = { kind = "EXIT", from = pid, result = result } })
        end
        if how.link and result.error and not heard.LINK_DOWN then
          D.event(wf, { kind = "lifecycle", event = { kind = "LINK_DOWN", from = pid,
            reason = tostring(errors.from_plain(result.error)) } })
        end
        wf.watching[pid] = nil
      end
    end
    wf.heard = {}
  end

  --- A recovered workflow is set up (its watchers restored). One with
  --- nothing to replay is live already: it catches up now.
  function D.recovered(wf)
    if not wf.replaying then catch_up(wf) end
  end

  --- `wf` monitors (`monitor`) or is linked to (`link`) workflow `pid` of
  --- this host. Kept for going live: see `catch_up`.
  function D.watch(wf, pid, monitor, link)
    local how = wf.watching[pid]
    if how == nil then
      how = {}
      wf.watching[pid] = how
    end
    how.monitor = how.monitor or monitor
    how.link = how.link or link
  end

  local stepping = nil -- the workflow step_all is moving on

  local function step_all()
    stepping = nil
    local again = true
    while again do
      again = false
      for wf in next, active do
        stepping = wf
        if D.step(wf) then again = true end
      end
    end
    stepping = nil
  end

  --- Called after each scheduler slice: replaying workflows advance to their
  --- next batch, live ones hand their pending events to the host to record.
  --- A workflow whose step raises (a record of a shape replay cannot use)
  --- fails alone, and the others move on.
  function D.after_slice()
    local ok, e = pcall(step_all)
    while not ok do
      local wf = stepping
      if wf == nil then error(e, 0) end -- not one workflow's doing
      fail_alone(wf, wf.replaying and "replaying its history" or "going on after its history", e)
      ok, e = pcall(step_all)
    end
  end

  --- Move one workflow on if it is quiescent: replay its next batch, go
  --- live, or hand its pending events to the host. True when replay made
  --- progress: the workflow may still be quiescent (a batch that woke no
  --- task) or have events to hand over, so it needs another look now.
  function D.step(wf)
    -- Nothing to do until an event comes (D.event) or a commit applies the
    -- awaited batch (D.committed); both put it back in `active`.
    if wf.done or wf.awaiting or (not wf.replaying and #wf.pending == 0) then
      active[wf] = nil
      return false
    end
    if not quiescent(wf) then return false end
    if wf.replaying then
      local record = peek(wf)
      if record == nil then
        go_live(wf)
        return true
      elseif record.type == "batch" then
        wf.cursor = wf.cursor + 1
        wf.step = wf.step + 1
        apply_batch(wf, record)
        return true
      else
        fail_nondeterministic(wf, record, "nothing (the code is waiting)")
      end
    elseif #wf.pending > 0 then
      wf.step = wf.step + 1
      local batch = { type = "batch", ts = wall_ns(), events = wf.pending }
      wf.pending = {}
      wf.awaiting = batch
      awaiting[wf] = true
      emit_record(wf, batch)
    else
      active[wf] = nil
    end
    return false
  end

  --- The host committed everything emitted so far: apply awaited batches.
  function D.committed()
    local committed = awaiting
    awaiting = {}
    for wf in next, committed do
      local batch = wf.awaiting
      if batch then
        wf.awaiting = nil
        active[wf] = true
        local ok, e = pcall(apply_batch, wf, batch)
        if not ok then fail_alone(wf, "applying its events", e) end
      end
    end
  end

  -- Operations ------------------------------------------------------------------

  --- A durable timer: `fire(timer)` runs when its (recorded) deadline passes.
  function D.timer(wf, ns, fire)
    wf.next_timer = wf.next_timer + 1
    local id = wf.next_timer
    -- The deadline is wall-clock time when the timer is set. It is recorded,
    -- so replay reads it back instead of computing it, and after a restart
    -- the timer fires at that same moment.
    local record, live = D.command(wf, { type = "timer", id = id, deadline = wall_ns() + ns })
    local timer = { fire = fire, deadline = record and record.deadline }
    wf.timers[id] = timer
    if live then
      timer.real = S.add_timer({
        deadline = monotonic() + ns / 1e9,
        fire = function() D.event(wf, { kind = "timer", id = id }) end,
      })
    end
    return timer
  end

  --- A durable call of function `fn`; `call` is the caller's state (see
  --- D.handle_calls), `attempt` its number when it is a retry. It runs for
  --- real live, or on recovery when its result was never recorded;
  --- otherwise it gets the recorded result. Returns its id.
  function D.call(wf, fn, call, attempt)
    wf.next_call = wf.next_call + 1
    local id = wf.next_call
    local record, live = D.command(wf, { type = "call", id = id, fn = fn, attempt = attempt })
    if record == nil then return end
    wf.calls[id] = call
    if live then S.after_turn(run_call, wf, id, call) else wf.outstanding_calls[id] = call end
    return id
  end

  --- A side effect that must happen once per history (sends, spawns of
  --- processes): run live, skipped on replay, which returns what was recorded.
  function D.effect(wf, record, perform)
    local recorded, live = D.command(wf, record)
    if recorded == nil then return nil end
    if live then recorded.result = perform() end
    return recorded.result
  end

  --- A relationship operation (`op`: monitor, link, cancel, ...) of `wf` on
  --- `pid`, a process of this host: `perform`ed once per history. Histories
  --- from before these were recorded hold no record for it: then it is
  --- performed again, as it was then. A monitor or link is also a watch.
  function D.relate(wf, op, pid, perform)
    local recorded = wf.replaying and peek(wf)
    if wf.replaying and not (recorded and recorded.type == "relate" and recorded.op == op) then
      perform()
    else
      D.effect(wf, { type = "relate", op = op }, perform)
    end
    if op == "monitor" or op == "link" then
      D.watch(wf, pid, op == "monitor", op == "link")
    elseif (op == "unmonitor" or op == "unlink") and wf.watching[pid] then
      local how = wf.watching[pid]
      if op == "unmonitor" then how.monitor = nil else how.link = nil end
      if not (how.monitor or how.link) then wf.watching[pid] = nil end
    end
  end

  function D.version(wf, change, min, max)
    if wf.replaying then
      local recorded = peek(wf)
      if not (recorded and recorded.type == "version" and recorded.change == change) then
        return min -- history from before this change point
      end
    end
    local record = D.command(wf, { type = "version", change = change, value = max })
    return record and record.value or max
  end

  --- Merge `search` and `memo` into `wf`'s search attributes and memo,
  --- once per history (the host stores them with the workflow).
  function D.attrs(wf, search, memo)
    D.effect(wf, { type = "attrs" }, function()
      emit({ "wf_attrs", wf.id, search, memo })
      return true
    end)
  end

  --- `entry` as a run that begins at wall time `at` (ns): its main function
  --- first waits for a durable timer (a start_delay, a retry's backoff, the
  --- next time of a cron schedule), so that replay waits the same way.
  function D.deferred(entry, at)
    return setmetatable({ chunk = function(env)
      local module = entry.chunk(env)
      local fn = module
      if type(module) == "table" then fn = module[entry.method] end
      if type(fn) ~= "function" then return module end -- (the runtime says what is wrong with it)
      return function(...)
        local wf, task, started = current(), S.cur, false
        D.timer(wf, math.max(at - wall_ns(), 0), function()
          started = true
          if not task.dead then S.ready(task) end
        end)
        while not started do S.block() end
        return fn(...)
      end
    end }, { __index = entry })
  end

  --- A stored message for a workflow (from `signal_stored` or recovery).
  function D.signal(wf, seq, from, topic, payload)
    D.event(wf, { kind = "message", seq = seq, from = from, topic = topic, payload = payload })
  end

  --- Start tracking run `run` (default 1) of workflow `wf_id` for process
  --- `proc`. `history` holds the ordered records to replay (nil for a new
  --- workflow), `signals` the stored messages by sequence number.
  function D.attach(proc, wf_id, run, now_ns, seed, history, signals, parent)
    local wf = {
      id = wf_id, run = run or 1, proc = proc, now = now_ns, seed = seed,
      rng = seed ~= 0 and seed or 0x9E3779B97F4A7C15,
      parent = parent, children = {}, watching = {}, heard = {},
      step = 0, cursor = 1, history = history, replaying = history ~= nil and #history > 0,
      pending = {}, timers = {}, calls = {}, consumed = {}, outstanding_calls = {},
      signals = signals or {}, next_timer = 0, next_call = 0,
    }
    proc.wf = wf
    workflows[wf_id] = wf
    active[wf] = true
    if not wf.replaying then
      wf.history = nil
      local stored = wf.signals
      wf.signals = {}
      for seq, s in pairs(stored) do D.signal(wf, seq, s.from, s.topic, s.payload) end
    end
    return wf
  end

  function D.detach(wf)
    wf.done = true
    workflows[wf.id] = nil
    active[wf] = nil
    awaiting[wf] = nil
    for _, timer in pairs(wf.timers) do
      if timer.real then timer.real.stopped = true end
    end
  end

  return D
end
