"""A node's place in a cluster: its NATS link, membership and remote routing.

The node opens its cluster before its hosts start (a taken node name or an
unreachable NATS stops it there), hands the router the remote routing, and
leaves the cluster after its hosts stopped.
"""

from __future__ import annotations

import os
import re
from typing import Any

import trio

from actors.errors import ActorError

from .groups import ProcessGroups
from .link import NatsLink
from .locks import Locks
from .membership import Membership, check_node_name
from .names import ClusterNames
from .routing import RemoteRouting

__all__ = ["Cluster", "check_node_name", "cluster_urls"]

def cluster_urls(cluster: str | list[str]) -> list[str]:
    """``nats://HOST:PORT[,...]`` (or a list) as a list of server URLs."""
    parts = cluster.split(",") if isinstance(cluster, str) else list(cluster)
    urls = [part.strip() for part in parts if isinstance(part, str) and part.strip()]
    if not urls:
        raise ActorError("Invalid", f"cluster must name at least one NATS server (nats://HOST:PORT), got {cluster!r}")
    for url in urls:
        if not re.fullmatch(r"(nats|tls)://\S+", url):
            raise ActorError("Invalid", f"cluster server must be a nats:// or tls:// URL, got {url!r}")
    return urls


class Cluster:
    """Open with :meth:`join` (raises Unavailable or AlreadyExists), then :meth:`start`."""

    def __init__(self, node: str, cluster: str | list[str], router: Any, *, group_scopes: set[str] = frozenset()):
        self.node = check_node_name(node)
        self.router = router
        self.link = NatsLink(cluster_urls(cluster), self.node, credentials=os.environ.get("LUACTOR_NATS_CREDS"))
        self.routing = RemoteRouting(self.link, router, self.node)
        self.membership = Membership(self.link, self.node, self._node_down)
        self.names = ClusterNames(self.node, self.link)
        self.names.peers = lambda: list(self.membership.peers)
        self.names.ask = self.routing.ask
        self.names.cancel = lambda sender, dest, reason: router.signal("cancel", sender, dest, reason)
        self.routing.handlers["name_ack"] = self._acknowledge_name
        router.names = self.names  # before any host is built: their kernels resolve through it
        router.groups = self.groups = ProcessGroups(self.node, self.link, router, set(group_scopes))
        self.locks = Locks(self.node, self.link, router)
        self._nursery: trio.Nursery | None = None

    async def join(self) -> None:
        """Connect to NATS and claim the node's name."""
        await self.link.connect()
        try:
            await self.membership.join()
        except BaseException:
            await self.link.close()
            raise

    async def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        await self.routing.start(nursery)
        await self.names.start(nursery)
        await self.groups.start()
        await self.locks.start(nursery, set(self.membership.members()))
        nursery.start_soon(self.membership.run)

    async def stop(self) -> None:
        self.routing.flush()
        await self.membership.leave()
        await self.link.close()

    async def request(self, op: str, args: dict) -> Any:
        """What a process asks of the cluster: ``process.registry`` with a cluster scope,
        ``system``'s views and locks (``pg`` is the node's: see :attr:`Router.groups`)."""
        if op == "register":
            await self.names.register_cluster(args["name"], args["pid"], args["scope"])
            return True
        if op == "unregister":
            return await self.names.unregister_cluster(args["name"], args["owner"])
        if op == "view":
            return {"node": self.node, "members": self.membership.members(), "addr": self.link.server_url}
        if op == "lock_acquire":
            return await self.locks.acquire(args["name"], args["pid"])
        if op == "lock_release":
            return await self.locks.release(args["name"], args["pid"])
        raise ActorError("Invalid", f"unknown cluster request {op!r}")

    async def _acknowledge_name(self, args: dict) -> bool:
        return self.names.acknowledge(args["name"], args["pid"])

    def _node_down(self, node: str, why: str) -> None:
        self.routing.node_down(node, why)
        self.names.node_down(node)
        self.groups.node_down(node)
        if self._nursery is not None:
            self._nursery.start_soon(self.locks.node_down, node)
