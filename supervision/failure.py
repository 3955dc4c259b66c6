"""Why a part of the supervision tree failed, as a chain a person can follow.

When a supervisor gives up, the failure that made it give up is kept as the
``cause``; when the top of a tree gives up the node stops with a
``SupervisionError`` whose message reads from the top down to the service
that started it all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from actors.errors import NodeFailure


@dataclass(frozen=True)
class Failure:
    """``id`` failed because of ``what``, after (and because of) ``cause``."""

    id: str
    what: str
    cause: Failure | None = None

    def chain(self) -> Iterator[Failure]:
        """This failure, then its cause, then the cause's cause, ..."""
        failure: Failure | None = self
        while failure is not None:
            yield failure
            failure = failure.cause

    def __str__(self) -> str:
        return " <- ".join(f"{failure.id} {failure.what}" for failure in self.chain())


class SupervisionError(NodeFailure):
    """The top of a supervision tree gave up; the node stops with this error."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(f"supervision gave up: {failure}")
        self.failure = failure

    @property
    def chain(self) -> list[str]:
        """Ids along the chain of failures, top supervisor first."""
        return [failure.id for failure in self.failure.chain()]
