"""The node-local name registry (``process.registry`` in Lua).

Names are shared by every host of a node and by Python mailboxes. A name
belongs to one PID; a PID may hold several names; all of them are released
when the process exits. The ``*_from_lua`` methods are the callbacks a
worker's kernel uses: they take and return Lua strings (bytes).
"""

from __future__ import annotations

__all__ = ["NameRegistry"]


class NameRegistry:
    def __init__(self) -> None:
        self._pids: dict[str, str] = {}
        self._names: dict[str, set[str]] = {}

    def register(self, name: str, pid: str) -> bool:
        """Bind ``name`` to ``pid``; False if the name is taken."""
        if name in self._pids:
            return self._pids[name] == pid
        self._pids[name] = pid
        self._names.setdefault(pid, set()).add(name)
        return True

    def lookup(self, name: str) -> str | None:
        return self._pids.get(name)

    def unregister(self, name: str) -> bool:
        pid = self._pids.pop(name, None)
        if pid is None:
            return False
        held = self._names.get(pid)
        if held is not None:
            held.discard(name)
            if not held:
                del self._names[pid]
        return True

    def release(self, pid: str) -> None:
        """Drop every name of an exited process."""
        for name in self._names.pop(pid, ()):
            self._pids.pop(name, None)

    def names_of(self, pid: str) -> set[str]:
        return set(self._names.get(pid, ()))

    # -- kernel callbacks (Lua strings are bytes) --------------------------

    def register_from_lua(self, name: bytes, pid: bytes) -> tuple:
        if self.register(name.decode(), pid.decode()):
            return (True, None)
        return (False, b"AlreadyExists")

    def lookup_from_lua(self, name: bytes) -> bytes | None:
        pid = self._pids.get(name.decode())
        return pid.encode() if pid is not None else None

    def unregister_from_lua(self, name: bytes) -> bool:
        return self.unregister(name.decode())

    def release_from_lua(self, pid: bytes) -> None:
        self.release(pid.decode())
