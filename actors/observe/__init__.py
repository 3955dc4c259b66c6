"""Seeing a running node: Prometheus metrics, OpenTelemetry spans and a live web observer.

``Observability`` (``actors/observe/node.py``) is what ``Node.open`` builds from its
``metrics=``, ``observe=`` and ``tracing=`` arguments or a ``node.observe`` entry.
"""
