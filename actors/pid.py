"""Process identifiers: ``{node@host|id}``.

``host`` is the id of the host that runs the process (a registry entry id
such as ``app:processes``, or ``python`` for mailboxes owned by Python code),
so a PID alone tells the node where to route a message.
"""

from __future__ import annotations

import re

from .errors import ActorError

__all__ = ["NODE_NAME", "PYTHON_HOST", "host_of", "is_pid", "node_of", "pid_prefix"]

#: What a node's name may be (in a cluster it is a NATS subject token and a key-value key).
NODE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: The pseudo host of Python-side mailboxes.
PYTHON_HOST = "python"


def pid_prefix(node: str, host: str) -> str:
    """Everything of a PID before its sequence number."""
    return f"{{{node}@{host}|"


def is_pid(value: object) -> bool:
    return isinstance(value, str) and value.startswith("{") and value.endswith("}") and "@" in value and "|" in value


def host_of(pid: str) -> str:
    """The host part of a PID; ``ValueError`` for anything that is not one."""
    if not is_pid(pid):
        raise ValueError(f"not a PID: {pid!r}")
    return pid[pid.index("@") + 1:pid.rindex("|")]


def node_of(pid: str) -> str:
    """The node part of a PID (``{node@host|id}``); Invalid for one no node can have."""
    node = pid[1:pid.index("@")]
    if not NODE_NAME.fullmatch(node):
        raise ActorError("Invalid", f"{pid} names no node that can exist (node names are letters, digits, '-' and '_')")
    return node
