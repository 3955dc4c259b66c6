-- The `pg` module: process groups, kept by the node's cluster (see
-- actors/cluster/groups.py). `pg.open(scope)` gives an instance whose
-- methods ask the cluster; the instance's state is private (a weak table
-- keyed by the empty handle), so user code can neither read nor forge it.
-- Every function checks its arguments and returns `nil, err` (Invalid,
-- naming the argument) instead of raising.
return function(deps)
  local errors, bridge, copy, P, chan = deps.errors, deps.bridge, deps.copy, deps.process, deps.channel
  local setmetatable, type, select, rawlen, rawget = setmetatable, type, select, rawlen, rawget
  local utf8_len = utf8.len

  local function invalid(message) return nil, errors.new({ kind = errors.INVALID, message = message, retryable = false }) end

  --- The cluster's answer to `op`, the running process blocked until it comes.
  local function ask(op, args)
    args.what = "pg"
    local ok, result = bridge.request_blocking({ "cluster", 0, op, args })
    if not ok then return nil, errors.from_plain(result) end
    return result
  end

  local function is_text(v) return type(v) == "string" and v ~= "" and utf8_len(v) ~= nil end

  --- A group name, or a list of them, as a fresh list; nil and the error otherwise.
  local function group_list(groups, fname)
    if is_text(groups) then return { groups } end
    if type(groups) ~= "table" then return invalid(fname .. ": group must be a name or a list of names, got " .. type(groups)) end
    local n = rawlen(groups)
    if n == 0 then return invalid(fname .. ": the list of groups is empty") end
    local out = {}
    for i = 1, n do
      local g = rawget(groups, i)
      if not is_text(g) then return invalid(fname .. ": group " .. i .. " must be a non-empty string") end
      out[i] = g
    end
    return out
  end

  local Instance = { __name = "pg.Instance", __metatable = false }
  Instance.__index = Instance
  local Subscription = { __name = "pg.Subscription", __metatable = false }
  Subscription.__index = Subscription
  local states = setmetatable({}, { __mode = "k" })        -- instance handle -> { scope, released }
  local subscriptions = setmetatable({}, { __mode = "k" }) -- subscription handle -> { topic, proc, ch }

  local function state_of(self, fname)
    local st = states[self]
    if st == nil then return invalid(fname .. ": expected a pg instance (call its methods with ':')") end
    if st.released then return invalid(fname .. ": the instance was released") end
    return st
  end

  local M = {}

  function M.open(id)
    if not is_text(id) then return invalid("pg.open: scope id must be a non-empty string, got " .. type(id)) end
    local ok, e = ask("pg_open", { scope = id })
    if not ok then return nil, e end
    local handle = setmetatable({}, Instance)
    states[handle] = { scope = id }
    return handle
  end

  local function membership(op, fname)
    return function(self, groups)
      local st, e = state_of(self, fname)
      if not st then return nil, e end
      local list
      list, e = group_list(groups, fname)
      if not list then return nil, e end
      return ask(op, { scope = st.scope, groups = list, pid = P.current_proc().pid })
    end
  end
  Instance.join = membership("pg_join", "join")
  Instance.leave = membership("pg_leave", "leave")

  local function members(is_local, fname)
    return function(self, group)
      local st, e = state_of(self, fname)
      if not st then return nil, e end
      if not is_text(group) then return invalid(fname .. ": group must be a non-empty string, got " .. type(group)) end
      return ask("pg_members", { scope = st.scope, group = group, ["local"] = is_local })
    end
  end
  Instance.get_members = members(false, "get_members")
  Instance.get_local_members = members(true, "get_local_members")

  local function groups_of(is_local, fname)
    return function(self)
      local st, e = state_of(self, fname)
      if not st then return nil, e end
      return ask("pg_groups", { scope = st.scope, ["local"] = is_local })
    end
  end
  Instance.which_groups = groups_of(false, "which_groups")
  Instance.which_local_groups = groups_of(true, "which_local_groups")

  local function broadcaster(is_local, fname)
    return function(self, group, topic, ...)
      local st, e = state_of(self, fname)
      if not st then return nil, e end
      if not is_text(group) then return invalid(fname .. ": group must be a non-empty string, got " .. type(group)) end
      e = P.check_topic(topic)
      if e then return nil, e end
      local n = select("#", ...)
      local payload
      payload, e = copy(n > 1 and { ... } or (...))
      if e then return nil, e end
      return ask("pg_broadcast", { scope = st.scope, group = group, topic = topic, payload = payload,
        sender = P.current_proc().pid, ["local"] = is_local })
    end
  end
  Instance.broadcast = broadcaster(false, "broadcast")
  Instance.broadcast_local = broadcaster(true, "broadcast_local")

  --- Subscribe the running process: its events come as messages of the
  --- subscription's own topic, into a channel of the process.
  local function subscribe(st, group)
    local proc = P.current_proc()
    local answer, e = ask("pg_monitor", { scope = st.scope, group = group, pid = proc.pid })
    if not answer then return nil, nil, e end
    local ch = chan.unbounded(proc)
    proc.topics = proc.topics or {}
    proc.topics[answer.topic] = ch
    local sub = setmetatable({}, Subscription)
    subscriptions[sub] = { topic = answer.topic, proc = proc, ch = ch }
    return sub, answer.members
  end

  function Instance:monitor(group)
    local st, e = state_of(self, "monitor")
    if not st then return nil, nil, e end
    if not is_text(group) then return nil, nil, select(2, invalid("monitor: group must be a non-empty string, got " .. type(group))) end
    return subscribe(st, group)
  end

  function Instance:events()
    local st, e = state_of(self, "events")
    if not st then return nil, nil, e end
    return subscribe(st, nil)
  end

  function Instance:release()
    local st = states[self]
    if st then st.released = true end
    return true
  end

  function Subscription:channel()
    local sub = subscriptions[self]
    if sub == nil then return invalid("channel: expected a pg subscription (call its methods with ':')") end
    return sub.ch.handle
  end

  function Subscription:close()
    local sub = subscriptions[self]
    if sub == nil then return invalid("close: expected a pg subscription (call its methods with ':')") end
    if sub.closed then return true end
    sub.closed = true
    if sub.proc.topics then sub.proc.topics[sub.topic] = nil end
    return ask("pg_unmonitor", { topic = sub.topic, pid = P.current_proc().pid })
  end

  return M, { Instance, Subscription }
end
