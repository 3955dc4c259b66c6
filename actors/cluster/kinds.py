"""The ``pg.scope`` kind: a namespace of process groups (see ``groups``).

Declared for the loader through the ``luactor.kinds`` entry point; importing
it imports nothing of NATS. Every field is Wippy's and is accepted and
checked; luactor's groups are kept as ``groups`` describes, so the tuning
fields of Wippy's own protocol (timeouts, circuit breakers, retries, queue
sizes) are not used.
"""

from __future__ import annotations

from actors.registry.schema import AUTO_START, Duration, Field, Integer, KindSpec

__all__ = ["KINDS"]

KINDS = {
    "pg.scope": KindSpec((
        Field("protocol_timeout", Duration(), default="5s"),
        Field("broadcast_timeout", Duration(), default="5s"),
        Field("anti_entropy_interval", Duration(), default="30s"),
        Field("circuit_breaker_failures", Integer(minimum=0), default=3),
        Field("circuit_breaker_reset_time", Duration(), default="10s"),
        Field("max_retries", Integer(minimum=0), default=3),
        Field("retry_base_delay", Duration(), default="100ms"),
        Field("retry_max_delay", Duration(), default="1s"),
        Field("action_queue_size", Integer(minimum=1), default=256),
        Field("action_queue_max_size", Integer(minimum=1), default=1024),
        Field("monitor_buffer", Integer(minimum=1), default=64),
        Field("max_groups", Integer(minimum=0), default=0),
        Field("max_members_per_group", Integer(minimum=0), default=0),
        AUTO_START,
    )),
}
