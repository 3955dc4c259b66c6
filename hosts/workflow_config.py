"""Where a ``workflow.host`` keeps its store, and what ``luactor check`` says about it.

The host and the check share :func:`store_path`, so the check looks at the
directory the node would open; and :func:`check_registry` refuses what the
open would refuse (a file in the way, a directory this user may not write, a
store of another format, two hosts on one store), without creating anything.
"""

from __future__ import annotations

from pathlib import Path

from actors.node import DATA_DIR
from actors.registry import Entry, Problem, Registry, entry_problem
from actors.sizes import parse_byte_size

from .history import GiB, HistoryError, MiB, check_store

__all__ = ["check_registry", "map_sizes", "store_path"]

#: Where a store's map starts, and the most it may grow to without ``max_size``.
INITIAL_MAP_SIZE = 64 * MiB
DEFAULT_MAX_SIZE = 8 * GiB


def store_path(entry: Entry, data_dir: Path) -> Path:
    """``store:`` relative to the entry's file, else a directory named after the entry
    in the node's data directory (itself relative to the working directory)."""
    store = entry.get("store", None)
    if store:
        path = Path(store)
        return path if path.is_absolute() else entry.file.parent / path
    return data_dir.absolute() / entry.id.replace(":", "_")


def map_sizes(entry: Entry) -> tuple[int, int]:
    """The map size a store opens with and the most it may grow to (``max_size``)."""
    limit = entry.get("max_size", None)
    most = DEFAULT_MAX_SIZE if limit is None else parse_byte_size(limit)
    return min(INITIAL_MAP_SIZE, most), most


def check_registry(registry: Registry) -> list[Problem]:
    """The stores a node of this app could not open (a ``luactor.checks`` entry point).

    A host without ``store:`` is checked in the default data directory
    (``--data`` is not known here).
    """
    problems, owners = [], {}
    for entry in registry.of_kind("workflow.host"):
        path = store_path(entry, registry.app_dir / DATA_DIR)
        try:
            check_store(path)
        except HistoryError as error:
            problems.append(entry_problem(registry, entry, "store", error.message))
        owner = owners.setdefault(path.resolve(), entry)
        if owner is not entry:
            problems.append(entry_problem(registry, entry, "store", f"{path} is also the store of {owner.id}; "
                                                                    "a store has one writer, give each host its own"))
    return problems
