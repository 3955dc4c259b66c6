"""The settings of ``temporal.client`` and ``temporal.worker`` entries, turned
into temporalio's arguments, and checked for ``luactor check``.

Names are Wippy's; luactor's older ones (``api_key`` at the top, ``tls`` as
a mapping of PEM files, temporalio's own Worker arguments) still work. Auth,
TLS and identifier values may hold ``${env:NAME}`` placeholders, read from
the process environment when the settings are built: by ``luactor check``
and when a worker host starts.

temporalio is imported only when an app has Temporal entries, so checking
or running other apps does not need it installed.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from actors.durations import SECOND, DurationError, parse_duration
from actors.registry import Entry, Problem, Registry, entry_problem
from actors.registry.schema import show

from .temporal_routing import meta_problems

__all__ = [
    "ClientSettings", "SettingError", "WorkerSettings", "check_registry", "client_settings", "queue_conflicts",
    "worker_settings",
]


class SettingError(ValueError):
    """A bad setting of an entry; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


#: (field, message): a setting accepted with a word of warning (deprecated, or ignored).
Note = tuple[str, str]

_PLACEHOLDER = re.compile(r"\$\{env:([^}]*)\}")


def with_env(value: str, field: str) -> str:
    """``value`` with each ``${env:NAME}`` replaced by that environment variable."""
    def variable(match: re.Match[str]) -> str:
        return from_env(match.group(1), field)
    return _PLACEHOLDER.sub(variable, value)


def from_env(name: str, field: str) -> str:
    if name not in os.environ:
        raise SettingError(field, f"environment variable {name!r} is not set")
    return os.environ[name]


def _seconds(entry: Entry, field: str) -> float:
    """A duration field (checked by the loader) in seconds."""
    return parse_duration(entry.get(field)) / SECOND


def _read(entry: Entry, field: str, path: str) -> bytes:
    """A file a setting names, relative to the entry's definition file."""
    file = entry.file.parent / with_env(path, field)
    try:
        return file.read_bytes()
    except OSError as error:
        raise SettingError(field, f"cannot read {file}: {error.strerror}") from None


# --------------------------------------------------------------------------- temporal.client

_ADDRESS = re.compile(r"(\[[^\]\s]+\]|[^:\s\[\]]+):([0-9]{1,5})")


@dataclass(frozen=True)
class ClientSettings:
    """How a worker host connects through one ``temporal.client`` entry."""

    address: str
    namespace: str
    tq_prefix: str
    #: Client.connect's keyword arguments, the address aside
    connect: dict[str, Any]
    #: seconds connecting may take in all (the first call included); None: no limit
    connection_timeout: float | None
    #: seconds between two health checks of a running connection; None: no checks
    health_interval: float | None
    notes: tuple[Note, ...]

    def task_queue(self, name: str) -> str:
        """The task queue ``name`` is on the server: ``tq_prefix`` prefixes every one the node uses."""
        return self.tq_prefix + name


def client_settings(entry: Entry) -> ClientSettings:
    from temporalio.service import KeepAliveConfig

    address = entry.get("address")
    match = _ADDRESS.fullmatch(address)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise SettingError("address", f"must be HOST:PORT, got {address!r}")
    prefix = entry.get("tq_prefix")
    if not isinstance(prefix, str):
        raise SettingError("tq_prefix", f"must be a string, got {show(prefix)}")
    notes: list[Note] = []
    credentials = _credentials(entry, notes)
    keep_alive = _seconds(entry, "keep_alive_time"), _seconds(entry, "keep_alive_timeout")
    timeout = _seconds(entry, "connection_timeout") or None
    interval = _seconds(entry, "health_check.interval") if entry.get("health_check.enabled") else None
    if interval == 0:
        raise SettingError("health_check.interval", "must be more than 0 (or set health_check.enabled: false)")
    connect = {
        "namespace": entry.get("namespace"),
        "api_key": credentials.api_key,
        "tls": _tls(entry, credentials),
        # either at 0 turns keep-alive pings off
        "keep_alive_config": (KeepAliveConfig(interval_millis=round(keep_alive[0] * 1000),
                                              timeout_millis=round(keep_alive[1] * 1000)) if all(keep_alive) else None),
        "connect_timeout": timedelta(seconds=timeout) if timeout else None,
    }
    return ClientSettings(address, entry.get("namespace"), prefix, connect, timeout, interval, tuple(notes))


@dataclass(frozen=True)
class _Credentials:
    api_key: str | None = None
    cert: bytes | None = None  # the client's certificate and key, PEM, for mTLS
    key: bytes | None = None


_API_KEY_SOURCES = ("api_key", "api_key_file", "api_key_env")
_CERT_SOURCES = ("cert_file", "cert_pem")
_KEY_SOURCES = ("key_file", "key_pem", "key_pem_env")
#: tls's older names for the client certificate and key
_OLD_TLS_CREDENTIALS = {"client_cert": "cert_file", "client_private_key": "key_file"}


def _credentials(entry: Entry, notes: list[Note]) -> _Credentials:
    """The API key or client certificate ``auth`` gives (``auth.type`` is
    implied by the fields given when absent)."""
    sources = {name: (f"auth.{name}", value) for name, value in (entry.get("auth", None) or {}).items()
               if name != "type" and value is not None}
    tls = entry.get("tls", None)
    for old, name in _OLD_TLS_CREDENTIALS.items():
        if isinstance(tls, dict) and tls.get(old) is not None:
            if name in sources:
                raise SettingError(f"tls.{old}", f"another name for auth.{name}: give one of them, not both")
            sources[name] = (f"tls.{old}", tls[old])
    declared = entry.get("auth.type")
    implied = ("api_key" if any(name in sources for name in _API_KEY_SOURCES)
               else "mtls" if sources else "none")
    kind = declared or implied
    wanted = {"none": (), "api_key": _API_KEY_SOURCES, "mtls": _CERT_SOURCES + _KEY_SOURCES}[kind]
    for name, (field, _) in sources.items():
        if name not in wanted:
            why = f"not used with auth.type {kind}"
            if not declared:
                why += f" (implied by {next(sources[source][0] for source in wanted if source in sources)})"
            raise SettingError(field, why)

    def pick(names: tuple[str, ...], what: str) -> tuple[str, str, str]:
        """The one source of ``what`` given: (its name, field, value)."""
        given = [name for name in names if name in sources]
        listed = ", ".join(f"auth.{name}" for name in names)
        if not given:
            raise SettingError("auth.type" if declared else "auth", f"{kind} needs {what}: give one of {listed}")
        if len(given) > 1:
            raise SettingError(sources[given[1]][0], f"give only one of {listed}")
        name = given[0]
        field, value = sources[name]
        if not isinstance(value, str) or not value:
            raise SettingError(field, f"must be a non-empty string, got {show(value)}")
        if name.endswith("_env"):
            notes.append((field, f"deprecated: write {field.removesuffix('_env')}: ${{env:{value}}}"))
            return name, field, from_env(value, field)
        return name, field, value if name.endswith("_file") else with_env(value, field)

    if kind == "api_key":
        name, field, value = pick(_API_KEY_SOURCES, "an API key")
        key = _read(entry, field, value).decode(errors="replace").strip() if name == "api_key_file" else value
        if not key:
            raise SettingError(field, "the API key is empty")
        return _Credentials(api_key=key)
    if kind == "mtls":
        pems = [(field, _read(entry, field, value) if name.endswith("_file") else value.encode())
                for name, field, value in (pick(_CERT_SOURCES, "a client certificate"), pick(_KEY_SOURCES, "a key"))]
        _check_key_pair(pems)
        return _Credentials(cert=pems[0][1], key=pems[1][1])
    return _Credentials()


def _check_key_pair(pems: list[tuple[str, bytes]]) -> None:
    """Refuse a certificate and key that are not PEM or not a pair, as the
    TLS handshake would, only later and less clearly."""
    for field, pem in pems:
        if b"-----BEGIN" not in pem:
            raise SettingError(field, "is not PEM (no -----BEGIN line)")
    (cert_field, cert), (key_field, key) = pems
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(cert)
        key_file.write_bytes(key)
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_file, key_file)
        except ssl.SSLError as error:
            raise SettingError(cert_field, f"the certificate and the key of {key_field} are not a pair "
                                           f"({error.reason or error})") from None


_TLS_FIELDS = ("enabled", "ca_file", "server_name", "insecure_skip_verify")
#: tls's older names: temporalio's own
_OLD_TLS_NAMES = {"server_root_ca_cert": "ca_file", "domain": "server_name"}


def _tls(entry: Entry, credentials: _Credentials) -> Any:
    """temporalio's ``tls``: None (its default: TLS with an API key, none
    otherwise), False, True or a TLSConfig."""
    value = entry.get("tls", None)
    if value is None or isinstance(value, bool):
        enabled, tls = value, {}
    elif isinstance(value, dict):
        tls = {}
        for key, setting in value.items():
            name = _OLD_TLS_NAMES.get(key, key)
            if name in tls:
                raise SettingError(f"tls.{key}", f"another name for tls.{name}: give one of them, not both")
            if name not in _TLS_FIELDS and key not in _OLD_TLS_CREDENTIALS:
                raise SettingError(f"tls.{key}", f"not a TLS setting (known: {', '.join(_TLS_FIELDS)})")
            tls[name] = setting
        enabled = tls.get("enabled", True)  # a mapping means TLS unless it says otherwise
        for flag in ("enabled", "insecure_skip_verify"):
            if not isinstance(tls.get(flag, False), bool):
                raise SettingError(f"tls.{flag}", f"must be true or false, got {show(tls[flag])}")
    else:
        raise SettingError("tls", f"must be true, false or a mapping of {', '.join(_TLS_FIELDS)}, got {show(value)}")
    if tls.get("insecure_skip_verify"):
        raise SettingError("tls.insecure_skip_verify", "temporalio cannot skip verifying the server's certificate: "
                                                       "give that certificate, or its CA's, in tls.ca_file")
    if enabled is False:
        if credentials.cert is not None:
            raise SettingError("tls.enabled", "is false, but auth.type mtls needs TLS")
        return False
    if enabled is None and credentials.cert is None:
        return None
    ca = None
    if tls.get("ca_file") is not None:
        field = "tls.ca_file" if "ca_file" in value else "tls.server_root_ca_cert"
        ca = _read(entry, field, tls["ca_file"])
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=ca.decode(errors="replace"))
        except (ssl.SSLError, ValueError) as error:
            reason = getattr(error, "reason", None)
            raise SettingError(field, "holds no usable PEM certificate" + (f" ({reason})" if reason else "")) from None
    server_name = tls.get("server_name")
    if server_name is not None:
        if not isinstance(server_name, str) or not server_name:
            raise SettingError("tls.server_name", f"must be a non-empty string, got {show(server_name)}")
        server_name = with_env(server_name, "tls.server_name")
    if ca is None and server_name is None and credentials.cert is None:
        return True
    from temporalio.service import TLSConfig

    # server_name is Go's tls.Config.ServerName: the name sent (SNI) and verified
    return TLSConfig(server_root_ca_cert=ca, domain=server_name,
                     client_cert=credentials.cert, client_private_key=credentials.key)


# --------------------------------------------------------------------------- temporal.worker

_LEAVE = object()  # a value that asks for the default


def _size(value: Any, field: str) -> Any:
    """A count of slots or pollers; 0 means the default (as in Wippy)."""
    number = _count(value, field)
    return number or _LEAVE


def _count(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingError(field, f"must be a whole number, 0 or more, got {show(value)}")
    return value


def _pollers(value: Any, field: str) -> Any:
    from temporalio.worker import PollerBehaviorSimpleMaximum

    number = _size(value, field)
    return number if number is _LEAVE else PollerBehaviorSimpleMaximum(maximum=number)


def _rate(value: Any, field: str) -> float | None:
    """Per second; 0 means no limit (temporalio's None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise SettingError(field, f"must be a number, 0 or more, got {show(value)}")
    return float(value) or None


def _ratio(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise SettingError(field, f"must be a number above 0 and at most 1, got {show(value)}")
    return float(value)


def _duration(value: Any, field: str) -> timedelta:
    try:
        return timedelta(seconds=parse_duration(value) / SECOND)
    except DurationError as error:
        raise SettingError(field, str(error)) from None


def _throttle(value: Any, field: str) -> Any:
    """A heartbeat throttle; 0 means the SDK's default (as in Wippy)."""
    duration = _duration(value, field)
    return duration or _LEAVE


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise SettingError(field, f"must be true or false, got {show(value)}")
    return value


def _text(value: Any, field: str) -> Any:
    """A string, ``${env:NAME}`` resolved; empty means unset (as in Wippy)."""
    if not isinstance(value, str):
        raise SettingError(field, f"must be a string, got {show(value)}")
    return with_env(value, field) or _LEAVE


def _behaviour(value: Any, field: str) -> Any:
    if value not in ("pinned", "auto_upgrade", ""):
        raise SettingError(field, f"must be pinned or auto_upgrade, got {show(value)}")
    return value or _LEAVE


Reader = Callable[[Any, str], Any]

#: worker_options that set a temporalio Worker argument: name -> (argument, reader).
#: Wippy's names first, then temporalio's own.
_ARGUMENTS: dict[str, tuple[str, Reader]] = {
    "identity": ("identity", _text),
    "max_concurrent_activity_execution_size": ("max_concurrent_activities", _size),
    "max_concurrent_workflow_task_execution_size": ("max_concurrent_workflow_tasks", _size),
    "max_concurrent_local_activity_execution_size": ("max_concurrent_local_activities", _size),
    "max_concurrent_activity_task_pollers": ("activity_task_poller_behavior", _pollers),
    "max_concurrent_workflow_task_pollers": ("workflow_task_poller_behavior", _pollers),
    "worker_activities_per_second": ("max_activities_per_second", _rate),
    "task_queue_activities_per_second": ("max_task_queue_activities_per_second", _rate),
    "sticky_schedule_to_start_timeout": ("sticky_queue_schedule_to_start_timeout", _duration),
    "worker_stop_timeout": ("graceful_shutdown_timeout", _duration),
    "max_heartbeat_throttle_interval": ("max_heartbeat_throttle_interval", _throttle),
    "default_heartbeat_throttle_interval": ("default_heartbeat_throttle_interval", _throttle),
    "disable_eager_activities": ("disable_eager_activity_execution", _flag),
    "local_activity_worker_only": ("no_remote_activities", _flag),
    # temporalio's names
    "max_cached_workflows": ("max_cached_workflows", _count),
    "max_concurrent_activities": ("max_concurrent_activities", _size),
    "max_concurrent_workflow_tasks": ("max_concurrent_workflow_tasks", _size),
    "max_concurrent_local_activities": ("max_concurrent_local_activities", _size),
    "max_concurrent_nexus_tasks": ("max_concurrent_nexus_tasks", _size),
    "max_concurrent_activity_task_polls": ("activity_task_poller_behavior", _pollers),
    "max_concurrent_workflow_task_polls": ("workflow_task_poller_behavior", _pollers),
    "nonsticky_to_sticky_poll_ratio": ("nonsticky_to_sticky_poll_ratio", _ratio),
    "no_remote_activities": ("no_remote_activities", _flag),
    "sticky_queue_schedule_to_start_timeout": ("sticky_queue_schedule_to_start_timeout", _duration),
    "max_activities_per_second": ("max_activities_per_second", _rate),
    "max_task_queue_activities_per_second": ("max_task_queue_activities_per_second", _rate),
    "max_eager_activity_reservations_per_workflow_task": ("max_eager_activity_reservations_per_workflow_task", _count),
    "graceful_shutdown_timeout": ("graceful_shutdown_timeout", _duration),
    "disable_eager_activity_execution": ("disable_eager_activity_execution", _flag),
    "debug_mode": ("debug_mode", _flag),
    "disable_safe_workflow_eviction": ("disable_safe_workflow_eviction", _flag),
    "disable_payload_error_limit": ("disable_payload_error_limit", _flag),
    "max_workflow_task_external_storage_concurrency": ("max_workflow_task_external_storage_concurrency", _size),
    "plugin_shutdown_timeout": ("plugin_shutdown_timeout", _duration),
}

#: Wippy's worker_options temporalio has nothing for: name -> (reader, the value
#: that asks for nothing, why). Another value is refused, or for the harmless
#: ones (``warn``) accepted with a warning.
_UNMATCHED: dict[str, tuple[Reader, Any, str, bool]] = {
    "max_concurrent_session_execution_size": (_count, 1000, "temporalio has no sessions", True),
    "max_concurrent_eager_activity_execution_size": (
        _count, 0, "temporalio caps eager activities per workflow task "
                   "(max_eager_activity_reservations_per_workflow_task), not per worker", True),
    "worker_local_activities_per_second": (_rate, None, "luactor runs no local activities", True),
    "enable_logging_in_replay": (_flag, False, "a workflow's log lines are written once, never in replay", True),
    "disable_registration_aliasing": (_flag, False, "a workflow's type is its entry id, with no aliases", True),
    "enable_session_worker": (_flag, False, "temporalio has no sessions", False),
    "deadlock_detection_timeout": (
        _duration, timedelta(0), "temporalio's deadlock detection is fixed at 2s "
                                 "(host.max_instructions stops a runaway workflow before it)", False),
}

_VERSIONING = ("deployment_name", "build_id", "build_id_env", "use_versioning", "default_versioning_behavior")

#: temporalio's Worker arguments worker_options does not offer, and why
#: (besides those that take a Python object, which YAML cannot give).
_NOT_OFFERED = {
    "use_worker_versioning": "it is temporalio's deprecated versioning: give use_versioning, "
                             "deployment_name, build_id and default_versioning_behavior",
    "deployment_config": "give use_versioning, deployment_name, build_id and default_versioning_behavior",
    "client": "the entry's client field gives it",
    "task_queue": "the entry's task_queue field gives it",
    "workflows": "the host gives every workflow.lua entry (disable_workflow_worker: none)",
    "activities": "the host gives the node's activities",
}

#: Wippy's documented defaults, where they differ from temporalio's.
_DEFAULTS = {
    "max_concurrent_activities": 1000,
    "max_concurrent_workflow_tasks": 1000,
    "max_concurrent_local_activities": 1000,
    "activity_task_poller_behavior": 20,
    "workflow_task_poller_behavior": 20,
    "sticky_queue_schedule_to_start_timeout": timedelta(seconds=5),
}


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker host gives temporalio's Worker."""

    #: Worker's keyword arguments, but for the client, task queue, workflows and activities
    arguments: dict[str, Any]
    #: False for an activity-only worker (``disable_workflow_worker``)
    runs_workflows: bool
    notes: tuple[Note, ...]


def worker_settings(entry: Entry) -> WorkerSettings:
    """``worker_options`` under Wippy's names or temporalio's, with Wippy's defaults."""
    from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

    options = entry.get("worker_options", None) or {}
    accepted = set(inspect.signature(Worker.__init__).parameters) - {"self"}
    arguments: dict[str, Any] = {}
    named_by: dict[str, str] = {}
    notes: list[Note] = []
    for name, value in options.items():
        field = f"worker_options.{name}"
        if name in _ARGUMENTS:
            argument, read = _ARGUMENTS[name]
            if argument in named_by:
                raise SettingError(field, f"sets what worker_options.{named_by[argument]} sets: give one of them")
            if argument not in accepted:
                raise SettingError(field, f"needs a newer temporalio: its Worker has no argument {argument}")
            named_by[argument] = name
            converted = read(value, field)
            if converted is not _LEAVE:
                arguments[argument] = converted
        elif name in _UNMATCHED:
            read, inert, why, harmless = _UNMATCHED[name]
            if read(value, field) != inert:
                if not harmless:
                    raise SettingError(field, f"cannot be honoured: {why}")
                notes.append((field, f"ignored: {why}"))
        elif name == "disable_workflow_worker":
            _flag(value, field)
        elif name not in _VERSIONING:
            why = _NOT_OFFERED.get(name) or ("it takes a Python object, which YAML cannot give"
                                             if name in accepted else None)
            if why:
                raise SettingError(field, f"temporalio's Worker argument {name!r} is not offered here: {why}")
            raise SettingError(field, f"{name!r} is an option of neither Wippy's worker nor temporalio's Worker")
    arguments.update(_versioning(options, notes))
    runs_workflows = not options.get("disable_workflow_worker", False)
    if not runs_workflows and arguments.get("no_remote_activities"):
        raise SettingError("worker_options.disable_workflow_worker",
                           "with local_activity_worker_only too, the worker would have nothing to run")
    for argument, default in _DEFAULTS.items():
        if argument not in named_by:
            arguments[argument] = (PollerBehaviorSimpleMaximum(maximum=default)
                                   if argument.endswith("poller_behavior") else default)
    return WorkerSettings(arguments, runs_workflows, tuple(notes))


def _versioning(options: dict[str, Any], notes: list[Note]) -> dict[str, Any]:
    """Worker versioning: a deployment version (deployment_name and build_id),
    used to route workflows with ``use_versioning``; a build_id alone only names the build."""
    def given(name: str, read: Reader) -> Any:
        value = options.get(name)
        if value is not None:
            value = read(value, f"worker_options.{name}")
        return None if value is _LEAVE else value

    name, build_id = given("deployment_name", _text), given("build_id", _text)
    use, behaviour = given("use_versioning", _flag), given("default_versioning_behavior", _behaviour)
    if options.get("build_id_env") is not None:
        field = "worker_options.build_id_env"
        if build_id is not None:
            raise SettingError(field, "another way to give worker_options.build_id: give one of them")
        variable = _text(options["build_id_env"], field)
        notes.append((field, f"deprecated: write build_id: ${{env:{variable}}}"))
        build_id = from_env(variable, field)
    if behaviour and not use:
        notes.append(("worker_options.default_versioning_behavior", "ignored without use_versioning: true"))
    if not (use or name):
        return {"build_id": build_id} if build_id else {}
    if not name:
        raise SettingError("worker_options.use_versioning", "needs deployment_name and build_id")
    if not build_id:
        raise SettingError("worker_options.deployment_name", "needs build_id (the version is the pair)")
    if use and not behaviour:
        raise SettingError("worker_options.use_versioning", "needs default_versioning_behavior, pinned or "
                                                            "auto_upgrade: luactor's workflows declare none of their own")
    from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
    from temporalio.worker import WorkerDeploymentConfig

    return {"deployment_config": WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=name, build_id=build_id), use_worker_versioning=bool(use),
        default_versioning_behavior=VersioningBehavior[behaviour.upper()] if use else VersioningBehavior.UNSPECIFIED)}


# --------------------------------------------------------------------------- luactor check


def check_registry(registry: Registry) -> list[Problem]:
    """The Temporal settings a node would refuse at start (a ``luactor.checks``
    entry point); what it would accept with a warning joins ``registry.warnings``."""
    workers = registry.of_kind("temporal.worker")
    clients = registry.of_kind("temporal.client")
    problems: list[Problem] = meta_problems(registry)   # (entries' meta.temporal: hosts/temporal_routing.py)
    if not (workers or clients):
        return problems
    try:
        import temporalio  # noqa: F401
    except ImportError:
        return [*problems, entry_problem(registry, (workers or clients)[0], None,
                                         "Temporal entries need temporalio: pip install 'luactor[temporal]'")]
    for entry, settle in [*((c, client_settings) for c in clients), *((w, worker_settings) for w in workers)]:
        try:
            notes = settle(entry).notes
        except SettingError as error:
            problems.append(entry_problem(registry, entry, error.field, str(error)))
            continue
        registry.warnings.extend(entry_problem(registry, entry, field, message) for field, message in notes)
    problems += [entry_problem(registry, worker, "task_queue", message) for worker, message in queue_conflicts(registry)]
    return problems


def queue_conflicts(registry: Registry) -> Iterator[tuple[Entry, str]]:
    """Each temporal.worker on a task queue (``tq_prefix`` included) and
    namespace that an earlier one serves, and what to say: workflows find
    their host by the two, so one host per pair."""
    served: dict[tuple[str, str], Entry] = {}
    for worker in registry.of_kind("temporal.worker"):
        client = registry.entries[worker.get("client")]
        namespace, queue = client.get("namespace"), f"{client.get('tq_prefix')}{worker.get('task_queue')}"
        first = served.setdefault((namespace, queue), worker)
        if first is not worker:
            yield worker, (f"task queue {queue!r} of namespace {namespace!r} is served by {first.id} already "
                           "(one temporal.worker per task queue and namespace)")
