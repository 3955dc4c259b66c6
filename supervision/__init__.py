"""Supervision: restart policies, ``process.service`` lifecycles, supervisor trees.

``services(node)`` is the Python API of a running node; the node builds the
tree itself through the ``luactor.components`` entry point.
"""

from .api import Services, ServiceStatus, services
from .failure import SupervisionError
from .state import State

__all__ = ["ServiceStatus", "Services", "State", "SupervisionError", "services"]
