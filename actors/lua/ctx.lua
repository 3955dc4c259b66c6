-- The `ctx` module: the values of the running process's context, set by
-- its spawner (`with_context`) or its caller (`funcs.new():with_context`).
--
-- A process's context table may be shared with its spawner, so what user
-- code gets is a copy: no process can change a value another one sees.
return function(deps)
  local errors, copy, current_proc = deps.errors, deps.copy, deps.current_proc
  local type, next = type, next

  local function fail(kind, message) return nil, errors.new({ kind = kind, message = message }) end

  local ctx = {}

  --- ctx.get(key) -> value, or nil and NotFound (no such key) / Invalid.
  function ctx.get(key)
    if type(key) ~= "string" or key == "" then
      return fail(errors.INVALID, "ctx.get: key must be a non-empty string, got " .. type(key))
    end
    local value = current_proc().ctx[key]
    if value == nil then return fail(errors.NOT_FOUND, "ctx.get: no value for key '" .. key .. "'") end
    return copy(value)
  end

  --- ctx.all() -> a table of every value (a copy).
  function ctx.all()
    local out = {}
    for k, v in next, current_proc().ctx do out[k] = copy(v) end
    return out
  end

  return ctx
end
