"""Process identifiers: ``{node@host|id}``.

``host`` is the id of the host that runs the process (a registry entry id
such as ``app:processes``, or ``python`` for mailboxes owned by Python code),
so a PID alone tells the node where to route a message.
"""

from __future__ import annotations

__all__ = ["PYTHON_HOST", "host_of", "is_pid", "pid_prefix"]

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
