-- The run queue, tasks, reductions and timers of one worker's Lua state.
--
-- A task is one coroutine of a process (its main function or a
-- `coroutine.spawn`). A task that cannot go on yields the BLOCK sentinel to the
-- scheduler after arranging for somebody to call `ready(task, a, b)`; the
-- scheduler then resumes it with `a, b`. Nothing here allocates per message:
-- the run queue is a plain array ring, wake-up values travel in task fields.
return function(deps)
  local co_create, co_resume, co_status, co_yield, co_close =
    coroutine.create, coroutine.resume, coroutine.status, coroutine.yield, coroutine.close
  local now = deps.now                 -- monotonic seconds, from trio's clock
  local REDUCTIONS = deps.reductions   -- operations a task may do per turn
  local BUDGET = deps.max_instructions -- Lua instructions a task may run per turn (0: unguarded)
  local errors = deps.errors

  -- What a task coroutine yields to the scheduler: BLOCK (it waits) or
  -- ENDED (see task_loop). Functions, not tables: a value a task returns is
  -- compared with them by `==`, which runs no __eq across types, nor
  -- between functions.
  local S = { BLOCK = function() return "luactor.block" end }
  -- Lua reports an allocation failure with this exact message.
  local MEMORY_ERROR = "not enough memory"
  S.MEMORY_ERROR = MEMORY_ERROR
  local BLOCK = S.BLOCK

  local rq, rq_head, rq_tail = {}, 1, 0
  -- Read by hot paths elsewhere as fields, to save a function call each:
  -- S.cur is the running task, S.reds the reductions it has left.
  S.cur, S.reds = nil, 0
  -- Totals of this worker, for metrics (reductions sampled: see S.run).
  S.turns_run, S.reductions_used, S.slices_run = 0, 0, 0
  local SAMPLE_EVERY, since_sample = 64, 0 -- turns, counted across slices

  --- Make `task` runnable; it resumes with `a, b` as the results of its block.
  local function ready(task, a, b)
    task.a, task.b = a, b
    local tail = rq_tail + 1
    rq[tail] = task -- (first: if the queue cannot grow, it is left as it was)
    rq_tail = tail
    task.queued = true
  end
  S.ready = ready


  -- The runaway guard. Lua cannot be preempted, so a turn that never yields
  -- would hold the worker forever. It is stopped by a hook, which counts
  -- the turn's instructions in steps of HOOK_EVERY and the CPU time since it
  -- first fired in the turn. Past BUDGET instructions or TURN_SECONDS (a
  -- loop of costly operations: joining two big strings is one instruction)
  -- the process is tripped: from then on every instruction of user code in
  -- any of its coroutines raises, so no pcall can keep it alive and no
  -- coroutine can carry on for it, while runtime code (the "=luactor/"
  -- chunks: a user source is always named "@...") unwinds and finishes it.
  -- A process whose allocation failed is tripped the same way (S.stop).
  --
  -- Lua 5.4 checks a trap on every instruction of a coroutine that has a
  -- count hook, which costs ~40% of message throughput. So task coroutines
  -- only have the hook registered (mask 0, free): a watchdog thread in
  -- Python (actors/guard.py) arms it, every 50 ms of a slice, on the
  -- coroutine in `running[1]`, the one running (a user coroutine is put
  -- there while it runs), to fire at its next instruction or call, so that
  -- a loop in C calling functions is caught too. The hook then counts, and
  -- the task's hook is disarmed after its turn. Coroutines that were in
  -- `running[1]` stay in `graveyard` until the next slice, so that the
  -- watchdog never touches a freed one. Without the watchdog
  -- (`S.watchdog(false)`) the hook counts on every task from the start.
  -- User coroutines (coroutine.create, wrap) always count: they may be
  -- dropped and collected at any time.
  local HOOK_EVERY = BUDGET > 0 and math.min(BUDGET, 100000) or 0
  local TURN_SECONDS = deps.turn_seconds
  -- A slice of many turns, each within the guard's limits, could hold the
  -- worker as long: the hook also ends it after the turn it fires in, once
  -- it has run SLICE_SECONDS, so that Python (other hosts, I/O) gets a turn.
  local SLICE_SECONDS = deps.slice_seconds
  local slice_started, slice_over = 0, false
  local turn = 0
  -- CPU seconds: the process's (os.clock), or with several workers running
  -- at once in threads, this thread's (deps.cpu_clock)
  local getinfo, sethook, gethook, clock, co_running = debug.getinfo, debug.sethook, debug.gethook,
    deps.cpu_clock or os.clock, coroutine.running
  local hook
  local armed_task_co = nil -- a task coroutine the hook fired on this turn (disarmed after it)
  -- Whether the hook fired in the running turn: what it asks for after the
  -- turn (disarming, ending the slice) is looked at only then, so that a
  -- turn the hook left alone pays one test for it.
  local hook_fired = false

  --- Is the function at `level` (above the caller) user code? A C
  --- function counts as the code that called it.
  local function user_code_at(level)
    local info = getinfo(level + 1, "S")
    while info and info.what == "C" do
      level = level + 1
      info = getinfo(level + 1, "S")
    end
    return info ~= nil and info.source:sub(1, 9) ~= "=luactor/"
  end

  --- Trip `task`'s process with `failure`: each of its tasks raises at its
  --- next instruction of user code (S.run arms them), and the running
  --- coroutine does from its next one.
  local function trip(task, failure)
    local proc = task.proc
    proc.tripped = failure
    for t in next, proc.tasks do t.tripped = failure end
    task.tripped = failure
    sethook(co_running(), hook, "", 1)
  end

  local function runaway(count)
    local message = count >= BUDGET
      and "process ran " .. BUDGET .. " Lua instructions without yielding and was stopped (host.max_instructions)"
      or "process ran for more than " .. TURN_SECONDS .. "s of CPU without yielding and was stopped " ..
        "(host.max_instructions)"
    return errors.new({ kind = errors.RATE_LIMITED, message = message })
  end

  hook = function(event)
    local task = S.cur
    if task == nil then return end
    local co = co_running()
    local failure = task.tripped
    if failure == nil then
      local _, _, every = gethook(co)
      local count
      if task.hook_turn ~= turn then
        task.hook_turn, task.hook_since, count = turn, clock(), every
      else
        count = task.hook_count + every
      end
      task.hook_count = count
      hook_fired = true
      if co == task.co then armed_task_co = co end
      local t = clock()
      if t - slice_started >= SLICE_SECONDS then slice_over = true end
      if count < BUDGET and t - task.hook_since < TURN_SECONDS then
        -- after the watchdog's check: count on, calls unwatched
        if every ~= HOOK_EVERY or event ~= "count" then sethook(co, hook, "", HOOK_EVERY) end
        return
      end
      failure = runaway(count)
      trip(task, failure)
    else
      local _, mask, every = gethook(co)
      if every ~= 1 or mask ~= "" then sethook(co, hook, "", 1) end
    end
    if user_code_at(2) then error(failure, 0) end
  end

  --- The error of a process whose allocation failed.
  function S.out_of_memory()
    return errors.new({
      kind = errors.RATE_LIMITED,
      message = MEMORY_ERROR .. " (the worker's Lua state reached host.max_memory)",
    })
  end

  --- Stop the running process with `failure` as if it had tripped the
  --- guard: its allocation failed, and catching that must not keep it
  --- going. The runtime gets its reserve of memory back to end it.
  --- Returns the failure it stops with (nil outside a process).
  function S.stop(failure)
    local task = S.cur
    if task == nil then return nil end
    S.memory_failed()
    if task.tripped == nil then trip(task, failure) end
    return task.tripped
  end

  --- The failure the running process tripped with, if it did; the running
  --- coroutine then stops at its next instruction of user code.
  function S.tripped()
    local task = S.cur
    local failure = task and task.tripped
    if failure then sethook(co_running(), hook, "", 1) end
    return failure
  end

  local task_every = HOOK_EVERY -- the count a task's hook starts with (0: disarmed)
  local idle = co_create(function() end) -- in `running` between turns; never runs
  local running = { idle }
  local graveyard, buried = {}, 0 -- luacheck: ignore 241 (only holds references)
  -- A slice ends early once this many coroutines died in it (reused ones do
  -- not die, see below), bounding what the graveyard holds.
  local MAX_BURIED = 1024

  -- The coroutines of short tasks are reused (see spawn_short_task): a fresh
  -- coroutine costs more than its creation, as its stack grows on first
  -- use and the collector has to free it. Each runs `task_loop`: it calls a
  -- task's body and, when the body returns, yields ENDED and waits for the
  -- body of the next task. What the body returned leaves through
  -- `ended_value, ended_failure`, and the loop lets go of the body and its
  -- arguments before it waits: an idle coroutine must hold nothing of the
  -- task it ran. A task that raised leaves its coroutine dead: that one is
  -- not reused (a tripped task always raises: see the runaway guard).
  local ENDED = function() return "luactor.ended" end
  local ended_value, ended_failure, ended_more
  -- A function may return more than two values: those past the second
  -- leave packed (a call's result is then the list of them all).
  local function ended(value, failure, ...)
    ended_value, ended_failure = value, failure
    if select("#", ...) > 0 then ended_more = table.pack(...) end
  end
  local function task_loop(body, a, b)
    while true do
      ended(body(a, b))
      body, a, b = nil, nil, nil -- luacheck: ignore 311 (let go while idle)
      body, a, b = co_yield(ENDED)
    end
  end
  -- The idle ones wait in a stack. Those the last slice did not need go at
  -- the start of the next (but a few), so the pool follows what one slice
  -- uses and a burst of short tasks leaves no lasting memory behind.
  local idle_coroutines, n_idle, fewest_idle = {}, 0, 0
  local KEEP_IDLE = 64

  local function forget_idle() idle_coroutines, n_idle, fewest_idle = {}, 0, 0 end

  local function trim_idle()
    local unused = fewest_idle - KEEP_IDLE
    if unused > 0 then
      idle_coroutines = table.move(idle_coroutines, unused + 1, n_idle, 1, {})
      n_idle = n_idle - unused
    end
    fewest_idle = n_idle
  end

  --- Whether a watchdog arms the guard (see above); false arms it always.
  --- Idle task coroutines were made with the old setting: they go.
  function S.watchdog(on)
    task_every = (on or BUDGET == 0) and 0 or HOOK_EVERY
    forget_idle()
  end

  --- For the watchdog's start-up check: a probe coroutine with its hook
  --- armed is put in `running`; returns the addresses of `running` and of
  --- the probe. `done` puts things back.
  local probe
  function S.guard_probe()
    probe = co_create(function() end)
    sethook(probe, hook, "", HOOK_EVERY)
    running[1] = probe
    return string.format("%p", running), string.format("%p", probe)
  end
  function S.guard_probe_done()
    running[1], probe = idle, nil
  end

  local function bury(co)
    buried = buried + 1
    graveyard[buried] = co
  end

  --- A user coroutine is about to run: it takes `running[1]` (the watchdog
  --- arms the coroutine there) and so stays alive until the next slice.
  --- Returns what it displaced, for S.leave.
  local last_entered = nil
  function S.enter(co)
    local before = running[1]
    running[1] = co
    if co ~= last_entered then
      last_entered = co
      bury(co)
    end
    return before
  end
  function S.leave(before) running[1] = before end

  -- User code the runtime must run outside any task (the __tostring of an
  -- error object a task raised, say) runs in a coroutine of its own under a
  -- small budget: past it, every instruction of user code raises, as for a
  -- tripped task, so neither a loop nor a pcall around one can hold the
  -- worker; a yield (a receive, a sleep) ends it too.
  local GUARDED_BUDGET = 1000000
  local OVER_BUDGET = setmetatable({}, { __name = "luactor.over_budget" })
  local function over_budget_every_instruction()
    if getinfo(2, "S").source:sub(1, 9) ~= "=luactor/" then error(OVER_BUDGET, 0) end
  end
  local function over_budget()
    sethook(coroutine.running(), over_budget_every_instruction, "", 1)
    error(OVER_BUDGET, 0)
  end

  --- `fn(a)` outside any task, bounded: returns true and its first result,
  --- or false if it raised, yielded or ran past the budget.
  function S.guarded(fn, a)
    local co = co_create(fn)
    sethook(co, over_budget, "", GUARDED_BUDGET)
    local saved = S.cur
    S.cur = nil
    local ok, r = co_resume(co, a)
    S.cur = saved
    if co_status(co) ~= "dead" then ok = false end
    co_close(co)
    return ok, r
  end

  --- Close a task's coroutine, which failed or is killed, so that its stack
  --- lets go of what it held now. The __close of its pending to-be-closed
  --- variables would run here, outside the task, as whichever process is
  --- running (its killer, say): every instruction of user code raises, so
  --- none of them runs.
  local function close_task_coroutine(co)
    sethook(co, over_budget_every_instruction, "", 1)
    local saved = S.cur
    S.cur = nil
    co_close(co)
    S.cur = saved
  end

  --- A coroutine for user code, guarded from its first instruction (and
  --- stopped at it, for a process that tripped).
  function S.user_coroutine(fn)
    local co = co_create(fn)
    local task = S.cur
    if task and task.tripped then
      sethook(co, hook, "", 1)
    elseif HOOK_EVERY > 0 then
      sethook(co, hook, "", HOOK_EVERY)
    end
    return co
  end

  --- Is any task waiting to run?
  function S.has_ready() return rq_head <= rq_tail end

  --- How many tasks wait in the run queue (the worker's load, for placing spawns).
  function S.queued() return rq_tail - rq_head + 1 end

  --- A task coroutine running `fn`, with the guard's hook registered.
  local function task_coroutine(fn)
    local co = co_create(fn)
    if HOOK_EVERY > 0 then sethook(co, hook, "", task_every) end
    return co
  end

  --- Queue a new task of `proc` on coroutine `co`; `body` is set when the
  --- task runs on a reused one (false until its first turn), which gets the
  --- body then.
  local function start_task(proc, co, body, a, b)
    -- room for all seven; `reds` estimates the reductions it used (see S.run)
    local task = { co = co, proc = proc, queued = true, body = body, a = nil, b = nil, reds = 0 }
    proc.tasks[task] = true
    ready(task, a, b)
    return task
  end

  --- Create a task for `proc` running `body(a, b)`; it starts on a later turn.
  function S.spawn_task(proc, body, a, b)
    return start_task(proc, task_coroutine(body), nil, a, b)
  end

  --- `spawn_task` for a task expected to end soon (that of a function call):
  --- it runs on a reused coroutine, taken at its first turn, so that short
  --- tasks queued together can share one. (Not for every task: the reuse
  --- loop's frame below the body costs a blocked process ~350 bytes of stack.)
  function S.spawn_short_task(proc, body, a, b)
    return start_task(proc, false, body, a, b)
  end

  --- An idle reused coroutine, or a new one.
  local function reused_coroutine()
    if n_idle == 0 then return task_coroutine(task_loop) end
    local co = idle_coroutines[n_idle]
    idle_coroutines[n_idle] = false -- (false, not nil: see the run queue)
    n_idle = n_idle - 1
    if n_idle < fewest_idle then fewest_idle = n_idle end
    return co
  end

  -- Work a task leaves to the scheduler, done right after its turn on the
  -- scheduler's own stack. A coroutine's stack keeps the size of its
  -- deepest call until the collector trims it, so a deep call made from a
  -- task (starting a process, say) would leave it holding a larger stack
  -- while it waits, and grow it again after every trim.
  local deferred, n_deferred = {}, 0

  --- Call `fn(a, b, c)` once the running task's turn ends (now, outside one).
  function S.after_turn(fn, a, b, c)
    if S.cur == nil then return fn(a, b, c) end
    local n = n_deferred
    deferred[n + 1], deferred[n + 2], deferred[n + 3], deferred[n + 4] = fn, a, b, c
    n_deferred = n + 4
  end

  local function run_deferred()
    local i = 1
    while i < n_deferred do -- what runs may defer more: it is appended
      local fn, a, b, c = deferred[i], deferred[i + 1], deferred[i + 2], deferred[i + 3]
      deferred[i], deferred[i + 1], deferred[i + 2], deferred[i + 3] = false, false, false, false
      i = i + 4
      -- (one done before a failure is not done again: see S.run)
      if fn then fn(a, b, c) end
    end
    n_deferred = 0
  end

  --- Suspend the running task until someone calls `ready` on it.
  function S.block()
    return co_yield(BLOCK)
  end

  --- Give up the rest of this turn; the task goes to the back of the queue.
  local function yield_now()
    ready(S.cur)
    co_yield(BLOCK)
  end
  S.yield_now = yield_now

  --- Count one reduction; a task that used up its budget is requeued.
  function S.tick()
    local r = S.reds - 1
    S.reds = r
    if r <= 0 then yield_now() end
  end

  --- End a task that is not running: it is never resumed again.
  function S.kill_task(task)
    task.dead = true
    task.proc.tasks[task] = nil
    local co = task.co
    if not co then return end -- it never ran
    if task ~= S.cur and co_status(co) == "suspended" then close_task_coroutine(co) end
    bury(co)
  end

  -- Timers: a binary min-heap ordered by (deadline, seq); a stopped timer is
  -- left in the heap with `stopped` set and skipped when it comes up.
  local heap, heap_n, timer_seq = {}, 0, 0

  local function earlier(a, b)
    if a.deadline ~= b.deadline then return a.deadline < b.deadline end
    return a.seq < b.seq
  end

  --- Schedule `timer.fire(timer)` at `timer.deadline` (seconds on trio's clock).
  function S.add_timer(timer)
    timer_seq = timer_seq + 1
    timer.seq = timer_seq
    heap_n = heap_n + 1
    local i = heap_n
    heap[i] = timer
    while i > 1 do
      local parent = i // 2
      if earlier(heap[i], heap[parent]) then
        heap[i], heap[parent] = heap[parent], heap[i]
        i = parent
      else
        break
      end
    end
    return timer
  end

  local function pop_timer()
    local top = heap[1]
    heap[1] = heap[heap_n]
    heap[heap_n] = nil
    heap_n = heap_n - 1
    local i = 1
    while true do
      local l, r, m = 2 * i, 2 * i + 1, i
      if l <= heap_n and earlier(heap[l], heap[m]) then m = l end
      if r <= heap_n and earlier(heap[r], heap[m]) then m = r end
      if m == i then break end
      heap[i], heap[m] = heap[m], heap[i]
      i = m
    end
    return top
  end

  local function fire_due_timers(t)
    while heap_n > 0 and heap[1].deadline <= t do
      local timer = pop_timer()
      if not timer.stopped then
        timer.fired = true
        timer.fire(timer)
      end
    end
  end

  local next_deadline
  --- The earliest pending timer's deadline, or nil.
  function S.next_deadline() return next_deadline() end

  next_deadline = function()
    while heap_n > 0 and heap[1].stopped do pop_timer() end
    if heap_n > 0 then return heap[1].deadline end
    return nil
  end

  -- Memory. When host.max_memory runs out, the process whose allocation
  -- failed dies; ending it and telling its watchers takes memory too, so the
  -- runtime keeps a reserve, let go as soon as an allocation fails (the
  -- collector Lua runs then frees it) and taken again once there is room.
  local MAX_MEMORY, HEADROOM = deps.max_memory or 0, deps.headroom or 0
  local reserve, memory_short = false, false
  local rep = string.rep

  --- An allocation failed: the reserve goes, and the collector is run
  --- once the task that failed has ended (S.run).
  function S.memory_failed() reserve, memory_short = false, true end

  local function keep_reserve()
    if reserve or MAX_MEMORY == 0 or collectgarbage("count") * 1024 + 4 * HEADROOM > MAX_MEMORY then return end
    local ok, r = pcall(rep, "\0", HEADROOM)
    if ok then reserve = r end
  end

  local function run_slice(budget, on_task_end)
    if buried > 0 then graveyard, buried = {}, 0 end
    last_entered = nil
    slice_started, slice_over = clock(), false
    keep_reserve()
    trim_idle()
    fire_due_timers(now())
    local turns, sampled = 0, 0
    local sample_turn = SAMPLE_EVERY - since_sample
    while rq_head <= rq_tail and turns < budget and buried < MAX_BURIED do
      local task = rq[rq_head]
      local co = task.co
      if not co and not task.dead then
        co = reused_coroutine() -- (made while the task is queued: if memory is out, it waits)
        task.co = co
      end
      -- false, not nil: with nil holes before it, a key past the array
      -- part would go to the hash part, and every enqueue after it be a
      -- hash insert with rehashes (half the slice with 10,000 ready tasks)
      rq[rq_head] = false
      rq_head = rq_head + 1
      task.queued = nil
      if not task.dead then
        turns = turns + 1
        local a, b = task.a, task.b
        task.a, task.b = nil, nil
        S.cur, S.reds = task, REDUCTIONS
        turn = turn + 1
        -- its hook was disarmed after its last turn: a tripped task keeps its own
        if task.tripped then sethook(co, hook, "", 1) end
        running[1] = co
        local ok, r1, r2
        local body = task.body
        if body then
          task.body = nil
          ok, r1, r2 = co_resume(co, body, a, b)
        else
          ok, r1, r2 = co_resume(co, a, b)
        end
        running[1] = idle
        S.cur = nil
        if hook_fired then
          hook_fired = false
          if armed_task_co then
            sethook(armed_task_co, hook, "", task_every)
            armed_task_co = nil
          end
          if slice_over then budget = turns end
        end
        -- reductions are sampled: every 64th turn counts for 64 (counting
        -- every turn cost ~5% of ping-pong), for the task and for the worker
        if turns == sample_turn then
          sample_turn = turns + SAMPLE_EVERY
          local spent = SAMPLE_EVERY * (REDUCTIONS - S.reds)
          task.reds, sampled = task.reds + spent, sampled + spent
        end
        if n_deferred > 0 then run_deferred() end
        if r1 == ENDED then
          local value, failure, more = ended_value, ended_failure, ended_more
          ended_value, ended_failure, ended_more = nil, nil, nil
          -- dead to whoever still holds it: its coroutine goes on elsewhere
          task.dead = true
          n_idle = n_idle + 1
          idle_coroutines[n_idle] = co
          on_task_end(task, true, value, failure, more)
        elseif r1 ~= BLOCK then
          -- it returned or raised. After an allocation failed (here, or in
          -- any task since the last of these) the coroutine may hold what
          -- filled the state: let go of it and collect before anything here
          -- allocates (a collection Lua runs when an allocation fails has
          -- been seen not to free it), and end the slice: collections take
          -- time. Any other error keeps its stack for on_task_end's traceback.
          if not ok and r1 == MEMORY_ERROR then S.memory_failed() end
          if memory_short then
            memory_short, budget = false, turns
            close_task_coroutine(co)
            collectgarbage("collect")
          end
          on_task_end(task, ok, r1, r2)
          if not ok then close_task_coroutine(co) end
          bury(co)
        end
      end
    end
    S.turns_run, S.slices_run = S.turns_run + turns, S.slices_run + 1
    S.reductions_used = S.reductions_used + sampled
    since_sample = turns - (sample_turn - SAMPLE_EVERY)
    local more = rq_head <= rq_tail
    -- Keep the ring's indices (and so the table's capacity) bounded: a
    -- queue that never drains would otherwise grow for ever. It moves down
    -- once its dead half is the larger, so moving costs O(1) per turn.
    if not more then
      if rq_tail > 4096 then rq = {} end
      rq_head, rq_tail = 1, 0
    elseif rq_head > 4096 and rq_head > rq_tail - rq_head then
      local n = rq_tail - rq_head + 1
      local fresh = table.move(rq, rq_head, rq_tail, 1, {})
      rq, rq_head, rq_tail = fresh, 1, n
    end
    return more, next_deadline()
  end

  --- Run up to `budget` task turns. `on_task_end(task, ok, ...)` is told
  --- what a task's coroutine returned or raised when it ends; one that
  --- raised is closed afterwards, so its stack lets go of what it held.
  --- Returns whether work is left and the next timer deadline (or nil).
  --- Memory running out in the runtime's own work between turns ends the
  --- slice there: that work is lost (a process not told of an exit, say),
  --- but the worker and its processes go on.
  function S.run(budget, on_task_end)
    local ok, more, deadline = pcall(run_slice, budget, on_task_end)
    if ok then return more, deadline end
    S.cur, running[1] = nil, idle
    if more ~= MEMORY_ERROR then error(more, 0) end
    reserve, memory_short = false, false
    collectgarbage("collect")
    return true, next_deadline()
  end

  return S
end
