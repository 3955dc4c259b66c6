"""The node-local name registry (``process.registry`` in Lua).

Names are shared by every host of a node and by Python mailboxes. A name
belongs to one PID; a PID may hold several names; all of them are released
when the process exits. The ``*_from_lua`` methods are the callbacks a
worker's kernel uses: they take and return Lua strings (bytes); a name that
is not UTF-8 text is never registered.

Workers of a host may run in threads of their own and call in at the same
time: every change holds the registry's lock (a lookup is one dict read).
"""

from __future__ import annotations

import threading

__all__ = ["NameRegistry"]


class NameRegistry:
    def __init__(self) -> None:
        self._pids: dict[str, str] = {}
        self._names: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def register(self, name: str, pid: str) -> bool:
        """Bind ``name`` to ``pid``; False if the name is taken."""
        with self._lock:
            return self._register(name, pid)

    def _register(self, name: str, pid: str) -> bool:
        if name in self._pids:
            return self._pids[name] == pid
        self._pids[name] = pid
        self._names.setdefault(pid, set()).add(name)
        return True

    def lookup(self, name: str) -> str | None:
        return self._pids.get(name)

    def unregister(self, name: str, owner: str | None = None) -> bool:
        """Release ``name`` (only if ``owner`` holds it, when given); False if it was not."""
        with self._lock:
            return self._unregister(name, owner)

    def _unregister(self, name: str, owner: str | None) -> bool:
        pid = self._pids.get(name)
        if pid is None or (owner is not None and pid != owner):
            return False
        del self._pids[name]
        held = self._names.get(pid)
        if held is not None:
            held.discard(name)
            if not held:
                del self._names[pid]
        return True

    def release(self, pid: str) -> None:
        """Drop every name of an exited process."""
        with self._lock:
            for name in self._names.pop(pid, ()):
                self._pids.pop(name, None)

    def names_of(self, pid: str) -> set[str]:
        with self._lock:
            return set(self._names.get(pid, ()))

    # -- kernel callbacks (Lua strings are bytes) --------------------------

    def register_from_lua(self, name: bytes, pid: bytes) -> tuple:
        text = _text(name)
        if text is None:
            return (False, b"Invalid")
        if self.register(text, pid.decode()):
            return (True, None)
        return (False, b"AlreadyExists")

    def lookup_from_lua(self, name: bytes) -> bytes | None:
        pid = self._pids.get(_text(name))
        return pid.encode() if pid is not None else None

    def unregister_from_lua(self, name: bytes, owner: bytes) -> bool:
        """Release ``name`` if the process ``owner`` holds it: no process takes another's name away."""
        text = _text(name)
        return text is not None and self.unregister(text, owner.decode())

    def release_from_lua(self, pid: bytes) -> None:
        self.release(pid.decode())


def _text(name: bytes) -> str | None:
    try:
        return name.decode()
    except UnicodeDecodeError:
        return None
