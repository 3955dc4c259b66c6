"""A cluster of nodes on a cluster of three NATS servers that loses one of them."""

from __future__ import annotations

import pytest
import trio
from cluster_nodes import echo_pid, receive, start_node, wait_until
from nats_server import NatsCluster
from test_cluster_groups import add_group_entries
from test_cluster_names import CONSISTENT, add_entries, hold, lookup, resolves

from actors import Node


@pytest.fixture
def nats_cluster(tmp_path):
    servers = NatsCluster(tmp_path / "nats", 3)
    yield servers
    servers.stop()


async def test_losing_one_of_three_nats_servers(cluster_app, nats_cluster):
    add_entries(cluster_app)
    add_group_entries(cluster_app)
    with start_node(cluster_app, nats_cluster, "beta") as beta:
        remote = await echo_pid(beta)
        async with Node.open(cluster_app.root, node="alpha", cluster=nats_cluster.url) as node, node.mailbox() as me:
            held = await hold(node, me, "beta@test:host", "before", CONSISTENT)
            await resolves(node, "test:host", "before", held["pid"])
            # the server alpha is connected to dies
            connected = node.cluster.link.server_url
            dead = next(s for s in nats_cluster.servers if s.url == connected)
            dead.kill()
            await wait_until(lambda: node.cluster.link.connected and node.cluster.link.server_url != connected,
                             timeout=15)
            # messages
            await me.send(remote, "ping", "after")
            assert (await receive(me)).payload == "after"
            # names: the old one resolves, a new one registers and is seen from the other node
            assert await lookup(node, "test:host", "before") == held["pid"]
            after = await hold(node, me, "test:host", "after", CONSISTENT)
            assert after["ok"] is True
            await resolves(node, "beta@test:host", "after", after["pid"])
            refused = await hold(node, me, "beta@test:host", "after", CONSISTENT)
            assert refused["kind"] == "AlreadyExists"
            # groups
            await node.spawn("test:member", "beta@test:host", "g", 1, me.pid)
            there = (await receive(me)).payload
            with trio.fail_after(10):
                while await node.exec("test:ask", "test:host", "get_members", "g") != [there]:  # noqa: ASYNC110
                    await trio.sleep(0.02)
            # and the nodes saw each other all along
            assert node.cluster.membership.is_up("beta") and node.cluster.membership.downs == []
