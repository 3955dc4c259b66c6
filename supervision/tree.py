"""The shape of the supervision tree and the order its members start in.

Pure: reads registry entries, runs nothing.  A ``supervisor`` entry owns the
services and supervisors that name it in ``supervisor:``; entries that name
no supervisor belong to the node's implicit root.  Within one supervisor the
children start level by level: a child comes after the siblings it
``requires`` (directly, or because something inside it requires something
inside them), children of one level start together, and declaration order
breaks ties.  Shutdown walks the same levels backwards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from actors.registry import Entry, Problem, Registry, RegistryError, entry_problem

SERVICE = "process.service"
SUPERVISOR = "supervisor"
#: The implicit root of every node: the parent of entries that name no supervisor.
ROOT: str | None = None


@dataclass(frozen=True)
class _Edge:
    """``child`` starts after its sibling ``after``, because of ``entry``'s ``requires[index]``."""

    child: str
    after: str
    entry: Entry
    index: int


@dataclass
class Tree:
    """Who supervises whom, in which order, and what starts at boot."""

    entries: dict[str, Entry]
    parent: dict[str, str | None]
    #: Children of each supervisor (``ROOT`` included) in start order.
    children: dict[str | None, list[str]] = field(default_factory=dict)
    #: Start level of each entry among its siblings (0 starts first).
    level: dict[str, int] = field(default_factory=dict)
    #: Services started when the node boots.
    boot: set[str] = field(default_factory=set)

    def levels(self, ids: Iterable[str]) -> list[list[str]]:
        """``ids`` (siblings) grouped by start level, first level first."""
        groups: dict[int, list[str]] = defaultdict(list)
        for ident in ids:
            groups[self.level[ident]].append(ident)
        return [groups[level] for level in sorted(groups)]


def build_tree(registry: Registry) -> Tree:
    """The tree of ``registry``'s services and supervisors.

    Raises ``RegistryError`` when ``requires`` across supervisors would make
    two sibling supervisors each wait for the other; the loader has already
    rejected direct cycles.
    """
    members = [entry for entry in registry if entry.kind in (SERVICE, SUPERVISOR)]
    entries = {entry.id: entry for entry in members}
    parent = {entry.id: entry.get("supervisor", None) for entry in members}
    tree = Tree(entries, parent)
    declared = {entry.id: index for index, entry in enumerate(members)}
    siblings: dict[str | None, list[str]] = defaultdict(list)
    for entry in members:
        siblings[parent[entry.id]].append(entry.id)
    edges = list(_sibling_edges(entries, parent))
    problems: list[Problem] = []
    for owner, ids in siblings.items():
        own_edges = [edge for edge in edges if parent[edge.child] == owner]
        level, cycle = _levels(ids, own_edges)
        if cycle:
            problems.append(_cycle_problem(registry, cycle))
            continue
        tree.level.update(level)
        tree.children[owner] = sorted(ids, key=lambda ident: (level[ident], declared[ident]))
    if problems:
        raise RegistryError(problems)
    tree.boot = {ident for ident in entries
                 if entries[ident].kind == SERVICE and _boots(ident, entries, parent)}
    return tree


def _ancestors(ident: str, parent: dict[str, str | None]) -> list[str | None]:
    """``ident`` and the supervisors above it, up to and including ``ROOT``."""
    chain: list[str | None] = [ident]
    while chain[-1] is not ROOT:
        chain.append(parent[chain[-1]])
    return chain


def _sibling_edges(entries: dict[str, Entry], parent: dict[str, str | None]) -> Iterator[_Edge]:
    """Each ``requires`` lifted to the two siblings under the lowest common supervisor.

    Requiring a host (always up before services) or a supervisor above
    oneself (up before its children) orders nothing.
    """
    for entry in entries.values():
        for index, target in enumerate(entry.get("lifecycle.requires", None) or []):
            if target not in entries:
                continue
            mine, theirs = _ancestors(entry.id, parent), _ancestors(target, parent)
            if target in mine or entry.id in theirs:  # the loader rejects the second as a cycle
                continue
            common = next(node for node in mine if node in theirs)
            child, after = mine[mine.index(common) - 1], theirs[theirs.index(common) - 1]
            yield _Edge(child, after, entry, index)


def _levels(ids: list[str], edges: list[_Edge]) -> tuple[dict[str, int], list[_Edge]]:
    """Longest-path level of each id, or (partial levels, a cycle of edges)."""
    after: dict[str, list[_Edge]] = defaultdict(list)
    for edge in edges:
        after[edge.child].append(edge)
    level: dict[str, int] = {}
    remaining = list(ids)
    while remaining:
        ready = [ident for ident in remaining
                 if all(edge.after in level for edge in after[ident])]
        if not ready:
            return level, _find_cycle(remaining, after)
        for ident in ready:
            level[ident] = 1 + max((level[edge.after] for edge in after[ident]), default=-1)
        remaining = [ident for ident in remaining if ident not in level]
    return level, []


def _find_cycle(stuck: list[str], after: dict[str, list[_Edge]]) -> list[_Edge]:
    """Walk ``requires`` among ``stuck`` ids (each waits on another stuck one) until one repeats."""
    path: list[_Edge] = []
    seen: dict[str, int] = {}
    node = stuck[0]
    while node not in seen:
        seen[node] = len(path)
        edge = next(edge for edge in after[node] if edge.after in stuck)
        path.append(edge)
        node = edge.after
    return path[seen[node]:]


def _cycle_problem(registry: Registry, cycle: list[_Edge]) -> Problem:
    first = cycle[0]
    chain = " -> ".join([edge.child for edge in cycle] + [first.child])
    because = ", ".join(f"{edge.entry.id} requires {edge.entry.get('lifecycle.requires')[edge.index]}"
                        for edge in cycle)
    return entry_problem(registry, first.entry, f"lifecycle.requires[{first.index}]",
                         f"dependency cycle between supervisors: {chain} ({because})")


def _boots(ident: str, entries: dict[str, Entry], parent: dict[str, str | None]) -> bool:
    """A service boots when it, or any supervisor above it, has ``auto_start: true``."""
    return any(entries[node].get("lifecycle.auto_start", False)
               for node in _ancestors(ident, parent) if node is not ROOT)
