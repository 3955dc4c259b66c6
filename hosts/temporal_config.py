"""The settings of ``temporal.client`` and ``temporal.worker`` entries, turned
into what temporalio takes, and checked for ``luactor check``.

temporalio is imported only when an app has Temporal entries, so checking
or running other apps does not need it installed.
"""

from __future__ import annotations

import inspect
from datetime import timedelta
from pathlib import Path
from typing import Any

from actors.durations import SECOND, DurationError, parse_duration
from actors.registry import Entry, Problem, Registry, entry_problem

__all__ = ["SettingError", "check_registry", "tls_config", "worker_options"]

#: Worker arguments the host sets itself.
_OWN_ARGUMENTS = {"self", "client", "task_queue", "workflows", "activities"}


class SettingError(ValueError):
    """A bad setting of an entry; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def worker_options(entry: Entry) -> dict[str, Any]:
    """``worker_options`` for temporalio's Worker: the keys must be its
    arguments; durations ("10s") of ``*_timeout``/``*_interval`` become timedeltas."""
    from temporalio.worker import Worker

    options = dict(entry.get("worker_options", {}))
    accepted = set(inspect.signature(Worker.__init__).parameters) - _OWN_ARGUMENTS
    for key, value in options.items():
        field = f"worker_options.{key}"
        if key not in accepted:
            raise SettingError(field, f"{key!r} is not an option of temporalio's Worker")
        if key.endswith(("_timeout", "_interval")) and isinstance(value, (str, int)):
            try:
                options[key] = timedelta(seconds=parse_duration(value) / SECOND)
            except DurationError as error:
                raise SettingError(field, str(error)) from None
    return options


def tls_config(client: Entry) -> Any:
    """``tls: true``, or a mapping of PEM files (relative to the entry's file)
    ``server_root_ca_cert``, ``client_cert``, ``client_private_key`` and a ``domain``."""
    value = client.get("tls", None)
    if value is None or isinstance(value, bool):
        return value
    if not isinstance(value, dict):
        raise SettingError("tls", f"must be true, false or a mapping, got {value!r}")
    from temporalio.client import TLSConfig

    def read(key: str) -> bytes | None:
        path = value.get(key)
        if path is None:
            return None
        file = Path(path) if Path(path).is_absolute() else client.file.parent / path
        try:
            return file.read_bytes()
        except OSError as error:
            raise SettingError(f"tls.{key}", f"cannot read {file}: {error.strerror}") from None

    unknown = set(value) - {"server_root_ca_cert", "client_cert", "client_private_key", "domain"}
    if unknown:
        raise SettingError(f"tls.{sorted(unknown)[0]}", "unknown TLS setting")
    return TLSConfig(server_root_ca_cert=read("server_root_ca_cert"), client_cert=read("client_cert"),
                     client_private_key=read("client_private_key"), domain=value.get("domain"))


def check_registry(registry: Registry) -> list[Problem]:
    """The Temporal settings a node would refuse at start (a ``luactor.checks`` entry point)."""
    workers = registry.of_kind("temporal.worker")
    if not workers:
        return []
    try:
        import temporalio  # noqa: F401
    except ImportError:
        return [entry_problem(registry, workers[0], None,
                              "temporal.worker needs temporalio: pip install 'luactor[temporal]'")]
    problems = []
    for entry, settle in [*((w, worker_options) for w in workers),
                          *((c, tls_config) for c in registry.of_kind("temporal.client"))]:
        try:
            settle(entry)
        except SettingError as error:
            problems.append(entry_problem(registry, entry, error.field, str(error)))
    return problems
