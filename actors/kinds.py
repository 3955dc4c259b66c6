"""The kinds of Lua code entries: processes, functions, workflows and libraries.

Declared for the loader through the ``luactor.kinds`` entry point. Every Lua entry may
import any other (its `require` then gives that entry's module, a fresh instance per
process), and may list the modules of `actors.lua_modules` its kind may use.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .lua_modules import WIPPY_ONLY, provided_module, provided_to
from .registry.schema import Field, KindSpec, ListOf, LuaSource, MappingOf, Ref, String, ValueType, show

__all__ = ["KINDS", "LUA_KINDS", "ModuleName"]

#: Every kind of Lua code entry, which imports may name.
LUA_KINDS = ("process.lua", "function.lua", "workflow.lua", "library.lua")


@dataclass(frozen=True)
class ModuleName(ValueType):
    """A module an entry of `kind` may list in `modules:` (see `actors.lua_modules`)."""

    kind: str

    def problems(self, value, context):
        if not isinstance(value, str) or not value:
            yield "", f"must be a module name, got {show(value)}"
            return
        available = provided_to(self.kind)
        module = provided_module(value)
        if module is not None and not module.available_to(self.kind):
            yield "", f"module {value!r} is only for {' and '.join(module.kinds)} entries"
        elif module is None and value in WIPPY_ONLY:
            yield "", f"module {value!r} is not provided by luactor (it provides {', '.join(available)})"
        elif module is None:
            close = difflib.get_close_matches(value, [*available, *WIPPY_ONLY], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            yield "", f"unknown module {value!r} ({hint}luactor provides {', '.join(available)})"


def _lua_code(kind: str, *, method: bool) -> KindSpec:
    fields = [Field("source", LuaSource(), required=True)]
    if method:
        fields.append(Field("method", String(), required=True))
    fields += [
        Field("modules", ListOf(ModuleName(kind))),
        Field("imports", MappingOf(Ref(*LUA_KINDS)), ordering="imports"),
    ]
    return KindSpec(tuple(fields))


KINDS = {
    "process.lua": _lua_code("process.lua", method=True),
    "function.lua": _lua_code("function.lua", method=True),
    "workflow.lua": _lua_code("workflow.lua", method=True),
    "library.lua": _lua_code("library.lua", method=False),
}
