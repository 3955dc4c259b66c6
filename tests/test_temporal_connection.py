"""How a temporal.worker host connects, against a real Temporal dev server:
address, namespace, tq_prefix, the API key, TLS and mTLS (through a TLS
proxy, the dev server has none), the connection timeout, health checks,
versioning, and several workers in one node. (What reaches temporalio's
arguments, and what ``luactor check`` refuses: test_temporal_config.py.)"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import uuid

import pytest
import trio
from temporal_dev import DevServer, free_port
from temporal_proxy import SERVER_NAME, Proxy
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.common import VersioningBehavior

from actors import ActorError, Node

WAIT = 90
NAMESPACE = "luactor-test"
FAST_RETRIES = {"restart": {"initial_delay": "100ms", "max_delay": "500ms"}}


@pytest.fixture(scope="module")
def namespaced_server(tmp_path_factory):
    """A dev server of its own, with the namespace NAMESPACE."""
    server = DevServer(tmp_path_factory.mktemp("temporal") / "dev.db", namespaces=(NAMESPACE,))
    yield server
    server.stop()


def temporal_app(app, client: dict, **workers: dict):
    """``test:temporal`` with ``client``'s fields, a temporal.worker for each of
    ``workers`` (by name, with its fields) and the workflow ``test:double``."""
    app.entry(name="temporal", kind="temporal.client", **client)
    for name, fields in (workers or {"wf": {}}).items():
        app.entry(name=name, kind="temporal.worker", **{
            "client": "test:temporal", "task_queue": f"q-{uuid.uuid4()}", "lifecycle": FAST_RETRIES, **fields})
    app.lua("double", """
        local function run(n) return n * 2 end
        return { run = run }
    """, method="run", kind="workflow.lua")


async def finished(address: str, workflow_id: str, namespace: str = "default") -> WorkflowExecutionDescription:
    """The workflow as the server describes it, once it has ended."""
    async def ask() -> WorkflowExecutionDescription:
        handle = (await Client.connect(address, namespace=namespace)).get_workflow_handle(workflow_id)
        await handle.result()
        return await handle.describe()
    return await trio.to_thread.run_sync(asyncio.run, ask())


async def until(condition, what: str) -> None:
    """Wait for ``condition()``."""
    with trio.move_on_after(WAIT) as waited:
        while not condition():  # noqa: ASYNC110 (hosts expose their state, not events)
            await trio.sleep(0.05)
    assert not waited.cancelled_caught, f"waited {WAIT}s in vain for {what}"


async def test_namespace_task_queue_prefix_and_api_key_reach_the_server(app, namespaced_server, monkeypatch):
    monkeypatch.setenv("LUACTOR_TEST_API_KEY", "open-sesame")
    async with trio.open_nursery() as nursery:
        proxy = Proxy(namespaced_server.port)
        await proxy.serve(nursery)
        temporal_app(app, {
            "address": proxy.address, "namespace": NAMESPACE, "tq_prefix": "tenant-a.",
            # the dev server speaks no TLS: an API key goes in plain text only when told so
            "auth": {"type": "api_key", "api_key": "${env:LUACTOR_TEST_API_KEY}"}, "tls": {"enabled": False},
        }, wf={"task_queue": "orders"})
        workflow_id = f"double-{uuid.uuid4()}"
        with trio.fail_after(WAIT):
            async with Node.open(app.root) as node:
                await node.spawn("test:double", "test:wf", 21, options={"workflow.id": workflow_id})
                described = await finished(namespaced_server.address, workflow_id, NAMESPACE)
        nursery.cancel_scope.cancel()
    assert (described.task_queue, described.status) == ("tenant-a.orders", WorkflowExecutionStatus.COMPLETED)
    [start] = [headers for headers in proxy.requests if headers[":path"].endswith("/StartWorkflowExecution")]
    assert (start["authorization"], start["temporal-namespace"]) == ("Bearer open-sesame", NAMESPACE)
    polls = {headers["authorization"] for headers in proxy.requests if "Poll" in headers[":path"]}
    assert polls == {"Bearer open-sesame"}  # the worker's calls carry it too


@pytest.fixture
async def tls_proxy(temporal_server, temporal_certificates, request):
    """A TLS proxy in front of the shared dev server; parametrized indirectly
    with True, it asks clients for a certificate of the test CA."""
    async with trio.open_nursery() as nursery:
        proxy = Proxy(temporal_server.port, temporal_certificates, client_certificates=getattr(request, "param", False))
        await proxy.serve(nursery)
        yield proxy
        nursery.cancel_scope.cancel()


async def test_tls_with_a_ca_file_and_the_servers_name(app, tls_proxy, temporal_certificates):
    temporal_app(app, {"address": tls_proxy.address,
                       "tls": {"enabled": True, "ca_file": str(temporal_certificates.ca), "server_name": SERVER_NAME}})
    with trio.fail_after(WAIT):
        async with Node.open(app.root) as node:
            assert await node.exec("test:double", "test:wf", 21) == 42
    assert tls_proxy.requests and not tls_proxy.refused


@pytest.mark.parametrize(("tls", "why"), [
    # the certificate names temporal.test, not the address dialled
    ({"ca_file": "{ca}"}, "NotValidForName"),
    # the test CA is no CA the system trusts
    ({"server_name": SERVER_NAME}, "UnknownIssuer"),
])
async def test_tls_verifies_the_server(app, tls_proxy, temporal_certificates, caplog, tls, why):
    tls = {key: value.format(ca=temporal_certificates.ca) for key, value in tls.items()}
    temporal_app(app, {"address": tls_proxy.address, "tls": tls})
    with trio.fail_after(WAIT), caplog.at_level(logging.ERROR, logger="luactor"):
        async with Node.open(app.root) as node:
            assert node.router.hosts["test:wf"].state == "Failed"
    assert not tls_proxy.requests
    assert any("-> Failed" in message and why in message for message in caplog.messages), caplog.messages


@pytest.mark.parametrize("tls_proxy", [True], indirect=True)
@pytest.mark.parametrize("auth", [
    {"type": "mtls", "cert_file": "{cert}", "key_file": "{key}"},
    {"type": "mtls", "cert_pem": "${{env:LUACTOR_TEST_CERT}}", "key_pem": "${{env:LUACTOR_TEST_KEY}}"},
    {"cert_pem": "${{env:LUACTOR_TEST_CERT}}", "key_pem_env": "LUACTOR_TEST_KEY"},
])
async def test_mtls_shows_the_client_certificate(app, tls_proxy, temporal_certificates, monkeypatch, auth):
    monkeypatch.setenv("LUACTOR_TEST_CERT", temporal_certificates.client.read_text())
    monkeypatch.setenv("LUACTOR_TEST_KEY", temporal_certificates.client_key.read_text())
    auth = {key: value.format(cert=temporal_certificates.client, key=temporal_certificates.client_key)
            for key, value in auth.items()}
    temporal_app(app, {"address": tls_proxy.address, "auth": auth,
                       "tls": {"ca_file": str(temporal_certificates.ca), "server_name": SERVER_NAME}})
    with trio.fail_after(WAIT):
        async with Node.open(app.root) as node:
            assert await node.exec("test:double", "test:wf", 21) == 42
    assert not tls_proxy.refused


@pytest.mark.parametrize("tls_proxy", [True], indirect=True)
async def test_without_a_client_certificate_mtls_is_refused(app, tls_proxy, temporal_certificates):
    temporal_app(app, {"address": tls_proxy.address,
                       "tls": {"ca_file": str(temporal_certificates.ca), "server_name": SERVER_NAME}})
    with trio.fail_after(WAIT):
        async with Node.open(app.root) as node:
            host = node.router.hosts["test:wf"]
            assert host.state == "Failed"
            with pytest.raises(ActorError) as refused:
                await node.spawn("test:double", "test:wf", 1)
    assert refused.value.kind == "Unavailable"
    assert any("CERTIFICATE" in why for why in tls_proxy.refused), tls_proxy.refused


async def test_a_server_that_never_answers_fails_the_host_after_the_connection_timeout(app, caplog):
    with socket.socket() as silent:  # accepts connections (the kernel does), never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        temporal_app(app, {"address": address, "connection_timeout": "300ms"})
        with trio.fail_after(20), caplog.at_level(logging.ERROR, logger="luactor"):  # the SDK alone waits 30s
            async with Node.open(app.root) as node:
                assert node.router.hosts["test:wf"].state == "Failed"
    assert f"no answer from {address} within 0.3s" in caplog.text


async def test_health_checks_fail_the_host_when_the_server_goes_and_it_recovers(app, tmp_path, caplog):
    port = free_port()
    server = await trio.to_thread.run_sync(DevServer, tmp_path / "dev.db", port)
    temporal_app(app, {"address": f"127.0.0.1:{port}", "health_check": {"enabled": True, "interval": "200ms"}})
    try:
        with trio.fail_after(WAIT), caplog.at_level(logging.INFO, logger="luactor"):
            async with Node.open(app.root) as node:
                host = node.router.hosts["test:wf"]
                assert await node.exec("test:double", "test:wf", 1) == 2
                await trio.to_thread.run_sync(server.stop)
                await until(lambda: host.state == "Failed", "the health check notices")
                with pytest.raises(ActorError) as refused:
                    await node.spawn("test:double", "test:wf", 2)
                assert refused.value.kind == "Unavailable"
                await trio.sleep(1.5)  # retries, unlogged
                server = await trio.to_thread.run_sync(DevServer, tmp_path / "dev.db", port)
                await until(lambda: host.state == "Running", "the host reconnects")
                assert await node.exec("test:double", "test:wf", 3) == 6
    finally:
        await trio.to_thread.run_sync(server.stop)
    changes = [change[1] for change in map(re.compile(r"test:wf: (\w+ -> \w+)").match, caplog.messages) if change]
    assert changes == ["Stopped -> Starting", "Starting -> Running", "Running -> Failed", "Failed -> Running",
                       "Running -> Stopped"]
    # the server either refused connections or answered that it was going, as it went
    assert "Running -> Failed: ConnectionError: health check: " in caplog.text


async def test_two_workers_on_two_task_queues_in_one_node(app, temporal_server):
    queues = {host: f"{host}-{uuid.uuid4()}" for host in ("first", "second")}
    temporal_app(app, {"address": temporal_server.address}, **{host: {"task_queue": queue} for host, queue in queues.items()})
    ids = {host: f"{host}-{uuid.uuid4()}" for host in queues}
    with trio.fail_after(WAIT):
        async with Node.open(app.root) as node:
            for host, workflow_id in ids.items():
                await node.spawn("test:double", f"test:{host}", 5, options={"workflow.id": workflow_id})
            ran_on = {host: (await finished(temporal_server.address, workflow_id)).task_queue
                      for host, workflow_id in ids.items()}
            assert await node.exec("test:double", "test:first", 1) == 2
            assert await node.exec("test:double", "test:second", 2) == 4
    assert ran_on == queues


async def test_a_versioned_worker_pins_its_workflows(app, temporal_server):
    deployment = f"orders-{uuid.uuid4()}"
    temporal_app(app, {"address": temporal_server.address}, wf={"worker_options": {
        "deployment_name": deployment, "build_id": "b1", "use_versioning": True,
        "default_versioning_behavior": "pinned"}})
    workflow_id = f"double-{uuid.uuid4()}"
    with trio.fail_after(WAIT):
        async with Node.open(app.root) as node:
            await set_current_version(temporal_server.address, deployment, "b1")
            await node.spawn("test:double", "test:wf", 5, options={"workflow.id": workflow_id})
            described = await finished(temporal_server.address, workflow_id)
    info = described.raw_description.workflow_execution_info.versioning_info
    assert (info.behavior, info.deployment_version.deployment_name, info.deployment_version.build_id) == (
        VersioningBehavior.PINNED.value, deployment, "b1")


async def set_current_version(address: str, deployment: str, build_id: str) -> None:
    """What an operator does when a version is ready: route new workflows to it
    (once the server has seen its worker poll)."""
    async def promote() -> None:
        client = await Client.connect(address)
        request = SetWorkerDeploymentCurrentVersionRequest(namespace="default", deployment_name=deployment,
                                                           build_id=build_id)
        for _ in range(200):
            try:
                await client.workflow_service.set_worker_deployment_current_version(request)
                return
            except Exception:  # noqa: BLE001 (not seen yet: try again)
                await asyncio.sleep(0.1)
        await client.workflow_service.set_worker_deployment_current_version(request)
    await trio.to_thread.run_sync(asyncio.run, promote())


async def test_every_offered_worker_option_is_accepted_by_a_real_worker(app, temporal_server):
    wippy = {"identity": "luactor-test", "max_concurrent_activity_execution_size": 10,
             "max_concurrent_workflow_task_execution_size": 10, "max_concurrent_local_activity_execution_size": 10,
             "max_concurrent_activity_task_pollers": 2, "max_concurrent_workflow_task_pollers": 3,
             "worker_activities_per_second": 100, "task_queue_activities_per_second": 100,
             "sticky_schedule_to_start_timeout": "2s", "worker_stop_timeout": "1s",
             "max_heartbeat_throttle_interval": "30s", "default_heartbeat_throttle_interval": "10s",
             "disable_eager_activities": True, "local_activity_worker_only": True, "build_id": "b2"}
    temporalio = {"max_cached_workflows": 10, "max_concurrent_activities": 10, "max_concurrent_workflow_tasks": 10,
                  "max_concurrent_local_activities": 10, "max_concurrent_nexus_tasks": 10,
                  "max_concurrent_activity_task_polls": 2, "max_concurrent_workflow_task_polls": 3,
                  "nonsticky_to_sticky_poll_ratio": 0.5, "no_remote_activities": True,
                  "sticky_queue_schedule_to_start_timeout": "2s", "max_activities_per_second": 100,
                  "max_task_queue_activities_per_second": 100, "max_eager_activity_reservations_per_workflow_task": 1,
                  "graceful_shutdown_timeout": "1s", "disable_eager_activity_execution": True, "debug_mode": False,
                  "disable_safe_workflow_eviction": False, "disable_payload_error_limit": False,
                  "max_workflow_task_external_storage_concurrency": 2, "plugin_shutdown_timeout": "5s"}
    temporal_app(app, {"address": temporal_server.address},
                 wippy={"worker_options": wippy}, temporalio={"worker_options": temporalio})
    with trio.fail_after(WAIT):
        async with Node.open(app.root) as node:
            assert await node.exec("test:double", "test:wippy", 1) == 2
            assert await node.exec("test:double", "test:temporalio", 2) == 4
