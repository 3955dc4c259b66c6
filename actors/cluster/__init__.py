"""A cluster of luactor nodes on NATS (see ``cluster.Cluster``).

Nothing here is imported by a standalone node but ``kinds`` (which needs no
NATS): a node imports ``actors.cluster.cluster`` only when given a cluster.
"""
