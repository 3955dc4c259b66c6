-- Processes of one host: spawning, exits, mailboxes, messages, monitors and
-- links, cancel and terminate. This is the `process` module users see and
-- the internal API the kernel drives.
--
-- A process is a table: `{pid, entry, env, tasks, topics, inbox, events,
-- monitors, links, ...}`. Local delivery is a push onto one of its channels;
-- anything addressed elsewhere becomes a command for Python.
return function(deps)
  local S, chan, errors, bridge, copy = deps.sched, deps.channel, deps.errors, deps.bridge, deps.copy
  local names = deps.names          -- node-wide name registry (Python)
  local log = deps.log
  local host_id, pid_prefix = deps.host_id, deps.pid_prefix
  -- A kernel that runs a single Temporal workflow starts nothing itself:
  -- child workflows and processes on its own host are asked of Python.
  local spawns_here = not deps.single_workflow
  local Message = deps.Message
  local push, unbounded = chan.push, chan.unbounded
  local emit = bridge.emit
  local setmetatable, type, tostring, pairs, next = setmetatable, type, tostring, pairs, next
  local unpack = table.unpack
  local sub, byte, find, utf8_len = string.sub, string.byte, string.find, utf8.len
  local co_yield = coroutine.yield

  local EXIT, LINK_DOWN, CANCEL = "EXIT", "LINK_DOWN", "CANCEL"
  -- (no process is ever sent OUTDATED: code is not reloaded while running)
  local OUTDATED = "OUTDATED"

  local P = { procs = {}, count = 0 }
  local observer = deps.observer    -- told of every start and end (see observe.lua)
  local delivered = 0               -- messages put into this host's mailboxes
  function P.delivered() return delivered end
  local message_payload -- (defined with the spawning helpers below)
  local procs = P.procs
  local next_id = 0
  local entries = deps.entries

  local function err(kind, message)
    return errors.new({ kind = kind, message = message })
  end

  local function current_proc()
    local t = S.cur
    if t == nil then error("no process is running", 3) end
    return t.proc
  end
  P.current_proc = current_proc

  -- Workers. A host may run several workers, each a Lua state of its own;
  -- worker k (counted from 0) holds the processes whose id is k modulo the
  -- number of workers, so a PID names its worker and routing needs no table.
  -- Anything for a process of another worker of this host leaves in that
  -- worker's batch (bridge.cross), in the order it was sent.
  local n_workers, my_worker = deps.workers or 1, deps.worker or 0
  local cross = bridge.cross

  --- The worker of a PID of this host: its id modulo the workers (an id that
  --- is not a plain number names no process: this worker, which drops it).
  local function worker_of(pid)
    local digits = sub(pid, #pid_prefix + 1, -2)
    if #digits > 18 or not find(digits, "^%d+$") then return my_worker end
    return tonumber(digits) % n_workers
  end

  --- The other worker of this host that `pid` lives on, or nil.
  local function other_worker(pid)
    if n_workers == 1 or sub(pid, 1, #pid_prefix) ~= pid_prefix then return nil end
    local w = worker_of(pid)
    if w ~= my_worker then return w end
    return nil
  end
  P.other_worker = other_worker

  --- A new PID for a process on worker `w`, made without asking anyone: with
  --- one worker ids count 1, 2, 3...; with N, worker k's m-th allocation is
  --- w + N*(k + (N+1)*m) (Python allocates as k = N: see actors/workers.py).
  local function new_pid(w)
    next_id = next_id + 1
    if n_workers == 1 then return pid_prefix .. next_id .. "}" end
    return pid_prefix .. (w + n_workers * (my_worker + (n_workers + 1) * next_id)) .. "}"
  end

  --- Does `pid` belong to this worker (so, if not running, it has exited)?
  local function is_own_pid(pid)
    return spawns_here and sub(pid, 1, #pid_prefix) == pid_prefix and (n_workers == 1 or worker_of(pid) == my_worker)
  end

  --- Is `v` a PID (`{node@host|id}`, text), as actors/pid.py reads one?
  local function is_pid(v)
    return type(v) == "string" and byte(v, 1) == 123 and byte(v, -1) == 125 -- "{...}"
      and find(v, "@", 1, true) ~= nil and find(v, "|", 1, true) ~= nil and utf8_len(v) ~= nil
  end
  P.is_pid = is_pid

  -- Every PID of this node starts with `node_prefix`; others are of other nodes of the cluster.
  local node_prefix = sub(pid_prefix, 1, find(pid_prefix, "@", 1, true))
  -- Python endpoints' PIDs (actors/pid.py): their host part is "python".
  local python_prefix = node_prefix .. "python|"
  -- queues a message for another node: nil, or the error's kind and message (too large, no link)
  local remote_send = deps.remote_send

  -- Mailboxes ---------------------------------------------------------------

  --- The process's unbounded channel `field` (inbox or events), made on
  --- first use. The inbox holds Message objects (`message` set).
  local function mailbox(proc, field)
    local c = proc[field]
    if c == nil then
      c = unbounded()
      if field == "inbox" then c.message = true end
      proc[field] = c
    end
    return c
  end
  local function inbox_of(proc) return mailbox(proc, "inbox") end
  local function events_of(proc) return mailbox(proc, "events") end

  --- Put a message into `proc`'s listener for `topic`, or else its inbox.
  --- `proc.topics` maps a topic to its listener's channel record, made on
  --- the first listen.
  local function deliver(proc, from, topic, payload)
    local topics = proc.topics
    local ch = topics and topics[topic] or proc.inbox or inbox_of(proc)
    if ch.message then payload = setmetatable({ topic, from, payload }, Message) end
    push(ch, payload)
  end
  P.deliver = deliver

  -- At most MAX_MAILBOX messages wait in a process's inbox and topic
  -- channels (lifecycle events do not count). A message past it is refused:
  -- its sender gets a RateLimited error when it can be told (a send from
  -- this host or from Python), and is otherwise dropped; either way it is
  -- counted, and logged once per receiver.
  --
  -- `proc.queued` is what waited when it was last counted plus what was
  -- delivered since, never less than what waits: the channels are counted
  -- only when it reaches the bound, so that neither a send nor a receive
  -- pays for the bound otherwise.
  local MAX_MAILBOX = deps.max_mailbox or math.huge
  local refused = 0 -- messages refused to full mailboxes
  function P.refused() return refused end

  local function mailbox_full(target)
    refused = refused + 1
    if not target.refusing then
      target.refusing = true
      log("warn", target.pid, "mailbox full (" .. MAX_MAILBOX .. " messages, host.max_mailbox): messages to " ..
        target.pid .. " are refused until it reads them; further refusals are counted, not logged", nil)
    end
    return nil, err(errors.RATE_LIMITED, "mailbox of " .. target.pid .. " is full (" .. MAX_MAILBOX ..
      " messages waiting, host.max_mailbox)")
  end

  local function depth(ch) return ch and ch.bt - ch.bh + 1 or 0 end

  --- Take a place in `target`'s mailboxes for a message about to be
  --- delivered; false if they are full.
  local function has_room(target)
    local queued = target.queued + 1
    if queued > MAX_MAILBOX then
      queued = depth(target.inbox) + 1
      local topics = target.topics
      if topics then for _, ch in next, topics do queued = queued + depth(ch) end end
      if queued > MAX_MAILBOX then return false end
    end
    target.queued = queued
    return true
  end

  --- Deliver to any process: a workflow sees a message only once it is
  --- stored, so for one the message goes to the host to store first.
  local function deliver_any(proc, from, topic, payload)
    local wf = proc.wf
    if wf then
      emit({ "store_message", 0, wf.id, from, topic, payload })
    else
      deliver(proc, from, topic, payload)
    end
  end

  --- A message for a process that is not here: another worker of this
  --- host takes it in its batch, anything else goes through Python.
  local function route_out(from, pid, topic, payload)
    local w = other_worker(pid)
    if w then cross(w, { "route", from, pid, topic, payload }) else emit({ "route", from, pid, topic, payload }) end
  end

  -- host.max_processes. With several workers the count is the host's, kept
  -- in Python (claim_process(k) grants up to k slots, release_process(k)
  -- gives them back); a spawn placed on another worker is claimed by its
  -- spawner (`opts.claimed`). Slots are taken in blocks of `slot_block`,
  -- so that a spawn seldom calls Python (1: one at a time, exactly).
  local claim_process, release_process = deps.claim_process, deps.release_process
  local SLOT_BLOCK, spare_slots = deps.slot_block or 1, 0
  local function has_room_for_process()
    local max = deps.max_processes
    if not max then return true end
    if not claim_process then return P.count < max end
    if spare_slots == 0 then spare_slots = claim_process(SLOT_BLOCK) end
    if spare_slots == 0 then return false end
    spare_slots = spare_slots - 1
    return true
  end
  --- A process that had a slot ended (or did not start).
  local function release_slot()
    if not release_process then return end
    if SLOT_BLOCK == 1 then return release_process(1) end
    spare_slots = spare_slots + 1
    if spare_slots >= 2 * SLOT_BLOCK then
      release_process(SLOT_BLOCK)
      spare_slots = spare_slots - SLOT_BLOCK
    end
  end
  local function at_process_limit()
    return err(errors.UNAVAILABLE, "host " .. host_id .. " is at its limit of " .. deps.max_processes .. " processes")
  end

  -- Exits -------------------------------------------------------------------

  local kill -- forward: kill(proc, error) ends a process abnormally

  --- Act on a lifecycle event for the local process `target` now.
  local function event_now(target, event)
    if event.kind == LINK_DOWN and not target.trap_links then
      kill(target, err(errors.CANCELED, "linked process " .. event.from .. " failed: " .. tostring(event.reason)))
    else
      local result = event.result
      if result and type(result.error) == "table" and not errors.is_error(result.error) then
        result.error = errors.from_plain(result.error)
      end
      push(events_of(target), event)
    end
  end
  P.event_now = event_now

  --- Send a lifecycle event to `pid`, here or through Python. A workflow
  --- gets it as a recorded event, in plain form.
  local function send_event(pid, event)
    local target = procs[pid]
    if target then
      local wf = target.wf
      if wf then
        local result = event.result
        if result then
          event.result = { value = copy(result.value), error = result.error and errors.to_plain(result.error) or nil }
        end
        P.durable.event(wf, { kind = "lifecycle", event = event })
      else
        event_now(target, event)
      end
    elseif not is_own_pid(pid) then
      local w = other_worker(pid)
      if w then cross(w, { "event", pid, event }) else emit({ "event", pid, event }) end
    end
  end
  P.send_event = send_event

  local function plain_result(value, failure)
    return { value = value, error = failure and errors.to_plain(failure) or nil }
  end

  local MEMORY_ERROR = S.MEMORY_ERROR
  local out_of_memory = S.out_of_memory

  --- `copy(v)` of what an ended process leaves, made outside it: the copy
  --- allocates, and running out of memory there fails that process alone.
  local function copy_out(v)
    local tv = type(v)
    if tv ~= "table" and tv ~= "function" and tv ~= "thread" and tv ~= "userdata" then return v end -- (allocates nothing)
    local ok, result, e = pcall(copy, v)
    if ok then return result, e end
    return nil, out_of_memory()
  end

  --- A watcher's own copy of `failure` (one that can leave its process):
  --- error objects are immutable, but their details are tables, which no
  --- two processes may share.
  local function private_error(failure)
    return errors.from_plain(copy(failure))
  end

  --- What a process that failed with `failure` ends with: `failure` if it
  --- can leave the process (its details are plain data), else, as for an
  --- exit value that cannot, an Invalid error that says why.
  local function leaving(proc, failure)
    local _, e = copy_out(failure)
    if e == nil then return failure end
    return errors.wrap(e, proc.entry.id .. ": its error (" .. tostring(failure) .. ") cannot leave the process")
  end

  --- Everything that happens once when a process ends, normally or not.
  --- `all`: the list of every value it returned, when there were several.
  local function finish(proc, value, failure, all)
    if not proc.alive then return end
    proc.alive = false
    if failure then failure = leaving(proc, failure) end
    procs[proc.pid] = nil
    P.count = P.count - 1
    release_slot()
    for task in next, proc.tasks do S.kill_task(task) end
    if proc.named then names.release(proc.pid) end
    if proc.calls then P.caller_ended(proc) end
    if failure and not proc.quiet then
      log("warn", proc.pid, proc.entry.id .. " failed: " .. tostring(failure), nil)
    end
    if proc.on_exit then proc.on_exit(value, failure, all) end
    observer.finished(proc, failure)
    local wf = proc.wf
    if wf then
      emit({ "wf_done", wf.id, value, failure and errors.to_plain(failure) or nil, proc.outcome })
      P.durable.detach(wf)
      if P.continues(proc, failure) then return end -- its watchers wait for the next run
      -- a parent workflow hears of its child's end (for workflow.exec)
      local parent = wf.parent and procs[wf.parent]
      if parent and parent.wf then
        P.durable.event(parent.wf, { kind = "child", from = proc.pid, result = plain_result(value, failure) })
      end
    end
    local monitors = proc.monitors
    if monitors then
      for pid in next, monitors do
        if procs[pid] then
          -- each monitor gets its own copy (the value was checked on exit)
          send_event(pid, { kind = EXIT, from = proc.pid,
            result = { value = copy(value), error = failure and private_error(failure) } })
        else
          send_event(pid, { kind = EXIT, from = proc.pid, result = plain_result(value, failure) })
        end
      end
    end
    local links = proc.links
    if links and failure then
      local reason = tostring(failure)
      for pid in next, links do
        local other = procs[pid]
        if other and other.links then other.links[proc.pid] = nil end
        local result = other and { error = private_error(failure) } or plain_result(nil, failure)
        send_event(pid, { kind = LINK_DOWN, from = proc.pid, reason = reason, result = result })
      end
    elseif links then
      for pid in next, links do
        local other = procs[pid]
        if other and other.links then other.links[proc.pid] = nil end
      end
    end
  end

  -- Killing goes through a queue so that cascades over long chains of links
  -- do not recurse.
  local kill_queue, killing = {}, false
  kill = function(proc, failure)
    kill_queue[#kill_queue + 1] = { proc, failure }
    if killing then return end
    killing = true
    local i = 1
    while kill_queue[i] do
      local item = kill_queue[i]
      finish(item[1], nil, item[2])
      i = i + 1
    end
    kill_queue = {}
    killing = false
    -- A process that killed itself (terminate(self), or a link it caused)
    -- must not run on: its task is dead, so this yield never returns.
    local t = S.cur
    if t and not t.proc.alive then co_yield(S.BLOCK) end
  end
  P.kill = kill


  --- The text of a value a task raised or returned as its failure: its own
  --- __tostring runs, bounded, outside the process (see sched.guarded).
  local function describe(value)
    local ok, text = S.guarded(tostring, value)
    if ok and type(text) == "string" then return text end
    return nil
  end

  --- The error a failed task ends its process with: `e` as raised in `co`,
  --- whose stack still holds the frames it was raised in.
  local function task_error(e, co)
    if errors.is_error(e) then return e end
    if e == MEMORY_ERROR then return out_of_memory() end -- (the scheduler closed co)
    return errors.from_lua(e, co, describe)
  end

  --- Load the entry and run its method: the body of a process's main task.
  --- The source returns a table of functions (`method` names the one to
  --- run) or a single function. It ends by returning or raising into the
  --- scheduler (see on_task_end), with no frame or closure of the runtime's
  --- below the user's code: an idle process's memory counts.
  local function run_entry(proc, args)
    local entry = proc.entry
    local module = entry.chunk(proc.env)
    local fn = module
    if type(module) == "table" then
      fn = module[entry.method]
      if type(fn) ~= "function" then
        error(err(errors.INVALID, entry.id .. ": method '" .. tostring(entry.method) .. "' not found in the table its source returns"))
      end
    elseif type(module) ~= "function" then
      error(err(errors.INVALID, entry.id .. ": source must return a table of functions or a function, got " .. type(module)))
    end
    return fn(unpack(args, 1, args.n))
  end

  --- Finish `proc` with what its main function returned: `value, failure`
  --- and, packed, any values past those two. `nil, err` (err an error or
  --- anything else) is a failure; otherwise the first value is the result,
  --- and when there were several, the list of them all goes to `on_exit`
  --- too (a future's result gives them all).
  local function finish_returned(proc, value, failure, more)
    if value == nil and failure ~= nil and more == nil then
      if not errors.is_error(failure) then -- an Unknown error, saying what a raised one would
        failure = errors.new(errors.message_of(errors.from_lua(failure, nil, describe)))
      end
      finish(proc, nil, failure)
      return
    end
    local all
    if more ~= nil or failure ~= nil then
      all = { value, failure }
      for i = 1, more and more.n or 0 do all[i + 2] = more[i] end
    end
    -- the result leaves the process: it must be plain data
    local result, e = copy_out(value)
    if not e and all and proc.on_exit then all, e = copy_out(all) end
    if e then
      finish(proc, nil, errors.wrap(e, proc.entry.id .. ": exit value"))
    else
      finish(proc, result, nil, all)
    end
  end

  local MAIN = "main" -- the main task's mark in `proc.tasks`

  --- Called by the scheduler when a task's coroutine ends, with what it
  --- returned (`ok` true, the main function's value and error) or raised
  --- (`ok` false, the error). The main task's end finishes its process; a
  --- failing `coroutine.spawn` task takes its process down with it.
  function P.on_task_end(task, ok, value, failure, more)
    local proc = task.proc
    local main = proc.tasks[task] == MAIN
    proc.tasks[task] = nil
    if not proc.alive then return end
    if not ok then
      -- a process that tripped the runaway guard ends with its error, whatever it raised after
      kill(proc, task.tripped or task_error(value, task.co))
    elseif main then
      finish_returned(proc, value, failure, more)
    end
  end

  function P.spawn_coroutine(fn)
    S.spawn_task(current_proc(), fn)
    return true
  end

  -- Spawning ----------------------------------------------------------------

  --- Why the name registry refused `name` (its answer is the error's kind).
  local function name_refused(kind, name)
    if kind == errors.INVALID then return err(kind, "a name must be valid UTF-8 text") end
    return err(kind, "name '" .. name .. "' is already registered")
  end

  --- Register the spawn option `name` for the new `pid`; when the registry
  --- refuses it, give back the process slot taken for the spawn.
  local function claim_name(name, pid)
    local ok, kind = names.register(name, pid)
    if ok then return true end
    release_slot()
    return nil, name_refused(kind, name)
  end

  --- Start `entry` on this host. `opts`: ctx, name, messages (list of
  --- {topic, payload}), monitor_by and link_with (pids), on_exit (Lua
  --- callback), parent, short (expected to end soon: see
  --- sched.spawn_short_task); read here, not kept. Returns pid or nil, error.
  function P.spawn_local(entry, args, opts)
    if not opts.claimed and not has_room_for_process() then return nil, at_process_limit() end
    local pid = opts.pid
    if pid == nil then
      pid = new_pid(my_worker)
    elseif procs[pid] then
      release_slot()
      return nil, err(errors.ALREADY_EXISTS, "process " .. pid .. " is already running")
    end
    if opts.name then
      local ok, e = claim_name(opts.name, pid)
      if not ok then return nil, e end
    end
    -- at most 8 fields, with env and topics, keep to the smallest hash
    local proc = {
      pid = pid, entry = entry, alive = true, tasks = {}, queued = 0,
      ctx = opts.ctx or {}, on_exit = opts.on_exit, named = opts.name and true,
    }
    if opts.quiet then proc.quiet = true end
    if opts.frame_id then proc.frame_id = opts.frame_id end
    local workflow = opts.workflow
    if workflow then
      P.durable.attach(proc, workflow.id, workflow.run, workflow.now, workflow.seed, workflow.history, workflow.signals,
        workflow.parent)
    end
    proc.env = deps.new_env(entry.require, proc)
    observer.started(proc)
    procs[pid] = proc
    P.count = P.count + 1
    if opts.monitor_by then proc.monitors = { [opts.monitor_by] = true } end
    if opts.link_with then
      proc.links = { [opts.link_with] = true }
      local parent = procs[opts.link_with]
      if parent then
        parent.links = parent.links or {}
        parent.links[pid] = true
      end
    end
    if opts.messages then
      for i = 1, #opts.messages do
        local m = opts.messages[i]
        deliver_any(proc, opts.parent or pid, m[1], m[2])
      end
    end
    local spawn = opts.short and S.spawn_short_task or S.spawn_task
    proc.tasks[spawn(proc, run_entry, proc, args)] = MAIN
    return pid
  end

  -- Placement, with several workers: a spawn stays on its spawner's worker
  -- unless that worker's run queue is more than twice another's plus
  -- PLACE_MARGIN tasks (then it goes to the least loaded), so that new work
  -- goes to idle workers but busy ones do not trade spawns (a process and
  -- its children are best on one worker: what they say to each other then
  -- never crosses); the spawn option `worker = k` (from 1) pins it. A process
  -- stays on its worker for life. The other workers' run queues are as they
  -- were when this slice began (set_loads), counted up here as spawns are
  -- sent to them.
  local PLACE_MARGIN = 32
  local loads = {}
  function P.set_loads(...) loads = { ... } end

  --- The worker the option `worker` pins a spawn to (from 0), nil when it
  --- is not set, or nil and an Invalid error.
  local function pinned_worker(options)
    local k = options and options.worker
    if k == nil then return nil end
    if math.type(k) ~= "integer" or k < 1 or k > n_workers then
      return nil, err(errors.INVALID, "spawn option 'worker' must be an integer from 1 to " .. n_workers ..
        " (the host's workers), got " .. (type(k) == "number" and tostring(k) or type(k)))
    end
    return k - 1
  end

  --- The worker a spawn with `options` goes to; `stay` keeps an unpinned one here.
  local function place(options, stay)
    local w, e = pinned_worker(options)
    if e then return nil, e end
    if w then return w end
    if n_workers == 1 or stay then return my_worker end
    local best, lightest = my_worker, math.huge
    for other = 0, n_workers - 1 do
      local load = loads[other + 1] or 0
      if other ~= my_worker and load < lightest then best, lightest = other, load end
    end
    local mine = S.queued()
    if mine <= 2 * lightest + PLACE_MARGIN then return my_worker end
    -- what a spawn sent away grows into is unknown until that worker says:
    -- count it as an eighth of this queue, so a few go per slice, not a flood
    loads[best + 1] = lightest + 1 + mine // 8
    return best
  end

  --- Start `entry` on another worker `w` of this host: the PID is made here
  --- and returned at once; the start travels in `w`'s batch, ahead of
  --- anything sent to the new process afterwards. The name and the slot of
  --- host.max_processes are taken here, so that refusals reach the spawner.
  local function spawn_on(w, entry, args, opts)
    if not has_room_for_process() then return nil, at_process_limit() end
    local pid = new_pid(w)
    if opts.name then
      local ok, e = claim_name(opts.name, pid)
      if not ok then return nil, e end
    end
    local parent = opts.link_with and procs[opts.link_with]
    if parent then
      parent.links = parent.links or {}
      parent.links[pid] = true
    end
    cross(w, { "spawn", pid, entry.id, args, { ctx = opts.ctx, name = opts.name, messages = opts.messages,
      parent = opts.parent, monitor_by = opts.monitor_by, link_with = opts.link_with, claimed = true } })
    return pid
  end

  --- A start placed here by another worker or by Python, whose PID its
  --- spawner already has: if it cannot start, its watchers hear so as
  --- from a process that failed at once.
  function P.start_placed(pid, id, args, opts)
    local entry = entries[id]
    local wanted = opts.call and "function.lua" or "process.lua"
    local started, e
    opts.pid, opts.claimed = pid, true
    if entry and entry.kind == wanted then
      started, e = P.spawn_local(entry, args, opts)
    else
      release_slot()
      e = err(errors.NOT_FOUND, "no " .. wanted .. " entry '" .. tostring(id) .. "'")
    end
    if started then return end
    if opts.name then names.release(pid) end
    log("warn", pid, tostring(id) .. " could not start: " .. tostring(e), nil)
    if opts.monitor_by then
      send_event(opts.monitor_by, { kind = EXIT, from = pid, result = { error = errors.to_plain(e) } })
    end
    if opts.link_with then
      send_event(opts.link_with, { kind = LINK_DOWN, from = pid, reason = tostring(e), result = { error = errors.to_plain(e) } })
    end
  end

  --- The private payload of a message of `n` values (see send).
  message_payload = function(n, ...)
    if n > 1 then return copy({ ... }) end
    return copy((...))
  end

  --- Copies of call arguments, packed as `{n=, ...}`; nil, error if one
  --- cannot be sent.
  local function copy_args(n, ...)
    local args = { n = n, ... }
    for i = 1, n do
      local v = args[i]
      local tv = type(v)
      if tv == "table" or tv == "function" or tv == "thread" or tv == "userdata" then -- (others are copies already)
        local e
        v, e = copy(v)
        if e then return nil, errors.wrap(e, "argument " .. i) end
        args[i] = v
      end
    end
    return args
  end
  P.copy_args = copy_args

  -- The watchers of workflows whose next run is about to start (see P.continues).
  local carried = {}

  --- Start a new workflow of `entry`. Its PID carries the workflow id, so it
  --- stays the same across restarts of the node. The host stores the start
  --- with what replay needs (start time, seed) and the monitor and link of
  --- a workflow watcher, which outlive the node.
  function P.start_workflow(entry, args, opts, wf_id, run, parent_pid)
    local pid = pid_prefix .. wf_id .. "}"
    if opts.start_at then entry = P.durable.deferred(entry, opts.start_at) end
    local now, seed = deps.wall_ns(), deps.seed()
    local function durable_watcher(watcher)
      local proc = watcher and procs[watcher]
      if proc and proc.wf then return { watcher } end
    end
    emit({ "wf_start", wf_id, entry.id, args, parent_pid, opts.ctx, now, seed,
      { monitors = durable_watcher(opts.monitor_by), links = durable_watcher(opts.link_with) }, run })
    opts.pid = pid
    opts.workflow = { id = wf_id, run = run, now = now, seed = seed, parent = parent_pid }
    local started, e = P.spawn_local(entry, args, opts)
    if started then
      local proc = procs[started]
      proc.wf.attempt, proc.wf.workflow_type, proc.wf.continues = opts.attempt, opts.workflow_type, opts.continues
      local kept = carried[pid]
      carried[pid] = nil
      for kind, watchers in pairs(kept or {}) do
        proc[kind] = proc[kind] or {}
        for watcher in next, watchers do proc[kind][watcher] = true end
      end
    end
    return started, e
  end

  --- Whether workflow `proc`, which ended (with `failure`, if it failed),
  --- goes on as a new run under its PID: a retry, or the next run of a cron
  --- schedule. The host decides, and starts it; the watchers are kept for
  --- that run and hear nothing now.
  function P.continues(proc, failure)
    local continue = P.continue_workflow -- (the host's, set by the workflow module)
    if not proc.wf.continues or not continue(proc.wf.id, failure and errors.to_plain(failure), proc.outcome) then
      return false
    end
    carried[proc.pid] = { monitors = proc.monitors, links = proc.links }
    return true
  end

  --- Restore the monitors and links of a recovered workflow `proc` (lists
  --- of workflow PIDs, as stored). A link is set on both sides; the other
  --- side also restores it from its own records if it starts later.
  function P.rewatch(proc, monitors, links)
    if monitors then
      proc.monitors = proc.monitors or {}
      for i = 1, #monitors do proc.monitors[monitors[i]] = true end
    end
    if links then
      proc.links = proc.links or {}
      for i = 1, #links do
        local pid = links[i]
        proc.links[pid] = true
        local other = procs[pid]
        if other then
          other.links = other.links or {}
          other.links[proc.pid] = true
        end
        P.durable.watch(proc.wf, pid, false, true)
      end
    end
  end

  --- A workflow spawned from Lua on its own host. From a workflow the child
  --- id derives from the parent's and the spawn is recorded, so replay finds
  --- the same child instead of starting another.
  function P.spawn_workflow_from_lua(parent, entry, args, opts)
    local wf = parent.wf
    -- with_name gives the workflow its id (an idempotent start), not a name;
    -- the host decides the id and what an existing one means (its policy)
    local wanted = opts.name
    opts.name = nil
    local function start(default_id, parent_pid)
      local action, value, detail, start_at = deps.claim_workflow(wanted, default_id, opts.options, parent.pid)
      opts.start_at = start_at
      if action == "error" then return nil, err(value, detail) end
      if action == "existing" then
        -- the start's watchers watch, and its messages go to, the workflow that has the id
        local target = procs[value]
        for op, watcher in pairs({ monitor = opts.monitor_by, link = opts.link_with }) do
          if target then
            P.signal(op, watcher, value)
            if parent.wf then emit({ "wf_watch", target.wf.id, op, watcher }) end
          end
        end
        for _, m in ipairs(opts.messages or {}) do P.route(parent.pid, value, m[1], m[2]) end
        return value
      end
      return P.start_workflow(entry, args, opts, value, detail, parent_pid)
    end
    if wf == nil then return start(nil, nil) end
    wf.next_child = (wf.next_child or 0) + 1
    local child_id = wf.id .. "/" .. wf.next_child
    local pid = P.durable.effect(wf, { type = "spawn", entry = entry.id }, function()
      local started, problem = start(child_id, parent.pid)
      return started or { error = errors.to_plain(problem) }
    end)
    if type(pid) == "table" then return nil, errors.from_plain(pid.error) end
    if pid and (opts.monitor_by or opts.link_with) then
      -- live or replayed, the parent watches the child: after a restart it
      -- hears of an end it missed (the child's side is in its stored start)
      if opts.link_with then
        parent.links = parent.links or {}
        parent.links[pid] = true
      end
      P.durable.watch(wf, pid, opts.monitor_by ~= nil, opts.link_with ~= nil)
    end
    return pid
  end

  --- nil when `id` and `host` are strings, else the error.
  local function check_spawn_target(fname, id, host)
    if type(id) ~= "string" then return err(errors.INVALID, fname .. ": entry id must be a string, got " .. type(id)) end
    if type(host) ~= "string" then return err(errors.INVALID, fname .. ": host must be a string, got " .. type(host)) end
    return nil
  end

  --- nil when `id` and `host` can be asked of Python (its names are UTF-8 text), else the error.
  local function check_remote_target(fname, id, host)
    if utf8_len(id) and utf8_len(host) then return nil end
    return err(errors.INVALID, fname .. ": entry id and host must be UTF-8 text")
  end

  --- `spawn` from Lua: local entries start here, other hosts via Python.
  local function spawn_now(spec, id, host, ...)
    local parent = current_proc()
    local e = check_spawn_target("spawn", id, host)
    if e then return nil, e end
    local args
    args, e = copy_args(select("#", ...), ...)
    if not args then return nil, e end
    S.tick()
    local ctx = spec.ctx or parent.ctx
    -- only the options that are set: a constructor with all eight would
    -- allocate room for all of them, per spawn (skynet ~10 % slower)
    local opts = { ctx = ctx, parent = parent.pid }
    if spec.name then opts.name = spec.name end
    if spec.messages then opts.messages = spec.messages end
    if spec.monitor then opts.monitor_by = parent.pid end
    if spec.link then opts.link_with = parent.pid end
    if spec.options then opts.options = spec.options end
    if spec.on_exit then opts.on_exit = spec.on_exit end
    if host == host_id and spawns_here then
      local entry = entries[id]
      if entry and entry.kind == "workflow.lua" and P.durable then
        return P.spawn_workflow_from_lua(parent, entry, args, opts)
      end
      if entry == nil or entry.kind ~= "process.lua" then
        return nil, err(errors.NOT_FOUND, "spawn: no process.lua entry '" .. id .. "'" ..
          (entry and (" (it is a " .. entry.kind .. ")") or ""))
      end
      local w = my_worker -- (one worker and no options: nothing to place)
      if n_workers > 1 or spec.options then
        w, e = place(spec.options, spec.on_exit ~= nil)
        if not w then return nil, e end
      end
      if w == my_worker then return P.spawn_local(entry, args, opts) end
      return spawn_on(w, entry, args, opts)
    end
    e = check_remote_target("spawn", id, host)
    if e then return nil, e end
    local ok, result = bridge.request_blocking({ "spawn", 0, id, host, args, {
      ctx = ctx, name = spec.name, messages = spec.messages, parent = parent.pid,
      monitor = spec.monitor, link = spec.link, options = spec.options,
    } })
    if not ok then return nil, errors.from_plain(result) end
    if spec.link then
      parent.links = parent.links or {}
      parent.links[result] = true
    end
    return result
  end

  --- A spawn from a workflow of anything but a child workflow on its own
  --- host is a side effect: done once, its PID recorded for replay.
  local function spawn_from_lua(spec, id, host, ...)
    local parent = current_proc()
    local wf = parent.wf
    local entry = entries[id]
    if wf == nil or (host == host_id and entry and entry.kind == "workflow.lua") then
      return spawn_now(spec, id, host, ...)
    end
    local n, args = select("#", ...), { ... }
    local result = P.durable.effect(wf, { type = "spawn", entry = id }, function()
      local pid, problem = spawn_now(spec, id, host, table.unpack(args, 1, n))
      return pid or { error = errors.to_plain(problem) }
    end)
    if type(result) == "table" then return nil, errors.from_plain(result.error) end
    return result
  end

  -- Relationships -----------------------------------------------------------

  local function noproc(pid)
    return err(errors.NOT_FOUND, "no such process: " .. tostring(pid))
  end

  --- Apply a relationship signal from `from` to the local process `pid`.
  --- Used for local calls and for signals that Python routes here.
  function P.signal(op, from, pid, data)
    local target = procs[pid]
    if op == "monitor" then
      if target then
        target.monitors = target.monitors or {}
        target.monitors[from] = true
      else
        send_event(from, { kind = EXIT, from = pid, result = { error = errors.to_plain(noproc(pid)) } })
      end
    elseif op == "unmonitor" then
      if target and target.monitors then target.monitors[from] = nil end
    elseif op == "link" then
      if target then
        target.links = target.links or {}
        target.links[from] = true
      else
        local e = noproc(pid)
        send_event(from, { kind = LINK_DOWN, from = pid, reason = tostring(e), result = { error = errors.to_plain(e) } })
      end
    elseif op == "unlink" then
      if target and target.links then target.links[from] = nil end
    elseif op == "cancel" then
      -- (a workflow gets it as a recorded event)
      if target then send_event(pid, { kind = CANCEL, from = from, reason = data }) end
    elseif op == "terminate" then
      if target then
        target.outcome = "terminated"
        kill(target, err(errors.CANCELED, "terminated by " .. tostring(from)))
      end
    elseif op == "event" then
      if target then
        local result = data.result
        if result and type(result.error) == "table" then result.error = errors.from_plain(result.error) end
        send_event(pid, data)
      end
    elseif op == "named" then
      if target then target.named = true end
    end
  end
  local signal = P.signal

  local WATCH_OPS = { monitor = true, unmonitor = true, link = true, unlink = true }
  local ENDING_OPS = { cancel = true, terminate = true }

  --- Route a relationship operation from the running process to `dest`.
  --- Python endpoints (mailboxes, the waiters of node.call) may be watched
  --- but are ended only by Python code: one that waits for a result must
  --- never be left waiting by a process.
  local function relate(op, dest, data)
    local self = current_proc()
    local pid, e = P.resolve(dest)
    if not pid then return nil, e end
    if ENDING_OPS[op] and sub(pid, 1, #python_prefix) == python_prefix then
      return nil, err(errors.PERMISSION_DENIED, "process." .. op .. ": " .. pid ..
        " is a Python endpoint, which only Python code may " .. op)
    end
    if op == "link" then
      self.links = self.links or {}
      self.links[pid] = true
    elseif op == "unlink" and self.links then
      self.links[pid] = nil
    end
    local here = procs[pid] or is_own_pid(pid)
    if here and self.wf then
      -- between a workflow and a process here: once per history; a monitor
      -- or link of a workflow is stored with it, so it outlives the node
      P.durable.relate(self.wf, op, pid, function()
        signal(op, self.pid, pid, data)
        local target = procs[pid]
        if target and target.wf and WATCH_OPS[op] then emit({ "wf_watch", target.wf.id, op, self.pid }) end
      end)
    elseif here then
      signal(op, self.pid, pid, data)
    elseif self.wf then
      -- to another host: a side effect, once per history
      P.durable.effect(self.wf, { type = "relate", op = op }, function()
        emit({ "signal", op, self.pid, pid, data })
      end)
    else
      local w = other_worker(pid)
      if w then cross(w, { "signal", op, self.pid, pid, data }) else emit({ "signal", op, self.pid, pid, data }) end
    end
    S.tick()
    return true
  end

  --- A PID for `dest`, which is a PID or a registered name.
  function P.resolve(dest)
    if is_pid(dest) then return dest end
    if type(dest) ~= "string" then
      return nil, err(errors.INVALID, "destination must be a PID or a registered name, got " .. type(dest))
    end
    local pid = names.lookup(dest)
    if pid == nil then return nil, err(errors.NOT_FOUND, "no process registered as '" .. dest .. "'") end
    return pid
  end

  -- Sending -----------------------------------------------------------------

  -- Topics seen valid before; most programs use a handful, so the check on
  -- the send path is one table lookup.
  -- (The cache is wiped when it grows large, for programs that make topics
  -- up per message.)
  local valid_topics, n_valid_topics = {}, 0

  local function check_topic(topic)
    if valid_topics[topic] then return nil end
    if type(topic) ~= "string" or topic == "" or byte(topic, 1) == 64 or not utf8_len(topic) then
      return err(errors.INVALID, "topic must be non-empty UTF-8 text not starting with '@', got " ..
        (type(topic) == "string" and utf8_len(topic) and ("'" .. topic .. "'") or type(topic)))
    end
    if n_valid_topics >= 4096 then valid_topics, n_valid_topics = {}, 0 end
    valid_topics[topic] = true
    n_valid_topics = n_valid_topics + 1
    return nil
  end
  P.check_topic = check_topic

  --- Deliver `payload` (already private to the receiver) from `from` to
  --- `pid`. Exited local PIDs swallow messages, as in Erlang. Returns true,
  --- or nil and the error of a full mailbox.
  function P.route(from, pid, topic, payload)
    local target = procs[pid]
    if target then
      if not target.wf and not has_room(target) then return mailbox_full(target) end
      delivered = delivered + 1
      deliver_any(target, from, topic, payload)
    elseif not is_own_pid(pid) then
      route_out(from, pid, topic, payload)
    end
    return true
  end

  --- Hand a message to `pid` wherever it lives. A send to a workflow, here
  --- or on another durable host, returns only once the message is stored.
  local function transmit(from, pid, topic, payload)
    local target = procs[pid]
    if target then
      if target.wf then
        -- refused when its history is full (see the host's history limits)
        local ok, problem = bridge.request_blocking({ "store_message", 0, target.wf.id, from, topic, payload })
        if not ok then return nil, errors.from_plain(problem) end
      elseif has_room(target) then
        deliver(target, from, topic, payload)
      else
        return mailbox_full(target)
      end
    elseif is_own_pid(pid) then
      local refusal = P.durable and P.durable.refusal(pid) -- (a workflow that ended at its history limit)
      if refusal then return nil, refusal end
      return true
    elseif remote_send and sub(pid, 1, #node_prefix) ~= node_prefix then
      local kind, message = remote_send(from, pid, topic, payload)
      if kind then return nil, errors.new({ kind = kind, message = message, retryable = kind == errors.UNAVAILABLE }) end
    elseif other_worker(pid) then
      route_out(from, pid, topic, payload)
    elseif deps.is_durable_pid(pid) then
      local ok, problem = bridge.request_blocking({ "route_durable", 0, from, pid, topic, payload })
      if not ok then return nil, errors.from_plain(problem) end
    else
      emit({ "route", from, pid, topic, payload })
    end
    return true
  end

  --- process.send(dest, topic, ...): the payload is the one value given,
  --- or the list of them when there are several.
  local function send(dest, topic, payload, ...)
    local task = S.cur
    if task == nil then error("no process is running", 2) end
    local e
    if not valid_topics[topic] then
      e = check_topic(topic)
      if e then return nil, e end
    end
    if select("#", ...) > 0 then payload = { payload, ... } end
    local tp = type(payload)
    if tp == "table" or tp == "function" or tp == "thread" or tp == "userdata" then
      payload, e = copy(payload)
      if e then return nil, e end
    end
    local target = procs[dest]
    local sender = task.proc
    if target and not target.wf and not sender.wf then
      -- has_room(), inlined up to the bound
      local queued = target.queued + 1
      if queued <= MAX_MAILBOX then
        target.queued = queued
      elseif not has_room(target) then
        S.tick() -- (a refused send costs a reduction too: a sender that retries yields)
        return mailbox_full(target)
      end
      -- deliver(), inlined
      local topics = target.topics
      local ch = topics and topics[topic] or target.inbox or inbox_of(target)
      if ch.message then payload = setmetatable({ topic, sender.pid, payload }, Message) end
      push(ch, payload)
      delivered = delivered + 1
    elseif sender.wf then
      -- A workflow's send, name lookup included, happens once per history;
      -- replay returns what it returned then.
      local outcome = P.durable.effect(sender.wf, { type = "send", topic = topic }, function()
        local pid, problem = P.resolve(dest)
        if pid then problem = select(2, transmit(sender.pid, pid, topic, payload)) end
        return problem and { error = errors.to_plain(problem) } or true
      end)
      if type(outcome) == "table" then return nil, errors.from_plain(outcome.error) end
    else
      local pid
      pid, e = P.resolve(dest)
      if not pid then return nil, e end
      local ok, problem = transmit(sender.pid, pid, topic, payload)
      if not ok then return nil, problem end
    end
    local r = S.reds - 1
    S.reds = r
    if r <= 0 then S.yield_now() end
    return true
  end

  -- The `process` module ----------------------------------------------------

  local api = { event = { EXIT = EXIT, LINK_DOWN = LINK_DOWN, CANCEL = CANCEL, OUTDATED = OUTDATED } }
  api.send = send

  function api.pid() return current_proc().pid end
  --- The id of the call chain: a process's own PID, which the functions
  --- it calls (and theirs) share.
  function api.id() local p = current_proc(); return p.frame_id or p.pid end

  function api.inbox() return inbox_of(current_proc()).handle end
  function api.events() return events_of(current_proc()).handle end

  function api.listen(topic, options)
    local proc = current_proc()
    local e = check_topic(topic)
    if e then error(e, 2) end
    local topics = proc.topics
    if topics == nil then
      topics = {}
      proc.topics = topics
    elseif topics[topic] then
      error(err(errors.ALREADY_EXISTS, "topic '" .. topic .. "' is already being listened to"), 2)
    end
    local ch = unbounded()
    local message_mode = type(options) == "table" and options.message == true
    if message_mode then ch.message = true end
    topics[topic] = ch
    -- Messages of this topic that arrived before the listen (typically right
    -- after spawn) wait in the inbox; they move to the new channel, in order
    -- (the inbox's buffer is compacted in place: it is the inbox's handle).
    local inbox = proc.inbox
    if inbox and inbox.bh <= inbox.bt then
      local buf, n = inbox.buf, inbox.bh - 1
      for i = inbox.bh, inbox.bt do
        local m = buf[i]
        buf[i] = nil
        if m[1] == topic then
          push(ch, message_mode and m or m[3])
        else
          n = n + 1
          buf[n] = m
        end
      end
      if n < inbox.bh then inbox.bh, inbox.bt = 1, 0 else inbox.bt = n end
    end
    return ch.handle
  end

  function api.unlisten(ch)
    local proc = current_proc()
    for topic, c in pairs(proc.topics or {}) do
      if c.handle == ch then
        proc.topics[topic] = nil
        return true
      end
    end
    return false
  end

  function api.set_options(options)
    if type(options) ~= "table" then return nil, err(errors.INVALID, "set_options expects a table, got " .. type(options)) end
    local proc = current_proc()
    if options.trap_links ~= nil then proc.trap_links = options.trap_links == true end
    -- kept and reported; OUTDATED never comes, as running code is never invalidated
    if options.upgradable ~= nil then proc.upgradable = options.upgradable == true end
    return true
  end

  function api.get_options()
    local proc = current_proc()
    return { trap_links = proc.trap_links == true, upgradable = proc.upgradable == true }
  end

  function api.monitor(dest) return relate("monitor", dest) end
  function api.unmonitor(dest) return relate("unmonitor", dest) end
  function api.link(dest) return relate("link", dest) end
  function api.unlink(dest) return relate("unlink", dest) end
  function api.cancel(dest, reason)
    local data, e = copy(reason)
    if e then return nil, e end
    return relate("cancel", dest, data)
  end
  function api.terminate(dest) return relate("terminate", dest) end

  -- Spawners: immutable option sets with spawn methods ----------------------

  -- A spawner is an empty handle over a private, immutable option set
  -- (`specs`): user code can neither read nor plant options such as the
  -- internal on_exit callback of exec.
  local Spawner = { __name = "spawner", __metatable = false }
  Spawner.__index = Spawner
  local specs = setmetatable({}, { __mode = "k" })

  local function spec_of(handle)
    local spec = specs[handle]
    if spec == nil then return nil, err(errors.INVALID, "expected a spawner (call its methods with ':'), got " .. type(handle)) end
    return spec
  end

  local function derive(spec, key, value)
    local s = {}
    for k, v in next, spec do s[k] = v end
    s[key] = value
    return s
  end

  local function handle_for(spec)
    local handle = setmetatable({}, Spawner)
    specs[handle] = spec
    return handle
  end

  --- `old` overlaid with a copy of the table `new` (for with_context /
  --- with_options); raises INVALID at the caller's level.
  --- `old` overlaid with a copy of the table `new` (for with_context /
  --- with_options), or nil and an Invalid error.
  local function merged(old, new, what)
    if type(new) ~= "table" then return nil, err(errors.INVALID, what .. " expects a table, got " .. type(new)) end
    local data, e = copy(new)
    if e then return nil, e end
    if type(data) ~= "table" then
      return nil, err(errors.INVALID, what .. " expects a table, got a payload of " .. type(data))
    end
    local out = {}
    if old then for k, v in next, old do out[k] = v end end
    for k, v in next, data do out[k] = v end
    return out
  end

  P.merged = merged

  -- Builder methods return a new spawner, or nil and an Invalid error.
  function Spawner:with_context(t)
    local spec, e = spec_of(self)
    if not spec then return nil, e end
    local ctx
    ctx, e = merged(spec.ctx or current_proc().ctx, t, "with_context")
    if not ctx then return nil, e end
    return handle_for(derive(spec, "ctx", ctx))
  end
  function Spawner:with_options(t)
    local spec, e = spec_of(self)
    if not spec then return nil, e end
    local options
    options, e = merged(spec.options, t, "with_options")
    if not options then return nil, e end
    return handle_for(derive(spec, "options", options))
  end
  function Spawner:with_name(name)
    local spec, e = spec_of(self)
    if not spec then return nil, e end
    if type(name) ~= "string" or name == "" then return nil, err(errors.INVALID, "with_name expects a non-empty string") end
    return handle_for(derive(spec, "name", name))
  end
  function Spawner:with_message(topic, ...)
    local spec, e = spec_of(self)
    if not spec then return nil, e end
    e = check_topic(topic)
    if e then return nil, e end
    local data
    data, e = message_payload(select("#", ...), ...)
    if e then return nil, e end
    local messages = {}
    if spec.messages then for i, m in ipairs(spec.messages) do messages[i] = m end end
    messages[#messages + 1] = { topic, data }
    return handle_for(derive(spec, "messages", messages))
  end

  function Spawner:spawn(id, host, ...)
    local spec, e = spec_of(self)
    if not spec then return nil, e end
    return spawn_from_lua(spec, id, host, ...)
  end
  function Spawner:spawn_monitored(id, host, ...)
    local spec, e = spec_of(self)
    if not spec then return nil, e end
    return spawn_from_lua(derive(spec, "monitor", true), id, host, ...)
  end
  function Spawner:spawn_linked(id, host, ...)
    local spec, e = spec_of(self)
    if not spec then return nil, e end
    return spawn_from_lua(derive(spec, "link", true), id, host, ...)
  end
  function Spawner:spawn_linked_monitored(id, host, ...)
    local spec, e = spec_of(self)
    if not spec then return nil, e end
    return spawn_from_lua(derive(derive(spec, "link", true), "monitor", true), id, host, ...)
  end

  --- Spawn, wait for the end, return `result, err`.
  function Spawner:exec(id, host, ...)
    local spec, e = spec_of(self)
    if not spec then return nil, e end
    e = check_spawn_target("exec", id, host)
    if e then return nil, e end
    local parent = current_proc()
    -- (a process pinned to another worker is run there through Python, as on another host)
    local w = pinned_worker(spec.options)
    if host ~= host_id or not spawns_here or (w and w ~= my_worker) then
      e = check_remote_target("exec", id, host)
      if e then return nil, e end
      local args
      args, e = copy_args(select("#", ...), ...)
      if not args then return nil, e end
      local ok, result = bridge.request_blocking({ "exec", 0, id, host, args, {
        ctx = spec.ctx or parent.ctx, name = spec.name, messages = spec.messages, options = spec.options,
      } })
      if not ok then return nil, errors.from_plain(result) end
      if result.error then return nil, errors.from_plain(result.error) end
      return result.value
    end
    local task = S.cur
    local done, value, failure = false, nil, nil
    local s = derive(spec, "on_exit", function(v, f)
      done, value, failure = true, v, f
      if not task.dead then S.ready(task) end
    end)
    local pid
    pid, e = spawn_from_lua(s, id, host, ...)
    if not pid then return nil, e end
    while not done do S.block() end
    return value, failure
  end

  local root_spec = {}
  local root = handle_for(root_spec)
  function api.spawn(id, host, ...) return spawn_from_lua(root_spec, id, host, ...) end
  function api.spawn_monitored(...) return root:spawn_monitored(...) end
  function api.spawn_linked(...) return root:spawn_linked(...) end
  function api.spawn_linked_monitored(...) return root:spawn_linked_monitored(...) end
  function api.exec(...) return root:exec(...) end
  function api.with_context(t) return root:with_context(t) end
  function api.with_options(t) return root:with_options(t) end

  -- Names -------------------------------------------------------------------

  -- Name scopes: LOCAL names live in the node's registry; the cluster scopes
  -- are asked of the node's cluster (actors/cluster/names.py), which a
  -- standalone node does not have (Unavailable).
  local LOCAL, EVENTUAL, CONSISTENT, STRONG = 0, 1, 2, 3
  local SCOPE_NAMES = { [LOCAL] = "LOCAL", [EVENTUAL] = "EVENTUAL", [CONSISTENT] = "CONSISTENT", [STRONG] = "STRONG" }

  --- nil for a known scope (nil is LOCAL), else the error.
  local function check_scope(scope, fname)
    if scope == nil or SCOPE_NAMES[scope] then return nil end
    return err(errors.INVALID, fname .. ": unknown scope " .. (type(scope) == "number" and tostring(scope) or type(scope)) ..
      " (use process.registry.LOCAL, EVENTUAL, CONSISTENT or STRONG)")
  end

  --- The cluster's answer to `op`, blocking the process until it comes; nil, err on failure.
  local function ask_cluster(op, args, fname, scope)
    args.what = fname .. ": scope " .. SCOPE_NAMES[scope]
    local ok, result = bridge.request_blocking({ "cluster", 0, op, args })
    if not ok then return nil, errors.from_plain(result) end
    return result
  end

  local registry = { LOCAL = LOCAL, EVENTUAL = EVENTUAL, CONSISTENT = CONSISTENT, STRONG = STRONG }
  function registry.register(name, pid, scope)
    if type(name) ~= "string" or name == "" then
      return nil, err(errors.INVALID, "name must be a non-empty string, got " .. type(name))
    end
    if is_pid(name) then return nil, err(errors.INVALID, "a name cannot look like a PID: " .. name) end
    local e = check_scope(scope, "process.registry.register")
    if e then return nil, e end
    local self = current_proc()
    local target = self
    if pid ~= nil then
      target = type(pid) == "string" and procs[pid] or nil
      if target == nil then return nil, noproc(type(pid) == "string" and pid or type(pid)) end
    end
    if scope ~= nil and scope ~= LOCAL then
      if not utf8_len(name) then return nil, name_refused(errors.INVALID, name) end
      local ok, problem = ask_cluster("register", { name = name, pid = target.pid, scope = scope },
        "process.registry.register", scope)
      if not ok then return nil, problem end
      target.named = true
      return true
    end
    local ok, kind = names.register(name, target.pid)
    if not ok then return nil, name_refused(kind, name) end
    target.named = true
    return true
  end
  function registry.lookup(name)
    if type(name) ~= "string" then return nil, err(errors.INVALID, "name must be a string, got " .. type(name)) end
    local pid = names.lookup(name)
    if pid == nil then return nil, err(errors.NOT_FOUND, "no process registered as '" .. name .. "'") end
    return pid
  end
  --- Release a name the calling process holds (in `scope`); false for a name it does
  --- not hold (a process may not take another's name away).
  function registry.unregister(name, scope)
    if type(name) ~= "string" then return nil, err(errors.INVALID, "name must be a string, got " .. type(name)) end
    local e = check_scope(scope, "process.registry.unregister")
    if e then return nil, e end
    if scope ~= nil and scope ~= LOCAL then
      if not utf8_len(name) then return false end
      return ask_cluster("unregister", { name = name, owner = current_proc().pid }, "process.registry.unregister", scope)
    end
    return names.unregister(name, current_proc().pid)
  end
  api.registry = registry

  P.api = api
  P.metatables = { Spawner }
  return P
end
