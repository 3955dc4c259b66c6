"""Process groups (the ``pg`` module), as Erlang's pg: named groups of
processes in the scopes that ``pg.scope`` entries declare, across the cluster.

A node alone keeps its groups without NATS (no ``link``): it is a cluster
of one, and nothing here imports NATS. In a cluster, each node is the
authority on its own processes' memberships. A join or leave is applied
here and announced to every node on core NATS; a node that joins the
cluster asks the others for theirs (and they answer with their whole local
state), and a node that goes down takes its members with it. Membership is
eventually consistent: a broadcast goes to the members this node knows of
when it is sent.

A process may join a group several times and must leave as often. Its
memberships end with it (the groups watch it through a monitor). Monitors
of a group (or of every group of a scope) get ``member.joined`` /
``member.left`` events as messages on a topic of their own.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from typing import TYPE_CHECKING, Any

from actors.errors import ActorError
from actors.pid import node_of

from . import wire
from .exits import ExitWatcher, watch_exits

if TYPE_CHECKING:
    from .link import NatsLink

__all__ = ["ProcessGroups"]

log = logging.getLogger("luactor")

GROUPS_SUBJECT = "luactor.pg"


class ProcessGroups:
    def __init__(self, node: str, link: NatsLink | None, router: Any, scopes: set[str]):
        self.node = node
        self.link = link
        self.router = router
        self.scopes = scopes
        # scope -> group -> Counter of PIDs (every node's members; a count per join)
        self.members: dict[str, dict[str, Counter]] = {scope: {} for scope in scopes}
        # subscription topic -> (subscriber PID, scope, group or None for every group)
        self.subscriptions: dict[str, tuple[str, str, str | None]] = {}
        self._watcher: ExitWatcher | None = None

    async def start(self) -> None:
        self._watcher = watch_exits(self.router, self._ended)
        if self.link is not None:
            await self.link.subscribe(GROUPS_SUBJECT, self._heard)
            self._announce({"op": "sync_request"})

    # -- what processes ask ------------------------------------------------------------

    def request(self, op: str, args: dict) -> Any:
        """A ``pg_*`` request of the pg module (see actors/lua/pg.lua)."""
        if op == "pg_open":
            return self.check_scope(args["scope"]) is not None
        if op == "pg_join":
            return self.join(args["scope"], args["groups"], args["pid"])
        if op == "pg_leave":
            return self.leave(args["scope"], args["groups"], args["pid"])
        if op == "pg_members":
            return self.get_members(args["scope"], args["group"], args["local"])
        if op == "pg_groups":
            return self.which_groups(args["scope"], args["local"])
        if op == "pg_broadcast":
            return self.broadcast(args["scope"], args["group"], args["topic"], args.get("payload"), args["sender"],
                                  args["local"])
        if op == "pg_monitor":
            return self.monitor(args["scope"], args.get("group"), args["pid"])
        if op == "pg_unmonitor":
            return self.unmonitor(args["topic"], args["pid"])
        raise ActorError("Invalid", f"unknown process-group request {op!r}")

    def check_scope(self, scope: Any) -> str:
        if scope not in self.scopes:
            raise ActorError("Internal", f"pg: no pg.scope entry {scope!r}")
        return scope

    def join(self, scope: str, groups: list[str], pid: str) -> bool:
        self.check_scope(scope)
        self.router.signal("monitor", self._watcher.pid, pid, None)
        for group in groups:
            self._apply(scope, group, [pid], joined=True)
        self._announce({"op": "join", "scope": scope, "groups": groups, "pid": pid})
        return True

    def leave(self, scope: str, groups: list[str], pid: str) -> bool:
        self.check_scope(scope)
        left = [group for group in groups if self.members[scope].get(group, Counter())[pid] > 0]
        if not left:
            raise ActorError("Invalid", f"pg.leave: {pid} is a member of none of {', '.join(groups)}")
        for group in left:
            self._apply(scope, group, [pid], joined=False)
        self._announce({"op": "leave", "scope": scope, "groups": left, "pid": pid})
        return True

    def get_members(self, scope: str, group: str, local: bool) -> list[str]:
        pids = self.members[self.check_scope(scope)].get(group, Counter()).elements()
        return [pid for pid in pids if not local or self._is_local(pid)]

    def which_groups(self, scope: str, local: bool) -> list[str]:
        return sorted(group for group, pids in self.members[self.check_scope(scope)].items()
                      if any(not local or self._is_local(pid) for pid in pids))

    def broadcast(self, scope: str, group: str, topic: str, payload: Any, sender: str, local: bool) -> bool:
        for pid in sorted(set(self.get_members(scope, group, local))):
            self.router.route(sender, pid, topic, payload)
        return True

    def monitor(self, scope: str, group: str | None, pid: str) -> dict:
        """Subscribe ``pid`` to the joins and leaves of ``group`` (every group when None):
        the subscription's topic and the members now, with nothing between."""
        self.check_scope(scope)
        topic = f"pg.{secrets.token_hex(8)}"  # a topic no code of the process can guess
        self.subscriptions[topic] = (pid, scope, group)
        self.router.signal("monitor", self._watcher.pid, pid, None)
        if group is not None:
            return {"topic": topic, "members": self.get_members(scope, group, False)}
        return {"topic": topic, "members": {g: list(pids.elements()) for g, pids in self.members[scope].items() if pids}}

    def unmonitor(self, topic: str, pid: str) -> bool:
        subscription = self.subscriptions.get(topic)
        if subscription is None or subscription[0] != pid:
            return False
        del self.subscriptions[topic]
        return True

    # -- the state, and its events ---------------------------------------------------

    def _apply(self, scope: str, group: str, pids: list[str], *, joined: bool) -> None:
        if scope not in self.members:
            return
        counts = self.members[scope].setdefault(group, Counter())
        changed = []
        for pid in pids:
            if joined:
                counts[pid] += 1
                changed.append(pid)
            elif counts[pid] > 0:
                counts[pid] -= 1
                changed.append(pid)
        if not +counts:
            del self.members[scope][group]
        else:
            self.members[scope][group] = +counts
        if changed:
            self._tell(scope, group, "member.joined" if joined else "member.left", changed)

    def _tell(self, scope: str, group: str, kind: str, pids: list[str]) -> None:
        event = {"system": "pg", "kind": kind, "path": group, "data": {"Group": group, "PIDs": pids}}
        for topic, (subscriber, sub_scope, sub_group) in list(self.subscriptions.items()):
            if sub_scope == scope and sub_group in (None, group):
                self.router.route(self._watcher.pid, subscriber, topic, event)

    def _ended(self, pid: str) -> None:
        """A local member or subscriber ended: its memberships and subscriptions go with it."""
        for topic in [t for t, (subscriber, _, _) in self.subscriptions.items() if subscriber == pid]:
            del self.subscriptions[topic]
        for scope, groups in self.members.items():
            for group in [g for g, pids in groups.items() if pids[pid] > 0]:
                count = groups[group][pid]
                self._apply(scope, group, [pid] * count, joined=False)
                self._announce({"op": "leave", "scope": scope, "groups": [group] * count, "pid": pid})

    def _is_local(self, pid: str) -> bool:
        return pid.startswith("{" + self.node + "@")

    def _local_state(self) -> dict:
        return {scope: {group: [pid for pid in pids.elements() if self._is_local(pid)] for group, pids in groups.items()}
                for scope, groups in self.members.items()}

    # -- between nodes -----------------------------------------------------------------

    def _announce(self, message: dict) -> None:
        if self.link is not None and self.link.connected:
            self.link.publish(GROUPS_SUBJECT, wire.encode({**message, "node": self.node}))

    def _heard(self, data: bytes, _reply: str) -> None:
        try:
            message = wire.decode(data)
            origin = message["node"]
            if origin == self.node:
                return
            op = message["op"]
            if op == "join" or op == "leave":
                for group in message["groups"]:
                    self._apply(message["scope"], group, [message["pid"]], joined=op == "join")
            elif op == "sync_request":
                self._announce({"op": "sync", "state": self._local_state()})
            elif op == "sync":
                self._replace(origin, message["state"])
        except (KeyError, TypeError, ValueError, ActorError) as error:
            log.warning("cluster: an unreadable process-group message was dropped: %s", error)

    def _replace(self, node: str, state: dict) -> None:
        """``node``'s members are those of ``state``: only the differences are events."""
        for scope, groups in self.members.items():
            theirs = state.get(scope) or {}
            for group in set(groups) | set(theirs):
                have = Counter(pid for pid in groups.get(group, Counter()).elements() if _node(pid) == node)
                want = Counter(theirs.get(group) or [])
                if want - have:
                    self._apply(scope, group, list((want - have).elements()), joined=True)
                if have - want:
                    self._apply(scope, group, list((have - want).elements()), joined=False)

    def node_down(self, node: str) -> None:
        """``node``'s members are no more."""
        for scope, groups in self.members.items():
            for group in list(groups):
                gone = [pid for pid in groups[group].elements() if _node(pid) == node]
                if gone:
                    self._apply(scope, group, gone, joined=False)


def _node(pid: str) -> str | None:
    try:
        return node_of(pid)
    except (ActorError, ValueError):
        return None
