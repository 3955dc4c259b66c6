-- Crossings into Python, batched.
--
-- Lua never calls Python for work that can wait: it appends a command to the
-- outbox, and the worker drains the whole outbox after each slice. Commands
-- that expect an answer carry a request id; Python answers with `reply(id,
-- ok, value)` and the registered continuation runs on the Lua side.
return function(deps)
  local S = deps.sched
  local ready, block = S.ready, S.block

  local B = {}
  local outbox, out_n = {}, 0
  local pending, next_request = {}, 0

  --- Queue a command `{op, ...}` for Python.
  local function emit(cmd)
    out_n = out_n + 1
    outbox[out_n] = cmd
  end
  B.emit = emit

  --- The command queued last, or nil when the outbox is empty.
  function B.last()
    return outbox[out_n]
  end

  -- Batches for the other workers of this host (see process.lua): the
  -- commands for each, in order, leave as one string per worker and slice
  -- (a `cross` command), so no Lua table leaves this state. The string is
  -- msgpack arrays of up to CHUNK commands one after another: a chunk is
  -- encoded as soon as it is full, so that a slice sending a great many
  -- messages does not keep as many tables alive for the collector to walk.
  local CHUNK = 256
  local crossing = {} -- by worker: { commands, n, chunks, m }
  local encode, concat = deps.msgpack and deps.msgpack.encode, table.concat

  --- `commands` in msgpack; a command that cannot be encoded (none should:
  --- what crosses was copied as a payload) is left out.
  local function encoded(commands)
    local bytes = encode(commands)
    if bytes then return bytes end
    local kept = {}
    for i = 1, #commands do
      if encode(commands[i]) then kept[#kept + 1] = commands[i] end
    end
    return (encode(kept))
  end

  local function close_chunk(batch)
    local m = batch.m + 1
    batch.chunks[m], batch.m = encoded(batch.commands), m
    batch.commands, batch.n = {}, 0
  end

  --- Queue `cmd` for worker `w` of this host.
  function B.cross(w, cmd)
    local batch = crossing[w]
    if batch == nil then
      batch = { commands = {}, n = 0, chunks = {}, m = 0 }
      crossing[w] = batch
    end
    local n = batch.n + 1
    batch.commands[n], batch.n = cmd, n
    if n == CHUNK then close_chunk(batch) end
  end

  --- Encode the batches for other workers into the outbox (at the end of
  --- a slice, so in the slice's thread).
  local function seal()
    for w, batch in pairs(crossing) do
      if batch.n > 0 then close_chunk(batch) end
      emit({ "cross", w, concat(batch.chunks, "", 1, batch.m) })
    end
    crossing = {}
  end
  function B.seal()
    if next(crossing) ~= nil then seal() end
  end

  --- Hand the queued commands to Python (nil when there are none).
  function B.take()
    if next(crossing) ~= nil then seal() end
    if out_n == 0 then return nil, 0 end
    local taken, n = outbox, out_n
    outbox, out_n = {}, 0
    return taken, n
  end

  --- Queue `{op, id, ...}` and call `on_reply(ok, value)` when Python answers.
  function B.request(cmd, on_reply)
    next_request = next_request + 1
    pending[next_request] = on_reply
    cmd[2] = next_request
    emit(cmd)
    return next_request
  end

  --- Like `request`, but blocks the running task and returns `ok, value`.
  function B.request_blocking(cmd)
    local task = S.cur
    B.request(cmd, function(ok, value)
      if not task.dead then ready(task, ok, value) end
    end)
    return block()
  end

  --- Forget a request whose answer no longer matters (e.g. a timed-out call).
  function B.forget(id)
    pending[id] = nil
  end

  --- Forget a request and ask Python to stop the work behind it (a call
  --- its caller canceled or stopped waiting for).
  function B.cancel(id)
    if pending[id] == nil then return end
    pending[id] = nil
    emit({ "cancel_request", id })
  end

  function B.reply(id, ok, value)
    local on_reply = pending[id]
    if on_reply == nil then return false end
    pending[id] = nil
    on_reply(ok, value)
    return true
  end

  return B
end
