"""One ``process.service``: its process, its state and its restart bookkeeping.

A service runs its process on its host and watches it through a Python
endpoint that monitors every incarnation.  It does not decide alone what
follows a crash: it reports the exit to its supervisor, whose loop calls
``settle`` to get the restart decision and then applies its strategy.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from actors.errors import ActorError
from actors.mailbox import Endpoint

from .child import ACTIVE, Outcome
from .config import ServiceSpec
from .failure import Failure
from .policy import RestartTracker
from .state import Lifecycle, State

log = logging.getLogger("luactor")


@dataclass(eq=False)
class Run:
    """One life of the service's process, from spawn to exit."""

    pid: str | None = None
    stopping: bool = False  # the exit was asked for: nobody needs to hear about it
    result: dict = field(default_factory=dict)
    exited: trio.Event = field(default_factory=trio.Event)

    @property
    def error(self) -> dict | None:
        return self.result.get("error")


class _Watch(Endpoint):
    """The endpoint that monitors the service's processes and forwards their EXIT."""

    def __init__(self, router: Any, pid: str, on_exit: Callable[[str, dict], None]) -> None:
        super().__init__(router, pid)
        self._on_exit = on_exit

    def event(self, event: dict) -> None:
        if event.get("kind") == "EXIT":
            self._on_exit(event.get("from", ""), event.get("result") or {})


class Service:
    """A supervised process.  ``report(service, run)`` tells the supervisor of an unasked-for exit."""

    is_supervisor = False

    def __init__(self, spec: ServiceSpec, node: Any, *, clock: Callable[[], float] = trio.current_time,
                 random: Callable[[], float] = random.random) -> None:
        self.spec = spec
        self.id = spec.id
        self.node = node
        self.lifecycle = Lifecycle("service", spec.id)
        self.tracker = RestartTracker(spec.policy, clock, random)
        self.report: Callable[[Service, Run], None] = lambda service, run: None
        self.run: Run | None = None
        self._watch = node.router.new_endpoint(lambda router, pid: _Watch(router, pid, self._on_exit))

    @property
    def pid(self) -> str | None:
        return self.run.pid if self.run is not None else None

    async def start(self) -> None:
        """Spawn the process; a spawn that fails or outlasts ``start_timeout`` counts as a crash."""
        self.lifecycle.move(State.STARTING, attempt=self.tracker.attempts or None)
        run = self.run = Run()
        spec = self.spec
        try:
            with trio.fail_after(spec.start_timeout):
                run.pid = await self.node.spawn(spec.process, spec.host, *spec.args,
                                                 monitor_by=self._watch.pid)
        except ActorError as error:
            self._on_exit(None, {"error": error.to_plain()})
        except trio.TooSlowError:
            self._on_exit(None, {"error": {"kind": "Timeout",
                                           "message": f"not started within {spec.start_timeout:g}s"}})
        if not run.exited.is_set():
            self.tracker.record_start()
            self.lifecycle.move(State.RUNNING)

    async def stop(self) -> None:
        """CANCEL the process, wait ``stop_timeout`` for it to end, then terminate it."""
        run = self.run
        if run is None:
            if self.lifecycle.state is State.FAILED:  # waiting for a restart that will not come
                self.lifecycle.move(State.STOPPED)
            return
        if run.exited.is_set():  # it ended on its own; that report is now stale
            self.run = None
            self._end_without_restart(run, "ended before its stop")
            return
        run.stopping = True
        self.lifecycle.move(State.STOPPING)
        timeout = self.spec.stop_timeout
        await self.node.cancel(run.pid, "stopping")
        with trio.move_on_after(timeout):
            await run.exited.wait()
        if not run.exited.is_set():
            log.warning("service %s: still running %gs after CANCEL, terminating %s", self.id, timeout, run.pid)
            await self.node.terminate(run.pid)
            with trio.move_on_after(timeout):
                await run.exited.wait()
        self.run = None
        self.lifecycle.move(State.STOPPED)

    def reset(self) -> None:
        self.tracker.reset()

    def settle(self, token: Run, shutting_down: bool) -> Outcome | None:
        """The process ``token`` ended on its own: decide, and move to Failed, Exited or Stopped."""
        if token is not self.run:
            return None
        run, self.run = self.run, None
        error = _describe(run.error)
        if _terminated_from_outside(run.error):
            self.lifecycle.move(State.STOPPED, reason="terminated by an operator", error=error)
            return Outcome(False)
        if shutting_down:
            self._end_without_restart(run, "node shutting down")
            return Outcome(False)
        decision = self.tracker.record_exit(failed=error is not None)
        if not decision.restart:
            self.lifecycle.move(State.EXITED, attempt=decision.attempt, reason=str(decision.reason), error=error)
            return Outcome(False)
        self.lifecycle.move(State.FAILED, attempt=decision.attempt, delay=decision.delay, error=error)
        what = f"failed ({error})" if error else "exited"
        return Outcome(True, decision.delay, Failure(self.id, what))

    def is_active(self) -> bool:
        return self.lifecycle.state in ACTIVE

    def _end_without_restart(self, run: Run, reason: str) -> None:
        error = _describe(run.error)
        self.lifecycle.move(State.EXITED if error else State.STOPPED, reason=reason, error=error)

    def _on_exit(self, pid: str | None, result: dict) -> None:
        run = self.run
        if run is None or run.exited.is_set() or (run.pid is not None and pid != run.pid):
            return  # an older life's news
        run.result = result
        run.exited.set()
        if not run.stopping:
            self.report(self, run)


def _describe(error: dict | None) -> str | None:
    if error is None:
        return None
    return ActorError.from_plain(error).args[0]


def _terminated_from_outside(error: dict | None) -> bool:
    """``terminate`` by someone other than the supervisor: final, as the operator's is."""
    return (error is not None and error.get("kind") == "Canceled"
            and str(error.get("message", "")).startswith("terminated by "))
