-- The limits that keep one call or one turn of a process from holding its
-- worker, in one place (the README's "Limits and isolation" lists them with
-- the host fields `host.max_instructions`, `host.max_memory` and
-- `host.max_mailbox`). Lua cannot be preempted, and a C function of its
-- standard library runs to its end once called: each one that could work
-- without bound either refuses inputs past these limits up front or runs
-- where the guard can stop it (see bounded.lua and patterns.lua).
return function()
  return {
    -- CPU seconds one turn may run before the guard stops its process,
    -- however few instructions it took (a loop of costly operations).
    turn_seconds = 1,
    -- CPU seconds after which a slice of turns ends, at the end of a turn,
    -- so that no run of turns keeps the other hosts waiting.
    slice_seconds = 0.05,
    -- Bytes of a string a library function may build from its arguments
    -- (string.rep, string.pack).
    max_string = 64 * 1024 * 1024,
    -- Elements table.concat, insert, remove and move may go through in one call.
    max_range = 2000000,
    -- table.sort without a comparator sorts in C up to this many elements,
    -- with no string longer than sort_string_in_c bytes; beyond, it
    -- compares through Lua, where the guard counts and can stop it.
    sort_in_c = 100000,
    sort_string_in_c = 64,
    -- Steps a pattern call (string.find, match, gmatch, gsub) may take in
    -- C by the worst case its pattern and subject allow; past it the call
    -- runs in Lua, stepping through the same algorithm, and stops with a
    -- RateLimited error after `pattern_steps`.
    pattern_steps_in_c = 30000000,
    pattern_steps = 1000000,
    -- Bytes the runtime keeps in reserve so that, when a process exhausts
    -- host.max_memory, the runtime can still end it and tell its watchers.
    headroom = 1024 * 1024,
  }
end
