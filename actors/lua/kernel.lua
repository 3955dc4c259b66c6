-- One worker's kernel: wires the scheduler, channels, processes and modules
-- together inside a Lua state and gives Python a small, batched interface.
--
-- `deps` comes from Python: host_id, pid_prefix, max_processes, reductions,
-- max_depth and max_values (the payload limits, see copy.lua),
-- callbacks now() / wall_ns() / random_bytes(n) / log(...) / names.* /
-- zone(name, sec, wall) (see actors/zones.py), and
-- load_module(name) returning the factory of a Lua file next to this one.
return function(deps)
  local load_module = deps.load_module
  local errors = load_module("errors")({})
  local limits = load_module("limits")()
  local sched = load_module("sched")({
    now = deps.now, reductions = deps.reductions, max_instructions = deps.max_instructions, errors = errors,
    turn_seconds = limits.turn_seconds, slice_seconds = limits.slice_seconds, headroom = limits.headroom,
    max_memory = deps.max_memory,
  })
  local channel = load_module("channel")({ sched = sched, errors = errors })
  local bridge = load_module("bridge")({ sched = sched })

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

  local funcs = load_module("funcs")({
    sched = sched, channel = channel, errors = errors, bridge = bridge,
    process = process, entries = entries, now = deps.now, durable = durable, wrap_payload = wrap_payload,
  })
  local timevalue = load_module("timevalue")({
    errors = errors, layout = load_module("timelayout")(), readonly = sandbox.readonly, zone = deps.zone,
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
    process = sandbox.base.process,
    channel = sandbox.base.channel,
    errors = sandbox.base.errors,
    payload = sandbox.base.payload,
  }

  -- What a workflow sees instead of the shared nondeterministic parts:
  -- math.random from its own generator, uuid from it and from workflow time,
  -- no wall clock in `os`.
  -- One `math` for all workflows (made on first use): `random` draws from
  -- the generator of the workflow whose code runs.
  local workflow_math
  local function math_for_workflows()
    if workflow_math == nil then
      local view = {}
      for k, v in pairs(sandbox.math_lib) do view[k] = v end
      view.random = function(m, n)
        local wf = durable.current()
        if wf == nil then error("math.random of a workflow called outside it", 2) end
        return durable.random(wf, m, n)
      end
      view.randomseed = function() error("math.randomseed is not available in workflows", 2) end
      workflow_math = sandbox.readonly(view)
    end
    return workflow_math
  end
  local function no_wall_clock(name)
    return function()
      error(errors.new({ kind = errors.INVALID,
        message = "os." .. name .. " is not available in workflows: use time.now(), which replays" }), 2)
    end
  end
  local workflow_os = sandbox.readonly({
    time = no_wall_clock("time"), clock = no_wall_clock("clock"),
    date = function(format, t)
      if t == nil then no_wall_clock("date")() end
      return os.date(format, t)
    end,
  })

  local workflow_api = {}
  function workflow_api.info()
    local proc = process.current_proc()
    local wf = proc.wf
    if not wf then error(errors.new({ kind = errors.INVALID, message = "workflow.info: not in a workflow" }), 2) end
    return { workflow_id = wf.id, entry = proc.entry.id, pid = proc.pid, replaying = wf.replaying == true }
  end
  function workflow_api.version(change, min, max)
    local wf = process.current_proc().wf
    if not wf then error(errors.new({ kind = errors.INVALID, message = "workflow.version: not in a workflow" }), 2) end
    if type(change) ~= "string" or math.type(min) ~= "integer" or math.type(max) ~= "integer" or min > max then
      error(errors.new({ kind = errors.INVALID, message = "workflow.version(change, min, max): a string and two integers with min <= max" }), 2)
    end
    return durable.version(wf, change, min, max)
  end
  --- Run a child workflow of `id` on this host and wait for its result.
  function workflow_api.exec(id, ...)
    local proc = process.current_proc()
    local wf = proc.wf
    if not wf then error(errors.new({ kind = errors.INVALID, message = "workflow.exec: not in a workflow" }), 2) end
    local pid, e = process.api.spawn(id, deps.host_id, ...)
    if not pid then return nil, e end
    local task, result = sched.cur, nil
    wf.children[pid] = function(r)
      result = r
      if not task.dead then sched.ready(task) end
    end
    while result == nil do sched.block() end
    if result.error then return nil, errors.from_plain(result.error) end
    return result.value
  end

  local function module_for(proc, name)
    local wf = proc.wf
    if wf then
      if name == "uuid" then
        wf.uuid = wf.uuid or sandbox.readonly(load_module("uuid")({
          errors = errors, digest = deps.digest,
          random_bytes = function(n) return durable.random_bytes(wf, n) end,
          now_ns = function() return wf.now end,
        }))
        return wf.uuid
      elseif name == "workflow" then
        return sandbox.readonly(workflow_api)
      end
    end
    return builtins[name]
  end

  new_env = function(require_fn, proc)
    local env = sandbox.new_env(require_fn)
    local wf = proc and proc.wf
    if wf then
      rawset(env, "math", math_for_workflows())
      rawset(env, "os", workflow_os)
    end
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
  function K.run(budget)
    local more, deadline = sched.run(budget, process.on_task_end)
    observe.flush(metrics.take())
    if durable then
      -- replay and going live can make work and timers of their own
      durable.after_slice()
      more, deadline = sched.has_ready(), sched.next_deadline()
    end
    return more, deadline
  end

  -- Workflow hosts ---------------------------------------------------------

  local function workflow_entry(id)
    local entry = entries[id]
    if entry == nil or entry.kind ~= "workflow.lua" then
      return nil, plain_error(errors.new({ kind = errors.NOT_FOUND, message = "no workflow.lua entry '" .. tostring(id) .. "'" }))
    end
    return entry
  end

  --- Start run `opts.run` of a new workflow `wf_id` of entry `id` for
  --- Python (the host claimed the id). Its start is recorded in order with
  --- everything else emitted.
  function K.new_workflow(id, wf_id, args, opts)
    local entry, problem = workflow_entry(id)
    if not entry then return nil, problem end
    args.n = args.n or #args
    local pid, e = process.start_workflow(entry, args, opts, wf_id, opts.run, opts.parent)
    return pid, plain_error(e)
  end

  --- Recover workflow `wf_id` of entry `id` from its stored run `opts.run`.
  --- `history` is the list of ordered records to replay, `signals` the
  --- stored messages by sequence number; `opts.monitors` and `opts.links`
  --- the workflows that watched it, as stored.
  local function recover_workflow(entry, wf_id, args, opts, now_ns, seed, history, signals)
    args.n = args.n or #args
    opts.pid = deps.pid_prefix .. wf_id .. "}"
    opts.workflow = { id = wf_id, run = opts.run, now = now_ns, seed = seed, history = history, signals = signals,
      parent = opts.parent }
    local pid, e = process.spawn_local(entry, args, opts)
    if pid then
      local proc = process.procs[pid]
      process.rewatch(proc, opts.monitors, opts.links)
      durable.recovered(proc.wf)
    end
    return pid, e
  end

  --- Stored values that break the recovery fail that workflow alone.
  function K.start_workflow(id, wf_id, args, opts, now_ns, seed, history, signals)
    local entry, problem = workflow_entry(id)
    if not entry then return nil, problem end
    local ok, pid, e = pcall(recover_workflow, entry, wf_id, args, opts, now_ns, seed, history, signals)
    if not ok then return nil, plain_error(durable.abandon(wf_id, pid)) end
    return pid, plain_error(e)
  end

  --- A message for workflow `wf_id` has been stored as signal `seq`.
  function K.signal_stored(wf_id, seq, from, topic, payload)
    local wf = durable.workflows[wf_id]
    if wf then durable.signal(wf, seq, from, topic, payload) end
  end

  --- A child workflow that runs elsewhere (on Temporal) ended with
  --- `result` ({value=} or {error=}): its parent's `workflow.exec` resumes.
  function K.child_ended(wf_id, child_pid, result)
    local wf = durable.workflows[wf_id]
    if wf then durable.event(wf, { kind = "child", from = child_pid, result = result }) end
  end

  --- Everything emitted so far is committed: apply the batches it held.
  function K.committed() durable.committed() end
  --- The host failed on workflow `wf_id`: it ends with the plain `failure`.
  function K.fail_workflow(wf_id, failure) return durable.fail(wf_id, failure) end
  function K.count() return process.count end
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

  K.errors = errors
  return K
end
