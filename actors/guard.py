"""The runaway guard's watchdog: arms the Lua hook only when a slice runs
long, because an armed hook costs ~40 % of message throughput.

Lua cannot be preempted, so a process that runs too long without yielding is
stopped by a hook (see ``actors/lua/sched.lua``). Lua 5.4 checks a trap on
every instruction of a coroutine that has one, so task coroutines run with
the hook registered but not armed. One daemon thread for the whole Python
process looks at every worker's running slice each :data:`PERIOD` seconds;
lupa releases the GIL while Lua runs, so it gets to look. For as long as a
slice runs, every period it arms the hook, through ``lua_sethook`` (which Lua
allows from outside the thread running it, as ``lua.c`` does from its SIGINT
handler), on the coroutine the scheduler keeps in its ``running`` slot, to
fire at that coroutine's next instruction or function call: a loop of
costly instructions, or a C function calling functions in a loop, is looked
at too. The hook then counts that task's instructions and time for the rest
of its turn, trips it past ``host.max_instructions`` or a second of CPU,
and puts its own arming back after the turn.

Finding the running coroutine means reading one Lua 5.4 table slot from
memory; :meth:`SliceGuard.attach` checks that layout on a probe first and
returns None when it does not hold, and the worker then arms the hook on every
task from the start, as before.
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Any

from lupa import lua54

__all__ = ["PERIOD", "SliceGuard"]

#: Seconds a slice runs before the watchdog arms the guard on its task.
PERIOD = 0.05

_LUA_MASKCALL = 1 << 0
_LUA_MASKCOUNT = 1 << 3
_TABLE_ARRAY = 16    # offsetof(Table, array) in Lua 5.4 (lobject.h)
_TVALUE_TAG = 8      # offsetof(TValue, tt_)
_THREAD_TAG = 0x48   # ctb(LUA_VTHREAD): a collectable thread

_lua = ctypes.CDLL(lua54.__file__)
_lua.lua_sethook.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
_lua.lua_sethook.restype = None
_lua.lua_gethook.argtypes = [ctypes.c_void_p]
_lua.lua_gethook.restype = ctypes.c_void_p


def _running_thread(array: int) -> int | None:
    """The coroutine in the scheduler's `running` slot (whose array part is
    at `array`), or None if the slot does not hold a thread."""
    if ctypes.c_ubyte.from_address(array + _TVALUE_TAG).value != _THREAD_TAG:
        return None
    return ctypes.c_void_p.from_address(array).value


class SliceGuard:
    """One worker's side of the watchdog: brackets each slice."""

    def __init__(self, array: int, hook: int):
        self._array, self._hook = array, hook
        self._lock = threading.Lock()  # held while arming, taken when the slice ends
        self._since: float | None = None  # when the running slice was last looked at

    @classmethod
    def attach(cls, kernel: Any) -> SliceGuard | None:
        """A guard for `kernel`, or None if its slot cannot be read here."""
        running, probe = kernel.guard_probe()
        try:
            array = ctypes.c_void_p.from_address(int(running, 16) + _TABLE_ARRAY).value
            probe_addr = int(probe, 16)
            if not array or _running_thread(array) != probe_addr:
                return None
            hook = _lua.lua_gethook(probe_addr)
            return cls(array, hook) if hook else None
        finally:
            kernel.guard_probe_done()

    def begin(self) -> None:
        self._since = time.monotonic()
        _WATCHDOG.watch(self)

    def end(self) -> None:
        """The slice is over: once no arming is under way (the coroutines in the
        ``running`` slot during the slice are kept alive until the next)."""
        with self._lock:
            self._since = None
        _WATCHDOG.unwatch(self)

    def look(self, now: float) -> None:
        """Called by the watchdog: if the slice has run a period, have the hook
        look at the running coroutine at its next instruction or call."""
        with self._lock:
            if self._since is None or now - self._since < PERIOD:
                return
            self._since = now
            thread = _running_thread(self._array)
            if thread:
                _lua.lua_sethook(thread, self._hook, _LUA_MASKCOUNT | _LUA_MASKCALL, 1)


class _Watchdog:
    """The one thread that looks at every worker's running slice."""

    def __init__(self) -> None:
        self._guards: set[SliceGuard] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def watch(self, guard: SliceGuard) -> None:
        self._guards.add(guard)
        if not self._wake.is_set():
            self._wake.set()
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="luactor-watchdog", daemon=True)
                    self._thread.start()

    def unwatch(self, guard: SliceGuard) -> None:
        self._guards.discard(guard)

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(PERIOD)
            now = time.monotonic()
            for guard in list(self._guards):
                guard.look(now)
            if not self._guards:
                self._wake.clear()
                if self._guards:  # a slice began in between
                    self._wake.set()


_WATCHDOG = _Watchdog()
