-- The `system` module's cluster part: `system.node`, `system.cluster`,
-- `system.raft` and `system.lock` (see actors/cluster). The rest of Wippy's
-- `system` module (memory, GC, hosts, services) is not provided.
--
-- A node alone is a cluster of one: `system.node` and `system.cluster` report
-- it, `system.lock` is Unavailable. luactor runs no Raft of its own (NATS's
-- JetStream keeps the shared state), so `system.raft.*` say so, and
-- `system.cluster.leader()` is "".
return function(deps)
  local errors, bridge, P = deps.errors, deps.bridge, deps.process
  local type, table_sort = type, table.sort
  local utf8_len = utf8.len

  local function fail(kind, message) return nil, errors.new({ kind = kind, message = message, retryable = false }) end

  local function ask(op, args)
    local ok, result = bridge.request_blocking({ "cluster", 0, op, args })
    if not ok then return nil, errors.from_plain(result) end
    return result
  end

  local function view() return ask("view", { what = "system" }) end

  local node = {}
  function node.id()
    local v, e = view()
    if not v then return nil, e end
    return v.node
  end
  function node.addr()
    local v, e = view()
    if not v then return nil, e end
    if v.addr == "" then return fail(errors.INTERNAL, "membership unavailable: this node is not connected to a cluster") end
    return v.addr
  end
  function node.role() return "non-member" end

  local cluster = {}
  function cluster.members()
    local v, e = view()
    if not v then return nil, e end
    local out = { { id = v.node, is_local = true } }
    local others = {}
    for i = 1, #v.members do
      if v.members[i] ~= v.node then others[#others + 1] = v.members[i] end
    end
    table_sort(others)
    for i = 1, #others do out[#out + 1] = { id = others[i], is_local = false } end
    return out
  end
  function cluster.size()
    local v, e = view()
    if not v then return nil, e end
    return #v.members
  end
  function cluster.leader() return "" end

  local raft = {}
  for _, name in ipairs({ "is_leader", "is_member", "role", "term", "commit_index", "stats" }) do
    raft[name] = function() return fail(errors.INTERNAL, "raft not available") end
  end

  local function lock_name(name, fname)
    if type(name) ~= "string" or name == "" or not utf8_len(name) then
      return fail(errors.INVALID, fname .. ": name must be a non-empty string, got " .. type(name))
    end
    return name
  end

  local lock = {}
  function lock.acquire(name)
    local n, e = lock_name(name, "system.lock.acquire")
    if not n then return nil, e end
    local ok, problem = ask("lock_acquire", { name = n, pid = P.current_proc().pid, what = "system.lock" })
    if ok then return true end
    if problem:kind() == errors.ALREADY_EXISTS then return false, problem end
    return nil, problem
  end
  function lock.release(name)
    local n, e = lock_name(name, "system.lock.release")
    if not n then return nil, e end
    return ask("lock_release", { name = n, pid = P.current_proc().pid, what = "system.lock" })
  end

  return { node = node, cluster = cluster, raft = raft, lock = lock }
end
