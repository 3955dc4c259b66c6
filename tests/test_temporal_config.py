"""temporal.client and temporal.worker settings as Wippy documents them:
what reaches temporalio's Client.connect and Worker, and what ``luactor
check`` refuses or warns about. (Against a real server:
test_temporal_connection.py.)"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import trio
from temporal_proxy import SERVER_NAME
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import KeepAliveConfig, TLSConfig
from temporalio.worker import PollerBehaviorSimpleMaximum, WorkerDeploymentConfig

import hosts.temporal_host
from actors import ActorError, Node
from actors.registry import check_report, load_app
from hosts.temporal_config import client_settings

WAIT = 30

#: Wippy's documented worker_options, as its documentation lists them.
DOCUMENTED_WORKER_OPTIONS = {
    "identity": "",
    "max_concurrent_activity_execution_size": 1000,
    "max_concurrent_workflow_task_execution_size": 1000,
    "max_concurrent_local_activity_execution_size": 1000,
    "max_concurrent_session_execution_size": 1000,
    "max_concurrent_eager_activity_execution_size": 0,
    "max_concurrent_activity_task_pollers": 20,
    "max_concurrent_workflow_task_pollers": 20,
    "worker_activities_per_second": 0,
    "worker_local_activities_per_second": 0,
    "task_queue_activities_per_second": 0,
    "sticky_schedule_to_start_timeout": "5s",
    "worker_stop_timeout": "0s",
    "deadlock_detection_timeout": "0s",
    "max_heartbeat_throttle_interval": "0s",
    "default_heartbeat_throttle_interval": "0s",
    "enable_logging_in_replay": False,
    "enable_session_worker": False,
    "disable_workflow_worker": False,
    "local_activity_worker_only": False,
    "disable_eager_activities": False,
    "disable_registration_aliasing": False,
    "deployment_name": "",
    "build_id": "",
    "use_versioning": False,
}

#: What temporalio's Worker gets when worker_options say nothing: Wippy's concurrency defaults.
DEFAULT_ARGUMENTS = {
    "max_concurrent_activities": 1000,
    "max_concurrent_workflow_tasks": 1000,
    "max_concurrent_local_activities": 1000,
    "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(maximum=20),
    "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(maximum=20),
    "sticky_queue_schedule_to_start_timeout": timedelta(seconds=5),
}


def temporal_app(app, client=None, worker=None, **more_workers):
    """``test:temporal`` and the worker ``test:wf`` (and others by name), each
    with the fields given."""
    app.entry(name="temporal", kind="temporal.client", **(client or {}))
    for name, fields in {"wf": worker or {}, **more_workers}.items():
        app.entry(name=name, kind="temporal.worker", **{"client": "test:temporal", "task_queue": "q", **fields})
    return app


@pytest.fixture
def temporalio_calls(monkeypatch):
    """What the host passes to Client.connect and to the Worker; the Worker
    then refuses to be built, so the host is Failed and no server is needed."""
    calls = {}

    async def connect(address, **arguments):
        calls["connect"] = {"address": address, **arguments}
        return "a client"

    def worker(client, **arguments):
        calls["worker"] = arguments
        raise RuntimeError("recorded")

    monkeypatch.setattr(Client, "connect", staticmethod(connect))
    monkeypatch.setattr(hosts.temporal_host, "TemporalWorker", worker)
    return calls


async def open_and_record(app) -> None:
    with trio.fail_after(WAIT):
        async with Node.open(app.root) as node:
            assert node.router.hosts["test:wf"].state == "Failed"


async def test_every_client_setting_reaches_client_connect(app, temporal_certificates, temporalio_calls, monkeypatch):
    monkeypatch.setenv("LUACTOR_TEST_KEY_PEM", temporal_certificates.client_key.read_text())
    temporal_app(app, client={
        "address": "temporal.example.com:7234", "namespace": "orders", "tq_prefix": "eu.",
        "connection_timeout": "3s", "keep_alive_time": "20s", "keep_alive_timeout": "4s",
        "auth": {"type": "mtls", "cert_file": str(temporal_certificates.client), "key_pem": "${env:LUACTOR_TEST_KEY_PEM}"},
        "tls": {"enabled": True, "ca_file": str(temporal_certificates.ca), "server_name": SERVER_NAME},
    })
    await open_and_record(app)
    assert temporalio_calls["connect"] == {
        "address": "temporal.example.com:7234", "namespace": "orders", "api_key": None,
        "tls": TLSConfig(server_root_ca_cert=temporal_certificates.ca.read_bytes(), domain=SERVER_NAME,
                         client_cert=temporal_certificates.client.read_bytes(),
                         client_private_key=temporal_certificates.client_key.read_bytes()),
        "keep_alive_config": KeepAliveConfig(interval_millis=20_000, timeout_millis=4_000),
        "connect_timeout": timedelta(seconds=3),
    }
    assert temporalio_calls["worker"]["task_queue"] == "eu.q"


async def test_defaults_and_luactors_older_names(app, temporal_certificates, temporalio_calls):
    temporal_app(app, client={"api_key": "secret", "tls": {"server_root_ca_cert": str(temporal_certificates.ca)}})
    await open_and_record(app)
    assert temporalio_calls["connect"] == {
        "address": "127.0.0.1:7233", "namespace": "default", "api_key": "secret",
        "tls": TLSConfig(server_root_ca_cert=temporal_certificates.ca.read_bytes()),
        "keep_alive_config": KeepAliveConfig(interval_millis=30_000, timeout_millis=10_000),
        "connect_timeout": timedelta(seconds=10),
    }
    assert {key: value for key, value in temporalio_calls["worker"].items()
            if key not in ("workflows", "activities")} == {"task_queue": "q", **DEFAULT_ARGUMENTS}


def test_zero_turns_keep_alive_and_the_connection_timeout_off(app):
    temporal_app(app, client={"keep_alive_time": "0s", "connection_timeout": 0, "health_check": {"enabled": False}})
    settings = client_settings(load_app(app.root).entries["test:temporal"])
    assert (settings.connect["keep_alive_config"], settings.connect["connect_timeout"]) == (None, None)
    assert (settings.connection_timeout, settings.health_interval) == (None, None)


@pytest.mark.parametrize(("auth", "tls", "api_key", "tls_argument"), [
    ({"api_key": "k"}, None, "k", None),  # temporalio: TLS with an API key
    ({"type": "api_key", "api_key": "k"}, {"enabled": False}, "k", False),
    ({"api_key": "k"}, True, "k", True),
    (None, None, None, None),
    ({"type": "none"}, {"enabled": True}, None, True),
    (None, False, None, False),
])
async def test_auth_type_and_tls_enabled(app, temporalio_calls, auth, tls, api_key, tls_argument):
    temporal_app(app, client={key: value for key, value in (("auth", auth), ("tls", tls)) if value is not None})
    await open_and_record(app)
    assert (temporalio_calls["connect"]["api_key"], temporalio_calls["connect"]["tls"]) == (api_key, tls_argument)


@pytest.mark.parametrize(("auth", "api_key"), [
    ({"type": "api_key", "api_key": "${env:LUACTOR_TEST_KEY}"}, "from-env"),
    ({"api_key": "prefix-${env:LUACTOR_TEST_KEY}"}, "prefix-from-env"),
    ({"api_key_file": "key.txt"}, "from-file"),
    ({"api_key_env": "LUACTOR_TEST_KEY"}, "from-env"),
])
async def test_the_api_key_from_the_environment_or_a_file(app, temporalio_calls, monkeypatch, auth, api_key):
    monkeypatch.setenv("LUACTOR_TEST_KEY", "from-env")
    (app.root / "key.txt").write_text("from-file\n")
    temporal_app(app, client={"auth": auth, "tls": False})
    await open_and_record(app)
    assert temporalio_calls["connect"]["api_key"] == api_key


async def test_wippys_worker_options_become_temporalios_arguments(app, temporalio_calls, monkeypatch):
    monkeypatch.setenv("LUACTOR_TEST_BUILD", "build-7")
    temporal_app(app, worker={"worker_options": {
        "identity": "node-${env:LUACTOR_TEST_BUILD}",
        "max_concurrent_activity_execution_size": 11,
        "max_concurrent_workflow_task_execution_size": 12,
        "max_concurrent_local_activity_execution_size": 13,
        "max_concurrent_activity_task_pollers": 3,
        "max_concurrent_workflow_task_pollers": 4,
        "worker_activities_per_second": 50,
        "task_queue_activities_per_second": 2.5,
        "sticky_schedule_to_start_timeout": "2s",
        "worker_stop_timeout": "30s",
        "max_heartbeat_throttle_interval": "1m",
        "default_heartbeat_throttle_interval": "10s",
        "disable_eager_activities": True,
        "local_activity_worker_only": True,
        "deployment_name": "orders",
        "build_id": "${env:LUACTOR_TEST_BUILD}",
        "use_versioning": True,
        "default_versioning_behavior": "auto_upgrade",
        # temporalio's own names work too
        "max_cached_workflows": 0,
        "nonsticky_to_sticky_poll_ratio": 0.5,
    }})
    await open_and_record(app)
    arguments = temporalio_calls["worker"]
    assert len(arguments.pop("workflows")) == 1 and arguments.pop("activities")
    assert arguments == {
        "task_queue": "q",
        "identity": "node-build-7",
        "max_concurrent_activities": 11,
        "max_concurrent_workflow_tasks": 12,
        "max_concurrent_local_activities": 13,
        "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(maximum=3),
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(maximum=4),
        "max_activities_per_second": 50.0,
        "max_task_queue_activities_per_second": 2.5,
        "sticky_queue_schedule_to_start_timeout": timedelta(seconds=2),
        "graceful_shutdown_timeout": timedelta(seconds=30),
        "max_heartbeat_throttle_interval": timedelta(minutes=1),
        "default_heartbeat_throttle_interval": timedelta(seconds=10),
        "disable_eager_activity_execution": True,
        "no_remote_activities": True,
        "deployment_config": WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment_name="orders", build_id="build-7"),
            use_worker_versioning=True, default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE),
        "max_cached_workflows": 0,
        "nonsticky_to_sticky_poll_ratio": 0.5,
    }


async def test_the_documented_worker_options_are_wippys_defaults(app, temporalio_calls):
    temporal_app(app, worker={"worker_options": DOCUMENTED_WORKER_OPTIONS})
    report = check_report(app.root)
    assert (report.problems, report.warnings) == ([], [])
    await open_and_record(app)
    arguments = temporalio_calls["worker"]
    assert {key: arguments[key] for key in DEFAULT_ARGUMENTS} == DEFAULT_ARGUMENTS
    # "0s" and 0 ask for the defaults; a build_id of "" is none
    assert arguments["graceful_shutdown_timeout"] == timedelta(0)
    assert {"identity", "build_id", "deployment_config", "max_heartbeat_throttle_interval"}.isdisjoint(arguments)
    assert arguments["max_activities_per_second"] is None  # 0: no limit


async def test_an_activity_only_worker_and_a_build_id_alone(app, temporalio_calls):
    temporal_app(app, worker={"worker_options": {"disable_workflow_worker": True, "build_id": "b1"}})
    await open_and_record(app)
    assert temporalio_calls["worker"]["workflows"] == [] and temporalio_calls["worker"]["build_id"] == "b1"
    assert "deployment_config" not in temporalio_calls["worker"]


def problems_of(app) -> list[str]:
    return [f"{problem.entry}: {problem.field}: {problem.message}" for problem in check_report(app.root).problems]


@pytest.mark.parametrize(("client", "problem"), [
    ({"address": "localhost"}, "address: must be HOST:PORT, got 'localhost'"),
    ({"address": "localhost:99999"}, "address: must be HOST:PORT, got 'localhost:99999'"),
    ({"tq_prefix": 5}, "tq_prefix: must be a string, got 5"),
    ({"connection_timeout": "soon"}, "connection_timeout: invalid duration 'soon'"),
    ({"health_check": {"interval": "0s"}},
     "health_check.interval: must be more than 0 (or set health_check.enabled: false)"),
    ({"auth": {"type": "basic"}}, "auth.type: must be one of none, api_key, mtls, got 'basic'"),
    ({"auth": {"type": "api_key"}},
     "auth.type: api_key needs an API key: give one of auth.api_key, auth.api_key_file, auth.api_key_env"),
    ({"auth": {"type": "none", "api_key": "k"}}, "auth.api_key: not used with auth.type none"),
    ({"auth": {"cert_file": "c.pem", "api_key": "k"}},
     "auth.cert_file: not used with auth.type api_key (implied by auth.api_key)"),
    ({"auth": {"api_key": "k", "api_key_file": "k.txt"}},
     "auth.api_key_file: give only one of auth.api_key, auth.api_key_file, auth.api_key_env"),
    ({"api_key": "k", "auth": {"api_key": "k"}}, "api_key: another name for 'auth.api_key': give one of them, not both"),
    ({"auth": {"api_key": "${env:LUACTOR_TEST_UNSET}"}},
     "auth.api_key: environment variable 'LUACTOR_TEST_UNSET' is not set"),
    ({"auth": {"api_key_env": "LUACTOR_TEST_UNSET"}},
     "auth.api_key_env: environment variable 'LUACTOR_TEST_UNSET' is not set"),
    ({"auth": {"api_key_file": "missing.txt"}}, "auth.api_key_file: cannot read {app}/missing.txt: No such file or directory"),
    ({"auth": {"api_key_file": "empty.txt"}}, "auth.api_key_file: the API key is empty"),
    ({"auth": {"type": "mtls", "cert_file": "{certs}/client.pem"}},
     "auth.type: mtls needs a key: give one of auth.key_file, auth.key_pem, auth.key_pem_env"),
    ({"auth": {"cert_pem": "not a certificate", "key_file": "{certs}/client.key"}},
     "auth.cert_pem: is not PEM (no -----BEGIN line)"),
    ({"auth": {"cert_file": "{certs}/client.pem", "key_file": "{certs}/server.key"}},
     "auth.cert_file: the certificate and the key of auth.key_file are not a pair (KEY_VALUES_MISMATCH)"),
    ({"auth": {"cert_file": "{certs}/client.pem", "key_pem_env": "LUACTOR_TEST_UNSET"}},
     "auth.key_pem_env: environment variable 'LUACTOR_TEST_UNSET' is not set"),
    ({"tls": "yes"},
     "tls: must be true, false or a mapping of enabled, ca_file, server_name, insecure_skip_verify, got 'yes'"),
    ({"tls": {"verify": True}}, "tls.verify: not a TLS setting (known: enabled, ca_file, server_name, insecure_skip_verify)"),
    ({"tls": {"ca_file": "a.pem", "server_root_ca_cert": "b.pem"}},
     "tls.server_root_ca_cert: another name for tls.ca_file: give one of them, not both"),
    ({"tls": {"enabled": "no"}}, "tls.enabled: must be true or false, got 'no'"),
    ({"tls": {"insecure_skip_verify": True}},
     "tls.insecure_skip_verify: temporalio cannot skip verifying the server's certificate: "
     "give that certificate, or its CA's, in tls.ca_file"),
    ({"tls": {"enabled": False}, "auth": {"cert_file": "{certs}/client.pem", "key_file": "{certs}/client.key"}},
     "tls.enabled: is false, but auth.type mtls needs TLS"),
    ({"tls": {"ca_file": "empty.txt"}}, "tls.ca_file: holds no usable PEM certificate"),
    ({"tls": {"server_name": ""}}, "tls.server_name: must be a non-empty string, got ''"),
    ({"tls": {"client_cert": "{certs}/client.pem"}, "auth": {"cert_file": "{certs}/client.pem"}},
     "tls.client_cert: another name for auth.cert_file: give one of them, not both"),
])
def test_luactor_check_refuses_each_bad_client_setting(app, temporal_certificates, client, problem):
    (app.root / "empty.txt").write_text("")
    where = {"app": app.root, "certs": temporal_certificates.folder}

    def placed(value):
        return {k: placed(v) for k, v in value.items()} if isinstance(value, dict) else (
            value.format(**where) if isinstance(value, str) and "{" in value and "${" not in value else value)

    temporal_app(app, client=placed(client))
    [found] = problems_of(app)
    assert found.startswith(f"test:temporal: {problem.format(**where)}")


@pytest.mark.parametrize(("options", "problem"), [
    ({"no_such_option": 1}, "'no_such_option' is an option of neither Wippy's worker nor temporalio's Worker"),
    ({"workflow_runner": "fast"},
     "temporalio's Worker argument 'workflow_runner' is not offered here: it takes a Python object, "
     "which YAML cannot give"),
    ({"task_queue": "other"},
     "temporalio's Worker argument 'task_queue' is not offered here: the entry's task_queue field gives it"),
    ({"use_worker_versioning": True},
     "temporalio's Worker argument 'use_worker_versioning' is not offered here: it is temporalio's deprecated "
     "versioning: give use_versioning, deployment_name, build_id and default_versioning_behavior"),
    ({"max_concurrent_activity_execution_size": -1}, "must be a whole number, 0 or more, got -1"),
    ({"max_concurrent_workflow_task_pollers": "many"}, "must be a whole number, 0 or more, got 'many'"),
    ({"max_concurrent_activity_execution_size": 5, "max_concurrent_activities": 5},
     "sets what worker_options.max_concurrent_activity_execution_size sets: give one of them"),
    ({"worker_activities_per_second": "fast"}, "must be a number, 0 or more, got 'fast'"),
    ({"nonsticky_to_sticky_poll_ratio": 2}, "must be a number above 0 and at most 1, got 2"),
    ({"sticky_schedule_to_start_timeout": "soon"}, "invalid duration 'soon': expected a number at 'soon'"),
    ({"disable_eager_activities": "yes"}, "must be true or false, got 'yes'"),
    ({"identity": 5}, "must be a string, got 5"),
    ({"enable_session_worker": True}, "cannot be honoured: temporalio has no sessions"),
    ({"deadlock_detection_timeout": "5s"},
     "cannot be honoured: temporalio's deadlock detection is fixed at 2s "
     "(host.max_instructions stops a runaway workflow before it)"),
    ({"disable_workflow_worker": True, "local_activity_worker_only": True},
     "with local_activity_worker_only too, the worker would have nothing to run"),
    ({"use_versioning": True}, "needs deployment_name and build_id"),
    ({"deployment_name": "orders"}, "needs build_id (the version is the pair)"),
    ({"use_versioning": True, "deployment_name": "orders", "build_id": "b1"},
     "needs default_versioning_behavior, pinned or auto_upgrade: luactor's workflows declare none of their own"),
    ({"default_versioning_behavior": "sometimes"}, "must be pinned or auto_upgrade, got 'sometimes'"),
    ({"build_id": "b1", "build_id_env": "LUACTOR_TEST_UNSET"},
     "another way to give worker_options.build_id: give one of them"),
    ({"build_id_env": "LUACTOR_TEST_UNSET"}, "environment variable 'LUACTOR_TEST_UNSET' is not set"),
])
def test_luactor_check_refuses_each_bad_worker_option(app, options, problem):
    temporal_app(app, worker={"worker_options": options})
    [found] = problems_of(app)
    assert found.startswith("test:wf: worker_options.") and found.endswith(problem)


def test_luactor_check_refuses_two_workers_on_one_task_queue(app):
    # tq_prefix is part of the name: "a." + "q" is "a.q"
    temporal_app(app, client={"tq_prefix": "a."}, worker={"task_queue": "q"})
    app.entry(name="other", kind="temporal.client", namespace="default")
    app.entry(name="wf2", kind="temporal.worker", client="test:other", task_queue="a.q")
    assert problems_of(app) == [
        "test:wf2: task_queue: task queue 'a.q' of namespace 'default' is served by test:wf already "
        "(one temporal.worker per task queue and namespace)"]


async def test_a_node_refuses_two_workers_on_one_task_queue(app):
    temporal_app(app, wf2={})
    with pytest.raises(ActorError) as refused:
        async with Node.open(app.root):
            pass
    assert refused.value.kind == "Invalid" and refused.value.message == (
        "test:wf2: task_queue: task queue 'q' of namespace 'default' is served by test:wf already "
        "(one temporal.worker per task queue and namespace)")


def test_what_is_accepted_but_ignored_or_deprecated_is_a_warning(app, monkeypatch):
    monkeypatch.setenv("LUACTOR_TEST_KEY", "k")
    monkeypatch.setenv("LUACTOR_TEST_BUILD", "b1")
    temporal_app(app, client={"auth": {"api_key_env": "LUACTOR_TEST_KEY"}}, worker={"worker_options": {
        "enable_logging_in_replay": True, "max_concurrent_eager_activity_execution_size": 5,
        "build_id_env": "LUACTOR_TEST_BUILD", "default_versioning_behavior": "pinned"}})
    report = check_report(app.root)
    assert report.problems == []
    assert [f"{warning.entry}: {warning.field}: {warning.message}" for warning in report.warnings] == [
        "test:temporal: auth.api_key_env: deprecated: write auth.api_key: ${env:LUACTOR_TEST_KEY}",
        "test:wf: worker_options.enable_logging_in_replay: ignored: a workflow's log lines are written once, "
        "never in replay",
        "test:wf: worker_options.max_concurrent_eager_activity_execution_size: ignored: temporalio caps eager "
        "activities per workflow task (max_eager_activity_reservations_per_workflow_task), not per worker",
        "test:wf: worker_options.build_id_env: deprecated: write build_id: ${env:LUACTOR_TEST_BUILD}",
        "test:wf: worker_options.default_versioning_behavior: ignored without use_versioning: true",
    ]


async def test_a_node_logs_the_warnings_as_it_starts(app, temporalio_calls, monkeypatch, caplog):
    monkeypatch.setenv("LUACTOR_TEST_KEY", "k")
    temporal_app(app, client={"auth": {"api_key_env": "LUACTOR_TEST_KEY"}})
    with caplog.at_level(logging.WARNING, logger="luactor"):
        await open_and_record(app)
    assert "test:temporal: auth.api_key_env: deprecated: write auth.api_key: ${env:LUACTOR_TEST_KEY}" in caplog.messages


def test_depends_on_names_the_client_and_is_folded_into_requires(app):
    temporal_app(app, client={"lifecycle": {"auto_start": True}},
                 worker={"lifecycle": {"auto_start": True, "depends_on": ["temporal"]}})
    registry = load_app(app.root)
    assert registry.entries["test:wf"].get("lifecycle.requires") == ["test:temporal"]
    assert registry.warnings == []


def test_depends_on_may_name_only_a_temporal_client(app):
    temporal_app(app, worker={"lifecycle": {"depends_on": ["host"]}})
    assert problems_of(app) == ["test:wf: lifecycle.depends_on[0]: test:host is a process.host, expected temporal.client"]
