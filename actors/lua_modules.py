"""The Lua modules an entry may name in `modules:`, in one place.

A Lua entry's `require` finds its imports first, then the modules it lists. The modules
luactor provides are below; the always-present ones are globals too, so `require` finds
them whether or not they are listed. Wippy has more modules than luactor provides: naming
one of those is refused with a message saying so, unlike a name that is no module at all.
To add a module, implement it in the kernel (`actors/lua/kernel.lua`, its `builtins`) and
move its name from `WIPPY_ONLY` to `PROVIDED`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROVIDED", "WIPPY_ONLY", "LuaModule", "provided_module", "provided_to"]


@dataclass(frozen=True)
class LuaModule:
    """A module luactor provides.

    `always_present` modules are globals, usable without `require` or a listing.
    `kinds` limits which entry kinds may list the module (every Lua kind when empty).
    """

    name: str
    always_present: bool = False
    kinds: tuple[str, ...] = ()

    def available_to(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


PROVIDED = (
    LuaModule("funcs"),
    LuaModule("time"),
    LuaModule("uuid"),
    LuaModule("json"),
    LuaModule("ctx"),
    LuaModule("logger"),
    # Not in workflows: their code runs again on replay, and would count again.
    LuaModule("metrics", kinds=("process.lua", "function.lua", "library.lua")),
    # Not in workflows: a group's members are not recorded, so a replay would see others.
    LuaModule("pg", kinds=("process.lua", "function.lua", "library.lua")),
    # The cluster's views and locks only (the rest of Wippy's system module is not provided).
    LuaModule("system", kinds=("process.lua", "function.lua", "library.lua")),
    # Workflows only: it records and replays (version, exec), which means nothing elsewhere.
    LuaModule("workflow", kinds=("workflow.lua",)),
    LuaModule("process", always_present=True),
    LuaModule("channel", always_present=True),
    LuaModule("errors", always_present=True),
    LuaModule("payload", always_present=True),
)

#: Modules of Wippy that luactor does not provide (yet).
WIPPY_ONLY = frozenset({
    "base64", "cloudstorage", "contract", "env", "events", "fs", "http", "http_client",
    "queue", "registry", "security", "sql", "store", "templates",
})

_BY_NAME = {module.name: module for module in PROVIDED}


def provided_module(name: str) -> LuaModule | None:
    """The module luactor provides under `name`, if any."""
    return _BY_NAME.get(name)


def provided_to(kind: str) -> list[str]:
    """The names of the modules an entry of `kind` may list, in declaration order."""
    return [module.name for module in PROVIDED if module.available_to(kind)]
