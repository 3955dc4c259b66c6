"""The kinds supervision runs: ``process.service`` and ``supervisor``.

Declared for the loader through the ``luactor.kinds`` entry point. Defaults that
supervision reads through ``entry.get`` are declared here; the restart policy's own
defaults live with it (``supervision.policy.RestartPolicy``).
"""

from __future__ import annotations

from actors.registry.schema import (
    AUTO_START,
    Anything,
    Duration,
    Field,
    Integer,
    KindSpec,
    ListOf,
    Number,
    Ref,
    String,
)

__all__ = ["KINDS", "LIFECYCLE_KINDS"]

#: Kinds with a lifecycle, which `lifecycle.requires` may name.
LIFECYCLE_KINDS = ("process.host", "process.service", "supervisor", "workflow.host", "temporal.worker")

_PARENT = Field("supervisor", Ref("supervisor"), ordering="startup")
_REQUIRES = Field("lifecycle.requires", ListOf(Ref(*LIFECYCLE_KINDS)), ordering="startup")
# Wippy's legacy name of `requires`; given both, the lists are joined.
_DEPENDS_ON = Field("lifecycle.depends_on", ListOf(Ref(*LIFECYCLE_KINDS)), ordering="startup",
                    alias_of="lifecycle.requires", joins=True)

KINDS = {
    "process.service": KindSpec((
        Field("process", Ref("process.lua", "workflow.lua"), required=True),
        Field("host", Ref("process.host", "workflow.host", "temporal.worker"), required=True),
        # The process's arguments; `args` is luactor's older name for Wippy's `input`.
        Field("input", ListOf(Anything())),
        Field("args", ListOf(Anything()), alias_of="input"),
        _PARENT,
        AUTO_START,
        _REQUIRES,
        _DEPENDS_ON,
        Field("lifecycle.start_timeout", Duration(), default="10s"),
        Field("lifecycle.stop_timeout", Duration(), default="10s"),
        Field("lifecycle.stable_threshold", Duration()),
        Field("lifecycle.restart.initial_delay", Duration()),
        Field("lifecycle.restart.max_delay", Duration()),
        Field("lifecycle.restart.backoff_factor", Number(minimum=1)),
        Field("lifecycle.restart.jitter", Number(minimum=0, maximum=1)),
        Field("lifecycle.restart.max_attempts", Integer(minimum=0)),
        Field("lifecycle.restart.mode", String(choices=("permanent", "transient", "temporary"))),
    )),
    "supervisor": KindSpec((
        Field("strategy", String(choices=("one_for_one", "one_for_all", "rest_for_one")), default="one_for_one"),
        Field("intensity", Integer(minimum=0), default=3),
        Field("period", Duration(), default="5s"),
        _PARENT,
        AUTO_START,
        _REQUIRES,
        _DEPENDS_ON,
    )),
}
