-- One worker's kernel: wires the scheduler, channels, processes and modules
-- together inside a Lua state and gives Python a small, batched interface.
--
-- `deps` comes from Python: host_id, pid_prefix, max_processes, reductions,
-- max_depth and max_values (the payload limits, see copy.lua),
-- callbacks now() / wall_ns() / random_bytes(n) / log(...) / names.* /
-- zone(name, sec, wall) (see actors/zones.py), and
-- load_module(name) returning the factory of a Lua file next to this one.
-- A host of several workers also gives `workers` (their number), `worker`
-- (this one's, from 0) and, with max_processes, claim_process() /
-- release_process() for the host's count.
return function(deps)
  local load_module = deps.load_module
  local errors = load_module("errors")({})
  local limits = load_module("limits")()
  local sched = load_module("sched")({
    now = deps.now, reductions = deps.reductions, max_instructions = deps.max_instructions, errors = errors,
    turn_seconds = limits.turn_seconds, slice_seconds = limits.slice_seconds, headroom = limits.headroom,
    cpu_clock = deps.cpu_clock,
    max_memory = deps.max_memory,
  })
  local channel = load_module("channel")({ sched = sched, errors = errors })
  local n_workers = deps.workers or 1
  local msgpack = n_workers > 1 and load_module("msgpack")() or nil
  local bridge = load_module("bridge")({ sched = sched, msgpack = msgpack })

  local copy -- set below; the payload module encodes copies for Python
  local json_module
  local payload = load_module("payload")({
    errors = errors,
    json = function() return json_module end,
    encode = function(format, value)
      local plain, e = copy(value)
      if e then return nil, e:message() end
      return deps.payload_encode(format, plain)
    end,
    decode = deps.payload_decode,
  })
  local wrap_payload = payload.wrap
  local Message = { __name = "message", __metatable = false }
  Message.__index = Message
  function Message:topic() return self[1] end
  function Message:from() return self[2] end
  function Message:payload() return wrap_payload(self[3]) end

  copy = load_module("copy")({ errors = errors, Payload = payload.Payload, payload_data = payload.data_of,
    max_depth = deps.max_depth, max_values = deps.max_values })

  local function log(level, pid, message, fields, name)
    bridge.emit({ "log", level, pid, message, fields, name })
  end

  local entries = {}
  local sandbox, new_env -- set below; processes need new_env before any spawn
  local process -- set below; the observer counts what it delivers
  local observe = load_module("observe")({ sched = sched, errors = errors, emit = bridge.emit, wall_ns = deps.wall_ns,
    delivered = function() return process.delivered() end, refused = function() return process.refused() end })
  local metrics = load_module("metrics")({ errors = errors })
  process = load_module("process")({
    sched = sched, channel = channel, errors = errors, bridge = bridge, copy = copy,
    names = deps.names, log = log, host_id = deps.host_id, pid_prefix = deps.pid_prefix,
    max_processes = deps.max_processes, max_mailbox = deps.max_mailbox, Message = Message,
    workers = n_workers, worker = deps.worker, claim_process = deps.claim_process,
    release_process = deps.release_process, slot_block = deps.slot_block,
    entries = entries, observer = observe,
    new_env = function(require_fn, proc) return new_env(require_fn, proc) end,
    wall_ns = deps.wall_ns, is_durable_pid = deps.is_durable_pid or function() return false end,
    remote_send = deps.remote_send,
    seed = function() return deps.seed() end,
    claim_workflow = function(wanted, default, options, by) return deps.claim_workflow(wanted, default, options, by) end,
    single_workflow = deps.single_workflow,
  })

  -- Workflow hosts load the durable runtime; other hosts never pay for it.
  local durable = nil
  if deps.durable then
    durable = load_module("durable")({
      sched = sched, errors = errors, bridge = bridge, now = deps.now, wall_ns = deps.wall_ns,
      workflow_result = function(pid) return deps.workflow_result(pid) end,
      encode_records = deps.encode_records,
      kill = process.kill, deliver_now = process.deliver, event_now = process.event_now,
    })
    process.durable = durable
  end

  -- A workflow replaying its history already logged what it does again.
  local function replaying()
    local wf = durable and durable.current()
    return wf ~= nil and wf.replaying
  end

  local function print_to_log(...)
    if replaying() then return end
    local n = select("#", ...)
    local parts = {}
    for i = 1, n do parts[i] = tostring((select(i, ...))) end
    local t = sched.cur
    log("info", t and t.proc.pid, table.concat(parts, "\t"), nil)
  end

  sandbox = load_module("sandbox")({
    sched = sched, errors = errors, print = print_to_log, limits = limits, load_module = load_module,
    spawn_coroutine = process.spawn_coroutine,
  })

  local timevalue = load_module("timevalue")({
    errors = errors, layout = load_module("timelayout")(), readonly = sandbox.readonly, zone = deps.zone,
  })
  local funcs = load_module("funcs")({
    sched = sched, channel = channel, errors = errors, bridge = bridge,
    process = process, entries = entries, now = deps.now, durable = durable, wrap_payload = wrap_payload,
    -- on Temporal, Temporal times and retries activities
    duration_ns = timevalue.to_ns, retries_here = not deps.single_workflow,
  })
  local time = load_module("timemod")({
    sched = sched, channel = channel, errors = errors, timevalue = timevalue,
    now = deps.now, wall_ns = deps.wall_ns, durable = durable,
  })
  local uuid = load_module("uuid")({
    errors = errors, random_bytes = deps.random_bytes, now_ns = deps.wall_ns, digest = deps.digest,
  })
  local json = load_module("json")({ errors = errors, validate = deps.validate_json, max_values = deps.max_values })
  json_module = json

  local ctx = load_module("ctx")({ errors = errors, copy = copy, current_proc = process.current_proc })
  local logger = load_module("logger")({
    errors = errors, copy = copy,
    emit = function(level, message, fields, name)
      if replaying() then return end
      local t = sched.cur
      log(level, t and t.proc.pid, message, fields, name)
    end,
  })
  -- Objects of these kinds may be shared by processes: no rawset on them.
  for _, mt in ipairs({ errors.metatable, channel.metatable, payload.Payload, Message, logger.Logger,
                        funcs.metatables[1], funcs.metatables[2], process.metatables[1] }) do
    sandbox.protect(mt)
  end
  local pg, pg_metatables = load_module("pg")({
    errors = errors, bridge = bridge, copy = copy, process = process, channel = channel })
  for _, mt in ipairs(pg_metatables) do sandbox.protect(mt) end
  local system = load_module("system")({ errors = errors, bridge = bridge, process = process })

  sandbox.add_global("process", process.api)
  sandbox.add_global("channel", channel.api)
  sandbox.add_global("errors", errors.api)
  sandbox.add_global("payload", payload.api)

  -- Built-in modules, reachable through `require` when an entry lists them.
  local builtins = {
    funcs = sandbox.readonly(funcs.api),
    time = sandbox.readonly(time),
    uuid = sandbox.readonly(uuid),
    json = sandbox.readonly(json),
    ctx = sandbox.readonly(ctx),
    logger = logger.root,
    metrics = sandbox.readonly(metrics.api),
    pg = sandbox.readonly(pg),
    system = sandbox.readonly(system),
    process = sandbox.base.process,
    channel = sandbox.base.channel,
    errors = sandbox.base.errors,
    payload = sandbox.base.payload,
  }

  -- A workflow's own modules and environment (actors/lua/workflow.lua).
  local workflow = durable and load_module("workflow")({
    errors = errors, sandbox = sandbox, process = process, durable = durable, sched = sched,
    load_module = load_module, digest = deps.digest, host_id = deps.host_id, pid_prefix = deps.pid_prefix,
    entries = entries, history_usage = deps.history_usage, continue_workflow = deps.continue_workflow,
    facts = { task_queue = deps.task_queue, namespace = deps.namespace },
  })

  local function module_for(proc, name)
    local wf = proc.wf
    if wf then
      local own = workflow.module_for(wf, name)
      if own then return own end
    end
    return builtins[name]
  end

  new_env = function(require_fn, proc)
    local env = sandbox.new_env(require_fn)
    if proc and proc.wf then workflow.prepare_env(env) end
    return env
  end

  --- `require` for one entry: its imports first (the module the imported entry's
  --- source returns, made once per process, in an environment like the process's
  --- own), then the modules it lists. The always-present modules are globals as
  --- well and need no listing.
  local function make_require(entry)
    return function(name)
      local proc = process.current_proc()
      local import_id = entry.imports[name]
      if import_id ~= nil then
        local instances = proc.libs
        if instances == nil then
          instances = {}
          proc.libs = instances
        end
        local instance = instances[import_id]
        if instance == nil then
          local imported = entries[import_id]
          if imported == nil then
            error(errors.new({
              kind = errors.NOT_FOUND,
              message = "require: " .. entry.id .. " imports '" .. tostring(name) .. "' from " .. import_id ..
                ", which host " .. deps.host_id .. " does not load",
            }), 2)
          end
          instance = imported.chunk(new_env(imported.require, proc))
          if instance == nil then instance = true end
          instances[import_id] = instance
        end
        return instance
      end
      if entry.modules[name] or sandbox.base[name] ~= nil then
        local module = module_for(proc, name)
        if module then return module end
      end
      error(errors.new({
        kind = errors.NOT_FOUND,
        message = "require: module '" .. tostring(name) .. "' is not in the imports or modules of " .. entry.id,
      }), 2)
    end
  end

  local K = {}

  --- Compile an entry's source once; each spawn runs it with its own _ENV.
  function K.define(id, kind, source, chunkname, method, modules, imports)
    local chunk, e = load("local _ENV = ...; " .. source, chunkname, "t", {})
    if not chunk then return e end
    local entry = { id = id, kind = kind, chunk = chunk, method = method, modules = {}, imports = {} }
    for _, m in ipairs(modules or {}) do entry.modules[m] = true end
    for k, v in pairs(imports or {}) do entry.imports[k] = v end
    entry.require = make_require(entry)
    entries[id] = entry
    return nil
  end

  local function plain_error(e)
    if e == nil then return nil end
    return errors.to_plain(e)
  end

  --- Spawn from Python. `opts.call` allows function.lua entries (node.call).
  function K.spawn(id, args, opts)
    local entry = entries[id]
    local wanted = opts.call and "function.lua" or "process.lua"
    if entry == nil or entry.kind ~= wanted then
      return nil, plain_error(errors.new({
        kind = errors.NOT_FOUND,
        message = "no " .. wanted .. " entry '" .. tostring(id) .. "'" .. (entry and (" (it is a " .. entry.kind .. ")") or ""),
      }))
    end
    args.n = args.n or #args
    local pid, e = process.spawn_local(entry, args, opts)
    return pid, plain_error(e)
  end

  --- A message from outside this worker.
  function K.send(from, dest, topic, payload)
    local e = process.check_topic(topic)
    if e then return nil, plain_error(e) end
    local pid
    pid, e = process.resolve(dest)
    if not pid then return nil, plain_error(e) end
    local ok
    ok, e = process.route(from, pid, topic, payload) -- (refused by a full mailbox)
    return ok, plain_error(e)
  end

  -- The runaway guard's watchdog (actors/guard.py) checks and switches it.
  K.guard_probe, K.guard_probe_done, K.watchdog = sched.guard_probe, sched.guard_probe_done, sched.watchdog

  function K.signal(op, from, pid, data) process.signal(op, from, pid, data) end
  K.reply = bridge.reply
  K.take = bridge.take
  if durable and deps.encode_records then
    local take = bridge.take
    --- The records of a host that stores them leave encoded (see durable.seal).
    function K.take()
      durable.seal()
      return take()
    end
  end
  --- Run a slice of up to `budget` turns; with several workers, `...` are
  --- their run queues' lengths (see process.lua's placement).
  function K.run(budget, ...)
    if n_workers > 1 then process.set_loads(...) end
    local more, deadline = sched.run(budget, process.on_task_end)
    if n_workers > 1 then bridge.seal() end
    observe.flush(metrics.take())
    if durable then
      -- replay and going live can make work and timers of their own
      durable.after_slice()
      more, deadline = sched.has_ready(), sched.next_deadline()
    end
    return more, deadline
  end

  -- Workflow hosts: their entry points are the workflow module's.
  if workflow then workflow.add_entry_points(K) end
  function K.count() return process.count end
  --- The run queue's length (for the host's placement).
  function K.load() return sched.queued() end

  --- Start `id` as `pid`, which its spawner (Python) has already handed out.
  K.start_placed = process.start_placed

  local function apply_command(c)
    local op = c[1]
    if op == "route" then
      process.route(c[2], c[3], c[4], c[5]) -- (a full mailbox drops it, counted, as from another host)
    elseif op == "event" then
      process.signal("event", "", c[2], c[3])
    elseif op == "signal" then
      process.signal(c[2], c[3], c[4], c[5])
    elseif op == "spawn" then
      process.start_placed(c[2], c[3], c[4], c[5])
    end
  end

  --- A batch from another worker of this host (see bridge.cross): its
  --- chunks' commands applied in order; one that fails (memory ran out) is
  --- lost alone.
  function K.apply(batch)
    local pos, size = 1, #batch
    while pos <= size do
      local ok, commands, next_pos = msgpack.decode(batch, pos)
      if not ok then return end
      for i = 1, #commands do pcall(apply_command, commands[i]) end
      pos = next_pos
    end
  end
  --- Bytes in use by this Lua state after a full collection.
  function K.memory()
    collectgarbage("collect")
    collectgarbage("collect")
    return math.floor(collectgarbage("count") * 1024)
  end
  function K.alive(pid) return process.procs[pid] ~= nil end

  -- The observer (actors/observe/): snapshots, counters, and its settings.
  observe.procs = process.procs
  K.snapshot, K.stats = observe.snapshot, observe.stats
  --- `metrics`: whether the node collects the metrics module's values, with the
  --- histogram buckets' upper bounds; `tracing`: whether processes get spans.
  function K.configure_observe(options)
    metrics.available, metrics.buckets = options.metrics == true, options.buckets or {}
    observe.set_tracing(options.tracing)
  end

  --- Deliver CANCEL to every process that listens to its events (node
  --- shutdown: they may finish on their own); returns how many do.
  function K.cancel_all(from, reason)
    local listening = 0
    for pid, proc in pairs(process.procs) do
      if proc.events and not proc.wf then
        listening = listening + 1
        process.send_event(pid, { kind = "CANCEL", from = from, reason = reason })
      end
    end
    return listening
  end

  --- End every process (node shutdown).
  function K.terminate_all(reason)
    local all = {}
    for _, proc in pairs(process.procs) do all[#all + 1] = proc end
    for _, proc in ipairs(all) do
      proc.quiet = true
      process.kill(proc, errors.new({ kind = errors.CANCELED, message = reason }))
    end
  end

  return K
end
