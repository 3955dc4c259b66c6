-- What a workflow's code sees that a process's does not: the `workflow`
-- module (info, exec, version, attrs, history_length/size), and `math`,
-- `os` and `uuid` that replay (a generator seeded per workflow, no wall
-- clock); and the entry points a workflow host's kernel gives Python. Kept
-- apart from the kernel, which asks `module_for`, `prepare_env` and
-- `add_entry_points`.
--
-- `deps`: errors, sandbox, process, durable, sched, load_module, digest,
-- host_id, pid_prefix, entries, history_usage(id) -> events, bytes and
-- continue_workflow(id, failure, outcome) -> bool (from the host), and
-- `facts`: the task_queue and namespace of the host.
return function(deps)
  local errors, sandbox, process, durable, S = deps.errors, deps.sandbox, deps.process, deps.durable, deps.sched
  local load_module, facts = deps.load_module, deps.facts or {}
  -- whether a workflow that ends goes on as a new run: the host decides (see process.continues)
  process.continue_workflow = deps.continue_workflow

  local function fail_with(kind, message) return errors.new({ kind = kind, message = message }) end
  local function invalid(message) return fail_with(errors.INVALID, message) end

  --- The workflow whose code runs, or an error raised at the caller's caller.
  local function current(fname)
    local wf = process.current_proc().wf
    if not wf then error(invalid("workflow." .. fname .. ": not in a workflow"), 3) end
    return wf
  end

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
      error(invalid("os." .. name .. " is not available in workflows: use time.now(), which replays"), 2)
    end
  end
  local workflow_os = sandbox.readonly({
    time = no_wall_clock("time"), clock = no_wall_clock("clock"),
    date = function(format, t)
      if t == nil then no_wall_clock("date")() end
      return os.date(format, t)
    end,
  })

  -- The run id of a run of the embedded host (Temporal gives its own): a
  -- UUID named by the run's id, number and seed, the same at every replay.
  local RUN_NAMESPACE = "6ba7b812-9dad-11d1-80b4-00c04fd430c8"
  local naming_uuid = load_module("uuid")({
    errors = errors, digest = deps.digest, random_bytes = function() error("not used") end,
    now_ns = function() return 0 end,
  })
  local function run_id(wf)
    if wf.run_id == nil then
      wf.run_id = naming_uuid.v5(RUN_NAMESPACE, wf.id .. "/" .. wf.run .. "/" .. tostring(wf.seed))
    end
    return wf.run_id
  end

  --- How long `wf`'s history is: its events and bytes as the host counts
  --- them when asked (live), recorded, so that replay gives the same.
  local function history_usage(wf)
    local record, live = durable.command(wf, { type = "info", change = "history" })
    if record == nil then return 0, 0 end
    if live then record.length, record.size = deps.history_usage(wf.id) end
    return record.length, record.size
  end

  local api = {}

  --- The workflow's execution, as Temporal's WorkflowInfo names it.
  function api.info()
    local wf = current("info")
    local proc = process.current_proc()
    local length, size = history_usage(wf)
    return {
      workflow_id = wf.id, run_id = run_id(wf), workflow_type = wf.workflow_type or proc.entry.id,
      task_queue = facts.task_queue or deps.host_id, namespace = facts.namespace or "default",
      attempt = wf.attempt or 1, history_length = length, history_size = size,
      entry = proc.entry.id, pid = proc.pid, replaying = wf.replaying == true, parent = wf.parent,
    }
  end

  function api.history_length() return (history_usage(current("history_length"))) end
  function api.history_size() return select(2, history_usage(current("history_size"))) end

  function api.version(change, min, max)
    local wf = current("version")
    if type(change) ~= "string" or math.type(min) ~= "integer" or math.type(max) ~= "integer" or min > max then
      error(invalid("workflow.version(change, min, max): a string and two integers with min <= max"), 2)
    end
    return durable.version(wf, change, min, max)
  end

  --- Run a child workflow of `id` on this host and wait for its result.
  function api.exec(id, ...)
    local wf = current("exec")
    local pid, e = process.api.spawn(id, deps.host_id, ...)
    if not pid then return nil, e end
    local task, result = S.cur, nil
    wf.children[pid] = function(r)
      result = r
      if not task.dead then S.ready(task) end
    end
    while result == nil do S.block() end
    if result.error then return nil, errors.from_plain(result.error) end
    return result.value
  end

  --- A search attribute's value: a string, number or boolean, or a list of strings.
  local function search_value(name, v)
    local t = type(v)
    if t == "string" or t == "number" or t == "boolean" then return nil end
    if t == "table" then
      for i, item in pairs(v) do
        if math.type(i) ~= "integer" or type(item) ~= "string" then
          return "search attribute '" .. name .. "' must be a string, number, boolean or list of strings"
        end
      end
      return nil
    end
    return "search attribute '" .. tostring(name) .. "' must be a string, number, boolean or list of strings, got " .. t
  end

  --- Update the workflow's search attributes and memo (merged into what it
  --- has): `{search = {...}, memo = {...}}`. Once per history.
  function api.attrs(attrs)
    local wf = current("attrs")
    if type(attrs) ~= "table" then return nil, invalid("workflow.attrs: expected {search = {...}, memo = {...}}") end
    for key in pairs(attrs) do
      if key ~= "search" and key ~= "memo" then
        return nil, invalid("workflow.attrs: unknown field '" .. tostring(key) .. "' (search, memo)")
      end
    end
    local search, memo = attrs.search, attrs.memo
    for field, value in pairs({ search = search, memo = memo }) do
      if type(value) ~= "table" then return nil, invalid("workflow.attrs: " .. field .. " must be a table") end
      for name in pairs(value) do
        if type(name) ~= "string" then return nil, invalid("workflow.attrs: " .. field .. " keys must be strings") end
      end
    end
    for name, v in pairs(search or {}) do
      local problem = search_value(name, v)
      if problem then return nil, invalid("workflow.attrs: " .. problem) end
    end
    local copies, e = process.copy_args(2, search or {}, memo or {})
    if not copies then return nil, e end
    durable.attrs(wf, copies[1], copies[2])
    return true
  end

  local module = sandbox.readonly(api)

  local W = {}

  --- The workflow's own version of module `name`, or nil for the shared one.
  function W.module_for(wf, name)
    if name == "uuid" then
      wf.uuid = wf.uuid or sandbox.readonly(load_module("uuid")({
        errors = errors, digest = deps.digest,
        random_bytes = function(n) return durable.random_bytes(wf, n) end,
        now_ns = function() return wf.now end,
      }))
      return wf.uuid
    elseif name == "workflow" then
      return module
    end
    return nil
  end

  --- A workflow's environment: `math` and `os` that replay.
  function W.prepare_env(env)
    rawset(env, "math", math_for_workflows())
    rawset(env, "os", workflow_os)
  end

  -- Entry points of a workflow host's kernel -------------------------------

  local function plain_error(e)
    if e == nil then return nil end
    return errors.to_plain(e)
  end

  local function workflow_entry(id)
    local entry = deps.entries[id]
    if entry == nil or entry.kind ~= "workflow.lua" then
      return nil, plain_error(fail_with(errors.NOT_FOUND, "no workflow.lua entry '" .. tostring(id) .. "'"))
    end
    return entry
  end

  --- Recover workflow `wf_id` of entry `id` from its stored run `opts.run`.
  --- `history` is the list of ordered records to replay, `signals` the
  --- stored messages by sequence number; `opts.monitors` and `opts.links`
  --- the workflows that watched it, as stored.
  local function recover_workflow(entry, wf_id, args, opts, now_ns, seed, history, signals)
    args.n = args.n or #args
    opts.pid = deps.pid_prefix .. wf_id .. "}"
    if opts.start_at then entry = durable.deferred(entry, opts.start_at) end
    opts.workflow = { id = wf_id, run = opts.run, now = now_ns, seed = seed, history = history, signals = signals,
      parent = opts.parent }
    local pid, e = process.spawn_local(entry, args, opts)
    if pid then
      local proc = process.procs[pid]
      local wf = proc.wf
      wf.attempt, wf.run_id, wf.workflow_type, wf.continues = opts.attempt, opts.run_id, opts.workflow_type, opts.continues
      process.rewatch(proc, opts.monitors, opts.links)
      durable.recovered(proc.wf)
    end
    return pid, e
  end

  --- Add the entry points of a workflow host to kernel `K`.
  function W.add_entry_points(K)
    --- Start run `opts.run` (attempt `opts.attempt`) of a new workflow
    --- `wf_id` of entry `id` for Python (the host claimed the id). Its
    --- start is recorded in order with everything else emitted.
    function K.new_workflow(id, wf_id, args, opts)
      local entry, problem = workflow_entry(id)
      if not entry then return nil, problem end
      args.n = args.n or #args
      local pid, e = process.start_workflow(entry, args, opts, wf_id, opts.run, opts.parent)
      return pid, plain_error(e)
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
  end

  return W
end
