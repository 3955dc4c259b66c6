"""A supervisor: keeps its children running by its strategy, and gives up past its intensity.

As in OTP's ``supervisor``, all of one supervisor's work happens in its own
loop, one event at a time: a child's exit, a restart whose backoff delay has
passed, a request from its parent or from the operator.  So a restart is
never interleaved with a stop of the same children.  Backoff delays are
timers that post back into the loop, so a waiting restart blocks nothing.

The node's implicit root is a supervisor without an intensity: it restarts
services that name no supervisor for as long as their policies allow, and
when one of its supervisors gives up, it gives up too, which stops the node.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trio

from actors.errors import ActorError

from .child import ACTIVE, Child, Outcome
from .config import SupervisorSpec
from .failure import Failure
from .intensity import RestartIntensity
from .state import Lifecycle, State
from .strategy import Strategy, restart_set
from .tree import Tree


@dataclass
class Context:
    """What every supervisor of one node shares."""

    tree: Tree
    clock: Callable[[], float] = trio.current_time
    nursery: trio.Nursery | None = None  # where loops and backoff timers run
    shutting_down: bool = False           # from here on, nothing is restarted


@dataclass(eq=False)
class _Pending:
    """Children waiting together for one backoff delay to pass."""

    members: list[Child]
    due: float      # when the delay ends, on the context's clock
    timer: trio.CancelScope = field(default_factory=trio.CancelScope)


class Supervisor:
    """One ``supervisor`` entry, or the node's root when ``spec`` is None."""

    is_supervisor = True

    def __init__(self, ident: str, spec: SupervisorSpec | None, context: Context) -> None:
        self.id = ident
        self.spec = spec
        self.context = context
        self.strategy = spec.strategy if spec else Strategy.ONE_FOR_ONE
        self.lifecycle = Lifecycle("supervisor", ident)
        self.children: list[Child] = []        # in start order
        self.boot: list[Child] = []            # started when this supervisor starts afresh
        self.report: Callable[[Supervisor, int], None] = lambda supervisor, life: None
        self.failure: Failure | None = None
        self._intensity: RestartIntensity | None = None
        self._life = 0
        self._resume: list[Child] | None = None  # children to bring back on the next start
        self._pending: dict[Child, _Pending] = {}
        self._send, self._inbox = trio.open_memory_channel[Callable[[], Awaitable[None]]](math.inf)
        self._callers: set[trio.Event] = set()  # answered with UNAVAILABLE if the loop ends first
        self.closed = False

    def adopt(self, children: list[Child], boot: Iterable[Child]) -> None:
        """Own ``children`` (in start order); ``boot`` are those a fresh start brings up."""
        self.children = children
        self.boot = list(boot)
        for child in children:
            child.report = self._child_ended

    # -- the loop -------------------------------------------------------------

    async def run(self) -> None:
        """Handle events one at a time until cancelled."""
        try:
            async for event in self._inbox:
                await event()
        finally:
            self.closed = True
            for caller in self._callers:
                caller.set()

    async def call(self, work: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run ``work(*args)`` inside the loop, after what is already queued, and return its result."""
        if self.closed:
            raise ActorError("Unavailable", f"supervisor {self.id} is not running")
        done = trio.Event()
        box: dict[str, Any] = {}

        async def job() -> None:
            try:
                box["value"] = await work(*args)
            except Exception as error:  # noqa: BLE001 (handed to the caller)
                box["error"] = error
            finally:
                done.set()

        self._send.send_nowait(job)
        self._callers.add(done)
        try:
            await done.wait()
        finally:
            self._callers.discard(done)
        if "error" in box:
            raise box["error"]
        if "value" not in box:
            raise ActorError("Unavailable", f"supervisor {self.id} stopped before answering")
        return box["value"]

    def _post(self, work: Callable[..., Awaitable[None]], *args: Any) -> None:
        if not self.closed:
            self._send.send_nowait(lambda: work(*args))

    # -- as a child of another supervisor ---------------------------------------

    async def start(self) -> None:
        await self.call(self._start)

    async def stop(self) -> None:
        await self.call(self._stop)

    def reset(self) -> None:
        """Nothing to forget here: every start of a supervisor is a fresh one."""

    def is_active(self) -> bool:
        return self.lifecycle.state in ACTIVE

    def settle(self, token: int, shutting_down: bool) -> Outcome | None:
        """This supervisor gave up in life ``token``: its parent restarts it at once, unless shutting down."""
        if token != self._life or self.lifecycle.state is not State.FAILED:
            return None
        if shutting_down:
            self.lifecycle.move(State.EXITED, reason="node shutting down")
            return Outcome(False)
        return Outcome(True, 0.0, self.failure)

    async def _start(self) -> None:
        """Start afresh: a new restart window, children's attempts forgotten."""
        self._life += 1
        self.failure = None
        if self.spec is not None:
            self._intensity = RestartIntensity(self.spec.intensity, self.spec.period, clock=self.context.clock)
        self.lifecycle.move(State.STARTING)
        wanted, self._resume = (self._resume if self._resume is not None else self.boot), None
        for child in wanted:
            child.reset()
        await self._start_children(wanted)
        self.lifecycle.move(State.RUNNING)

    async def _stop(self) -> None:
        if self.lifecycle.state is State.FAILED:  # gave up: children are down already
            self.lifecycle.move(State.STOPPED)
            return
        if self.lifecycle.state not in (State.STARTING, State.RUNNING):
            return
        self.lifecycle.move(State.STOPPING)
        self._resume = self._active()
        await self._stop_children(self.children)
        self.lifecycle.move(State.STOPPED)

    # -- the operator's requests (run in the loop via ``call``) ---------------------

    async def start_child(self, child: Child) -> None:
        if child.lifecycle.state in (State.STARTING, State.RUNNING):
            return
        self._cancel_pending(child)
        child.reset()
        await child.start()

    async def stop_child(self, child: Child) -> None:
        await self._stop_children([child])

    async def restart_child(self, child: Child) -> None:
        await self._stop_children([child])
        child.reset()
        await child.start()

    # -- children ending on their own -------------------------------------------

    def _child_ended(self, child: Child, token: Any) -> None:
        """Called outside the loop (from an EXIT event, or a child supervisor giving up)."""
        self._post(self._handle_end, child, token)

    async def _handle_end(self, child: Child, token: Any) -> None:
        outcome = child.settle(token, self.context.shutting_down)
        if outcome is None or not outcome.restart:
            return
        if not self._restart_allowed(child):
            await self._give_up(outcome.failure)
            return
        group = [other for other in restart_set(self.strategy, self.children, child)
                 if other is child or other.is_active()]
        await self._stop_children([other for other in group if other is not child])
        self._schedule(group, outcome.delay)

    def _restart_allowed(self, child: Child) -> bool:
        if self.spec is None:  # the node's root
            return not child.is_supervisor
        assert self._intensity is not None
        return self._intensity.record_restart()

    async def _give_up(self, cause: Failure | None) -> None:
        if self.spec is None:
            self.failure = cause
        else:
            restarts = "restart" if self.spec.intensity == 1 else "restarts"
            what = f"gave up (more than {self.spec.intensity} {restarts} in {self.spec.period:g}s)"
            self.failure = Failure(self.id, what, cause)
        self._resume = self._active()
        await self._stop_children(self.children)
        self.lifecycle.move(State.FAILED, error=str(self.failure))
        self.report(self, self._life)

    # -- restarts after a delay -------------------------------------------------

    def _schedule(self, members: list[Child], delay: float) -> None:
        pending = _Pending(list(members), self.context.clock() + delay)
        for child in members:
            self._pending[child] = pending
        assert self.context.nursery is not None
        self.context.nursery.start_soon(self._timer, pending, delay)

    async def _timer(self, pending: _Pending, delay: float) -> None:
        with pending.timer:
            await trio.sleep(delay)
            self._post(self._restart_due, pending)

    async def _restart_due(self, pending: _Pending) -> None:
        if self.context.shutting_down or not pending.members:
            return
        for child in pending.members:
            del self._pending[child]
        await self._start_children(pending.members)

    def next_restart(self, child: Child) -> float | None:
        """When ``child``'s pending restart is due (the context's clock), if one is."""
        pending = self._pending.get(child)
        return pending.due if pending is not None else None

    def _cancel_pending(self, child: Child) -> None:
        pending = self._pending.pop(child, None)
        if pending is not None:
            pending.members.remove(child)
            if not pending.members:
                pending.timer.cancel()

    # -- ordered starts and stops ---------------------------------------------------

    def _active(self) -> list[Child]:
        return [child for child in self.children if child.is_active()]

    def _levels(self, children: Iterable[Child]) -> list[list[Child]]:
        by_id = {child.id: child for child in children}
        return [[by_id[ident] for ident in level] for level in self.context.tree.levels(by_id)]

    async def _start_children(self, children: Iterable[Child]) -> None:
        """Level by level; the children of one level start together."""
        for level in self._levels(children):
            async with trio.open_nursery() as nursery:
                for child in level:
                    nursery.start_soon(child.start)

    async def _stop_children(self, children: Iterable[Child]) -> None:
        """Last level first; the children of one level stop together."""
        children = list(children)
        for child in children:
            self._cancel_pending(child)
        for level in reversed(self._levels(children)):
            async with trio.open_nursery() as nursery:
                for child in level:
                    nursery.start_soon(child.stop)
