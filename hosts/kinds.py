"""The kinds of hosts: ``process.host``, ``workflow.host``, and Temporal's client and worker.

Declared for the loader through the ``luactor.kinds`` entry point. Only field shapes
live here, so checking an application never imports temporalio. Each default is
declared once, here; the hosts read it through ``entry.get``.
"""

from __future__ import annotations

from actors.registry.schema import (
    AUTO_START,
    Anything,
    Boolean,
    ByteSize,
    Duration,
    Field,
    Integer,
    KindSpec,
    MappingOf,
    Ref,
    String,
)

__all__ = ["KINDS"]

#: Lua instructions a process may run in one turn before it is stopped (0 turns the guard off).
MAX_INSTRUCTIONS = Field("host.max_instructions", Integer(minimum=0), default=10_000_000)

KINDS = {
    "process.host": KindSpec((
        Field("host.workers", Integer(minimum=1), default=1),
        # Wippy's scheduler queues: accepted and checked, not used by luactor's scheduler.
        Field("host.queue_size", Integer(minimum=1), default=1024),
        Field("host.local_queue_size", Integer(minimum=1), default=256),
        Field("host.max_processes", Integer(minimum=1)),
        Field("host.max_memory", ByteSize()),
        MAX_INSTRUCTIONS,
        AUTO_START,
        # at node shutdown, how long processes that listen to their events get to end after CANCEL
        Field("lifecycle.stop_timeout", Duration(), default="5s"),
    )),
    "workflow.host": KindSpec((
        Field("store", String()),
        Field("sync", Boolean(), default=True),
        Field("max_size", ByteSize()),      # the most the store may grow to (default 8GiB)
        AUTO_START,
    )),
    "temporal.client": KindSpec((
        Field("address", String(), default="127.0.0.1:7233"),
        Field("namespace", String(), default="default"),
        Field("api_key", String()),
        Field("tls", Anything()),
    )),
    "temporal.worker": KindSpec((
        Field("client", Ref("temporal.client"), required=True),
        Field("task_queue", String(), required=True),
        Field("worker_options", MappingOf(Anything())),
        Field("activity_timeout", Duration(), default="1m"),
        MAX_INSTRUCTIONS,
        Field("lifecycle.restart.initial_delay", Duration(), default="1s"),
        Field("lifecycle.restart.max_delay", Duration(), default="30s"),
        AUTO_START,
    )),
}
