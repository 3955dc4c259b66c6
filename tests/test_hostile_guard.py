"""The runaway guard cannot be dodged.

Once a process trips it, every coroutine of the process stops at its next
instruction of user code: the one that tripped, its resumers, coroutines
made afterwards, coroutine.spawn tasks; so the process dies with the
guard's error, whatever it catches or raises. And a turn is stopped after a
second of CPU however few instructions it runs: a loop of costly
instructions, or a C function calling functions in a loop.
"""

import pytest
from hostile import attack, build_hostile_app

INSTRUCTIONS = "process ran 10000000 Lua instructions without yielding and was stopped (host.max_instructions)"
CPU = "process ran for more than 1s of CPU without yielding and was stopped (host.max_instructions)"

# Trips the guard inside a coroutine and catches it, so that the main
# coroutine runs on with the process tripped.
TRIP = "pcall(coroutine.wrap(function() while true do end end))"


@pytest.mark.parametrize("dodge", [
    # fresh coroutines, each below the count's step
    "{trip} local n = 0 while true do pcall(coroutine.wrap(function() for i = 1, 99999 do n = n + 1 end end)) end",
    # a coroutine.spawn task that yields each turn
    "{trip} coroutine.spawn(function() while true do coroutine.yield() end end) return 'alive'",
    # a coroutine made before the trip
    "local co = coroutine.wrap(function() while true do coroutine.yield() end end) {trip} return co()",
    # a resume that returns the error instead of raising it
    "local co = coroutine.create(function() while true do end end) coroutine.resume(co) return 'alive'",
    # an error of its own instead of the guard's
    "{trip} error('something else')",
])
async def test_a_tripped_process_dies_with_the_guard_s_error(app, dodge):
    outcome = await attack(build_hostile_app(app), dodge.format(trip=TRIP))
    assert outcome.error.kind == "RateLimited"
    assert outcome.error.message == INSTRUCTIONS


async def test_a_task_spawned_before_the_trip_dies_with_the_process(app):
    outcome = await attack(build_hostile_app(app), """
        coroutine.spawn(function() while true do coroutine.yield() end end)
        pcall(function() while true do end end)
        return "survived"
    """)
    assert outcome.error.message == INSTRUCTIONS


@pytest.mark.parametrize("body", [
    # a concatenation of two big strings is one instruction
    'local s = ("x"):rep(2e7) while true do local t = s .. "y" end',
    'local s = ("x"):rep(2e7) coroutine.wrap(function() while true do local t = s .. "y" end end)()',
    # a C function calling a C function, a billion times
    "table.sort(setmetatable({}, {__len = function() return (1 << 31) - 2 end}), getmetatable)",
])
async def test_a_turn_of_costly_instructions_is_stopped_after_a_second_of_cpu(app, body):
    outcome = await attack(build_hostile_app(app), body)
    assert outcome.error.kind == "RateLimited"
    assert outcome.error.message in (CPU, INSTRUCTIONS)
    assert outcome.longest_stall < 3


async def test_a_run_of_coroutine_switches_yields_its_turns(app):
    # two coroutines handing over to each other 300,000 times, far more
    # instructions than one turn may run: each resume counts as a reduction,
    # so the process yields its turns and is never stopped
    outcome = await attack(build_hostile_app(app), """
        local a, b, n = nil, nil, 0
        a = coroutine.wrap(function() while n < 300000 do n = n + 1 b() end end)
        b = coroutine.wrap(function() while true do coroutine.yield() end end)
        a()
        return n
    """)
    assert outcome.value == 300000
    assert outcome.longest_stall < 1
