"""A cluster of luactor nodes on NATS.

Imported only by nodes started with a cluster address: a standalone node
never loads nats-py. See :class:`Cluster`.
"""

from .cluster import Cluster, check_node_name, cluster_urls

__all__ = ["Cluster", "check_node_name", "cluster_urls"]
