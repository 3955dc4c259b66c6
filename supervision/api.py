"""The operator's view of supervision: list services, start, stop and restart one.

Nothing else changes at runtime: the tree, the
policies and the order come from the registry.  Requests run inside the
owning supervisor's loop, so they never race a restart in progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from actors.errors import ActorError

from .component import Supervision
from .service import Service
from .state import State
from .supervisor import Supervisor
from .tree import ROOT, SERVICE, SUPERVISOR


@dataclass(frozen=True)
class ServiceStatus:
    """A service or supervisor as the operator sees it; ``attempts`` counts restarts since the last stable run."""

    id: str
    kind: str
    state: State
    attempts: int
    last_error: str | None
    pid: str | None
    supervisor: str | None
    starts: int = 0                     # the first start and every restart
    next_restart: float | None = None   # when a pending restart is due, on trio's clock


class Services:
    """What ``services(node)`` returns."""

    def __init__(self, component: Supervision) -> None:
        self._component = component

    def list(self) -> list[ServiceStatus]:
        """Every service and supervisor, depth first in start order (a supervisor before its children)."""
        return [self.status(ident) for ident in self._walk(ROOT)]

    def status(self, service_id: str) -> ServiceStatus:
        component = self._component
        member: Service | Supervisor | None = (component.services.get(service_id)
                                               or component.supervisors.get(service_id))
        if member is None:
            raise ActorError("NotFound", f"no process.service or supervisor {service_id!r}")
        service = member if isinstance(member, Service) else None
        owner_id = component.context.tree.parent[service_id]
        owner = component.root if owner_id is ROOT else component.supervisors[owner_id]
        return ServiceStatus(
            id=service_id, kind=SERVICE if service else SUPERVISOR,
            state=member.lifecycle.state,
            attempts=service.tracker.attempts if service else 0,
            last_error=member.lifecycle.last_error,
            pid=service.pid if service else None,
            supervisor=owner_id, starts=member.lifecycle.starts, next_restart=owner.next_restart(member),
        )

    async def start(self, service_id: str) -> None:
        """Start a stopped or exited service, with its attempt count reset."""
        await self._request(service_id, lambda owner: owner.start_child)

    async def stop(self, service_id: str) -> None:
        """Stop a service (CANCEL, then terminate after ``stop_timeout``); it stays stopped."""
        await self._request(service_id, lambda owner: owner.stop_child)

    async def restart(self, service_id: str) -> None:
        """Stop the service, then start it again with its attempt count reset."""
        await self._request(service_id, lambda owner: owner.restart_child)

    async def _request(self, service_id: str, action: Callable[[Supervisor], Callable[[Any], Any]]) -> None:
        component = self._component
        service = component.services.get(service_id)
        if service is None:
            raise ActorError("NotFound", f"no process.service {service_id!r}")
        if component.context.shutting_down:
            raise ActorError("Unavailable", "the node is shutting down")
        owner_id = component.context.tree.parent[service_id]
        owner = component.root if owner_id is ROOT else component.supervisors[owner_id]
        await owner.call(action(owner), service)

    def _walk(self, owner: str | None) -> Iterator[str]:
        for child in self._component.context.tree.children.get(owner, []):
            yield child
            yield from self._walk(child)


def services(node: Any) -> Services:
    """The supervision API of a running node (its ``Supervision`` component)."""
    for component in node.components:
        if isinstance(component, Supervision):
            return Services(component)
    raise ActorError("Unavailable", "supervision is not installed on this node "
                                    "(no luactor.components entry point for it)")
