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
    ListOf,
    MappingOf,
    Ref,
    String,
)

__all__ = ["KINDS"]

#: Lua instructions a process may run in one turn before it is stopped (0 turns the guard off).
MAX_INSTRUCTIONS = Field("host.max_instructions", Integer(minimum=0), default=10_000_000)

KINDS = {
    "process.host": KindSpec((
        # default: $LUACTOR_WORKERS, else the CPUs the node may use (actors/workers.py)
        Field("host.workers", Integer(minimum=1)),
        # Wippy's scheduler queues: accepted and checked, not used by luactor's scheduler.
        Field("host.queue_size", Integer(minimum=1), default=1024),
        Field("host.local_queue_size", Integer(minimum=1), default=256),
        Field("host.max_processes", Integer(minimum=1)),
        # caps each worker's Lua state; 0 turns the cap off
        Field("host.max_memory", ByteSize(), default="256MB"),
        # messages waiting in one process's inbox and topic channels; 0 turns the bound off
        Field("host.max_mailbox", Integer(minimum=0), default=100_000),
        MAX_INSTRUCTIONS,
        AUTO_START,
        # at node shutdown, how long processes that listen to their events get to end after CANCEL
        Field("lifecycle.stop_timeout", Duration(), default="5s"),
    )),
    "workflow.host": KindSpec((
        Field("store", String()),
        Field("sync", Boolean(), default=True),
        Field("max_size", ByteSize()),      # the most the store may grow to (default 8GiB)
        # per workflow run, as Temporal's defaults (see hosts/history_limits.py); 0 turns one off
        Field("history.max_events", Integer(minimum=0), default=51_200),
        Field("history.max_bytes", ByteSize(), default="50MiB"),
        Field("history.warn_events", Integer(minimum=0), default=10_240),
        Field("history.warn_bytes", ByteSize(), default="10MiB"),
        AUTO_START,
    )),
    # What the values mean, and the checks beyond shape: hosts/temporal_config.py.
    "temporal.client": KindSpec((
        Field("address", String(), default="127.0.0.1:7233"),
        Field("namespace", String(), default="default"),
        Field("tq_prefix", Anything(), default=""),  # a string, which may be empty
        Field("connection_timeout", Duration(), default="10s"),
        Field("keep_alive_time", Duration(), default="30s"),
        Field("keep_alive_timeout", Duration(), default="10s"),
        Field("auth.type", String(choices=("none", "api_key", "mtls"))),  # implied by the fields below if absent
        *(Field(f"auth.{name}", String()) for name in (
            "api_key", "api_key_file", "api_key_env", "cert_file", "cert_pem", "key_file", "key_pem", "key_pem_env")),
        Field("api_key", String(), alias_of="auth.api_key"),  # luactor's older name
        Field("tls", Anything()),  # true, false, or a mapping
        Field("health_check.enabled", Boolean(), default=True),
        Field("health_check.interval", Duration(), default="30s"),
        # Wippy starts the client; here each worker connects when it starts, so this changes nothing
        AUTO_START,
    )),
    "temporal.worker": KindSpec((
        Field("client", Ref("temporal.client"), required=True),
        Field("task_queue", String(), required=True),
        Field("worker_options", MappingOf(Anything())),
        Field("activity_timeout", Duration(), default="1m"),
        MAX_INSTRUCTIONS,
        Field("lifecycle.restart.initial_delay", Duration(), default="1s"),
        Field("lifecycle.restart.max_delay", Duration(), default="30s"),
        # a worker needs only its client, which it reads as it starts: the order holds by itself
        Field("lifecycle.requires", ListOf(Ref("temporal.client")), ordering="startup"),
        Field("lifecycle.depends_on", ListOf(Ref("temporal.client")), ordering="startup",
              alias_of="lifecycle.requires", joins=True),  # Wippy's name
        AUTO_START,
    )),
}
