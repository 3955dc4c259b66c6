"""Supervision as a node component: builds the tree at boot, stops it in order at shutdown.

Registered under the ``luactor.components`` entry point group, so ``Node``
builds it as ``Supervision(node)`` once the hosts are up.  When the top of a
tree gives up, the component's task raises ``SupervisionError`` into the
node's nursery: ``Node.open`` then shuts down and exits with that error, and
``luactor run`` ends with it.
"""

from __future__ import annotations

from typing import Any

import trio

from actors.registry import Problem, Registry, RegistryError, entry_problem

from .config import ConfigError, ServiceSpec, SupervisorSpec
from .failure import Failure, SupervisionError
from .service import Service
from .state import State
from .supervisor import Context, Supervisor
from .tree import ROOT, SERVICE, build_tree

#: The implicit root's id in logs: entry ids always hold a colon, so it cannot clash.
ROOT_ID = "node"


def check_registry(registry: Registry) -> list[Problem]:
    """What supervision would refuse at boot, for ``luactor check`` too (a
    ``luactor.checks`` entry point): requires cycles across supervisors and
    settings the loader cannot judge (e.g. ``period: 0``)."""
    try:
        tree = build_tree(registry)
    except RegistryError as error:
        return error.problems
    problems = []
    for entry in tree.entries.values():
        try:
            (ServiceSpec if entry.kind == SERVICE else SupervisorSpec).from_entry(entry)
        except ConfigError as error:
            problems.append(entry_problem(registry, entry, error.field, str(error)))
    return problems


class Supervision:
    """Every ``process.service`` and ``supervisor`` of a node, under one implicit root."""

    def __init__(self, node: Any) -> None:
        self.node = node
        problems = check_registry(node.registry)
        if problems:
            raise RegistryError(problems)
        tree = build_tree(node.registry)
        self.context = Context(tree)
        self.services: dict[str, Service] = {}
        self.supervisors: dict[str, Supervisor] = {}
        for ident, entry in tree.entries.items():
            if entry.kind == SERVICE:
                self.services[ident] = Service(ServiceSpec.from_entry(entry), node, clock=self.context.clock)
            else:
                self.supervisors[ident] = Supervisor(ident, SupervisorSpec.from_entry(entry), self.context)
        self.root = Supervisor(ROOT_ID, None, self.context)
        self.root.report = self._root_gave_up
        members = {**self.services, **self.supervisors}
        for owner in [ROOT, *self.supervisors]:
            supervisor = self.root if owner is ROOT else self.supervisors[owner]
            children = [members[ident] for ident in tree.children.get(owner, [])]
            supervisor.adopt(children, [child for child in children
                                        if child.is_supervisor or child.id in tree.boot])
        self._failure: Failure | None = None
        self._gave_up = trio.Event()

    @property
    def active(self) -> bool:
        """Whether there is anything to supervise at all."""
        return bool(self.root.children)

    async def start(self, nursery: trio.Nursery) -> None:
        if not self.active:
            return
        await nursery.start(self._run)
        await self.root.start()

    async def stop(self) -> None:
        """Stop every child in reverse start order; a crash from here on is not restarted."""
        if not self.active or self._failure is not None or self.root.lifecycle.state is State.UNKNOWN:
            return
        if self.root.closed:  # cancelled from outside the node: hosts are going down at once
            return
        self.context.shutting_down = True
        await self.root.stop()

    async def _run(self, *, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.context.nursery = nursery
            for supervisor in [self.root, *self.supervisors.values()]:
                nursery.start_soon(supervisor.run)
            task_status.started()
            await self._gave_up.wait()
            nursery.cancel_scope.cancel()
        assert self._failure is not None
        raise SupervisionError(self._failure)

    def _root_gave_up(self, root: Supervisor, life: int) -> None:
        self._failure = root.failure or Failure(ROOT_ID, "gave up")
        self._gave_up.set()
